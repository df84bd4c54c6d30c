"""The parity harness itself: matrix coverage, ulp arithmetic, verdicts, locations, CLI, API, plugin."""

from __future__ import annotations

import io
import json

import pytest
import torch
from torch import nn

from lstm_replica import LSTM, LSTMCell
from lstm_replica.faces.cli import main
from lstm_replica.parity import assert_lstm_parity, check
from lstm_replica.parity.compare import TOLERANCES, compare, tolerance_for, ulp_distance
from lstm_replica.parity.configs import STRUCTURE, assignment_of
from lstm_replica.parity.matrix import covered_tuples, default_matrix, quick_matrix, required_tuples
from lstm_replica.parity.progress import Progress
from lstm_replica.parity.seeds import derived_seed
from parity_tests.wrong_candidates import REWRITES, cells, modules, rewrites

SEED_CONFIG = "seed-batched-l1-hx-f32-n4-t16-i5h256"
MATRIX = default_matrix(0)  # check() derives its seed from the candidate: the tests below pass seed=0 to match


def test_default_matrix_covers_every_structural_triple_and_every_pair():
    missing = required_tuples() - covered_tuples(assignment_of(c) for c in MATRIX)
    assert not missing, f"feature values never exercised together: {sorted(missing, key=repr)[:5]}"
    triples = [t for t in required_tuples() if len(t) == 3]
    assert len(triples) == 1_348, "every triple of the nine structural factors (test_config_matrix.py derives it)"
    assert {f for t in triples for f, _ in t} == set(STRUCTURE)


def test_default_matrix_spans_sizes_batches_lengths_layers_and_dtypes():
    assert len({c.name for c in MATRIX}) == len(MATRIX), "configuration names must be unique"
    hidden = {c.hidden_size for c in MATRIX}
    assert min(hidden) <= 4, f"hidden sizes {sorted(hidden)}"
    assert max(hidden) >= 100, f"hidden sizes {sorted(hidden)}"
    assert any(h % 8 and h > 16 for h in hidden), "hidden sizes past a SIMD width that are not a multiple of 8"
    assert any(c.input_size != c.hidden_size and c.input_size > 16 for c in MATRIX)
    assert {c.batch for c in MATRIX} >= {1}
    assert max(c.batch for c in MATRIX) >= 8
    assert min(c.steps for c in MATRIX) == 1
    assert max(c.steps for c in MATRIX if not c.scale) >= 500, "the matrix's own long sequences"
    assert {1, 2, 3} <= {c.num_layers for c in MATRIX}, sorted({c.num_layers for c in MATRIX})
    # the real-size configurations: the top of each range (configs.TOP_*), the other sizes small
    assert max(c.hidden_size for c in MATRIX) >= 500
    assert max(c.input_size for c in MATRIX) >= 500
    assert max(c.batch for c in MATRIX) >= 128
    assert max(c.num_layers for c in MATRIX) >= 5
    assert max(c.steps for c in MATRIX) >= 2_000
    assert max(c.steps for c in MATRIX if c.dtype == "float64") > 1_000
    assert {c.dtype for c in MATRIX} == {"float64", "float32", "bfloat16", "float16"}
    assert {c.input_kind for c in MATRIX} == {"batched", "unbatched", "packed", "packed_equal"}
    assert SEED_CONFIG in {c.name for c in MATRIX}, "the seed example's sizes (input 5, hidden 256) are missing"


def test_another_seed_draws_other_sizes_and_the_same_seed_the_same():
    again, other = default_matrix(0), default_matrix(1)
    assert [c.name for c in again] == [c.name for c in MATRIX]
    assert {c.name for c in other} != {c.name for c in MATRIX}, "another seed must explore other sizes"


