"""Weight transfer between ``torch.nn`` modules and their replicas, one helper for every model.

Both sides use ``nn.LSTM``'s parameter names and packing, so a transfer is a
name-for-name copy: no transposes, no gate reordering, no translation table.
Copies never share storage with the source.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from operator import attrgetter
from typing import TypeVar

import torch
from torch import nn

ModuleT = TypeVar("ModuleT", bound=nn.Module)


def require_type(module: object, expected: type[nn.Module]) -> None:
    """Refuse anything that is not an ``expected`` module (TypeError)."""
    if not isinstance(module, expected):
        msg = f"Expected a {expected.__module__}.{expected.__qualname__}, got {type(module).__qualname__}"
        raise TypeError(msg)


def transferred(
    source: nn.Module,
    build: Callable[..., ModuleT],
    config: Mapping[str, object],
    copies: Callable[[str], bool] = lambda name: True,
) -> ModuleT:
    """``build(**config)`` in ``source``'s dtype, device and training mode, holding copies of its parameters.

    The new module is built on the meta device (no memory, no random draws) and
    materialised where ``source``'s parameters are; each of its parameters whose
    name ``copies`` accepts (all of them by default) is then copied from the
    tensor of the same (dotted) name in ``source``. Parameters left out are
    uninitialised: a subclass with parameters of its own sets them itself.
    """
    like = next(source.parameters())
    with warnings.catch_warnings():
        # nn.LSTM's dropout / num_layers=1 advisory: the source was built with the same arguments and said it then
        warnings.filterwarnings("ignore", "dropout option adds dropout", UserWarning)
        target = build(**config, device="meta", dtype=like.dtype)
    target = target.to_empty(device=like.device)
    copy_parameters(source, target, copies)
    target.train(source.training)
    return target


def copy_parameters(src: nn.Module, dst: nn.Module, copies: Callable[[str], bool] = lambda name: True) -> None:
    """Copy into each parameter of ``dst`` that ``copies`` accepts the tensor of the same (dotted) name in ``src``.

    The source is read through ``getattr``, so a parametrized weight (say, weight
    norm) is copied as the weight it currently computes; ``requires_grad`` is
    copied too, so a frozen weight stays frozen.
    """
    with torch.no_grad():
        for name, target in dst.named_parameters():
            if not copies(name):
                continue
            try:
                source = attrgetter(name)(src)
            except AttributeError:
                msg = f"Expected the source module to have a parameter {name!r}, got none"
                raise RuntimeError(msg) from None
            if source is None or source.shape != target.shape:
                got = "None" if source is None else str(tuple(source.shape))
                msg = f"Expected {name} of shape {tuple(target.shape)}, got {got}"
                raise RuntimeError(msg)
            target.copy_(source)
            target.requires_grad_(source.requires_grad)
