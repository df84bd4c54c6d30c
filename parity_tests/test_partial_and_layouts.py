"""Partial certificates, ready-made weight layouts, folded biases and crashes on supported input.

The candidates here are small and honest about what they lack; each wrong one is first shown wrong in
plain use, then the harness must say so.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from lstm_replica import LSTM
from lstm_replica.parity import check
from lstm_replica.parity.build import Refused, construct_candidate
from lstm_replica.parity.candidates import CheckError
from lstm_replica.parity.layouts import layout_adapter
from lstm_replica.parity.parammap import Unit, discover
from parity_tests._cells import X2HCell

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from textbook_cell import DetachedRecurrenceCell, TextbookLSTMCell, copy_weights


class LimitedLSTM(LSTM):
    """A correct LSTM without projections, reverse directions or packed input, and saying so."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: object = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        if proj_size or bidirectional:
            msg = "LimitedLSTM has no projection and one direction only"
            raise NotImplementedError(msg)
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, device=device, dtype=dtype)

    def forward(self, input: Tensor | PackedSequence, hx: tuple[Tensor, Tensor] | None = None) -> object:
        if isinstance(input, PackedSequence):
            msg = "LimitedLSTM takes padded input only"
            raise NotImplementedError(msg)
        return super().forward(input, hx)


class ZeroStateInFloat32(LimitedLSTM):
    """The classic slip: the zero initial state built with torch.zeros in the default dtype (float32)."""

    def forward(self, input: Tensor | PackedSequence, hx: tuple[Tensor, Tensor] | None = None) -> object:
        if hx is None and isinstance(input, Tensor):
            batch = () if input.dim() == 2 else (input.size(0 if self.batch_first else 1),)
            zeros = torch.zeros(self.num_layers, *batch, self.hidden_size)  # float32 whatever the input is
            hx = (zeros, zeros.clone())
        return super().forward(input, hx)


def test_zero_state_bug_shows_in_plain_use() -> None:
    model = ZeroStateInFloat32(3, 4, dtype=torch.float64)
    with pytest.raises(RuntimeError):
        model(torch.randn(5, 2, 3, dtype=torch.float64))


@pytest.mark.certificate
def test_refusals_scope_the_certificate_and_the_rest_is_still_covered() -> None:
    report = check(LimitedLSTM)
    assert report.exit_status == 0, report.text()
    assert {"proj_size", "bidirectional", "packed"} <= set(report.unsupported), report.unsupported
    assert "not supported by the candidate: " in report.verdict, report.verdict
    configs = [r.config for r in report.checked]
    assert any(not c["hx_given"] for c in configs), "hx=None must still be exercised"
    assert any(c["input_kind"] == "unbatched" for c in configs), "unbatched input must still be exercised"
    assert any(c["dtype"] == "float64" for c in configs), "float64 must still be exercised"
    assert any(c["num_layers"] == 3 for c in configs), "three layers must still be exercised"
    assert not any(c["proj_size"] or c["bidirectional"] or c["input_kind"] == "packed" for c in configs)


@pytest.mark.certificate
def test_a_raise_on_a_supported_configuration_is_a_difference_and_the_rest_is_kept() -> None:
    report = check(ZeroStateInFloat32)
    assert report.exit_status == 1, report.text()
    raised = [r for r in report.results if r.status == "different" and "nn.LSTM does not raise here" in r.reason]
    assert raised, report.text()
    assert all(not r.config["hx_given"] for r in raised), [r.config for r in raised]
    assert any(r.status == "bitwise" for r in report.results), "the other configurations' results must stay"


@pytest.mark.certificate
def test_the_textbook_cell_is_certified_within_tolerance_through_a_named_layout() -> None:
    report = check(TextbookLSTMCell, weights="per-gate-t", tolerance=True, quick=True)
    assert report.exit_status == 0, report.text()
    assert not report.bitwise, "four products per side and a folded bias cannot be bitwise"
    assert "b_ih + b_hh folded" in report.verdict, report.verdict
    compared = {d.tensor for r in report.checked for d in r.differences}
    assert {"grad l0.weight_ih", "grad l0.weight_hh", "grad l0.bias_ih", "grad l0.bias_hh"} <= compared


