"""A researcher's own LSTM cell, checked step by step against nn.LSTMCell.

Run from the repository root:

    lstm-replica check examples/my_cell.py:MyLSTMCell            # bitwise, default matrix
    lstm-replica check examples/my_cell.py:MyLSTMCell --quick    # a small set
    lstm-replica check examples/my_cell.py:MyFusedCell --tolerance

``MyLSTMCell`` writes the step in ATen's op order, so it is bitwise
nn.LSTMCell, one step at a time and inside every multi-layer, bidirectional
and packed configuration. ``MyFusedCell`` does one matmul over [x, h]: the
harness rejects it bitwise, and certifies it under --tolerance, reporting the
single-step (teacher-forced) error apart from the error accumulated over time.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class MyLSTMCell(nn.Module):
    """nn.LSTMCell's constructor and parameters; forward(input, hx) -> (h, c)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None) -> None:
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        self.hidden_size = hidden_size
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size, **kw))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size, **kw))
        self.bias_ih = nn.Parameter(torch.empty(4 * hidden_size, **kw)) if bias else None
        self.bias_hh = nn.Parameter(torch.empty(4 * hidden_size, **kw)) if bias else None
        for p in self.parameters():
            nn.init.uniform_(p, -1 / math.sqrt(hidden_size), 1 / math.sqrt(hidden_size))

    def gates(self, x: Tensor, h: Tensor) -> Tensor:
        """Pre-activations of the four gates, (N, 4*H): hidden part first, then the input part added."""
        return F.linear(h, self.weight_hh, self.bias_hh) + F.linear(x, self.weight_ih, self.bias_ih)

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        batched = input.dim() == 2
        x = input if batched else input.unsqueeze(0)  # (N, H_in)
        if hx is None:
            zeros = x.new_zeros(x.size(0), self.hidden_size)  # (N, H), already batched
            h, c = zeros, zeros
        else:
            h, c = (hx[0], hx[1]) if batched else (hx[0].unsqueeze(0), hx[1].unsqueeze(0))  # (N, H) each
        i, f, g, o = self.gates(x, h).chunk(4, 1)  # 4 x (N, H)
        c = f.sigmoid() * c + i.sigmoid() * g.tanh()
        h = o.sigmoid() * c.tanh()
        return (h, c) if batched else (h[0], c[0])


class MyFusedCell(MyLSTMCell):
    """The same cell with one matmul over [x, h] and the biases pre-summed: equal in exact arithmetic only."""

    def gates(self, x: Tensor, h: Tensor) -> Tensor:
        weight = torch.cat([self.weight_ih, self.weight_hh], 1)  # (4*H, H_in + H)
        gates = torch.cat([x, h], 1) @ weight.t()  # (N, 4*H)
        return gates if self.bias_ih is None else gates + (self.bias_ih + self.bias_hh)
