"""Deliberately wrong nn.LSTMCell-compatible candidates, checked step by step and inside the layer machinery."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from lstm_replica import LSTMCell
from lstm_replica.cell import Hidden
from lstm_replica.functional import CellWeights

from ._base import gates_to_state


class SwappedState(LSTMCell):
    """Unpacks hx as (c, h) instead of (h, c); h_0 != c_0 exposes it."""

    def forward(self, input: Tensor, hx: Hidden | None = None) -> Hidden:
        return super().forward(input, None if hx is None else (hx[1], hx[0]))


class CellGateOrder(LSTMCell):
    """Reads the gate blocks as f, i, g, o."""

    def forward(self, input: Tensor, hx: Hidden | None = None) -> Hidden:
        w = CellWeights(self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        h, c = (t.unsqueeze(0) if input.dim() == 1 else t for t in hx)
        x = input.unsqueeze(0) if input.dim() == 1 else input  # (N, H_in)
        gates = F.linear(h, w.weight_hh, w.bias_hh) + F.linear(x, w.weight_ih, w.bias_ih)  # (N, 4*H)
        h, c = gates_to_state(gates, c, w, order="figo")
        return (h[0], c[0]) if input.dim() == 1 else (h, c)


class UnbatchedKeepsBatchDim(LSTMCell):
    """Handles 1-D input by adding a batch dimension and never removing it."""

    def forward(self, input: Tensor, hx: Hidden | None = None) -> Hidden:
        if input.dim() == 1:
            input = input.unsqueeze(0)  # (1, H_in)
            hx = None if hx is None else (hx[0].unsqueeze(0), hx[1].unsqueeze(0))  # (1, H) each
        return super().forward(input, hx)