def test_declared_unsupported_features_are_ruled_out_and_the_rest_re_covered():
    matrix = default_matrix(unsupported={"proj_size", "packed", "bidirectional"})
    assert not any(c.proj_size or c.bidirectional or c.input_kind.startswith("packed") for c in matrix)
    covered = covered_tuples(assignment_of(c) for c in matrix)
    missing = required_tuples(frozenset({"proj_size", "packed", "bidirectional"})) - covered
    assert not missing, f"not re-covered: {sorted(missing, key=repr)[:5]}"
    assert any(c.input_kind == "unbatched" and not c.hx_given and c.dtype == "float64" for c in matrix)
    assert any(c.num_layers >= 3 for c in matrix)
    # the real-size ones stay, their features falling back to nn.LSTM's defaults (real-proj needs a projection)
    real = {c.label for c in matrix if c.scale}
    assert {"real-input", "real-hidden", "real-batch", "real-long", "real-long-f64"} <= real, real
    assert "real-proj" not in real, real


def test_config_writes_nn_lstms_arguments_itself():
    config = MATRIX[0]
    module = nn.LSTM(**config.module_kwargs())
    for name, value in config.module_kwargs().items():
        assert getattr(module, name) == value, f"nn.LSTM built from Config has {name}={getattr(module, name)}"
    assert config.module_kwargs()["bias"] == config.bias


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_ulp_distance_counts_representable_floats(dtype):
    a = torch.tensor([1.0, -2.5, 0.0, 1e-3], dtype=dtype)
    one_up = torch.nextafter(a, torch.full_like(a, float("inf")))
    two_up = torch.nextafter(one_up, torch.full_like(a, float("inf")))
    torch.testing.assert_close(ulp_distance(a, one_up), torch.ones(4, dtype=torch.float64))
    torch.testing.assert_close(ulp_distance(two_up, a), torch.full((4,), 2.0, dtype=torch.float64))
    tiniest = torch.nextafter(torch.zeros(1, dtype=dtype), torch.ones(1, dtype=dtype))
    torch.testing.assert_close(ulp_distance(-tiniest, tiniest), torch.full((1,), 2.0, dtype=torch.float64))


def test_compare_tells_bitwise_from_within_tolerance_from_different():
    row = tolerance_for("native", torch.float32)
    ref = torch.randn(3, 4)
    nudged = torch.nextafter(ref, torch.full_like(ref, float("inf")))
    same, close, far = (
        compare("t", ref.clone(), ref, row),
        compare("t", nudged, ref, row),
        compare("t", ref + 1, ref, row),
    )
    assert (same.bitwise, same.max_ulps) == (True, 0.0), f"identical tensors reported as {same}"
    assert (close.bitwise, close.within_tolerance, close.max_ulps) == (False, True, 1.0), f"one ulp: {close}"
    assert (far.bitwise, far.within_tolerance) == (False, False), f"off by 1: {far}"
    assert compare("t", ref[:2], ref, row).note == "Expected t of shape (3, 4), got (2, 4)"
    assert compare("t", ref.double(), ref, row).note == "Expected t of dtype torch.float32, got torch.float64"
    with_nan = ref.clone()
    with_nan[1, 2] = float("nan")
    nan = compare("t", with_nan, ref, row)
    assert nan.note == "NaN in 1 of 12 elements where the reference has a number", nan
    assert (nan.bitwise, nan.within_tolerance) == (False, False), f"a NaN where the reference has a number: {nan}"


def test_every_tolerance_row_says_why():
    for key, row in TOLERANCES.items():
        assert row.why, f"tolerance {key} lacks a reason"
        assert min(row.rtol, row.atol) > 0, f"tolerance {key} lacks a size"


@pytest.mark.certificate
@pytest.mark.parametrize("name", [c.name for c in MATRIX])
def test_the_replica_is_certified_bitwise_in_every_configuration_of_the_default_matrix(lstm_parity, name):
    """One pytest item per configuration, through the plugin's fixture: xdist spreads the certificate."""
    report = lstm_parity(LSTM, configs=[name], seed=0)
    assert report.results[0].status == "bitwise", report.text()


