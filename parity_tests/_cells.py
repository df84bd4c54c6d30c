"""What the hand-written test cells share: nn.LSTMCell's initial draw, the zero state, the cell update, and the
cells written in other frameworks' layouts that more than one test file checks."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def uniform(*shape: int, hidden_size: int) -> nn.Parameter:
    """nn.LSTMCell's initial distribution, U(-1/sqrt(H), 1/sqrt(H))."""
    bound = 1 / math.sqrt(hidden_size)
    return nn.Parameter(torch.empty(*shape).uniform_(-bound, bound))


def zero_state(x: Tensor, hx: tuple[Tensor, Tensor] | None, hidden_size: int) -> tuple[Tensor, Tensor]:
    """``hx``, or zeros in ``x``'s dtype: ``(N, H)`` each, ``(H,)`` for 1-D input."""
    if hx is not None:
        return hx
    zeros = x.new_zeros((*x.shape[:-1], hidden_size))  # (N, H) or (H,)
    return zeros, zeros


def cell_update(i: Tensor, f: Tensor, g: Tensor, o: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
    """Pre-activation gates and c_{t-1} to (h_t, c_t)."""
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


class KerasStyleCell(nn.Module):
    """Keras's LSTM cell in torch: z = x K + h U + b, split i, f, c, o."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__()
        self.kernel = uniform(input_size, 4 * hidden_size, hidden_size=hidden_size)
        self.recurrent_kernel = uniform(hidden_size, 4 * hidden_size, hidden_size=hidden_size)
        self.bias = uniform(4 * hidden_size, hidden_size=hidden_size) if bias else None
        self.hidden_size = hidden_size

    def forward(self, x: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        h, c = zero_state(x, hx, self.hidden_size)
        z = x @ self.kernel + h @ self.recurrent_kernel  # (N, 4H)
        if self.bias is not None:
            z = z + self.bias
        i, f, g, o = z.chunk(4, -1)
        return cell_update(i, f, g, o, c)


class OnnxStyleCell(nn.Module):
    """One direction of ONNX's LSTM in torch: z = x W^T + h R^T + W_b + R_b, split i, o, f, c."""

    gate_order = "iofc"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__()
        self.W = uniform(4 * hidden_size, input_size, hidden_size=hidden_size)
        self.R = uniform(4 * hidden_size, hidden_size, hidden_size=hidden_size)
        self.B = uniform(8 * hidden_size, hidden_size=hidden_size) if bias else None
        self.hidden_size = hidden_size

    def forward(self, x: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        h, c = zero_state(x, hx, self.hidden_size)
        z = x @ self.W.t() + h @ self.R.t()  # (N, 4H)
        if self.B is not None:
            w_b, r_b = self.B.chunk(2)  # (4H,) each
            z = z + w_b + r_b
        gates = dict(zip(self.gate_order, z.chunk(4, -1), strict=True))
        return cell_update(gates["i"], gates["f"], gates["c"], gates["o"], c)


class X2HCell(nn.Module):
    """``--weights x2h-h2h``: two nn.Linear, each with its bias (this layout cannot fold)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__()
        self.x2h = nn.Linear(input_size, 4 * hidden_size, bias=bias)
        self.h2h = nn.Linear(hidden_size, 4 * hidden_size, bias=bias)
        self.hidden_size = hidden_size

    def forward(self, x: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        h, c = zero_state(x, hx, self.hidden_size)
        i, f, g, o = (self.x2h(x) + self.h2h(h)).chunk(4, -1)  # (N, H) each
        return cell_update(i, f, g, o, c)
