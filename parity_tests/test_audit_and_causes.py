"""The parameter audit names a parameter the candidate never uses; a located difference names its likely cause.

Wrong variants of the researcher's cell (parity_tests/wrong_candidates/researcher.py) first show their defect
in plain use against nn.LSTMCell given the same weights by the cell's own adapter, then the check rejects each,
naming the unused parameter in the audit or the cause in the location. Correct candidates, in nn.LSTM's layout,
a named layout or a hand-written adapter, keep an empty audit and get no cause.
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from examples.researcher_cell import ResearcherCell, copy_weights
from lstm_replica.parity.locate import Location
from lstm_replica.parity.orchestrate import check
from lstm_replica.parity.report import Report
from parity_tests.wrong_candidates import RESEARCHER_ADAPTER, RESEARCHER_WRONG, cells, modules
from parity_tests.wrong_candidates import adversarial as adv
from parity_tests.wrong_candidates import researcher as wrong

F64 = torch.float64
ONE_CONFIG = ["quick-batched-l1-hx-f64-n3-t7-i4h6"]  # float64, one layer, hx given: input 4, hidden 6
CORRECT_CONFIGS = ["quick-batched-l1-hx-f64-n3-t7-i4h6", "quick-batched-l2-nobias-bf-nohx-f32-n3-t7-i4h6"]
UNUSED = "is never used: its gradient is zero where nn.LSTM's is not"


def _cells(cls: type[ResearcherCell]) -> tuple[nn.LSTMCell, ResearcherCell]:
    """nn.LSTMCell and the variant with the same weights (float64), loaded by the researcher's adapter."""
    torch.manual_seed(0)
    reference = nn.LSTMCell(4, 6, dtype=F64)
    candidate = cls(4, 6, dtype=F64)
    copy_weights(candidate, reference)
    return reference, candidate


def _inputs() -> tuple[Tensor, tuple[Tensor, Tensor]]:
    generator = torch.Generator().manual_seed(1)
    x, h, c = (torch.randn(3, n, generator=generator, dtype=F64) for n in (4, 6, 6))  # (N, H_in), (N, H), (N, H)
    return x, (h, c)


def _differs(a: Tensor, b: Tensor, what: str) -> None:
    assert not torch.equal(a, b), f"{what}: expected the defect to show, but candidate and nn.LSTMCell agree"


def _check(target: object, **kwargs: object) -> Report:
    return check(target, tolerance=True, configs=ONE_CONFIG, **kwargs)  # type: ignore[arg-type]


def _researcher(name: str) -> Report:
    return _check(f"parity_tests.wrong_candidates.researcher:{name}", weights=RESEARCHER_ADAPTER)


def _cause(report: Report) -> str:
    first = next(r for r in report.results if r.status == "different")
    assert first.location is not None, report.text()
    return first.location.cause


# --- the defects in plain use ----------------------------------------------------------------------------


def test_a_gate_reading_anothers_matrix_never_uses_its_own():
    reference, candidate = _cells(wrong.GateReadsAnothersMatrix)
    x, hx = _inputs()
    _differs(candidate(x, hx)[0], reference(x, hx)[0], "h of one step")
    mine = torch.autograd.grad(candidate(x, hx)[0].sum(), [candidate.w5, candidate.w3], allow_unused=True)
    (theirs,) = torch.autograd.grad(reference(x, hx)[0].sum(), [reference.weight_ih])
    assert mine[0] is None, "w5 is not in the graph: it never receives a gradient"
    assert mine[1] is not None
    assert bool(theirs[12:18].ne(0).all()), "nn.LSTMCell's weight_ih rows of gate g do get a gradient"


