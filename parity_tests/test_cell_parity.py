"""``lstm_replica.LSTMCell`` against ``torch.nn.LSTMCell``, and a hand-unrolled LSTM against ``nn.LSTM``.

The cell is bitwise on every path (``at::lstm_cell`` has no oneDNN kernel). The
unrolled tests spell the equations out gate by gate, step by step, the way a
researcher would write them, and check them against ``nn.LSTM``: bitwise when
the input projection is hoisted as ATen does, within float64 round-off when each
gate gets its own matmuls.
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from lstm_replica import LSTM, LSTMCell
from lstm_replica.cell import CellWeights
from lstm_replica.functional import input_projection, lstm_step

CELL_CASES = [
    (bias, batched, hx_given, dtype)
    for bias in (True, False)
    for batched in (True, False)
    for hx_given in (True, False)
    for dtype in (torch.float64, torch.float32)
]


def _cell_id(case: tuple[bool, bool, bool, torch.dtype]) -> str:
    bias, batched, hx_given, dtype = case
    return "-".join(
        [
            "bias" if bias else "nobias",
            "batched" if batched else "unbatched",
            "hx" if hx_given else "hx_none",
            str(dtype).removeprefix("torch."),
        ]
    )


def _cell_run(cell: nn.Module, x: Tensor, hx: tuple[Tensor, Tensor] | None) -> dict[str, Tensor]:
    x = x.clone().requires_grad_()
    if hx is not None:
        hx = (hx[0].clone().requires_grad_(), hx[1].clone().requires_grad_())
    h, c = cell(x, hx)
    gen = torch.Generator().manual_seed(3)
    ((h * torch.randn(h.shape, dtype=h.dtype, generator=gen)).sum() + (c * c).sum()).backward()
    result = {"h": h.detach(), "c": c.detach(), "grad_input": x.grad}
    if hx is not None:
        result |= {"grad_h": hx[0].grad, "grad_c": hx[1].grad}
    return result | {f"grad_{n}": p.grad for n, p in cell.named_parameters()}


@pytest.mark.parametrize("case", CELL_CASES, ids=[_cell_id(c) for c in CELL_CASES])
def test_cell_is_bitwise(case: tuple[bool, bool, bool, torch.dtype]) -> None:
    bias, batched, hx_given, dtype = case
    reference = nn.LSTMCell(6, 5, bias=bias, dtype=dtype)
    replica = LSTMCell.from_torch(reference)
    gen = torch.Generator().manual_seed(11)
    lead = (4,) if batched else ()
    x = torch.randn(*lead, 6, dtype=dtype, generator=gen)
    hx = (torch.randn(*lead, 5, dtype=dtype, generator=gen), torch.randn(*lead, 5, dtype=dtype, generator=gen))
    expected = _cell_run(reference, x, hx if hx_given else None)
    actual = _cell_run(replica, x, hx if hx_given else None)
    assert expected.keys() == actual.keys(), f"Expected tensors {sorted(expected)}, got {sorted(actual)}"
    different = [name for name in expected if not torch.equal(expected[name], actual[name])]
    assert not different, f"Expected bitwise equality with nn.LSTMCell, got differences in {different}"


def test_cell_matches_parameters_and_initialisation() -> None:
    torch.manual_seed(5)
    reference = nn.LSTMCell(5, 256)
    torch.manual_seed(5)
    replica = LSTMCell(5, 256)
    expected = reference.state_dict()
    actual = replica.state_dict()
    assert list(actual) == list(expected), f"Expected keys {list(expected)}, got {list(actual)}"
    for name, tensor in expected.items():
        assert torch.equal(actual[name], tensor), f"{name}: same seed should give the same initial values"
    no_bias = LSTMCell(5, 8, bias=False)
    assert no_bias.bias_ih is None, "Expected bias_ih to be None with bias=False"
    assert no_bias.bias_hh is None, "Expected bias_hh to be None with bias=False"
    assert list(no_bias.state_dict()) == ["weight_ih", "weight_hh"]


def _unrolled_by_gate(
    x: Tensor, h: Tensor, c: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """The textbook equations, one gate at a time: i, f, g, o are rows [0:H], [H:2H], [2H:3H], [3H:4H]."""
    hidden = c.size(-1)
    outputs = []
    for x_t in x.unbind(0):

        def gate(k: int, x_t: Tensor = x_t, h: Tensor = h) -> Tensor:
            rows = slice(k * hidden, (k + 1) * hidden)
            return x_t @ w_ih[rows].T + b_ih[rows] + h @ w_hh[rows].T + b_hh[rows]

        i, f, g, o = torch.sigmoid(gate(0)), torch.sigmoid(gate(1)), torch.tanh(gate(2)), torch.sigmoid(gate(3))
        c = f * c + i * g  # element-wise addition, every term (N, H)
        h = o * torch.tanh(c)
        outputs.append(h)
    return torch.stack(outputs), h, c


def test_textbook_equations_match_nn_lstm_within_float64_roundoff() -> None:
    reference = nn.LSTM(5, 16, dtype=torch.float64)
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(12, 3, 5, dtype=torch.float64, generator=gen)
    h0 = torch.randn(1, 3, 16, dtype=torch.float64, generator=gen)
    c0 = torch.randn(1, 3, 16, dtype=torch.float64, generator=gen)
    expected_out, (expected_h, expected_c) = reference(x, (h0, c0))
    params = [reference.weight_ih_l0, reference.weight_hh_l0, reference.bias_ih_l0, reference.bias_hh_l0]
    out, h, c = _unrolled_by_gate(x, h0[0], c0[0], *params)
    torch.testing.assert_close(out, expected_out, msg=lambda m: f"output: {m}")
    torch.testing.assert_close(h, expected_h[0], msg=lambda m: f"h_n: {m}")
    torch.testing.assert_close(c, expected_c[0], msg=lambda m: f"c_n: {m}")


@pytest.mark.usefixtures("native_cpu")
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
def test_hand_unrolled_steps_are_bitwise(dtype: torch.dtype) -> None:
    """Unroll the replica's step function by hand over time and layers: bitwise equal to nn.LSTM."""
    reference = nn.LSTM(5, 8, num_layers=2, dtype=dtype)
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(9, 3, 5, dtype=dtype, generator=gen)
    h0 = torch.randn(2, 3, 8, dtype=dtype, generator=gen)
    c0 = torch.randn(2, 3, 8, dtype=dtype, generator=gen)
    expected_out, (expected_h, expected_c) = reference(x, (h0, c0))

    layer_input = x
    for layer in range(2):
        w = CellWeights(
            *(getattr(reference, f"{n}_l{layer}") for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
        )
        projected = input_projection(layer_input, w)  # (L, N, 4*H)
        h, c = h0[layer], c0[layer]
        steps = []
        for x_t in projected.unbind(0):
            h, c = lstm_step(x_t, (h, c), w)
            steps.append(h)
        layer_input = torch.stack(steps)  # (L, N, H)
        assert torch.equal(h, expected_h[layer]), f"h_n of layer {layer} differs from nn.LSTM"
        assert torch.equal(c, expected_c[layer]), f"c_n of layer {layer} differs from nn.LSTM"
    assert torch.equal(layer_input, expected_out), "output of the top layer differs from nn.LSTM"


@pytest.mark.usefixtures("native_cpu")
def test_cell_steps_driven_over_a_sequence_equal_nn_lstm_cell_loops() -> None:
    """The replica cell in a Python loop equals nn.LSTMCell in the same loop, as in nn.LSTMCell's docs."""
    reference = nn.LSTMCell(10, 20, dtype=torch.float64)
    replica = LSTMCell.from_torch(reference)
    gen = torch.Generator().manual_seed(8)
    x = torch.randn(6, 3, 10, dtype=torch.float64, generator=gen)
    states = []
    for cell in (reference, replica):
        hx = cx = torch.zeros(3, 20, dtype=torch.float64)
        for x_t in x.unbind(0):
            hx, cx = cell(x_t, (hx, cx))
        states.append((hx, cx))
    assert torch.equal(states[0][0], states[1][0]), "h after 6 steps differs from nn.LSTMCell"
    assert torch.equal(states[0][1], states[1][1]), "c after 6 steps differs from nn.LSTMCell"


def test_lstm_layer_equals_its_cell_within_roundoff() -> None:
    """One LSTM layer and the same weights in LSTMCell agree (hoisting changes summation order only)."""
    lstm = LSTM(4, 6, dtype=torch.float64)
    cell = LSTMCell(4, 6, dtype=torch.float64)
    cell.load_state_dict({k.removesuffix("_l0"): v for k, v in lstm.state_dict().items()})
    x = torch.randn(5, 2, 4, dtype=torch.float64)
    out, _ = lstm(x)
    h = c = torch.zeros(2, 6, dtype=torch.float64)
    for t, x_t in enumerate(x.unbind(0)):
        h, c = cell(x_t, (h, c))
        torch.testing.assert_close(h, out[t], msg=lambda m, t=t: f"step {t}: {m}")
