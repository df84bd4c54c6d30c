"""Deliberately wrong nn.LSTM-compatible candidates: each a realistic mistake the harness must reject."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from lstm_replica import LSTM
from lstm_replica.cell import Hidden
from lstm_replica.functional import CellWeights, input_projection, lstm_step

from ._base import StepLSTM, StepRecurrence, gates_to_state


def _gates(x_proj: Tensor, hx: Tensor, w: CellWeights) -> Tensor:
    return F.linear(hx, w.weight_hh, w.bias_hh).add_(x_proj)  # (N, 4*H_cell)


class GateOrder(StepLSTM):
    """Reads the gate blocks as i, g, f, o (another framework's layout) instead of i, f, g, o."""

    @staticmethod
    def step_fn(x_proj: Tensor, hidden: Hidden, w: CellWeights) -> Hidden:
        return gates_to_state(_gates(x_proj, hidden[0], w), hidden[1], w, order="igfo")


class ForgetBias(StepLSTM):
    """Adds 1 to the forget gate's pre-activation (Keras' unit_forget_bias) on top of the loaded biases."""

    @staticmethod
    def step_fn(x_proj: Tensor, hidden: Hidden, w: CellWeights) -> Hidden:
        gates = _gates(x_proj, hidden[0], w)
        h = gates.size(1) // 4
        gates[:, h : 2 * h] += 1.0  # the forget block of rows
        return gates_to_state(gates, hidden[1], w)


class DroppedBias(StepLSTM):
    """Uses bias_ih but forgets bias_hh (one bias, as in the textbook equations)."""

    @staticmethod
    def step_fn(x_proj: Tensor, hidden: Hidden, w: CellWeights) -> Hidden:
        return gates_to_state(F.linear(hidden[0], w.weight_hh).add_(x_proj), hidden[1], w)


class DoubledBias(StepLSTM):
    """Adds bias_hh twice: once in the hidden projection, once more when summing."""

    @staticmethod
    def step_fn(x_proj: Tensor, hidden: Hidden, w: CellWeights) -> Hidden:
        gates = _gates(x_proj, hidden[0], w)
        if w.bias_hh is not None:
            gates = gates + w.bias_hh
        return gates_to_state(gates, hidden[1], w)


class MissingTanh(StepLSTM):
    """h = o * c instead of o * tanh(c)."""

    @staticmethod
    def step_fn(x_proj: Tensor, hidden: Hidden, w: CellWeights) -> Hidden:
        i, f, g, o = _gates(x_proj, hidden[0], w).unsafe_chunk(4, 1)  # 4 x (N, H_cell)
        cy = f.sigmoid() * hidden[1] + i.sigmoid() * g.tanh()
        hy = o.sigmoid() * cy
        return (hy if w.weight_hr is None else hy.matmul(w.weight_hr.t())), cy


class MisplacedProjection(StepLSTM):
    """Projects the output gate and tanh(c) separately, then multiplies: W(o) * W(tanh c) instead of W(o * tanh c)."""

    @staticmethod
    def step_fn(x_proj: Tensor, hidden: Hidden, w: CellWeights) -> Hidden:
        if w.weight_hr is None:
            return lstm_step(x_proj, hidden, w)
        i, f, g, o = _gates(x_proj, hidden[0], w).unsafe_chunk(4, 1)  # 4 x (N, H_cell)
        cy = f.sigmoid() * hidden[1] + i.sigmoid() * g.tanh()
        hy = o.sigmoid().matmul(w.weight_hr.t()) * cy.tanh().matmul(w.weight_hr.t())  # (N, H_out)
        return hy, cy


class DetachedState(StepLSTM):
    """Detaches c between steps (truncated backpropagation): the forward is exact, the gradients are not."""

    @staticmethod
    def step_fn(x_proj: Tensor, hidden: Hidden, w: CellWeights) -> Hidden:
        return lstm_step(x_proj, (hidden[0], hidden[1].detach()), w)


class _FactoredTanh(torch.autograd.Function):
    """tanh with a hand-written backward (the new style, ``setup_context``: it works under ``torch.func``)."""

    @staticmethod
    def forward(x: Tensor) -> Tensor:
        return x.tanh()

    @staticmethod
    def setup_context(ctx, inputs: tuple[Tensor], output: Tensor) -> None:
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (y,) = ctx.saved_tensors
        return grad * (1 - y) * (1 + y)  # = grad * (1 - y^2) in exact arithmetic, not in floating point


class TanhBackward(StepLSTM):
    """A hand-written tanh(c) whose backward factors 1 - y^2: gradients a few ulps off, forward exact."""

    @staticmethod
    def step_fn(x_proj: Tensor, hidden: Hidden, w: CellWeights) -> Hidden:
        i, f, g, o = _gates(x_proj, hidden[0], w).unsafe_chunk(4, 1)  # 4 x (N, H_cell)
        cy = (f.sigmoid() * hidden[1]).add_(i.sigmoid() * g.tanh())
        hy = o.sigmoid() * _FactoredTanh.apply(cy)
        return (hy if w.weight_hr is None else torch.matmul(hy, w.weight_hr.t())), cy


class OneUlp(StepLSTM):
    """Every h_t one ulp above the right value (say, a different libm tanh)."""

    @staticmethod
    def step_fn(x_proj: Tensor, hidden: Hidden, w: CellWeights) -> Hidden:
        hy, cy = lstm_step(x_proj, hidden, w)
        return torch.nextafter(hy, torch.full_like(hy, float("inf"))), cy


@dataclass
class _ChunkedRecurrence:
    """Runs in chunks of 128 steps and wrongly restarts the cell state at zero at each chunk."""

    weights: CellWeights
    count: int = field(default=0)

    def project(self, x: Tensor) -> Tensor:
        return input_projection(x, self.weights)

    def step(self, x_t: Tensor, hidden: Hidden) -> Hidden:
        if self.count and self.count % 128 == 0:
            hidden = (hidden[0], torch.zeros_like(hidden[1]))
        self.count += 1
        return lstm_step(x_t, hidden, self.weights)


class ChunkReset(LSTM):
    """Correct for sequences up to 128 steps; resets c every 128 steps after that."""

    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None):
        return self.forward_with([_ChunkedRecurrence(w) for w in self.cell_weights()], input, hx)


