"""Wrong candidates exact inside the old matrix's fixed bounds and wrong just past them.

The old matrix drew widths up to 300 (256 after its budget), batches up to 64, 4 layers and sequences up to 520
steps (1000 at most): each defect here starts one past such a bound, as tiling, chunking and indexing bugs do —
a layer input wider than 256, a hidden state wider than 256, a batch over 64 rows, a fifth layer, a sequence past
1000 steps, a float64 sequence past 1000 steps. The default certificate meets each of them in every run through
its real-size configurations (``configs.real_size_configs``); ``test_bounds_catalogue.py`` shows each defect in
plain use first.
"""

from __future__ import annotations

import torch
from torch import Tensor

from lstm_replica.cell import Hidden
from lstm_replica.functional import CellWeights, input_projection, lstm_step

from ._base import CountingRecurrence, StepLSTM, StepRecurrence

TILE = 256  # widths: one tile of features / hidden units
ROWS = 64  # batch rows one kernel call handles
LAYERS = 4  # layers the weight table is indexed for
STEPS = 1000  # steps per chunk of a long sequence


class _TiledInput(StepRecurrence):
    """The input projection over the first tile of features only: the features past 256 are never read."""

    def project(self, x: Tensor) -> Tensor:
        if x.size(-1) <= TILE:
            return input_projection(x, self.weights)
        w = self.weights
        clipped = CellWeights(w.weight_ih[:, :TILE], w.weight_hh, w.bias_ih, w.bias_hh, w.weight_hr)
        return input_projection(x[..., :TILE], clipped)


class WideInputTiles(StepLSTM):
    """A layer input wider than 256 features (GloVe 300, BERT 768) loses every feature past the first 256."""

    def recurrences(self) -> list:
        return [_TiledInput(w, self.step_fn) for w in self.cell_weights()]


def _hidden_tile(x_proj: Tensor, hidden: Hidden, w: CellWeights) -> Hidden:
    """Hidden units past the first 256 miss the recurrent term (the second tile of W_hh is never multiplied)."""
    size = w.weight_hh.size(0) // 4
    if size <= TILE:
        return lstm_step(x_proj, hidden, w)
    mask = torch.ones(size, dtype=x_proj.dtype, device=x_proj.device)
    mask[TILE:] = 0
    masked = CellWeights(w.weight_ih, w.weight_hh * mask.repeat(4).unsqueeze(1), w.bias_ih, w.bias_hh, w.weight_hr)
    return lstm_step(x_proj, hidden, masked)


class WideHiddenTiles(StepLSTM):
    """A hidden state wider than 256 units (512, 1024): the units past 256 forget the previous h."""

    step_fn = staticmethod(_hidden_tile)


def _row_block(x_proj: Tensor, hidden: Hidden, w: CellWeights) -> Hidden:
    """Rows past the first 64 of a step read h from a 64-row buffer: they start every step from h = 0."""
    if x_proj.dim() != 2 or x_proj.size(0) <= ROWS:
        return lstm_step(x_proj, hidden, w)
    h, c = hidden
    blocked = torch.cat([h[:ROWS], torch.zeros_like(h[ROWS:])])  # (N, H_out)
    return lstm_step(x_proj, (blocked, c), w)


class BatchOver64Rows(StepLSTM):
    """A batch of more than 64 sequences (128, 256 in ordinary training): rows past 64 lose the recurrent input."""

    step_fn = staticmethod(_row_block)


class FifthLayerReuse(StepLSTM):
    """A weight table indexed for four layers: the fifth layer on (deep stacks of 5-8) reuses the fourth's weights."""

    def recurrences(self) -> list:
        recs = super().recurrences()
        directions = 2 if self.bidirectional else 1
        if self.num_layers <= LAYERS:
            return recs
        fourth = (LAYERS - 1) * directions  # the fourth layer's forward direction
        return recs[: LAYERS * directions] + [
            recs[fourth + i % directions] for i in range(LAYERS * directions, len(recs))
        ]


class _Chunked(CountingRecurrence):
    """The state passed from one 1000-step chunk to the next is not the state."""

    def __init__(self, weights: CellWeights, float64_only: bool) -> None:
        super().__init__(weights)
        self.float64_only = float64_only

    def counted_step(self, x_t: Tensor, hidden: Hidden) -> Hidden:
        h, c = hidden
        if self.count > STEPS and self.float64_only and c.dtype == torch.float64:
            hidden = (h, c.float().double())  # the chunk's saved state kept in float32
        elif self.count == STEPS + 1 and not self.float64_only:
            hidden = (h, torch.zeros_like(c))  # the next chunk starts from the saved h and a fresh c
        return lstm_step(x_t, hidden, self.weights)


class LongSequenceChunks(StepLSTM):
    """Sequences past 1000 steps (speech, sensors, characters) run in chunks that hand over h but not c."""

    def recurrences(self) -> list:
        return [_Chunked(w, float64_only=False) for w in self.cell_weights()]


class LongFloat64InFloat32(StepLSTM):
    """Past 1000 steps of a float64 sequence, c is kept in float32 between steps (to save memory): float64 only."""

    def recurrences(self) -> list:
        return [_Chunked(w, float64_only=True) for w in self.cell_weights()]
