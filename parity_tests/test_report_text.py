"""The report people read and the JSON machines read: every line of ``Report.text()`` for reports built by hand.

Each expected line is written out here from the layout the table header announces (configuration 60 wide,
tensor 24, bitwise 8, then max abs and max rel to 2 significant digits in 9 columns and ulps to 3 in 8), not
rendered by the report code.
"""

from __future__ import annotations

import json

from lstm_replica.parity.compare import Difference
from lstm_replica.parity.locate import Location
from lstm_replica.parity.report import ConfigResult, Report

INF = float("inf")
HEADER = "configuration" + " " * 48 + "tensor" + " " * 19 + "bitwise    max abs   max rel     ulps"
ZEROS = "        0         0        0"
INDENT = " " * 60
CELL_NOTE = (
    "  whole sequences: the cell and nn.LSTMCell each driven by the replica's layer machinery, so only the cell "
    "differs; single steps: the cell against nn.LSTMCell, teacher-forced"
)


def row(config: str, tensor: str, mark: str, numbers: str = "") -> str:
    return (config.ljust(60) + " " + tensor.ljust(24) + " " + mark.ljust(8) + " " + numbers).rstrip()


def same(tensor: str, probe: str = "") -> Difference:
    return Difference(tensor, True, True, 0.0, 0.0, 0.0, probe=probe, elements=6)


def table(report: Report, verbose: bool = False) -> list[str]:
    """The lines between the table header and the legend (the configurations not run included)."""
    lines = (report.text(verbose=True) if verbose else report.text()).split("\n")
    legend = next(i for i, line in enumerate(lines) if line.startswith("bitwise: yes = torch.equal"))
    assert lines[legend - 1] == "", f"a blank line before the legend: {lines[legend - 1]!r}"
    return lines[lines.index(HEADER) + 1 : legend - 1]


def assert_lines(got: list[str], expected: list[str]) -> None:
    for i, (g, e) in enumerate(zip(got, expected, strict=False)):
        assert g == e, f"line {i} differs:\n got      {g!r}\n expected {e!r}"
    assert len(got) == len(expected), f"{len(got)} lines, expected {len(expected)}:\n" + "\n".join(got)


def bitwise_result() -> ConfigResult:
    return ConfigResult(
        {"name": "batched-l1-hx-f64-n3-t7-i4h6", "steps": 7},
        "bitwise",
        differences=[
            same("output"),
            same("h_n"),
            same("grad input"),
            same("grad h_0"),
            same("grad c_0"),
            same("grad weight_ih_l0"),
            same("grad bias_hh_l0"),
            same("output", "no_grad"),
            same("h_n", "no_grad"),
            same("output", "trained"),
        ],
    )


def bitwise_report() -> Report:
    provenance = {"torch": "2.13.0", "backend": "cpu native", "seed": "0"}
    return Report("my_pkg:MyLSTM", "module", "nn.LSTM", "bitwise", provenance, results=[bitwise_result()])


def test_a_bitwise_report_from_first_line_to_verdict():
    lines = bitwise_report().text().split("\n")
    assert lines[:4] == [
        "lstm-replica check: my_pkg:MyLSTM (module) against nn.LSTM",
        "  torch 2.13.0 | backend cpu native | seed 0",
        "",
        HEADER,
    ], lines[:4]
    assert lines[-2:] == [
        "",
        "VERDICT: REPLICA: bitwise identical to nn.LSTM in all 1 configurations",
    ], lines[-2:]
    assert lines[-3].startswith("bitwise: yes = torch.equal"), f"the legend comes before the verdict: {lines[-3]!r}"


def test_bitwise_parameter_gradients_and_probes_fold_into_one_row_each():
    assert_lines(
        table(bitwise_report()),
        [
            row("batched-l1-hx-f64-n3-t7-i4h6", "output", "yes", ZEROS),
            row("", "h_n", "yes", ZEROS),
            row("", "grad input", "yes", ZEROS),
            row("", "grad h_0", "yes", ZEROS),
            row("", "grad c_0", "yes", ZEROS),
            row("", "grad params (2)", "yes", ZEROS),
            row("", "2 probes (3 tensors)", "yes", ZEROS),
        ],
    )


