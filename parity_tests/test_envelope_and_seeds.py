"""Real sizes, the envelope a verdict states, the seed derived from the candidate, and the element map's fast path.

The acceptance property of the real-size configurations: a candidate exact inside the old matrix's bounds (width
256, batch 64, 4 layers, 1000 steps) and wrong just outside is met by every run, whatever its seed. Every range
and expected count below is written out by hand (the arithmetic in a comment), never read from the code under test;
the module's constants are checked against the same hand-written values.
"""

from __future__ import annotations

import json
import random
import re
import sys
from dataclasses import fields
from pathlib import Path

import pytest
import torch
from torch import nn

from lstm_replica import LSTM
from lstm_replica.faces.cli import main
from lstm_replica.parity import check, configurations
from lstm_replica.parity.candidates import load, load_weights
from lstm_replica.parity.configs import Config, assignment_of
from lstm_replica.parity.envelope import Envelope, beyond, envelope
from lstm_replica.parity.matrix import covered_tuples, default_matrix, required_tuples
from lstm_replica.parity.parammap import ParamMap, Unit, discover
from lstm_replica.parity.seeds import derived_seed, resolve
from lstm_replica.parity.sizes import (
    BOUNDARIES,
    TOP_BATCH,
    TOP_LAYERS,
    TOP_STEPS,
    TOP_STEPS_F64,
    TOP_WIDTH,
    draw_size,
    real_size_configs,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from researcher_cell import BitwiseResearcherCell, copy_weights_bitwise

# the cheap real sizes four times each (padded and packed input, with and without a given state), the costly ones
# once each (real-hidden and real-proj, real-long and real-long-f64: two pairs of opposite features), and a long
# half-precision sequence (the matrix's stop at 40 steps): 17
CHEAP = ["real-input"] * 4 + ["real-batch"] * 4 + ["real-deep"] * 4
LONG = ["real-long", "real-long-f64", "real-long-half"]
LABELS = [*CHEAP, "real-hidden", "real-proj", *LONG]
SEEDS = range(200)


def test_the_top_ranges_are_the_documented_ones():
    assert TOP_WIDTH == (500, 1100), "layer input and hidden widths: past 256, BERT's 768 and a hidden 1024 inside"
    assert TOP_BATCH == (128, 320)
    assert TOP_LAYERS == (5, 8)
    assert TOP_STEPS == (2_000, 5_000)
    assert TOP_STEPS_F64 == (1_001, 2_500)
    # 2**k and one either side, k = 1..13: 1 (2 - 1) up to 8193
    assert BOUNDARIES[:12] == (1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31), BOUNDARIES
    assert BOUNDARIES[-3:] == (8191, 8192, 8193), BOUNDARIES
    assert len(BOUNDARIES) == 13 * 3 - 1, BOUNDARIES  # 3 is both 2 + 1 and 4 - 1


def _draws(unsupported: frozenset[str] = frozenset()) -> list[list[Config]]:
    return [real_size_configs(random.Random(f"real sizes {k}"), unsupported) for k in SEEDS]


def _inside(value: int, span: tuple[int, int]) -> bool:
    return span[0] <= value <= span[1]


def _by_label(drawn: list[Config]) -> dict[str, list[Config]]:
    grouped: dict[str, list[Config]] = {}
    for c in drawn:
        grouped.setdefault(c.label, []).append(c)
    return grouped


def test_every_real_size_draw_lies_at_the_top_of_its_range_with_the_other_sizes_small():
    widths, batches, layers, steps, steps_f64 = set(), set(), set(), set(), set()
    for drawn in _draws():
        assert [c.label for c in drawn] == LABELS, [c.name for c in drawn]
        assert all(c.scale for c in drawn), "real sizes run the reduced probe set"
        assert all(c.dtype in ("float64", "float32") for c in drawn[:-1]), [c.name for c in drawn]
        assert all(c.input_kind != "unbatched" for c in drawn), [c.name for c in drawn]
        got = _by_label(drawn)
        (wide_hidden,), (proj,), (long,), (long_f64,), (half,) = (got[k] for k in LABELS[-5:])
        # half precision: 65-1,000 steps, one direction, padded input
        assert half.dtype in ("float16", "bfloat16"), half.name
        assert _inside(half.steps, (65, 1_000)), half.name
        assert not half.bidirectional, half.name
        assert half.input_kind == "batched", half.name
        # the widths: 500-1100 at the top; the others small (2-48)
        for c in got["real-input"]:
            assert _inside(c.input_size, (500, 1100)), c.name
            assert c.hidden_size <= 48, c.name
        assert _inside(wide_hidden.hidden_size, (500, 1100)), wide_hidden.name
        assert wide_hidden.input_size <= 48, wide_hidden.name
        assert _inside(proj.hidden_size, (500, 1100)), proj.name
        assert proj.num_layers == 2, proj.name
        assert 1 <= proj.proj_size <= 600, proj.name
        wide = [*got["real-input"], wide_hidden, proj]
        assert max(c.batch for c in wide) <= 6, "wide layers get small batches"
        assert max(c.steps for c in wide) <= 8, "wide layers get short sequences"
        # the batch: 128-320
        for c in got["real-batch"]:
            assert _inside(c.batch, (128, 320)), c.name
            assert max(c.input_size, c.hidden_size) <= 48, c.name
            assert c.steps <= 12, c.name
        # the layers: 5-8
        for c in got["real-deep"]:
            assert _inside(c.num_layers, (5, 8)), c.name
            assert max(c.input_size, c.hidden_size) <= 48, c.name
            assert c.batch <= 5, c.name
            assert c.steps <= 12, c.name
        # the steps: float32 2,000-5,000, float64 1,001-2,500, one direction, widths up to 16, batch up to 3
        assert _inside(long.steps, (2_000, 5_000)), long.name
        assert long.dtype == "float32", long.name
        assert _inside(long_f64.steps, (1_001, 2_500)), long_f64.name
        assert long_f64.dtype == "float64", long_f64.name
        for c in (long, long_f64):
            assert not c.bidirectional, c.name
            assert max(c.input_size, c.hidden_size) <= 16, c.name
            assert c.batch <= 3, c.name
        widths |= {c.input_size for c in got["real-input"]} | {wide_hidden.hidden_size, proj.hidden_size}
        batches |= {c.batch for c in got["real-batch"]}
        layers |= {c.num_layers for c in got["real-deep"]}
        steps.add(long.steps)
        steps_f64.add(long_f64.steps)
    # a third of the draws are boundary values (each one of 6 with chance 1/18 a draw: 1,200 width draws)
    assert {511, 512, 513, 1023, 1024, 1025} <= widths, sorted(widths)
    assert {128, 129, 255, 256, 257} <= batches, sorted(batches)  # 127 lies below the range
    assert {2047, 2048, 2049, 4095, 4096, 4097} <= steps, sorted(steps)
    assert {1023, 1024, 1025, 2047, 2048, 2049} <= steps_f64, sorted(steps_f64)
    assert layers == {5, 6, 7, 8}, sorted(layers)
    # and the rest uniform over the whole range: both ends are reached
    assert min(widths) < 520, min(widths)
    assert max(widths) > 1080, max(widths)
    assert min(batches) < 140, min(batches)
    assert max(batches) > 310, max(batches)
    assert min(steps) < 2_100, min(steps)
    assert max(steps) > 4_900, max(steps)


def test_every_real_size_projection_is_smaller_than_its_hidden_size():
    # nn.LSTM refuses proj_size >= hidden_size ("proj_size has to be smaller than hidden_size")
    wrong = [c.name for drawn in _draws() for c in drawn if c.proj_size and c.proj_size >= c.hidden_size]
    assert not wrong, f"{len(wrong)} of them, e.g. {wrong[:3]}"


def test_the_cheap_real_sizes_meet_padded_and_packed_input_with_and_without_a_state():
    for drawn in _draws():
        for label, group in _by_label(drawn).items():
            if label in CHEAP:
                grid = {(c.input_kind == "batched", c.hx_given) for c in group}
                assert grid == {(True, True), (True, False), (False, True), (False, False)}, [c.name for c in group]


def test_the_real_size_features_are_drawn():
    drawn = [c for run in _draws() for c in run]
    assert {c.input_kind for c in drawn} == {"batched", "packed", "packed_equal"}
    assert {c.bidirectional for c in drawn} == {False, True}
    assert {c.batch_first for c in drawn} == {False, True}
    assert {c.hx_given for c in drawn} == {False, True}
    assert {c.bias for c in drawn} == {False, True}
    assert {c.dtype for c in drawn if not c.label.startswith("real-long")} == {"float64", "float32"}


def test_without_projection_no_real_size_configuration_projects():
    for drawn in _draws(frozenset({"proj_size"})):
        assert "real-proj" not in {c.label for c in drawn}, [c.name for c in drawn]
        assert not any(c.proj_size for c in drawn), [c.name for c in drawn]


def test_without_several_layers_there_is_no_deep_configuration_and_the_projection_takes_one_layer():
    for drawn in _draws(frozenset({"multi_layer"})):
        assert all(c.num_layers == 1 for c in drawn), [c.name for c in drawn]
        assert "real-deep" not in {c.label for c in drawn}, [c.name for c in drawn]
        assert all(c.proj_size for c in drawn if c.label == "real-proj"), [c.name for c in drawn]


@pytest.mark.parametrize(
    ("lacking", "kept"),
    [
        ("multi_layer", ["real-input"] * 4 + ["real-batch"] * 4 + ["real-hidden", "real-proj", *LONG]),
        ("proj_size", [*CHEAP, "real-hidden", *LONG]),
    ],
)
def test_a_real_size_configuration_falls_back_to_one_layer_and_no_projection(lacking, kept):
    for drawn in _draws(frozenset({lacking})):
        assert [c.label for c in drawn] == kept, [c.name for c in drawn]


def test_features_the_candidate_lacks_fall_back_to_the_defaults():
    for drawn in _draws(frozenset({"packed", "bidirectional"})):
        assert [c.label for c in drawn] == LABELS, "nothing needs packing or both directions: all stay"
        assert all(c.input_kind == "batched" for c in drawn), [c.name for c in drawn]
        assert not any(c.bidirectional for c in drawn), [c.name for c in drawn]
    for drawn in _draws(frozenset({"no_bias", "batch_first"})):
        assert all(c.bias for c in drawn), [c.name for c in drawn]
        assert not any(c.batch_first for c in drawn), [c.name for c in drawn]
    for drawn in _draws(frozenset({"float64"})):
        assert "real-long-f64" not in {c.label for c in drawn}
        assert all(c.dtype == "float32" for c in drawn[:-1]), [c.name for c in drawn]  # real-long-half: last
    for drawn in _draws(frozenset({"float32"})):
        assert "real-long" not in {c.label for c in drawn}
        assert all(c.dtype == "float64" for c in drawn[:-1]), [c.name for c in drawn]  # real-long-half: last


@pytest.mark.parametrize("lacking", ["float64", "float32"])
def test_a_real_size_configuration_falls_back_to_the_dtype_the_candidate_has(lacking):
    kept = [label for label in LABELS if label != {"float64": "real-long-f64", "float32": "real-long"}[lacking]]
    for drawn in _draws(frozenset({lacking})):
        assert [c.label for c in drawn] == kept, [c.name for c in drawn]


def test_the_draws_hit_boundary_values_a_third_of_the_time_and_spread_log_uniformly():
    rng = random.Random("draw spread")
    drawn = [draw_size(rng, (1, 8193)) for _ in range(3_000)]
    assert all(1 <= d <= 8193 for d in drawn)
    # 38 boundary values in 1-8193: a third of the draws, plus the log-uniform ones that land on them, nearly all
    # of those below 10 (1-5, 7-9): 2/3 x ln 10 / ln 8194 = 17% more, so about half
    on_edges = sum(d in BOUNDARIES for d in drawn) / len(drawn)
    assert 0.45 < on_edges < 0.6, on_edges
    assert {1, 8191, 8192, 8193} <= set(drawn), "both ends' boundary values"
    # log-uniform over [1, 8194): ln 8194 = 9.01. Below 10: 2/3 x ln 10 / 9.01 = 17% of the draws, and the 8 of
    # the 38 boundary values there a third of the time: 7%, 24% in all (uniform draws: 0.1%). Above 1,000:
    # 2/3 x ln(8194 / 1001) / 9.01 = 16%, and 12 boundary values (1023-8193): 11%, 26% in all (uniform: 88%)
    below_10 = sum(d < 10 for d in drawn) / len(drawn)
    above_1000 = sum(d > 1000 for d in drawn) / len(drawn)
    assert 0.18 < below_10 < 0.3, below_10
    assert 0.2 < above_1000 < 0.32, above_1000
    plain = [d for d in drawn if d not in BOUNDARIES]  # both ends are reached by the log-uniform draws too
    assert min(plain) == 6, (min(plain), max(plain))
    assert max(plain) > 7_500, (min(plain), max(plain))  # 6: the one non-boundary below 10


def _widest(matrix: list[Config]) -> dict[str, int]:
    return {
        "input": max(c.input_size for c in matrix),
        "hidden": max(c.hidden_size for c in matrix),
        "batch": max(c.batch for c in matrix),
        "layers": max(c.num_layers for c in matrix),
        "steps": max(c.steps for c in matrix),
        "float64 steps": max((c.steps for c in matrix if c.dtype == "float64"), default=0),
    }


OLD_BOUNDS = {"input": 256, "hidden": 256, "batch": 64, "layers": 4, "steps": 1_000, "float64 steps": 1_000}


@pytest.mark.parametrize("seed", range(31))
def test_every_default_matrix_covers_the_tuples_and_reaches_past_the_old_bounds(seed):
    for unsupported in (frozenset(), frozenset({"proj_size"})):
        matrix = default_matrix(seed, unsupported)
        missing = required_tuples(unsupported) - covered_tuples(assignment_of(c) for c in matrix)
        assert not missing, f"seed {seed}, without {set(unsupported)}: {sorted(missing, key=repr)[:3]}"
        widest = _widest(matrix)
        short = {k: v for k, v in widest.items() if v <= OLD_BOUNDS[k]}
        assert not short, f"seed {seed}, without {set(unsupported)}: nothing past the old bounds in {short}"


@pytest.mark.parametrize("unsupported", [{"float64", "float16", "bfloat16"}, {"multi_layer"}])
def test_a_restricted_candidate_is_still_met_past_the_old_bounds_by_every_run(unsupported):
    for seed in range(31):
        widest = _widest(default_matrix(seed, unsupported))
        short = {k: v for k, v in widest.items() if v <= OLD_BOUNDS[k] and k not in ("layers", "float64 steps")}
        assert not short, f"seed {seed}: nothing past the old bounds in {short}"


# the seeds


CANDIDATE = "from lstm_replica import LSTM\n\n\nclass {name}(LSTM):\n    {body}\n"


def _candidate(path: Path, name: str, body: str = "pass") -> object:
    path.write_text(CANDIDATE.format(name=name, body=body))
    return load(f"{path}:{name}")


def test_the_derived_seed_is_stable_per_source_and_differs_between_candidates(tmp_path):
    first = _candidate(tmp_path / "first.py", "Mine")
    other = _candidate(tmp_path / "other.py", "Yours")
    seed = derived_seed(first)
    assert derived_seed(first) == seed, "the same class: the same seed"
    assert derived_seed(load(f"{tmp_path / 'first.py'}:Mine")) == seed, "loaded again: the same seed"
    assert 0 <= seed < 2**31, seed
    assert derived_seed(other) != seed, "another class in another file"
    assert derived_seed(LSTM) not in (seed, derived_seed(other))
    (tmp_path / "first.py").write_text(CANDIDATE.format(name="Mine", body="pass  # edited"))
    assert derived_seed(first) != seed, "an edit of the source draws another seed"
    assert derived_seed(first, "per-gate") != derived_seed(first), "the weight adapter (a layout's name) counts"


@pytest.mark.parametrize(
    ("given", "expected"),
    [(7, (7, "given")), ("7", (7, "given")), (0, (0, "given")), ("0012", (12, "given"))],
)
def test_resolve_takes_a_number_as_given(given, expected):
    assert resolve(given, LSTM) == expected


def test_resolve_derives_none_and_draws_random():
    assert resolve(None, LSTM) == (derived_seed(LSTM), "derived from the candidate's source; --seed N replays it")
    drawn = [resolve("random", LSTM) for _ in range(3)]
    assert all(origin == "random; --seed N replays it" and 0 <= n < 2**31 for n, origin in drawn), drawn
    assert len({n for n, _ in drawn}) > 1, f"three fresh seeds alike: {drawn}"


@pytest.mark.parametrize("given", [-1, "x", True, False, 1.5, "-3", "", " 7"])
def test_resolve_refuses_anything_else(given):
    message = f"Expected seed to be a non-negative integer, 'random' or None (derived), got {given!r}"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        resolve(given, LSTM)


@pytest.fixture(scope="module")
def quick_report():
    """The replica's quick screen under its derived seed (in this process: cheaper than a child)."""
    return check("lstm_replica:LSTM", quick=True, isolate=False)


FIRST_QUICK = "quick-batched-l1-hx-f64-n3-t7-i4h6"


@pytest.mark.certificate
def test_a_check_names_its_seed_and_where_it_came_from(quick_report):
    number = derived_seed(LSTM)
    assert quick_report.provenance["seed"] == f"{number} (derived from the candidate's source; --seed N replays it)"
    given = check("lstm_replica:LSTM", isolate=False, seed=number, configs=[FIRST_QUICK])
    assert given.provenance["seed"] == f"{number} (given)"
    replayed, derived = given.to_json()["results"], quick_report.to_json()["results"]
    assert derived[0]["config"]["name"] == FIRST_QUICK, derived[0]["config"]
    assert replayed == derived[:1], "the printed number replays the derived run"


def test_the_derived_seed_chooses_the_configurations_and_the_printed_number_replays_them():
    names = [c.name for c in configurations("lstm_replica:LSTM")]
    assert names == [c.name for c in configurations("lstm_replica:LSTM", seed=derived_seed(LSTM))]
    assert names == [c.name for c in default_matrix(derived_seed(LSTM))]
    assert names != [c.name for c in configurations("lstm_replica:LSTM", seed=derived_seed(LSTM) + 1)]


def test_the_command_line_takes_random_and_refuses_other_words(capsys):
    lists = []
    for _ in range(2):
        assert main(["check", "--list-configs", "--seed", "random"]) == 0
        lists.append(capsys.readouterr().out.split())
    assert len(lists[0]) > 50, lists[0]
    assert lists[0] != lists[1], "two fresh seeds drew the same sizes"
    with pytest.raises(SystemExit) as exited:
        main(["check", "--list-configs", "--seed", "x"])
    assert exited.value.code == 2
    assert "argument --seed: Expected a non-negative integer or 'random', got x" in capsys.readouterr().err


# the envelope


U = frozenset(
    {"proj_size", "bidirectional", "packed", "unbatched", "batch_first", "no_bias", "dropout", "float16", "bfloat16",
     "float64", "multi_layer"}
)  # fmt: skip
# what U leaves: one layer, one direction, no projection, batched, hx given or not, bias, time-major, no dropout,
# float32; width, batch and length classes of 3 values each
A = Config(dtype="float32", input_size=5, hidden_size=4, batch=3, steps=7)  # small, few, short; hx given
B = Config(dtype="float32", hx_given=False, input_size=9, hidden_size=200, batch=1, steps=1)  # large, one, one
C = Config(label="real-hidden", scale=True, dtype="float32", input_size=6, hidden_size=1024, batch=2, steps=3)


def test_the_envelope_of_a_few_configurations_by_hand():
    required = required_tuples(U)
    # triples: of the 9 structural factors only hx has 2 values: C(8, 2) = 28 triples with hx x 2 values, and
    # C(8, 3) = 56 without it: 112. Pairs: 8 one-valued factors, hx 2, three size classes of 3: 19 values,
    # squares 8 + 4 + 27 = 39, (19**2 - 39) / 2 = 161, less large x long, large x many, long x many: 158
    assert (sum(len(t) == 3 for t in required), sum(len(t) == 2 for t in required)) == (112, 158)
    got = envelope([c.to_dict() for c in (A, B, C)], U)
    assert got.configurations == 3
    # A: C(9, 3) = 84 triples, B the other 28 (hx not given); C (hidden 1024: no width class) adds none.
    # A's and B's C(12, 2) = 66 pairs each share the C(8, 2) = 28 of the factors they agree on: 104
    assert (got.triples, got.pairs) == ([112, 112], [104, 158]), (got.triples, got.pairs)
    assert got.sizes == {
        "input width": [5, 9], "hidden width": [4, 1024], "batch": [1, 3], "layers": [1, 1], "steps": [1, 7],
    }, got.sizes  # fmt: skip
    assert (got.dtypes, got.input_kinds) == (["float32"], ["batched"])
    assert got.real_sizes == [C.name], got.real_sizes
    assert len(got.missing) == 4, got.missing
    assert got.missing[-1] == "and 51 more", got.missing  # 158 - 104 = 54 pairs
    lines = got.lines()
    text = "\n".join(lines)
    assert lines[0].startswith("ENVELOPE: what this verdict covers (3 configurations compared)"), lines[0]
    for part in ("input width 5-9", "hidden width 4-1024", "batch 1-3", "layers 1,", "steps 1-7"):
        assert part in text, f"{part!r} not in\n{text}"
    assert "projection" not in text.split("\n")[1], "no configuration projects: no projection range"
    assert "112 of 112 triples" in text, text
    assert "104 of 158 pairs" in text, text
    assert "real sizes (1 configurations" in text
    assert C.name in text, text
    assert "not reached:" in text, text


def test_the_envelope_of_a_default_matrix_covers_everything_required():
    matrix = default_matrix(0)
    got = envelope([c.to_dict() for c in matrix])
    required = required_tuples()
    assert got.triples == [sum(len(t) == 3 for t in required)] * 2 == [1_348, 1_348], got.triples
    assert got.pairs == [457, 457], (got.pairs, got.missing)
    assert got.missing == [], (got.pairs, got.missing)
    assert got.dtypes == ["float64", "float32", "bfloat16", "float16"], got.dtypes
    assert got.input_kinds == ["batched", "packed", "packed_equal", "unbatched"], got.input_kinds
    assert len(got.real_sizes) == 17
    assert got.configurations == len(matrix)
    assert got.sizes["hidden width"][1] >= 500, got.sizes
    assert got.sizes["steps"][1] >= 2_000, got.sizes
    assert "projection" in got.sizes, got.sizes
    text = "\n".join(got.lines())
    assert "real sizes (17 configurations" in text
    assert "not reached" not in text, text
    plain = envelope([c.to_dict() for c in matrix if not c.scale])
    assert "real sizes" not in "\n".join(plain.lines())


def test_an_empty_envelope_prints_nothing():
    assert envelope([]) == Envelope()
    assert Envelope().lines() == []


@pytest.mark.parametrize(
    ("size", "bound"),
    [("input width", 256), ("hidden width", 256), ("batch", 64), ("layers", 4), ("steps", 1_000),
     ("float64 steps", 1_000)],
)  # fmt: skip
def test_every_run_goes_past_the_old_bounds(size, bound):
    assert beyond(size, bound, samples=60) == 1.0


def test_a_bound_inside_the_top_range_is_passed_by_some_runs_only():
    # real-hidden and real-proj each draw a hidden width in 500-1100: past 900 with 2/3 x 200/601 (uniform) +
    # 1/3 x 3/6 (1023, 1024, 1025 of the six boundary values) = 0.39; either of the two: 1 - 0.61**2 = 0.63
    p = beyond("hidden width", 900, samples=300)
    assert 0.45 < p < 0.8, p
    assert beyond("hidden width", 1_100, samples=60) == 0.0, "nothing is drawn past the top"


# the report


def test_a_report_states_its_envelope_in_json_and_before_the_verdict(quick_report):
    report = quick_report
    data = json.loads(json.dumps(report.to_json()))
    assert data["schema_version"] == 3
    assert set(data["envelope"]) == {
        "configurations", "sizes", "dtypes", "input_kinds", "triples", "pairs", "missing", "real_sizes", "modes",
    }, data["envelope"]  # fmt: skip
    assert data["envelope"]["configurations"] == 5, "the quick screen's five"
    assert data["ruled_out"] == []
    lines = report.text().splitlines()
    starts = [k for k, line in enumerate(lines) if line.startswith("ENVELOPE")]
    verdict = next(k for k, line in enumerate(lines) if line.startswith("VERDICT"))
    assert len(starts) == 1, lines
    assert starts[0] < verdict, lines
    restricted = check("lstm_replica:LSTM", isolate=False, configs=[FIRST_QUICK], unsupported=["proj_size", "packed"])
    assert restricted.to_json()["ruled_out"] == ["packed", "proj_size"]


# the element map's fast path


def _twin(candidate_factory, reference_factory):
    def twin(unit: Unit) -> tuple[nn.Module, nn.Module]:
        return candidate_factory(dtype=torch.float64), reference_factory(dtype=torch.float64)

    return twin


def _replica_map() -> ParamMap:
    kwargs = {"input_size": 3, "hidden_size": 4, "num_layers": 2, "bidirectional": True, "proj_size": 2}
    unit = Unit("", LSTM(**kwargs), nn.LSTM(**kwargs))
    return discover(
        [unit],
        lambda c, r: load_weights(c, r, None),
        _twin(lambda **k: LSTM(**kwargs, **k), lambda **k: nn.LSTM(**kwargs, **k)),
    )


class ElementMap(ParamMap):
    """The same map without the fast path: a class attribute shadows the ``whole`` cached_property."""

    whole = False


def _general(pmap: ParamMap) -> ParamMap:
    return ElementMap(**{f.name: getattr(pmap, f.name) for f in fields(ParamMap)})


def test_the_replicas_map_is_whole_and_a_per_gate_layout_is_not():
    pmap = _replica_map()
    assert pmap.problems == []
    assert pmap.whole is True
    assert _general(pmap).whole is False
    unit = Unit("", BitwiseResearcherCell(3, 4), nn.LSTMCell(3, 4))
    per_gate = discover(
        [unit],
        copy_weights_bitwise,
        _twin(lambda **k: BitwiseResearcherCell(3, 4, **k), lambda **k: nn.LSTMCell(3, 4, **k)),
    )
    assert per_gate.problems == []
    assert per_gate.whole is False


@pytest.mark.parametrize(
    ("sources", "partners", "offsets", "whole"),
    [
        ({"w": [[0, 1], [2, 3]], "b": [4, 5]}, {}, {}, True),
        ({"w": [[0, 1], [3, 2]], "b": [4, 5]}, {}, {}, False),  # two elements swapped
        ({"w": [[0, 2], [1, 3]], "b": [4, 5]}, {}, {}, False),  # transposed, same shape
        ({"w": [[0, 1], [2, 3]], "b": [5, 4]}, {}, {}, False),
        ({"w": [[0, 1], [2, 3]]}, {}, {}, False),  # a reference parameter no candidate one holds
        ({"w": [[0, 1], [2, 3]], "b": [4, 5], "extra": [-1]}, {}, {}, False),
        ({"w": [0, 1, 2, 3], "b": [4, 5]}, {}, {}, False),  # flattened: another shape
        ({"w": [[0, 1], [2, 3]], "b": [4, 5]}, {"b": [-1, -1]}, {}, False),  # a folded map
        ({"w": [[0, 1], [2, 3]], "b": [4, 5]}, {}, {"b": [1.0, 0.0]}, False),  # a layout's constant
    ],
)
def test_whole_means_every_reference_parameter_element_for_element(sources, partners, offsets, whole):
    pmap = ParamMap(
        {"w": torch.Size([2, 2]), "b": torch.Size([2])},
        {n: torch.tensor(v) for n, v in sources.items()},
        partners={n: torch.tensor(v) for n, v in partners.items()},
        offsets={n: torch.tensor(v, dtype=torch.float64) for n, v in offsets.items()},
    )
    assert pmap.whole is whole


def _same(fast: dict, slow: dict) -> None:
    assert list(fast) == list(slow)
    for name, got in fast.items():
        expected = slow[name]
        if expected is None:
            assert got is None, name
            continue
        assert got.dtype == expected.dtype, name
        assert got.shape == expected.shape, name
        assert torch.equal(got.isnan(), expected.isnan()), name
        assert torch.equal(got.nan_to_num(), expected.nan_to_num()), name


def test_the_fast_path_gives_what_the_element_map_gives():
    pmap = _replica_map()
    slow = _general(pmap)
    generator = torch.Generator().manual_seed(0)
    values = {n: torch.randn(s, generator=generator, dtype=torch.float32) for n, s in pmap.ref_shapes.items()}
    names = list(values)
    _same(pmap.to_reference(values), slow.to_reference(values))
    partial = {n: v for n, v in values.items() if n != names[1]} | {names[2]: None, "not_a_parameter": values[names[0]]}
    fast = pmap.to_reference(partial)
    _same(fast, slow.to_reference(partial))
    assert bool(fast[names[1]].isnan().all()), "not given: NaN"
    assert bool(fast[names[2]].isnan().all()), "not given: NaN"
    assert pmap.to_reference({}) == slow.to_reference({}) == dict.fromkeys(names)
    _same(pmap.grads_to_reference(values), slow.grads_to_reference(values))
    grads = {n: v for n, v in values.items() if n != names[1]} | {names[2]: None}
    fast = pmap.grads_to_reference(grads)
    _same(fast, slow.grads_to_reference(grads))
    assert fast[names[1]] is None, "no gradient arrived: None"
    assert torch.equal(fast[names[2]], torch.zeros(pmap.ref_shapes[names[2]])), "a None gradient: the zero block"
    doubles = {n: v.double() for n, v in values.items()}
    _same(pmap.grads_to_reference(doubles), slow.grads_to_reference(doubles))
    assert pmap.to_reference(values)[names[0]] is not values[names[0]], "a copy, not the candidate's tensor"