@pytest.mark.certificate
def test_the_hand_written_adapter_gives_the_same_certificate() -> None:
    report = check(TextbookLSTMCell, weights=copy_weights, tolerance=True, quick=True)
    assert report.exit_status == 0, report.text()


def test_detached_recurrent_weights_show_in_plain_use() -> None:
    cell = DetachedRecurrenceCell(3, 4)
    h, c = cell(torch.randn(2, 3), (torch.randn(2, 4), torch.randn(2, 4)))
    (h.sum() + c.sum()).backward()
    assert cell.W_hi.grad is None, "the recurrent matrices never get a gradient"


@pytest.mark.certificate
@pytest.mark.parametrize("weights", ["per-gate-t", copy_weights], ids=["layout", "adapter"])
def test_detached_recurrent_weights_are_rejected(weights: object) -> None:
    report = check(DetachedRecurrenceCell, weights=weights, tolerance=True, quick=True)
    assert report.exit_status == 1, report.text()
    assert "weight_hh" in report.verdict, report.verdict


class ConcatCell(nn.Module):
    """One matrix on [x, h], (4H, H_in + H), and nn.LSTMCell's two biases."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__()
        bound = 1 / math.sqrt(hidden_size)
        self.W = nn.Parameter(torch.empty(4 * hidden_size, input_size + hidden_size).uniform_(-bound, bound))
        self.b_ih = nn.Parameter(torch.empty(4 * hidden_size).uniform_(-bound, bound)) if bias else None
        self.b_hh = nn.Parameter(torch.empty(4 * hidden_size).uniform_(-bound, bound)) if bias else None
        self.hidden_size = hidden_size

    def forward(self, x: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        h, c = hx or _zero_state(x, self.hidden_size)
        gates = torch.cat([x, h], -1) @ self.W.t()  # (N, 4H)
        if self.b_ih is not None:
            gates = gates + self.b_ih + self.b_hh
        return _update(gates, c)


def _zero_state(x: Tensor, hidden_size: int) -> tuple[Tensor, Tensor]:
    zeros = x.new_zeros((*x.shape[:-1], hidden_size))  # (N, H) or (H,), in x's dtype
    return zeros, zeros


def _update(gates: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
    """Gates i, f, g, o (pre-activation, (N, 4H)) and c_{t-1} to (h_t, c_t)."""
    i, f, g, o = gates.chunk(4, -1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


@pytest.mark.certificate
@pytest.mark.parametrize(("cell", "layout"), [(ConcatCell, "concat"), (X2HCell, "x2h-h2h")])
def test_layouts_carry_every_gradient_back(cell: type[nn.Module], layout: str) -> None:
    # nn.Linear draws x2h's weights from U(-1/sqrt(input_size), ...), not nn.LSTM's U(-1/sqrt(hidden_size), ...):
    # its initialisation is declared its own, and everything else is judged
    unsupported = ["initialisation"] if cell is X2HCell else []
    report = check(cell, weights=layout, tolerance=True, quick=True, unsupported=unsupported)
    assert report.exit_status == 0, report.text()
    compared = {d.tensor for r in report.checked for d in r.differences}
    assert "grad l0.weight_hh" in compared, sorted(compared)


def test_a_layout_that_does_not_fit_names_what_it_expected() -> None:
    adapter = layout_adapter("per-gate")
    with pytest.raises(CheckError, match="Expected per-gate parameter names"):
        adapter(ConcatCell(3, 4), nn.LSTMCell(3, 4))
    with pytest.raises(CheckError, match="Expected --weights to be module:fn or a layout from per-gate"):
        layout_adapter("per_gate")


def test_the_element_map_recognises_a_folded_bias_and_carries_its_gradient_to_both() -> None:
    def twin(unit: Unit) -> tuple[nn.Module, nn.Module]:
        return TextbookLSTMCell(3, 4, dtype=torch.float64), nn.LSTMCell(3, 4, dtype=torch.float64)

    unit = Unit("", TextbookLSTMCell(3, 4), nn.LSTMCell(3, 4))
    pmap = discover([unit], layout_adapter("per-gate-t"), twin)
    assert pmap.problems == [], pmap.problems
    assert pmap.folded == ["bias_ih", "bias_hh"], pmap.folded
    grads = {n: torch.full_like(p, float(k)) for k, (n, p) in enumerate(unit.candidate.named_parameters())}
    mapped = pmap.grads_to_reference(grads)
    torch.testing.assert_close(mapped["bias_ih"], mapped["bias_hh"], msg="a folded gradient reaches both biases")
    torch.testing.assert_close(mapped["bias_ih"][:4], torch.full((4,), 2.0), msg="gate i's bias is b_i (third)")


def test_a_candidate_without_device_and_dtype_keywords_is_moved_and_a_missing_feature_refused() -> None:
    class Plain(nn.Module):
        def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1) -> None:
            super().__init__()
            self.lstm = nn.LSTM(input_size, hidden_size, num_layers)

    built = construct_candidate(Plain, {"input_size": 3, "hidden_size": 4, "bias": True, "dtype": torch.float64})
    assert built.lstm.weight_ih_l0.dtype == torch.float64, "dtype must be applied with .to()"
    with pytest.raises(Refused, match="proj_size=2") as caught:
        construct_candidate(Plain, {"input_size": 3, "hidden_size": 4, "proj_size": 2})
    assert caught.value.feature == "proj_size"


class SetsDefaultDtype(LSTM):
    """A correct LSTM whose forward leaves torch's default dtype at float64 (a helper's side effect)."""

    def forward(self, input: Tensor | PackedSequence, hx: tuple[Tensor, Tensor] | None = None) -> object:
        torch.set_default_dtype(torch.float64)
        return super().forward(input, hx)


def test_a_global_state_change_shows_in_plain_use() -> None:
    try:
        SetsDefaultDtype(3, 4)(torch.randn(2, 1, 3))
        assert torch.get_default_dtype() == torch.float64, "the forward changes the process's default dtype"
    finally:
        torch.set_default_dtype(torch.float32)


@pytest.mark.certificate
def test_a_global_state_change_is_a_difference_and_is_undone() -> None:
    report = check(SetsDefaultDtype, quick=True)
    assert torch.get_default_dtype() == torch.float32, "the harness must put the default dtype back"
    assert report.exit_status == 1, report.text()
    assert "changed torch's global state: torch.get_default_dtype() was torch.float32" in report.verdict


class NoDouble(LSTM):
    """A correct LSTM that refuses float64 input (ValueError), and says so with --unsupported float64."""

    def forward(self, input: Tensor | PackedSequence, hx: tuple[Tensor, Tensor] | None = None) -> object:
        data = input.data if isinstance(input, PackedSequence) else input
        if data.dtype == torch.float64:
            msg = "NoDouble computes in float32 only"
            raise ValueError(msg)
        return super().forward(input, hx)


@pytest.mark.certificate
def test_input_probes_run_in_a_dtype_the_candidate_accepts() -> None:
    report = check(NoDouble, unsupported=["float64"], quick=True)
    assert report.exit_status == 0, report.text()
    assert {"packed", "unbatched"}.isdisjoint(report.unsupported), f"probed in float64: {report.unsupported}"


class XavierLSTM(LSTM):
    """nn.LSTM's function, initialised as Keras does its kernels: Glorot (Xavier) uniform, biases zero."""

    def reset_parameters(self) -> None:
        for name, p in self.named_parameters():
            if name.startswith("weight"):
                nn.init.xavier_uniform_(p)
            else:
                nn.init.zeros_(p)


