"""The ``--weights keras``, ``onnx`` and ``tensorflow`` layouts: cells written with those frameworks' names, certified.

A torch port of Keras's cell keeps ``kernel (H_in, 4H)``, ``recurrent_kernel (H, 4H)`` and one ``bias (4H)``, gates
i, f, c, o; a port of one direction of ONNX's LSTM keeps ``W (4H, H_in)``, ``R (4H, H)`` and ``B (8H)``, gates i, o,
f, c; a port of TensorFlow's cell keeps ``kernel (H_in + H, 4H)`` on ``[x, h]`` and ``bias (4H)``, gates i, j, f, o,
and adds ``forget_bias`` to f. The harness fills them from nn.LSTMCell through the named layout and certifies them
within tolerance (one product per side and a folded or reordered bias cannot be bitwise); a port that forgets ONNX's
gate order, or TensorFlow's ``forget_bias``, is shown wrong in plain use, then rejected.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from lstm_replica.interop import to_onnx, to_tensorflow
from lstm_replica.parity import check
from lstm_replica.parity.candidates import CheckError
from lstm_replica.parity.layouts import CandidateDiffers, layout_adapter
from parity_tests._cells import KerasStyleCell, OnnxStyleCell, cell_update, uniform, zero_state


class TorchOrderOnnxCell(OnnxStyleCell):
    """The slip: ONNX's names, but the gates read in torch's order i, f, c, o."""

    gate_order = "ifco"


class TensorFlowStyleCell(nn.Module):
    """TensorFlow's LSTMCell in torch: z = [x, h] K + b, split i, j, f, o; f gets forget_bias added."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, forget_bias: float = 1.0) -> None:
        super().__init__()
        if not bias and forget_bias:
            msg = f"Expected bias=True: forget_bias {forget_bias} needs a bias to be folded out of, got bias=False"
            raise NotImplementedError(msg)
        self.kernel = uniform(input_size + hidden_size, 4 * hidden_size, hidden_size=hidden_size)
        self.bias = uniform(4 * hidden_size, hidden_size=hidden_size) if bias else None
        self.hidden_size, self.forget_bias = hidden_size, forget_bias

    def shift(self) -> float:
        """What the cell adds to z_f."""
        return self.forget_bias

    def forward(self, x: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        h, c = zero_state(x, hx, self.hidden_size)
        z = torch.cat([x, h], -1) @ self.kernel  # (N, 4H)
        if self.bias is not None:
            z = z + self.bias
        i, j, f, o = z.chunk(4, -1)
        return cell_update(i, f + self.shift(), j, o, c)


class TensorFlowCellForgetBiasZero(TensorFlowStyleCell):
    """forget_bias 0 (as a model converted with it folded in): the layout must then shift nothing."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__(input_size, hidden_size, bias, forget_bias=0.0)


class ForgetBiasDropped(TensorFlowStyleCell):
    """The slip: TensorFlow's weights and forget_bias = 1 declared, but nothing added to f."""

    def shift(self) -> float:
        return 0.0


@pytest.mark.certificate
@pytest.mark.parametrize(
    ("cell", "layout"),
    [
        (KerasStyleCell, "keras"),
        (OnnxStyleCell, "onnx"),
        (TensorFlowStyleCell, "tensorflow"),
        (TensorFlowCellForgetBiasZero, "tensorflow"),
    ],
)
def test_framework_style_cells_are_certified_through_their_layout(cell: type[nn.Module], layout: str) -> None:
    report = check(cell, weights=layout, tolerance=True, quick=True)
    assert report.exit_status == 0, report.text()
    compared = {d.tensor for r in report.checked for d in r.differences}
    assert {"grad l0.weight_ih", "grad l0.weight_hh", "grad l0.bias_ih", "grad l0.bias_hh"} <= compared, compared


def test_the_onnx_layout_fills_what_to_onnx_converts() -> None:
    reference, cell, candidate = nn.LSTM(3, 4), nn.LSTMCell(3, 4), OnnxStyleCell(3, 4)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).copy_(getattr(reference, f"{name}_l0"))
    layout_adapter("onnx")(candidate, cell)
    node = to_onnx(reference)[0]
    for name in ("W", "R", "B"):
        assert torch.equal(getattr(candidate, name), node[name][0]), f"{name} is not to_onnx's {name}"


