"""An LSTM cell in a researcher's own notation: eight matrices ``w1..w8`` and one bias per gate.

    i = σ(x w1ᵀ + h w2ᵀ + b1)        f = σ(x w3ᵀ + h w4ᵀ + b2)
    g = tanh(x w5ᵀ + h w6ᵀ + b3)     o = σ(x w7ᵀ + h w8ᵀ + b4)
    c' = f ⊙ c + i ⊙ g               h' = o ⊙ tanh(c')

Shapes: ``w1, w3, w5, w7 (H, H_in)``; ``w2, w4, w6, w8 (H, H)``; ``b1..b4 (H,)``;
``x (N, H_in)`` or ``(H_in,)``. Every gate and both states are ``H`` wide; the
state update is element-wise addition. ``ResearcherClassifier`` puts the cell in a
time loop and maps the last ``h`` to class scores with a separate ``Linear`` head.

Neither the names nor the layout are ``nn.LSTMCell``'s, so the hand-written
adapter ``copy_weights`` tells the harness where each of nn.LSTMCell's
weights goes; one bias per gate holds ``b_ih + b_hh`` (the sum rounds), so the
certificate is within tolerance, not bitwise:

    lstm-replica check examples/researcher_cell.py:ResearcherCell --weights examples/researcher_cell.py:copy_weights --tolerance
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# (input matrix, recurrent matrix, bias) of each gate, in nn.LSTMCell's block order i, f, g, o
GATES = (("w1", "w2", "b1"), ("w3", "w4", "b2"), ("w5", "w6", "b3"), ("w7", "w8", "b4"))


class ResearcherCell(nn.Module):
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
        for w_x, w_h, _ in GATES:
            setattr(self, w_x, nn.Parameter(torch.empty(hidden_size, input_size, **factory)))
            setattr(self, w_h, nn.Parameter(torch.empty(hidden_size, hidden_size, **factory)))
        for _, _, b in GATES:
            setattr(self, b, nn.Parameter(torch.empty(hidden_size, **factory)) if bias else None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def forward(self, x: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        if hx is None:
            zeros = x.new_zeros((*x.shape[:-1], self.hidden_size))  # (N, H) or (H,)
            hx = (zeros, zeros)
        h, c = hx

        def gate(k: int) -> Tensor:
            w_x, w_h, b = (getattr(self, name) for name in GATES[k])
            pre = x @ w_x.t() + h @ w_h.t()  # (N, H)
            return pre if b is None else pre + b

        i, f, g, o = torch.sigmoid(gate(0)), torch.sigmoid(gate(1)), torch.tanh(gate(2)), torch.sigmoid(gate(3))
        c = f * c + i * g  # (N, H): element-wise, nothing concatenated
        return o * torch.tanh(c), c


class ResearcherClassifier(nn.Module):
    """``ResearcherCell`` over a ``(L, N, H_in)`` sequence, then ``Linear(H, num_classes)`` on the last ``h``."""

    def __init__(self, input_size: int = 5, hidden_size: int = 256, num_classes: int = 10) -> None:
        super().__init__()
        self.cell = ResearcherCell(input_size, hidden_size)
        self.head = nn.Linear(hidden_size, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        state = None
        for x_t in x.unbind(0):
            state = self.cell(x_t, state)
        assert state is not None, "Expected a sequence of at least one step, got 0"
        return self.head(state[0])  # (N, num_classes) logits


class BitwiseResearcherCell(nn.Module):
    """The same cell made bitwise ``nn.LSTMCell``: two biases per gate, and one product per side.

    ``w1..w8`` stay the experiment's per-gate matrices; forward stacks them (``torch.cat``, rows i, f, g, o)
    into ``(4H, H_in)`` and ``(4H, H)`` matrices and does what ATen's cell does, op for op:
    ``gates = F.linear(h, W_hh, b_hh) + F.linear(x, W_ih, b_ih)``, then the four chunks. ``b1..b4`` are the
    input-side biases, ``c1..c4`` the recurrent ones. Bitwise in float64 and float32 (oneDNN off); in half
    precision the SGD steps differ, since the optimiser updates sixteen small tensors instead of four.
    """

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
        for w_x, w_h, _ in GATES:
            setattr(self, w_x, nn.Parameter(torch.empty(hidden_size, input_size, **factory)))
            setattr(self, w_h, nn.Parameter(torch.empty(hidden_size, hidden_size, **factory)))
        for k in range(1, 5):
            setattr(self, f"b{k}", nn.Parameter(torch.empty(hidden_size, **factory)) if bias else None)
            setattr(self, f"c{k}", nn.Parameter(torch.empty(hidden_size, **factory)) if bias else None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """nn.LSTMCell's draws: U(-b, b) of ``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh`` in that order,
        each drawn whole as ``(4H, ·)`` and split into the gates' blocks, so one seed gives nn.LSTMCell's values."""
        bound = 1 / math.sqrt(self.hidden_size)
        groups = [[w_x for w_x, _, _ in GATES], [w_h for _, w_h, _ in GATES], ["b1", "b2", "b3", "b4"]]
        groups.append(["c1", "c2", "c3", "c4"])
        with torch.no_grad():
            for names in groups:
                blocks = [getattr(self, name) for name in names]
                if blocks[0] is None:
                    continue
                whole = torch.cat(blocks).uniform_(-bound, bound)  # (4H, ·), drawn as nn.LSTMCell draws it
                for block, drawn in zip(blocks, whole.chunk(4), strict=True):
                    block.copy_(drawn)

    def forward(self, x: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        if hx is None:
            zeros = x.new_zeros((*x.shape[:-1], self.hidden_size))  # (N, H) or (H,)
            hx = (zeros, zeros)
        h, c = hx
        w_ih = torch.cat([getattr(self, w_x) for w_x, _, _ in GATES])  # (4H, H_in)
        w_hh = torch.cat([getattr(self, w_h) for _, w_h, _ in GATES])  # (4H, H)
        b_ih = b_hh = None
        if self.b1 is not None:
            b_ih = torch.cat([getattr(self, f"b{k}") for k in range(1, 5)])  # (4H,)
            b_hh = torch.cat([getattr(self, f"c{k}") for k in range(1, 5)])  # (4H,)
        gates = F.linear(h, w_hh, b_hh) + F.linear(x, w_ih, b_ih)  # (N, 4H): recurrent product first, as ATen
        i, f, g, o = gates.chunk(4, -1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


def copy_weights_bitwise(candidate: BitwiseResearcherCell, reference: nn.LSTMCell) -> None:
    """``--weights`` adapter for :class:`BitwiseResearcherCell`: each bias block to its own vector, nothing folded."""
    hidden = reference.hidden_size
    with torch.no_grad():
        for k, (w_x, w_h, _) in enumerate(GATES):
            rows = slice(k * hidden, (k + 1) * hidden)
            getattr(candidate, w_x).copy_(reference.weight_ih[rows])  # (H, H_in)
            getattr(candidate, w_h).copy_(reference.weight_hh[rows])  # (H, H)
            if reference.bias:
                getattr(candidate, f"b{k + 1}").copy_(reference.bias_ih[rows])  # (H,)
                getattr(candidate, f"c{k + 1}").copy_(reference.bias_hh[rows])  # (H,)


def copy_weights(candidate: ResearcherCell, reference: nn.LSTMCell) -> None:
    """``--weights`` adapter: nn.LSTMCell's weights into ``w1..w8``, ``b1..b4`` in place (return value unused).

    ``weight_ih (4H, H_in)`` and ``weight_hh (4H, H)`` hold the gates as row blocks i, f, g, o; each block
    is one of this cell's ``(H, ·)`` matrices as it stands. Both biases fold into one per gate.
    """
    hidden = reference.hidden_size
    with torch.no_grad():
        for k, (w_x, w_h, b) in enumerate(GATES):
            rows = slice(k * hidden, (k + 1) * hidden)
            getattr(candidate, w_x).copy_(reference.weight_ih[rows])  # (H, H_in)
            getattr(candidate, w_h).copy_(reference.weight_hh[rows])  # (H, H)
            if reference.bias:
                getattr(candidate, b).copy_(reference.bias_ih[rows] + reference.bias_hh[rows])