def test_returning_c_h_hands_back_the_state_swapped():
    reference, candidate = _cells(wrong.ReturnsCH)
    x, hx = _inputs()
    h, c = candidate(x, hx)
    expected_h, expected_c = reference(x, hx)
    _differs(h, expected_h, "h of one step")
    torch.testing.assert_close(h, expected_c, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(c, expected_h, rtol=1e-12, atol=1e-12)


def test_exchanged_input_and_forget_gates_are_nn_lstm_cell_with_those_blocks_exchanged():
    reference, candidate = _cells(wrong.InputForgetExchanged)
    x, hx = _inputs()
    _differs(candidate(x, hx)[0], reference(x, hx)[0], "h of one step")
    with torch.no_grad():
        for p in reference.parameters():
            p.copy_(torch.cat([p[6:12], p[0:6], p[12:]]))  # the i and f blocks of rows exchanged
    for mine, theirs in zip(candidate(x, hx), reference(x, hx), strict=True):
        torch.testing.assert_close(mine, theirs, rtol=1e-12, atol=1e-12)


def test_a_transposed_recurrent_matrix_is_nn_lstm_cell_with_that_block_transposed():
    reference, candidate = _cells(wrong.TransposedRecurrent)
    x, hx = _inputs()
    _differs(candidate(x, hx)[0], reference(x, hx)[0], "h of one step")
    with torch.no_grad():
        reference.weight_hh[0:6] = reference.weight_hh[0:6].t().clone()  # gate i's (H, H) block transposed
    for mine, theirs in zip(candidate(x, hx), reference(x, hx), strict=True):
        torch.testing.assert_close(mine, theirs, rtol=1e-12, atol=1e-12)


# --- the check rejects each, and says why ----------------------------------------------------------------


@pytest.mark.certificate
@pytest.mark.parametrize("target", sorted(RESEARCHER_WRONG))
def test_the_check_rejects_every_researcher_variant(target):
    report = check(target, weights=RESEARCHER_ADAPTER, quick=True, fail_fast=True, tolerance=True)
    assert report.exit_status == 1, f"{target} ({RESEARCHER_WRONG[target]}) was not rejected:\n{report.text()}"


def test_the_audit_names_the_parameter_never_used():
    report = _researcher("GateReadsAnothersMatrix")
    result = report.results[0]
    assert report.exit_status == 1, report.text()
    assert result.audit == [
        f"l0.w5 (nn.LSTM's l0.weight_ih rows of gate g) {UNUSED}, and changing it changes no output"
    ], result.audit
    assert result.checks["parameters correspond one to one"] is False
    assert "l0.w5 (nn.LSTM's l0.weight_ih rows of gate g) is never used" in report.text()


def test_the_audit_names_a_module_layer_never_used():
    config = {"num_layers": 4, "input_size": 3, "hidden_size": 5, "dtype": "float64"}
    report = check(adv.FourthLayerReuse, config=config, only_config=True)
    audit = report.results[0].audit
    assert report.exit_status == 1, report.text()
    for name in ("weight_ih_l3", "weight_hh_l3", "bias_ih_l3", "bias_hh_l3"):
        assert f"{name} (nn.LSTM's {name}) {UNUSED}, and changing it changes no output" in audit, audit
    assert not [line for line in audit if "_l2" in line], f"layer 2's weights are used (twice): {audit}"


def test_a_parameter_used_but_detached_is_not_called_unused():
    report = _check("examples/textbook_cell.py:DetachedRecurrenceCell", weights="per-gate-t")
    assert report.exit_status == 1, report.text()
    assert not [line for r in report.results for line in r.audit if "never used" in line], report.text()


def test_a_swapped_c_h_return_is_located_as_h_and_c_exchanged():
    cause = _cause(_researcher("ReturnsCH"))
    assert cause == "h and c exchanged: the candidate's h is nn.LSTM's c and its c is nn.LSTM's h", cause


def test_exchanged_gates_are_located_as_gates_permuted():
    cause = _cause(_researcher("InputForgetExchanged"))
    assert cause == "gates permuted: the candidate reads nn.LSTM's gate blocks i, f, g, o as f, i, g, o", cause


def test_a_transposed_square_weight_is_located_as_transposed():
    cause = _cause(_researcher("TransposedRecurrent"))
    expected = "a transposed weight: the gate i block of l0.weight_hh (the candidate's l0.w2) used as h @ W"
    assert cause == expected + " where nn.LSTM has h @ Wᵀ", cause


def test_module_gate_order_and_cell_hx_swap_are_named():
    assert _cause(_check(modules.GateOrder)).endswith("gate blocks i, f, g, o as i, g, f, o")
    assert _cause(_check(cells.SwappedState)) == "h_0 and c_0 exchanged: the candidate reads hx as (c, h)"


def test_no_cause_where_one_step_does_not_settle_it():
    assert _cause(_check(modules.ForgetBias)) == "", "a shifted forget gate is none of the named causes"
    assert _cause(_check(modules.DetachedState)) == "", "a gradient-only defect shows nothing in one forward step"


def test_the_cause_is_in_the_location_words():
    location = Location("output", 0, 0, None, 0, "all gates", cause="h and c exchanged")
    assert (
        location.describe()
        == "output, time step 0, layer 0, batch index 0, all gates (likely cause: h and c exchanged)"
    )


# --- no false alarms -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "weights", "configs"),
    [
        (
            "lstm_replica:LSTM",
            None,
            ["quick-batched-l1-hx-f64-n3-t7-i4h6", "quick-packed-l2-bi-p2-hx-drop0.25-f32-n3-t7-i4h6"],
        ),
        ("lstm_replica:LSTMCell", None, CORRECT_CONFIGS),
        ("examples/textbook_cell.py:TextbookLSTMCell", "per-gate-t", CORRECT_CONFIGS),
        ("examples/researcher_cell.py:ResearcherCell", RESEARCHER_ADAPTER, CORRECT_CONFIGS),
    ],
)
def test_correct_candidates_keep_an_empty_audit(target, weights, configs):
    report = check(target, weights=weights, configs=configs, tolerance=True)
    assert report.exit_status == 0, report.text()
    for result in report.results:
        assert result.audit == [], f"{result.name}: {result.audit}"
        assert result.checks["parameters correspond one to one"], result.name
