"""Wrong candidates exact for ``forward(x, (h_0, c_0))`` and wrong for the other ways users pass the state."""

from __future__ import annotations

from typing import Any

from torch import Tensor
from torch.nn.utils.rnn import PackedSequence

from lstm_replica import LSTM


class KeywordStateDropped(LSTM):
    """A profiling wrapper that forwards ``*args`` and drops ``**kwargs``: ``model(x, hx=s)`` starts from zeros."""

    def forward(self, *args: Any, **kwargs: Any) -> tuple[Tensor | PackedSequence, tuple[Tensor, Tensor]]:
        return super().forward(*args)


class ListStateIgnored(LSTM):
    """Takes the state only as a tuple: ``hx=[h_0, c_0]`` (a list, as ``list(h_n_c_n)`` gives) becomes zeros."""

    def forward(self, input: Any, hx: Any = None) -> tuple[Tensor | PackedSequence, tuple[Tensor, Tensor]]:
        return super().forward(input, hx if isinstance(hx, tuple) else None)
