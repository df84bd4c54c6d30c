"""Weight transfer between ``torch.nn`` modules and their replicas.

Both modules use ``nn.LSTM``'s parameter names and packing, so a transfer is a
name-for-name copy: no transposes, no gate reordering, no translation table.
Copies never share storage with the source.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


def require_type(module: object, expected: type[nn.Module]) -> None:
    """Refuse anything that is not an ``expected`` module (TypeError)."""
    if not isinstance(module, expected):
        msg = f"Expected a {expected.__module__}.{expected.__qualname__}, got {type(module).__qualname__}"
        raise TypeError(msg)


def copy_parameters(src: nn.Module, dst: nn.Module, names: Iterable[str]) -> None:
    """Copy each named tensor of ``src`` into the parameter of the same name of ``dst``.

    The source is read through ``getattr``, so a parametrized weight (say, weight
    norm) is copied as the weight it currently computes.
    """
    with torch.no_grad():
        for name in names:
            if not hasattr(src, name):
                msg = f"Expected the source module to have a parameter {name!r}, got none"
                raise RuntimeError(msg)
            source = getattr(src, name)
            target = getattr(dst, name)
            if source.shape != target.shape:
                msg = f"Expected {name} of shape {tuple(target.shape)}, got {tuple(source.shape)}"
                raise RuntimeError(msg)
            target.copy_(source)
            target.requires_grad_(source.requires_grad)  # a frozen weight stays frozen
