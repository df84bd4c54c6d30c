"""A textbook LSTM cell, as courses write it: one matrix pair and one bias per gate, ``x @ W``.

    i = σ(x W_xi + h W_hi + b_i)        f = σ(x W_xf + h W_hf + b_f)
    g = tanh(x W_xc + h W_hc + b_c)     o = σ(x W_xo + h W_ho + b_o)
    c' = f ⊙ c + i ⊙ g                  h' = o ⊙ tanh(c')

Shapes: ``W_x* (H_in, H)``, ``W_h* (H, H)``, ``b_* (H,)``; ``x (N, H_in)`` or ``(H_in,)``.
It is the same function as ``nn.LSTMCell``, but not bitwise: four products
per side instead of one (other summation blocks), and one bias per gate holds
``nn.LSTMCell``'s ``b_ih + b_hh`` (the sum rounds). Certify it with

    lstm-replica check examples/textbook_cell.py:TextbookLSTMCell --weights per-gate-t --tolerance

or with the hand-written adapter below (``--weights examples/textbook_cell.py:copy_weights``), which is
what the ready-made ``per-gate-t`` layout does. ``DetachedRecurrenceCell`` is the same cell with one
classic slip, its recurrent products taken on detached weights: it computes the same forward, but its
``W_h*`` never learn, and the check rejects it.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

GATES = {"i": 0, "f": 1, "c": 2, "o": 3}  # the textbook's letters -> nn.LSTMCell's gate blocks i, f, g, o


class TextbookLSTMCell(nn.Module):
    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.input_size, self.hidden_size = input_size, hidden_size
        for g in GATES:
            setattr(self, f"W_x{g}", nn.Parameter(torch.empty(input_size, hidden_size, **factory)))
            setattr(self, f"W_h{g}", nn.Parameter(torch.empty(hidden_size, hidden_size, **factory)))
            setattr(self, f"b_{g}", nn.Parameter(torch.empty(hidden_size, **factory)) if bias else None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def recurrent(self, g: str) -> Tensor:
        return getattr(self, f"W_h{g}")

    def forward(self, x: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        if hx is None:
            zeros = x.new_zeros((*x.shape[:-1], self.hidden_size))  # (N, H) or (H,), in x's dtype
            hx = (zeros, zeros)
        h, c = hx

        def gate(g: str) -> Tensor:
            pre = x @ getattr(self, f"W_x{g}") + h @ self.recurrent(g)
            bias = getattr(self, f"b_{g}")
            return pre if bias is None else pre + bias

        i, f, g, o = torch.sigmoid(gate("i")), torch.sigmoid(gate("f")), torch.tanh(gate("c")), torch.sigmoid(gate("o"))
        c = f * c + i * g
        return o * torch.tanh(c), c


class DetachedRecurrenceCell(TextbookLSTMCell):
    """The slip: ``W_h*`` read through ``.detach()``, so no gradient ever reaches them."""

    def recurrent(self, g: str) -> Tensor:
        return getattr(self, f"W_h{g}").detach()


def copy_weights(candidate: TextbookLSTMCell, reference: nn.LSTMCell) -> None:
    """``--weights`` adapter: nn.LSTMCell's weights into the textbook cell, in place (the return value is unused).

    ``weight_ih (4H, H_in)`` holds the gates as row blocks i, f, g, o; the textbook keeps each block
    transposed, ``(H_in, H)``. Both biases fold into one per gate.
    """
    hidden = reference.hidden_size
    with torch.no_grad():
        for g, k in GATES.items():
            rows = slice(k * hidden, (k + 1) * hidden)
            getattr(candidate, f"W_x{g}").copy_(reference.weight_ih[rows].t())  # (H_in, H)
            getattr(candidate, f"W_h{g}").copy_(reference.weight_hh[rows].t())  # (H, H)
            if reference.bias:
                getattr(candidate, f"b_{g}").copy_(reference.bias_ih[rows] + reference.bias_hh[rows])