def test_verbose_lists_every_parameter_gradient_and_probe():
    assert_lines(
        table(bitwise_report(), verbose=True),
        [
            row("batched-l1-hx-f64-n3-t7-i4h6", "output", "yes", ZEROS),
            row("", "h_n", "yes", ZEROS),
            row("", "grad input", "yes", ZEROS),
            row("", "grad h_0", "yes", ZEROS),
            row("", "grad c_0", "yes", ZEROS),
            row("", "grad weight_ih_l0", "yes", ZEROS),
            row("", "grad bias_hh_l0", "yes", ZEROS),
            row("", "no_grad: output", "yes", ZEROS),
            row("", "no_grad: h_n", "yes", ZEROS),
            row("", "trained: output", "yes", ZEROS),
        ],
    )


def within_tolerance_report() -> Report:
    result = ConfigResult(
        {"name": "packed-l2-bi-hx-f32-n5-t9-i8h12", "steps": 9},
        "within tolerance",
        differences=[
            Difference("output", False, True, 0.5, 0.25, 3.0, mismatched=3, elements=12, worst_index=[1, 2], allowed=1.0),
            same("grad weight_hh_l0"),
            Difference(
                "h_n", False, True, 0.5, 0.25, 2.0, note="two ulps", probe="calls 2-4", mismatched=1, elements=3,
                worst_index=[0, 1], allowed=1.0,
            ),
            same("output", "no_grad"),
        ],
    )  # fmt: skip
    return Report(
        "my_pkg:Fused",
        "module",
        "nn.LSTM",
        "tolerance",
        {"torch": "2.13.0"},
        tolerances={"native float32": {"rtol": 2e-05, "atol": 3e-05, "why": "re-associated sums"}},
        results=[result],
        unsupported=["proj_size"],
        not_compared={"dropout": "the backend draws its own masks"},
        why_unsupported={"proj_size": "declared by the candidate"},
        diagnosis="rounding: a float64 rerun agrees",
    )


def test_a_report_under_tolerance_states_its_rows_scope_and_diagnosis():
    lines = within_tolerance_report().text().split("\n")
    assert lines[:6] == [
        "lstm-replica check: my_pkg:Fused (module) against nn.LSTM",
        "  torch 2.13.0",
        "  tolerance native float32: rtol 2e-05, atol 3e-05: re-associated sums",
        "  not compared on this backend: dropout: the backend draws its own masks",
        "  not supported by the candidate: proj_size: declared by the candidate",
        "",
    ], lines[:6]
    assert lines[-4:] == [
        "",
        "rounding: a float64 rerun agrees",
        "",
        (
            "VERDICT: REPLICA WITHIN TOLERANCE (not bitwise): within the stated tolerances of nn.LSTM in all 1 "
            "configurations, at most 3 ulps apart; not supported by the candidate: proj_size; not compared on this "
            "backend: dropout (see the notes)"
        ),
    ], lines[-4:]
    assert lines[-5].startswith("bitwise: yes = torch.equal"), f"the legend, then the diagnosis: {lines[-5]!r}"


def test_rows_within_tolerance_count_the_elements_that_differ_and_skip_where():
    assert_lines(
        table(within_tolerance_report()),
        [
            row("packed-l2-bi-hx-f32-n5-t9-i8h12", "output", "no, tol", "      0.5      0.25        3  3/12 (25%)"),
            row("", "grad params (1)", "yes", ZEROS),
            row("", "1 probes (1 tensors)", "yes", ZEROS),
            row("", "calls 2-4: h_n [two ulps]", "no, tol", "      0.5      0.25        2  1/3 (33.3%)"),
        ],
    )


