"""Mathematically equal rewrites: not bitwise nn.LSTM, but within the stated tolerances."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence

from lstm_replica import LSTM, LSTMCell
from lstm_replica.cell import Hidden
from lstm_replica.functional import CellWeights

from ._base import gates_to_state


def _one_matmul(x: Tensor, hidden: Hidden, w: CellWeights) -> Hidden:
    """One GEMM over [x, h] with [W_ih | W_hh], the two biases folded into one vector."""
    weight = torch.cat([w.weight_ih, w.weight_hh], 1)  # (4*H_cell, H_in + H_out)
    gates = torch.cat([x, hidden[0]], 1).matmul(weight.t())  # (N, 4*H_cell)
    if w.bias_ih is not None:
        gates = gates + (w.bias_ih + w.bias_hh)
    return gates_to_state(gates, hidden[1], w)


@dataclass(frozen=True)
class _ConcatRecurrence:
    weights: CellWeights

    def project(self, x: Tensor) -> Tensor:
        return x  # nothing hoisted: the input joins the hidden state in one matmul per step

    def step(self, x_t: Tensor, hidden: Hidden) -> Hidden:
        return _one_matmul(x_t, hidden, self.weights)


class ConcatLSTM(LSTM):
    """The whole nn.LSTM, each step one matmul over [x_t, h_{t-1}]."""

    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None):
        return self.forward_with([_ConcatRecurrence(w) for w in self.cell_weights()], input, hx)


class ConcatCell(LSTMCell):
    """nn.LSTMCell as one matmul over [x, h]."""

    def forward(self, input: Tensor, hx: Hidden | None = None) -> Hidden:
        batched = input.dim() == 2
        x = input if batched else input.unsqueeze(0)  # (N, H_in)
        if hx is None:
            zeros = x.new_zeros(x.size(0), self.hidden_size)
            hx = (zeros, zeros)
        elif not batched:
            hx = (hx[0].unsqueeze(0), hx[1].unsqueeze(0))  # (1, H) each
        h, c = _one_matmul(x, hx, CellWeights(self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh))
        return (h, c) if batched else (h[0], c[0])