@pytest.mark.certificate
@pytest.mark.parametrize("candidate", [nn.LSTM, "lstm_replica:LSTM"])
def test_nn_lstm_itself_and_a_target_string_pass_the_quick_screen(candidate):
    report = check(candidate, quick=True)
    assert report.exit_status == 0, report.text()
    assert report.verdict.startswith("QUICK SCREEN: bitwise identical to torch.nn.LSTM in 5"), report.verdict
    assert "not a certificate" in report.verdict
    assert all(r.status == "bitwise" for r in report.results), report.text()


@pytest.mark.certificate
@pytest.mark.parametrize("candidate", [nn.LSTMCell, LSTMCell])
def test_cells_are_certified_on_the_matrix_re_covered_without_projection(candidate):
    report = check(candidate, seed=0) if candidate is LSTMCell else check(candidate, seed=0, dtypes=["float64"])
    assert report.exit_status == 0, report.text()
    assert report.kind == "cell"
    assert report.reference == "torch.nn.LSTMCell"
    dtypes = [] if candidate is LSTMCell else ["float32", "bfloat16", "float16"]
    expected = default_matrix(0, unsupported=["proj_size", *dtypes])
    assert [r.name for r in report.results] == [c.name for c in expected], "nn.LSTMCell has no projection"
    assert all(r.status == "bitwise" for r in report.results), report.text()
    assert report.unsupported == [], "a cell's lack of projection is nn.LSTMCell's, not the candidate's"
    checked = report.checked[0]
    assert checked.cell_errors["single_step_max_abs"] == 0.0
    assert checked.cell_errors["accumulated_max_abs"] == 0.0


@pytest.mark.certificate
@pytest.mark.parametrize("candidate", REWRITES)
def test_equal_rewrites_are_within_tolerance_but_reported_as_not_bitwise(candidate):
    """The catalogue's rewrites (target strings); the suite's one --tolerance certificate of each, default matrix."""
    assert check(candidate).exit_status == 1, "a rewrite is not bitwise and must fail the default standard"
    report = check(candidate, tolerance=True)
    assert report.exit_status == 0, report.text()
    assert report.verdict.startswith("REPLICA WITHIN TOLERANCE (not bitwise)"), report.verdict
    assert "within tolerance" in {r.status for r in report.results}


@pytest.mark.certificate
def test_onednn_backend_runs_both_sides_under_the_same_flags():
    bitwise = check(LSTM, backend="onednn", configs=[SEED_CONFIG])
    tolerant = check(LSTM, backend="onednn", configs=[SEED_CONFIG], tolerance=True)
    assert "mkldnn on" in bitwise.provenance["backend"]
    assert bitwise.exit_status == 1, "oneDNN's fused kernel is expected to differ from the replica bitwise"
    assert tolerant.exit_status == 0, tolerant.text()


@pytest.mark.certificate
def test_first_mismatch_names_step_layer_batch_and_gate():
    location = check(modules.ForgetBias, quick=True).results[0].location
    assert (location.tensor, location.time_step, location.layer, location.gate) == ("output", 0, 0, "f"), location
    late = next(r for r in check(modules.ChunkReset, quick=True).results if r.status == "different")
    assert late.location.time_step == 128, f"the chunk reset happens at step 128, located at {late.location}"
    assert late.steps["output"]["max_abs"][127] == 0.0
    assert late.steps["output"]["max_abs"][128] > 0.0
    batch = next(r for r in check(modules.BatchFirstView, quick=True).results if r.status == "different")
    assert batch.location.batch_index > 0, f"a reshape keeps batch row 0 at step 0 intact: {batch.location}"