class XavierLSTMScaledOutput(XavierLSTM):
    """Declares its initialisation its own, and also computes another function: the output scaled by 1 + 1e-3."""

    def forward(self, input: Tensor | PackedSequence, hx: tuple[Tensor, Tensor] | None = None) -> object:
        output, hidden = super().forward(input, hx)
        return (output * (1 + 1e-3) if isinstance(output, Tensor) else output), hidden


def test_xavier_initialisation_shows_in_plain_use() -> None:
    torch.manual_seed(0)
    model, reference = XavierLSTM(30, 40), nn.LSTM(30, 40)
    assert float(model.bias_ih_l0.detach().abs().max()) == 0.0, "Expected zero biases"
    bound, largest = 1 / math.sqrt(40), float(model.weight_ih_l0.detach().abs().max())  # Glorot: sqrt(6 / 190)
    assert float(reference.weight_ih_l0.detach().abs().max()) <= bound
    assert largest > bound, f"Expected weights beyond nn.LSTM's bound {bound:.4f}, got at most {largest:.4f}"


SMALL = {"input_size": 3, "hidden_size": 4, "steps": 3, "batch": 2}


def test_another_initialisation_is_a_difference() -> None:
    report = check(XavierLSTM, only_config=True, config=SMALL)
    assert report.exit_status == 1, report.text()
    assert any(d.probe == "initial weights" and not d.bitwise for r in report.results for d in r.differences)


