"""A correct LSTM whose parameters live under other names: checkable only through a ``--weights`` adapter."""

from __future__ import annotations

import torch
from torch import nn

from lstm_replica import LSTM


class WrappedLSTM(nn.Module):
    """The replica held as ``self.inner``: state_dict keys ``inner.weight_ih_l0``, ... instead of nn.LSTM's."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, **kwargs: object) -> None:
        super().__init__()
        self.inner = LSTM(input_size, hidden_size, num_layers, **kwargs)

    def forward(self, input, hx=None):
        return self.inner(input, hx)


def adapter(candidate: WrappedLSTM, reference: nn.LSTM) -> None:
    """Copy nn.LSTM's weights into the wrapped replica, name for name."""
    with torch.no_grad():
        for name, tensor in reference.named_parameters():
            getattr(candidate.inner, name).copy_(tensor)
