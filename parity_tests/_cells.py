"""Small pieces the hand-written test cells share: nn.LSTMCell's initial draw, the zero state, the cell update."""

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