def test_a_declared_initialisation_scopes_the_certificate_and_nothing_else() -> None:
    report = check(XavierLSTM, only_config=True, config=SMALL, unsupported=["initialisation"])
    assert report.exit_status == 0, report.text()
    assert report.bitwise, report.text()
    assert report.verdict.endswith("not supported by the candidate: initialisation"), report.verdict
    for result in report.checked:
        assert {"initial weights", "reset_parameters() draws"} <= set(result.skipped), result.skipped
        assert not any(d.probe in ("initial weights", "reset_parameters()") for d in result.differences)
        assert any(d.probe.startswith("training step") for d in result.differences), "training must still be compared"
    wrong = check(XavierLSTMScaledOutput, only_config=True, config=SMALL, unsupported=["initialisation"])
    assert wrong.exit_status == 1, wrong.text()


def test_a_framework_target_without_its_framework_names_the_extra() -> None:
    from importlib import metadata

    try:
        metadata.version("keras")
    except metadata.PackageNotFoundError:
        report = check("keras:LSTM", quick=True)
        assert report.exit_status == 2, report.text()
        assert report.error == (
            "Expected keras to be installed for this framework target, got none (pip install 'lstm-replica[interop]')"
        ), report.error
    else:
        pytest.skip("keras is installed: parity_tests/test_interop_keras_check.py checks the target")


class XavierLSTMNewParameters(XavierLSTM):
    """Declares its initialisation its own, and its reset_parameters() replaces every Parameter object, so an
    optimiser built before the reset trains tensors the module no longer uses."""

    def reset_parameters(self) -> None:
        super().reset_parameters()
        for name, p in list(self.named_parameters()):
            setattr(self, name, nn.Parameter(p.detach().clone()))


def test_replaced_parameters_after_a_reset_are_wrong_in_plain_use() -> None:
    torch.manual_seed(0)
    model = XavierLSTMNewParameters(3, 4)
    optimiser = torch.optim.SGD(model.parameters(), lr=0.5)
    model.reset_parameters()
    x = torch.randn(5, 2, 3)
    before = model(x)[0].detach()
    model(x)[0].sum().backward()
    optimiser.step()
    assert torch.equal(model(x)[0].detach(), before), "Expected the optimiser to miss the new parameters"


def test_a_declared_initialisation_still_resets_and_checks_what_follows() -> None:
    report = check(
        XavierLSTMNewParameters,
        unsupported=["initialisation"],
        only_config=True,
        config=SMALL,
    )
    assert report.exit_status == 1, report.text()
    assert "Expected grad weight_ih_l0, got none" in report.results[0].reason, report.text()  # the old tensors