@dataclass(frozen=True)
class _ForwardOrderRecurrence(StepRecurrence):
    """Hands the reverse loop the steps already reversed, so it walks them forward."""

    def project(self, x: Tensor) -> Tensor:
        return input_projection(x, self.weights).flip(0)


class WrongReverse(StepLSTM):
    """The reverse direction reads the sequence in forward order."""

    def recurrences(self) -> list:
        recs = super().recurrences()
        return (
            [
                StepRecurrence(r.weights, r.step_fn) if i % 2 == 0 else _ForwardOrderRecurrence(r.weights, r.step_fn)
                for i, r in enumerate(recs)
            ]
            if self.bidirectional
            else recs
        )


class PackedLengthsIgnored(LSTM):
    """Unpacks a PackedSequence and runs the padded batch: the final states come from the padding."""

    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None):
        if not isinstance(input, PackedSequence):
            return super().forward(input, hx)
        padded, lengths = pad_packed_sequence(input, batch_first=self.batch_first)  # original batch order
        output, state = super().forward(padded, hx)
        return pack_padded_sequence(output, lengths, batch_first=self.batch_first, enforce_sorted=False), state


class HxIgnored(LSTM):
    """Always starts from zeros, whatever hx is passed."""

    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None):
        return super().forward(input, None)


class BatchFirstView(LSTM):
    """Converts batch_first input with reshape instead of transpose: right only when N == 1 or L == 1."""

    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None):
        if not (self.batch_first and isinstance(input, Tensor) and input.dim() == 3):
            return super().forward(input, hx)
        n, steps, features = input.shape
        self.batch_first = False
        try:
            output, state = super().forward(input.reshape(steps, n, features), hx)  # (L, N, H_in), scrambled
        finally:
            self.batch_first = True
        return output.reshape(n, steps, -1), state  # (N, L, D*H_out), scrambled back


class StateWrittenBack(LSTM):
    """A "stateful" LSTM that writes the final state back into the caller's hx in place."""

    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None):
        output, (h_n, c_n) = super().forward(input, hx)
        if hx is not None:
            with torch.no_grad():
                hx[0].copy_(h_n)
                hx[1].copy_(c_n)
        return output, (h_n, c_n)


class DropoutInEval(LSTM):
    """Applies the inter-layer dropout in eval mode too: wrong and not even deterministic."""

    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None):
        training = self.training
        self.training = True
        try:
            return super().forward(input, hx)
        finally:
            self.training = training