@pytest.mark.parametrize("forget_bias", [1.0, 0.0, 0.25])
def test_the_tensorflow_layout_fills_what_to_tensorflow_converts(forget_bias: float) -> None:
    reference, cell = nn.LSTM(3, 4), nn.LSTMCell(3, 4)
    candidate = TensorFlowStyleCell(3, 4, forget_bias=forget_bias)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).copy_(getattr(reference, f"{name}_l0"))
    layout_adapter("tensorflow")(candidate, cell)
    converted = to_tensorflow(reference, forget_bias=forget_bias)[0]
    for name in ("kernel", "bias"):
        assert torch.equal(getattr(candidate, name), converted[name]), f"{name} is not to_tensorflow's {name}"


@pytest.mark.certificate
def test_forget_bias_dropped_is_rejected_at_the_forget_gate() -> None:
    report = check(ForgetBiasDropped, weights="tensorflow", tolerance=True, quick=True)
    assert report.exit_status == 1, report.text()
    located = [r.location.describe() for r in report.results if r.location is not None]
    assert located, report.text()
    assert "gate f" in located[0], located[0]


@pytest.mark.parametrize(
    ("wrong", "layout", "state"),
    [(TorchOrderOnnxCell, "onnx", 0), (ForgetBiasDropped, "tensorflow", 1)],
    ids=["torch-gate-order-under-onnx-names", "forget-bias-dropped"],
)
def test_the_slips_are_wrong_in_plain_use(wrong: type[nn.Module], layout: str, state: int) -> None:
    reference, cell = nn.LSTMCell(3, 4), wrong(3, 4)
    layout_adapter(layout)(cell, reference)
    x, hx = torch.randn(2, 3), (torch.randn(2, 4), torch.randn(2, 4))
    difference = (cell(x, hx)[state] - reference(x, hx)[state]).abs().max().item()
    assert difference > 1e-2, f"Expected the slip to show in {'hc'[state]}, got a largest difference of {difference}"


@pytest.mark.certificate
def test_torch_gate_order_under_onnx_names_is_rejected() -> None:
    report = check(TorchOrderOnnxCell, weights="onnx", tolerance=True, quick=True)
    assert report.exit_status == 1, report.text()


def test_other_names_are_refused_with_the_names_expected() -> None:
    with pytest.raises(CheckError, match=r"Expected kernel, recurrent_kernel and optionally bias for --weights keras"):
        layout_adapter("keras")(OnnxStyleCell(3, 4), nn.LSTMCell(3, 4))
    with pytest.raises(CheckError, match=r"Expected W, R and optionally B for --weights onnx"):
        layout_adapter("onnx")(KerasStyleCell(3, 4), nn.LSTMCell(3, 4))
    with pytest.raises(CheckError, match=r"Expected kernel and optionally bias for --weights tensorflow"):
        layout_adapter("tensorflow")(KerasStyleCell(3, 4), nn.LSTMCell(3, 4))


class ForgetBiasReadOffTheKernel(TensorFlowStyleCell):
    """The slip that hides: forget_bias computed from a trained weight, so it moves with every optimiser step."""

    @property  # type: ignore[override]  # an attribute in the base class: the slip under test
    def forget_bias(self) -> float:
        return 1.0 + float(self.kernel.detach()[0, 0])

    @forget_bias.setter
    def forget_bias(self, value: float) -> None:
        pass


def test_a_forget_bias_that_moves_in_training_is_wrong_in_plain_use() -> None:
    torch.manual_seed(0)
    reference, wrong = nn.LSTMCell(3, 4).double(), ForgetBiasReadOffTheKernel(3, 4).double()
    layout_adapter("tensorflow")(wrong, reference)
    optimisers = [torch.optim.SGD(m.parameters(), lr=0.1) for m in (wrong, reference)]
    generator = torch.Generator().manual_seed(1)
    x, hx = torch.randn(2, 3, generator=generator).double(), (torch.zeros(2, 4).double(), torch.ones(2, 4).double())
    for _ in range(3):
        for model, optimiser in zip((wrong, reference), optimisers, strict=True):
            h, c = model(x, hx)
            (h.sum() + c.sum()).backward()
            optimiser.step()
            optimiser.zero_grad()
    difference = (wrong(x, hx)[1] - reference(x, hx)[1]).abs().max().item()
    assert difference > 1e-2, f"Expected the moving constant to show in c, got a largest difference of {difference}"