def not_a_replica_report() -> Report:
    training = [
        Difference(f"param {k}", False, True, 0.5, 0.25, 1.0, probe="training steps", mismatched=1, elements=2)
        for k in range(14)
    ]
    different = ConfigResult(
        {"name": "d-cfg", "steps": 5},
        "different",
        "output, time step 3, layer 0",
        differences=[
            Difference(
                "output", False, False, 0.25, 0.5, 2e6, mismatched=2, elements=8, worst_index=[4, 0, 1], allowed=2e-05
            ),
            Difference("grad input", False, False, INF, INF, INF, note="Expected grad input, got none"),
            Difference("h_n", False, False, 0.5, 0.25, 1e6, mismatched=1, elements=6, worst_index=[0, 2], allowed=0.25),
            Difference(
                "grad weight_ih_l0", False, False, 1.5, 0.5, 7.0, mismatched=4, elements=16, worst_index=[0, 3],
                allowed=0.5,
            ),
            Difference(
                "c_n", False, False, INF, INF, INF, note="NaN in 1 of 6 elements where the reference has a number",
                mismatched=1, elements=6, worst_index=[0, 1], allowed=0.0,
            ),
            *training,
        ],
        checks={"inputs unmodified": False, "deterministic": True},
        audit=["weight_ih_l0 and weight_hh_l0 share storage"],
        skipped={"double backward": "declared unsupported"},
        repeatability=2.5e-07,
        cell_errors={
            "single_step_max_abs": 0.5,
            "single_step_max_ulps": 4.0,
            "accumulated_max_abs": 0.25,
            "accumulated_max_ulps": 12.0,
        },
        location=Location("output", time_step=3, layer=0, direction="forward", batch_index=1, gate="f"),
    )  # fmt: skip
    return Report(
        "my_pkg:MyCell",
        "cell",
        "nn.LSTMCell",
        "bitwise",
        {"torch": "2.13.0"},
        results=[
            ConfigResult({"name": "p-cfg"}, "not applicable", "proj_size: nn.LSTMCell has no projection"),
            ConfigResult({"name": "e-cfg"}, "error", "RuntimeError: boom"),
            ConfigResult({"name": "s-cfg"}, "different", "Expected c_n of shape (1, 3, 6), got (3, 6)"),
            different,
        ],
        not_run=["x-cfg", "y-cfg"],
        stopped="after the first difference (--fail-fast)",
    )


def test_a_rejection_shows_what_differs_where_and_what_else_was_found():
    training = [row("", f"training steps: param {k}", "no, tol", "      0.5      0.25        1  1/2 (50%)") for k in range(12)]  # fmt: skip
    assert_lines(
        table(not_a_replica_report()),
        [
            "p-cfg".ljust(60) + " not applicable  proj_size: nn.LSTMCell has no projection",
            "e-cfg".ljust(60) + " error  RuntimeError: boom",
            "s-cfg".ljust(60) + " different  Expected c_n of shape (1, 3, 6), got (3, 6)",
            row("d-cfg", "output", "NO", "     0.25       0.5        -  2/8 (25%), worst at [4, 0, 1], allowed 2e-05"),
            row("", "grad input [Expected grad input, got none]", "NO", "      inf       inf        -"),
            row("", "h_n", "NO", "      0.5      0.25    1e+06  1/6 (16.7%), worst at [0, 2], allowed 0.25"),
            row("", "grad weight_ih_l0", "NO", "      1.5       0.5        7  4/16 (25%), worst at [0, 3], allowed 0.5"),
            row(
                "", "c_n [NaN in 1 of 6 elements where the reference has a number]", "NO",
                "      inf       inf        -  1/6 (16.7%)",
            ),
            *training,
            INDENT + " ... 2 more rows (--verbose lists them)",
            INDENT + " ! inputs unmodified failed",
            INDENT + " ! weight_ih_l0 and weight_hh_l0 share storage",
            INDENT + " - double backward not run: declared unsupported",
            INDENT + " run to run: two identical calls differ by up to 2.5e-07",
            INDENT + " cell error: single step (teacher-forced) max abs 0.5 / 4 ulps; accumulated over 5 steps max abs "
            "0.25 / 12 ulps",
            INDENT + " first difference: output, time step 3, layer 0, direction forward, batch index 1, gate f",
            "not run after the first difference (--fail-fast) (2): x-cfg, y-cfg",
        ],
    )  # fmt: skip


def test_verbose_lists_every_probe_row_without_the_more_rows_line():
    lines = table(not_a_replica_report(), verbose=True)
    probe_rows = [line for line in lines if "training steps: param" in line]
    assert len(probe_rows) == 14, "\n".join(lines)
    assert not any("more rows" in line for line in lines), "\n".join(lines)


