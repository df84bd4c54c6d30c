"""The replica with a swappable one-step function: the base of most deliberately wrong candidates.

``StepLSTM`` is ``lstm_replica.LSTM`` (bitwise ``nn.LSTM``) whose time step is
``self.step_fn(x_proj, (h, c), weights)``; a defect is a different ``step_fn``
or a different ``forward`` around the same machinery.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor
from torch.nn.utils.rnn import PackedSequence

from lstm_replica import LSTM, CellWeights, input_projection, lstm_step
from lstm_replica.cell import Hidden

StepFn = Callable[[Tensor, Hidden, CellWeights], Hidden]


@dataclass(frozen=True)
class StepRecurrence:
    weights: CellWeights
    step_fn: StepFn

    def project(self, x: Tensor) -> Tensor:
        return input_projection(x, self.weights)

    def step(self, x_t: Tensor, hidden: Hidden) -> Hidden:
        return self.step_fn(x_t, hidden, self.weights)


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
