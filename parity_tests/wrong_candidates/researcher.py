"""Deliberately wrong variants of the researcher's cell (examples/researcher_cell.py), each with one classic slip.

All are checked through the cell's own adapter (``--weights examples/researcher_cell.py:copy_weights``), so
every parameter is loaded exactly as in the correct cell: the slip is in the forward alone.
"""

from __future__ import annotations

from torch import Tensor

from examples.researcher_cell import GATES, ResearcherCell


class _Variant(ResearcherCell):
    """``ResearcherCell`` whose gates i, f, g, o read the matrices ``READS`` names and transpose ``TRANSPOSED``."""

    READS: tuple[tuple[str, str, str], ...] = GATES  # (input matrix, recurrent matrix, bias) of gates i, f, g, o
    TRANSPOSED: frozenset[str] = frozenset()  # recurrent matrices used as h @ w instead of h @ wᵀ

    def forward(self, x: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        if hx is None:
            zeros = x.new_zeros((*x.shape[:-1], self.hidden_size))  # (N, H) or (H,)
            hx = (zeros, zeros)
        h, c = hx

        def gate(k: int) -> Tensor:
            w_x, w_h, b = self.READS[k]
            recurrent = getattr(self, w_h)  # (H, H)
            pre = x @ getattr(self, w_x).t() + h @ (recurrent if w_h in self.TRANSPOSED else recurrent.t())  # (N, H)
            return pre if getattr(self, b) is None else pre + getattr(self, b)

        i, f, g, o = gate(0).sigmoid(), gate(1).sigmoid(), gate(2).tanh(), gate(3).sigmoid()
        c = f * c + i * g  # (N, H)
        return o * c.tanh(), c


class GateReadsAnothersMatrix(_Variant):
    """The cell gate g reads the forget gate's input matrix ``w3`` instead of its own ``w5``: ``w5`` is never used."""

    READS = (GATES[0], GATES[1], ("w3", "w6", "b3"), GATES[3])


class ReturnsCH(ResearcherCell):
    """Returns the new state as ``(c, h)`` instead of ``(h, c)``."""

    def forward(self, x: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        h, c = super().forward(x, hx)
        return c, h


class InputForgetExchanged(_Variant):
    """The input gate computed from the forget gate's ``w3, w4, b2`` and the forget gate from ``w1, w2, b1``."""

    READS = (GATES[1], GATES[0], GATES[2], GATES[3])


class TransposedRecurrent(_Variant):
    """The input gate's square recurrent matrix used as ``h @ w2`` instead of ``h @ w2ᵀ``."""

    TRANSPOSED = frozenset({"w2"})