@pytest.mark.certificate
def test_a_forget_bias_that_moves_in_training_is_rejected() -> None:
    report = check(ForgetBiasReadOffTheKernel, weights="tensorflow", tolerance=True, quick=True)
    assert report.exit_status == 1, report.text()
    assert any("Expected forget_bias to stay" in r.reason for r in report.results), report.text()


class TensorFlowStyleLSTM(nn.Module):
    """A one-layer module around the TensorFlow-style cell (its forget_bias 1.0): the layout on a module."""

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
    ) -> None:
        super().__init__()
        if num_layers != 1 or batch_first or bidirectional or proj_size or not bias:
            msg = "TensorFlowStyleLSTM is one forward layer, time major, with its bias"
            raise NotImplementedError(msg)
        self.cell = TensorFlowStyleCell(input_size, hidden_size)
        self.hidden_size = hidden_size

    def forward(self, x: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        if isinstance(x, PackedSequence) or x.dim() != 3:
            msg = "TensorFlowStyleLSTM takes padded, batched input"
            raise NotImplementedError(msg)
        if x.dtype != self.cell.kernel.dtype:  # nn.LSTM's check (torch.cat would promote and hide the mismatch)
            msg = f"Expected input of dtype {self.cell.kernel.dtype}, got {x.dtype}"
            raise ValueError(msg)
        if x.size(-1) != self.cell.kernel.shape[0] - self.hidden_size:
            msg = f"Expected input_size {self.cell.kernel.shape[0] - self.hidden_size}, got {x.size(-1)}"
            raise RuntimeError(msg)
        h, c = (x.new_zeros(x.size(1), self.hidden_size),) * 2 if hx is None else (hx[0][0], hx[1][0])
        if hx is not None and hx[0].shape != (1, x.size(1), self.hidden_size):
            msg = f"Expected hidden[0] size (1, {x.size(1)}, {self.hidden_size}), got {list(hx[0].shape)}"
            raise RuntimeError(msg)
        outputs = []
        for x_t in x:
            h, c = self.cell(x_t, (h, c))
            outputs.append(h)
        return torch.stack(outputs), (h.unsqueeze(0), c.unsqueeze(0))


def test_a_tensorflow_style_module_is_certified_with_functional_call_weights_shifted() -> None:
    report = check(
        TensorFlowStyleLSTM,
        weights="tensorflow",
        tolerance=True,
        only_config=True,
        config={"input_size": 3, "hidden_size": 4, "steps": 3, "batch": 2},
    )
    assert report.exit_status == 0, report.text()
    assert not any(
        d.probe == "functional_call" and not d.within_tolerance for r in report.checked for d in r.differences
    )


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "1.0", True, torch.ones(2)])
def test_a_forget_bias_that_is_not_a_finite_number_is_refused(value: object) -> None:
    candidate = TensorFlowStyleCell(3, 4)
    candidate.forget_bias = value  # type: ignore[assignment]  # the mistake under test
    with pytest.raises(CheckError, match=r"Expected forget_bias to be a finite number, got "):
        layout_adapter("tensorflow")(candidate, nn.LSTMCell(3, 4))


@pytest.mark.parametrize("value", [np.float32(0.5), torch.tensor(0.5)])
def test_a_numpy_or_tensor_forget_bias_is_read(value: object) -> None:
    reference, cell = nn.LSTM(3, 4), nn.LSTMCell(3, 4)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).copy_(getattr(reference, f"{name}_l0"))
    candidate = TensorFlowStyleCell(3, 4)
    candidate.forget_bias = value  # type: ignore[assignment]  # what a port may hold
    layout_adapter("tensorflow")(candidate, cell)
    expected = to_tensorflow(reference, forget_bias=0.5)[0]["bias"]
    assert torch.equal(candidate.bias, expected), "Expected the f block shifted by the forget_bias read, 0.5"


def test_forget_bias_under_bias_false_is_named() -> None:
    candidate = TensorFlowCellForgetBiasZero(3, 4, bias=False)
    candidate.forget_bias = 1.0
    with pytest.raises(CandidateDiffers, match=r"Expected forget_bias 0 under bias=False \(nn.LSTM adds nothing"):
        layout_adapter("tensorflow")(candidate, nn.LSTMCell(3, 4, bias=False))
