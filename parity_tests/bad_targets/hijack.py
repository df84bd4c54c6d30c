"""A wrong LSTM that, when imported, makes nn.LSTM compute the same wrong function (so they would agree)."""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from lstm_replica import LSTM
from lstm_replica.cell import Hidden

_TORCH_FORWARD = nn.LSTM.forward


def _scaled(result: tuple[Tensor, Hidden]) -> tuple[Tensor, Hidden]:
    output, (h_n, c_n) = result
    return output * 1.5, (h_n * 1.5, c_n)


def _hijacked(self: nn.LSTM, input: Tensor, hx: Hidden | None = None) -> tuple[Tensor, Hidden]:
    return _scaled(_TORCH_FORWARD(self, input, hx))


nn.LSTM.forward = _hijacked


class Scaled(LSTM):
    """h scaled by 1.5: wrong, and the import above makes nn.LSTM wrong the same way."""

    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None):
        return _scaled(super().forward(input, hx))
