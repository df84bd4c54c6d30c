"""The replica with a swappable one-step function: the base of most deliberately wrong candidates.

``StepLSTM`` is ``lstm_replica.LSTM`` (bitwise ``nn.LSTM``) whose time step is
``self.step_fn(x_proj, (h, c), weights)``; a defect is a different ``step_fn``
or a different ``forward`` around the same machinery.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence

from lstm_replica import LSTM
from lstm_replica.cell import Hidden
from lstm_replica.functional import CellWeights, input_projection, lstm_step

StepFn = Callable[[Tensor, Hidden, CellWeights], Hidden]


@dataclass(frozen=True)
class StepRecurrence:
    weights: CellWeights
    step_fn: StepFn

    def project(self, x: Tensor) -> Tensor:
        return input_projection(x, self.weights)

    def step(self, x_t: Tensor, hidden: Hidden) -> Hidden:
        return self.step_fn(x_t, hidden, self.weights)


class CountingRecurrence:
    """A recurrence that counts the steps it has run (``self.count`` before each step's own work): the base of
    defects that start after some number of steps."""

    def __init__(self, weights: CellWeights) -> None:
        self.weights, self.count = weights, 0

    def project(self, x: Tensor) -> Tensor:
        return input_projection(x, self.weights)

    def step(self, x_t: Tensor, hidden: Hidden) -> Hidden:
        self.count += 1
        return self.counted_step(x_t, hidden)

    def counted_step(self, x_t: Tensor, hidden: Hidden) -> Hidden:
        return lstm_step(x_t, hidden, self.weights)


class DtypeAtConstruction(LSTM):
    """``lstm_replica.LSTM`` with nn.LSTM's constructor written out (the harness reads it), building its weights
    in ``self.dtype_for(dtype)`` and remembering that dtype as ``built_dtype``: the base of construction-time
    defects."""

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
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        built = self.dtype_for(dtype)
        super().__init__(
            input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, proj_size, device, built
        )
        self.built_dtype = built or torch.get_default_dtype()

    @staticmethod
    def dtype_for(dtype: torch.dtype | None) -> torch.dtype | None:
        return dtype


class StepLSTM(LSTM):
    step_fn: StepFn = staticmethod(lstm_step)

    def recurrences(self) -> list:
        return [StepRecurrence(w, self.step_fn) for w in self.cell_weights()]

    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None):
        return self.forward_with(self.recurrences(), input, hx)


def gates_to_state(gates: Tensor, cx: Tensor, w: CellWeights, order: str = "ifgo") -> Hidden:
    """The replica's gate non-linearities and state update, reading the four row blocks in ``order``."""
    chunks = dict(zip(order, gates.unsafe_chunk(4, 1), strict=True))  # 4 x (N, H_cell)
    ingate, forgetgate = chunks["i"].sigmoid(), chunks["f"].sigmoid()
    cellgate, outgate = chunks["g"].tanh(), chunks["o"].sigmoid()
    cy = (forgetgate * cx).add_(ingate * cellgate)  # (N, H_cell)
    hy = outgate * cy.tanh()  # (N, H_cell)
    if w.weight_hr is not None:
        hy = hy.matmul(w.weight_hr.t())  # (N, H_out)
    return hy, cy