@pytest.mark.certificate
def test_reverse_direction_and_gradient_only_defects_are_located():
    reverse = next(r for r in check(modules.WrongReverse, quick=True).results if r.status == "different")
    assert reverse.location.direction == "reverse", reverse.location
    grad = check(modules.DetachedState, quick=True).results[0]
    assert next(d.tensor for d in grad.differences if not d.bitwise) == "grad input", "forward must be exact"
    assert grad.location.tensor == "grad input"


@pytest.mark.certificate
def test_cell_report_separates_single_step_from_accumulated_error():
    result = check(cells.SwappedState, quick=True).results[0]
    assert result.cell_errors["single_step_max_abs"] > 0.0, result.cell_errors
    assert set(result.steps) >= {"output", "h teacher-forced", "c accumulated"}
    # seed 0: which of the two is larger in ulps depends on the data drawn (the default seed derives from the source)
    one_ulp_cell = check(rewrites.ConcatCell, quick=True, tolerance=True, seed=0).results[-1]
    errors = one_ulp_cell.cell_errors
    assert errors["accumulated_max_ulps"] >= errors["single_step_max_ulps"] > 0, errors


@pytest.mark.certificate
def test_inputs_modified_and_nondeterminism_are_reported():
    written = check(modules.StateWrittenBack, quick=True).results[0]
    assert written.status == "different", written.reason
    assert written.checks["inputs unmodified"] is False, written.reason
    dropout = next(r for r in check(modules.DropoutInEval, quick=True).results if r.status == "different")
    assert dropout.checks["same result twice"] is False


@pytest.mark.certificate
def test_seed_replays_and_changes_the_draws():
    first, again = check(modules.OneUlp, quick=True, seed=7), check(modules.OneUlp, quick=True, seed=7)
    other = check(modules.OneUlp, quick=True, seed=8)
    assert first.to_json() == again.to_json(), "the same seed must replay the same report"
    assert first.provenance["seed"] == "7 (given)"
    assert first.results[0].steps != other.results[0].steps, "another seed must draw other inputs"


@pytest.mark.certificate
def test_weights_adapter_loads_renamed_parameters():
    target = "parity_tests.wrong_candidates.renamed:WrappedLSTM"
    without = check(target, quick=True)
    assert without.exit_status == 2, without.verdict
    assert "pass --weights module:fn" in without.verdict, without.verdict
    report = check(target, quick=True, weights="parity_tests.wrong_candidates.renamed:adapter")
    assert report.exit_status == 0, report.text()
    names = {d.tensor for d in report.results[0].differences}
    assert {"grad weight_ih_l0", "grad weight_hh_l0"} <= names, "renamed parameters' gradients must be compared"


@pytest.mark.certificate
def test_assert_lstm_parity_raises_with_the_report():
    assert assert_lstm_parity(LSTM, quick=True).bitwise
    with pytest.raises(AssertionError, match=r"NOT A REPLICA: .* gate f"):
        assert_lstm_parity(modules.ForgetBias, quick=True)


@pytest.mark.certificate
def test_pytest_plugin_is_registered_and_provides_the_fixture(lstm_parity, request):
    assert request.config.pluginmanager.hasplugin("lstm_replica"), "the pytest11 entry point is not loaded"
    assert lstm_parity(LSTMCell, quick=True).exit_status == 0


