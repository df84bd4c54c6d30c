"""Wrong candidates found by a blind review (README only): global modes, construction, input dtype, deep dropout,
long half-precision sequences.

Each is exact in the harness's old probes and wrong in an ordinary script: one that builds a second LSTM without
reseeding, sets the default dtype, turns deterministic algorithms on, feeds a float32 batch to a float64 model,
trains a deep stack with dropout, or runs hundreds of half-precision steps. ``test_modes_catalogue.py`` shows
each defect in plain use first.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence

from lstm_replica import LSTM
from lstm_replica.cell import Hidden
from lstm_replica.functional import CellWeights, lstm_step

from ._base import CountingRecurrence, DtypeAtConstruction, StepLSTM

HALF_STEPS = 64  # half-precision sequences longer than this keep c in float32
DEEP = 6  # stacks at least this deep get half the dropout


class PrivateGeneratorInit(LSTM):
    """Draws its initial weights from a private generator seeded with ``torch.initial_seed()`` ("reproducible,
    and it leaves the global stream alone"): the first LSTM after a seed equals nn.LSTM's, a second one does not."""

    def reset_parameters(self) -> None:
        generator = torch.Generator(device="cpu").manual_seed(torch.initial_seed())
        bound = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0.0
        with torch.no_grad():
            for weight in self.parameters():
                drawn = torch.empty(weight.shape, dtype=weight.dtype).uniform_(-bound, bound, generator=generator)
                weight.copy_(drawn)


class ExtraDrawAtInit(LSTM):
    """nn.LSTM's weights, then one more draw from the global generator (a random initial-state buffer it keeps
    and never uses): every draw the script makes after building it changes."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.register_buffer("spare_state", torch.rand(1), persistent=False)


class Float32WithoutDtype(DtypeAtConstruction):
    """Builds float32 weights when no dtype is given ("mixed precision casts later"), whatever torch's default
    dtype: under ``torch.set_default_dtype(torch.float64)`` nn.LSTM's weights are float64, its are not."""

    @staticmethod
    def dtype_for(dtype: torch.dtype | None) -> torch.dtype | None:
        return torch.float32 if dtype is None else dtype


def _reassociated(x_proj: Tensor, hidden: Hidden, w: CellWeights) -> Hidden:
    """Under deterministic algorithms, the gates as (x W_ihᵀ + b_ih + b_hh) + h W_hhᵀ: another order of sums."""
    if not torch.are_deterministic_algorithms_enabled() or w.bias_hh is None:
        return lstm_step(x_proj, hidden, w)
    folded = CellWeights(w.weight_ih, w.weight_hh, w.bias_ih, torch.zeros_like(w.bias_hh), w.weight_hr)
    return lstm_step(x_proj + w.bias_hh, hidden, folded)


class DeterministicModePath(StepLSTM):
    """Takes another path when ``torch.use_deterministic_algorithms(True)`` is on (folds b_hh into the input
    projection, "no atomics"): bitwise nn.LSTM otherwise."""

    step_fn = staticmethod(_reassociated)


class CastsInputDtype(LSTM):
    """Casts an input of another dtype to its weights' dtype where nn.LSTM raises ValueError: a float32 batch fed
    to a float64 model runs, in float64, and hides the mistake."""

    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None):
        dtype = self.weight_ih_l0.dtype
        if isinstance(input, Tensor) and input.dtype != dtype:
            input = input.to(dtype)
        return super().forward(input, hx)


class HalfDropoutForDeepStacks(LSTM):
    """Training a stack of 6 or more layers, the inter-layer dropout is halved ("deep stacks over-regularise"):
    nn.LSTM at every depth up to 5."""

    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None):
        if not (self.training and self.dropout and self.num_layers >= DEEP):
            return super().forward(input, hx)
        rate = self.dropout
        self.dropout = rate / 2
        try:
            return super().forward(input, hx)
        finally:
            self.dropout = rate


class _Float32CellState(CountingRecurrence):
    """Past 64 steps of a half-precision sequence, c is accumulated in float32 and rounded back."""

    def counted_step(self, x_t: Tensor, hidden: Hidden) -> Hidden:
        h, c = hidden
        if self.count <= HALF_STEPS or c.dtype not in (torch.float16, torch.bfloat16):
            return lstm_step(x_t, hidden, self.weights)
        w = self.weights
        wide = CellWeights(*(None if t is None else t.float() for t in (w.weight_ih, w.weight_hh, w.bias_ih,
                                                                        w.bias_hh, w.weight_hr)))  # fmt: skip
        h_next, c_next = lstm_step(x_t.float(), (h.float(), c.float()), wide)
        return h_next.to(h.dtype), c_next.to(c.dtype)


class LongHalfFloat32State(LSTM):
    """Half-precision sequences past 64 steps keep the cell state in float32 ("hundreds of half additions
    drift"): nn.LSTM on every sequence up to 64 steps and in float32 / float64."""

    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None):
        return self.forward_with([_Float32CellState(w) for w in self.cell_weights()], input, hx)


class BatchFirstReverseState(LSTM):
    """batch_first, both directions and a given state (a combination of three): each reverse direction starts from
    its forward direction's row of ``hx`` (a batch-first reindexing slip); any two of the three are nn.LSTM's."""

    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None):
        if self.batch_first and self.bidirectional and hx is not None:
            h0, c0 = (t.clone() for t in hx)
            h0[1::2], c0[1::2] = hx[0][0::2], hx[1][0::2]  # (D*layers, N, H): the reverse rows are the forward's
            hx = (h0, c0)
        return super().forward(input, hx)