def test_a_cell_report_says_how_cells_are_driven_and_lists_the_configurations_not_run():
    report = not_a_replica_report()
    lines = report.text().split("\n")
    assert lines[:4] == [
        "lstm-replica check: my_pkg:MyCell (cell) against nn.LSTMCell",
        "  torch 2.13.0",
        CELL_NOTE,
        "",
    ], lines[:4]
    legend = next(i for i, line in enumerate(lines) if line.startswith("bitwise: yes = torch.equal"))
    assert lines[legend - 2 : legend] == ["not run after the first difference (--fail-fast) (2): x-cfg, y-cfg", ""]
    assert lines[legend + 1 :] == [
        "",
        (
            "VERDICT: NOT A REPLICA: 2/3 configurations differ; 1 could not be checked; first in s-cfg: "
            "Expected c_n of shape (1, 3, 6), got (3, 6)"
        ),
    ], lines[legend + 1 :]


def test_a_module_report_has_no_cell_note_and_no_table_without_results():
    report = Report("x:Y", "module", "nn.LSTM", "bitwise", {"torch": "2.13.0"}, error="Expected x to import")
    lines = report.text().split("\n")
    assert lines[:3] == ["lstm-replica check: x:Y (module) against nn.LSTM", "  torch 2.13.0", ""], lines
    assert lines[3].startswith("bitwise: yes = torch.equal"), lines
    assert lines[4:] == ["", "VERDICT: COULD NOT BE CHECKED: Expected x to import"], lines


def test_bitwise_standard_lists_no_tolerance_rows():
    report = within_tolerance_report()
    report.standard = "bitwise"
    assert not any(line.startswith("  tolerance ") for line in report.text().split("\n"))


def test_the_json_report_carries_the_schema_the_verdict_and_the_exit_status():
    data = not_a_replica_report().to_json()
    assert data["schema_version"] == 3, data["schema_version"]  # 3: envelope and ruled_out added
    assert data["exit_status"] == 1, data["exit_status"]
    assert data["verdict"] == (
        "NOT A REPLICA: 2/3 configurations differ; 1 could not be checked; first in s-cfg: "
        "Expected c_n of shape (1, 3, 6), got (3, 6)"
    ), data["verdict"]
    assert (data["candidate"], data["kind"], data["reference"]) == ("my_pkg:MyCell", "cell", "nn.LSTMCell"), data
    assert data["not_run"] == ["x-cfg", "y-cfg"], data["not_run"]
    different = data["results"][3]
    assert different["location"]["time_step"] == 3, different["location"]
    assert different["differences"][0]["worst_index"] == [4, 0, 1], different["differences"][0]
    assert json.loads(json.dumps(data)) == data, "the JSON report must survive a round trip"
    fields = {"schema_version", "verdict", "exit_status", "candidate", "kind", "reference", "standard"}
    assert fields <= set(data), sorted(fields - set(data))


def test_the_json_of_a_replica_says_so():
    data = bitwise_report().to_json()
    assert (data["exit_status"], data["verdict"]) == (
        0,
        "REPLICA: bitwise identical to nn.LSTM in all 1 configurations",
    )


def test_twelve_probe_rows_are_all_shown_without_a_more_rows_line():
    probes = [
        Difference(f"param {k}", False, True, 0.5, 0.25, 1.0, probe="trained", mismatched=1, elements=2)
        for k in range(12)
    ]
    result = ConfigResult({"name": "t-cfg", "steps": 7}, "within tolerance", differences=[same("output"), *probes])
    lines = table(Report("m:C", "module", "nn.LSTM", "tolerance", {}, results=[result]))
    expected = [row("", f"trained: param {k}", "no, tol", "      0.5      0.25        1  1/2 (50%)") for k in range(12)]
    assert_lines(lines, [row("t-cfg", "output", "yes", ZEROS), *expected])


def test_an_error_or_not_applicable_row_hides_comparisons_made_before_it():
    partial = [same("output"), Difference("h_n", False, False, 0.5, 0.25, 2.0, mismatched=1, elements=6)]
    results = [
        ConfigResult({"name": "e-cfg"}, "error", "RuntimeError: boom in call 2", differences=partial),
        ConfigResult(
            {"name": "n-cfg"}, "not applicable", "dropout: the backend draws its own masks", differences=partial
        ),
    ]
    lines = table(Report("m:C", "module", "nn.LSTM", "bitwise", {}, results=results))
    assert_lines(
        lines,
        [
            "e-cfg".ljust(60) + " error  RuntimeError: boom in call 2",
            "n-cfg".ljust(60) + " not applicable  dropout: the backend draws its own masks",
        ],
    )