@pytest.mark.certificate
def test_cli_default_target_quick_with_json(tmp_path, capsys):
    path = tmp_path / "report.json"
    assert main(["check", "--quick", "--no-progress", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "lstm_replica:LSTM (module) against torch.nn.LSTM" in out
    assert f"seed {derived_seed(LSTM)} (derived from the candidate's source; --seed N replays it)" in out
    assert "VERDICT: QUICK SCREEN: bitwise identical to torch.nn.LSTM in 5 configurations" in out
    data = json.loads(path.read_text())
    assert data["exit_status"] == 0
    assert data["provenance"]["torch"] == torch.__version__
    series = data["results"][0]["steps"]["output"]
    assert len(series["max_abs"]) == len(series["max_ulps"]) == quick_matrix()[0].steps


@pytest.mark.certificate
def test_cli_wrong_candidate_exits_1_and_says_where(capsys):
    assert main(["check", "parity_tests.wrong_candidates.modules:MissingTanh", "--quick"]) == 1
    out = capsys.readouterr().out
    assert "first difference: output, time step 0, layer 0" in out
    assert "VERDICT: NOT A REPLICA" in out


def test_cli_file_target_and_config_selection(tmp_path, capsys):
    file = tmp_path / "my_lstm.py"
    file.write_text("from lstm_replica import LSTM\n\nclass MyLSTM(LSTM):\n    pass\n")
    name = quick_matrix()[1].name
    assert main(["check", f"{file}:MyLSTM", "--config", name]) == 0
    assert f"{name} " in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["check", "no_such_module_xyz:LSTM"], "Expected no_such_module_xyz to import, got ModuleNotFoundError"),
        (["check", "lstm_replica:NoSuchThing"], "Expected lstm_replica to define NoSuchThing"),
        (["check", "torch:tanh"], "Expected a class or factory with a readable signature"),
        (["check", "lstm_replica:LSTM", "--config", "nope"], "Expected configuration names from --list-configs"),
        (["check", "lstm_replica:LSTM", "--tf32", "on"], "Expected --device cuda with --tf32 on"),
    ],
)
def test_cli_could_not_check_exits_2_without_traceback(argv, message, capsys):
    assert main(argv) == 2
    out = capsys.readouterr().out
    assert "VERDICT: COULD NOT BE CHECKED" in out, out
    assert message in out, out
    assert "Traceback" not in out, "a traceback only with --verbose"


def test_cli_verbose_shows_the_traceback_on_stderr(capsys):
    assert main(["check", "no_such_module_xyz:LSTM", "--verbose"]) == 2
    captured = capsys.readouterr()
    assert "Traceback" in captured.err, captured.err
    assert "Traceback" not in captured.out, "the report on stdout carries no traceback"


def test_a_candidate_raising_on_valid_input_is_not_a_replica(tmp_path, capsys):
    file = tmp_path / "crashing.py"
    file.write_text(
        "from lstm_replica import LSTM\n\nclass Crashing(LSTM):\n"
        "    def forward(self, input, hx=None):\n        raise RuntimeError('boom')\n"
    )
    assert main(["check", f"{file}:Crashing", "--quick"]) == 1, "a raise on valid input is a proven difference"
    out = capsys.readouterr().out
    assert "forward raised RuntimeError: boom; nn.LSTM does not raise here" in out, out
    assert f"{file.name}:Crashing" in out, "the target is named as typed, not by its private module name"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: the refusal is for machines without")
def test_cli_cuda_without_a_gpu_exits_2(capsys):
    assert main(["check", "--device", "cuda"]) == 2
    assert "Expected a CUDA device, got none: torch.cuda.is_available() is False" in capsys.readouterr().out


@pytest.mark.cuda
@pytest.mark.parametrize(("backend", "tf32"), [("native", False), ("cudnn", False), ("cudnn", True)])
def test_cuda_backends_certify_the_replica_within_tolerance(cuda_device, backend, tf32):
    report = check(LSTM, quick=True, device="cuda", backend=backend, tf32=tf32, tolerance=True)
    assert report.exit_status == 0, report.text()


def test_progress_bar_only_on_a_terminal():
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    plain, tty = io.StringIO(), Tty()
    for stream in (plain, tty):
        bar = Progress(2, stream=stream)
        bar.advance("a")
        bar.advance("b")
        bar.close()
    assert plain.getvalue() == "", "no progress bar when stderr is not a terminal"
    assert "[###############---------------] 1/2 b" in tty.getvalue()
    silent = Tty()
    Progress(2, enabled=False, stream=silent).advance("a")
    assert silent.getvalue() == "", "--no-progress must silence the bar"
