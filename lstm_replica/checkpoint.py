"""Saving and loading replica models through their ``state_dict``, never through pickled code.

:func:`save_checkpoint` writes a replica ``LSTM``, ``LSTMCell`` or ``LSTMClassifier``, :func:`load_checkpoint`
rebuilds it, and :func:`load_state_dict_file` loads a bare ``state_dict`` file (an ``nn.LSTM``'s, say) into a
module: ``from lstm_replica.checkpoint import save_checkpoint, load_checkpoint``.

A checkpoint file holds plain data only::

    {"format": "lstm-replica-checkpoint", "version": 1,
     "kind": "LSTM" | "LSTMCell" | "LSTMClassifier",
     "config": {constructor arguments: ints, floats, bools, strings},
     "state_dict": {parameter name: Tensor}}

Every file is read with ``torch.load(..., weights_only=True)``, whose unpickler
rebuilds only tensors and plain containers: a file crafted to run code when
unpickled (a ``__reduce__`` naming ``os.system``, say) is refused with
``pickle.UnpicklingError`` before anything in it runs. The model is then
rebuilt from the config and the tensors are loaded with ``strict=True``, so a
missing, extra or misshapen parameter is an error, never a silent partial load.

Saving writes to a temporary file beside the target, flushes it to disk and
renames it over the target, so an interrupted or failed save leaves any
previous checkpoint at that path intact.
"""

from __future__ import annotations

import numbers
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

import torch
from torch import Tensor, nn

from lstm_replica.classifier import LSTMClassifier
from lstm_replica.lstm import LSTM
from lstm_replica.lstm_cell import LSTMCell

__all__ = ["load_checkpoint", "load_state_dict_file", "save_checkpoint"]

FORMAT = "lstm-replica-checkpoint"
VERSION = 1
Replica = LSTM | LSTMCell | LSTMClassifier
# The model kinds a checkpoint can hold, by the name it records; each rebuilds from its own ``config()``.
MODELS: dict[str, type[Replica]] = {cls.__name__: cls for cls in (LSTM, LSTMCell, LSTMClassifier)}
ModuleT = TypeVar("ModuleT", bound=nn.Module)
MapLocation = str | torch.device | None


def save_checkpoint(model: Replica, path: str | os.PathLike[str]) -> Path:
    """Write ``model``'s configuration and ``state_dict`` to ``path`` atomically; returns the path.

    Raises TypeError for anything but a replica ``LSTM``, ``LSTMCell`` or
    ``LSTMClassifier`` (an ``nn.LSTM``'s ``state_dict`` can be saved with
    ``torch.save`` and read with :func:`load_state_dict_file`).
    """
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "kind": _kind(model),
        "config": {name: _plain(name, value) for name, value in model.config().items()},
        "state_dict": dict(model.state_dict()),
    }
    target = Path(path)
    descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        Path(temporary).chmod(_default_mode())  # as open() would create it; mkstemp makes it owner-only
        with os.fdopen(descriptor, "wb") as handle:
            torch.save(payload, handle)
            handle.flush()
            os.fsync(handle.fileno())
        Path(temporary).replace(target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def load_checkpoint(path: str | os.PathLike[str], map_location: MapLocation = None) -> Replica:
    """Rebuild the model saved by :func:`save_checkpoint` at ``path``.

    The tensors are placed by ``map_location`` as in ``torch.load`` and become
    the model's parameters, in the dtype they were saved in. The model comes
    back in training mode, as any newly built module.

    Raises:
        pickle.UnpicklingError: the file holds anything but tensors and plain
            data (nothing of it is run).
        ValueError: the file is not an lstm-replica checkpoint, or names an
            unknown model kind or a newer format version.
        RuntimeError: the tensors do not fit the configuration (``load_state_dict``).
    """
    payload = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(payload, Mapping) or payload.get("format") != FORMAT:
        got = (
            f"a dict with keys {sorted(map(str, payload))}" if isinstance(payload, Mapping) else type(payload).__name__
        )
        msg = f"Expected an {FORMAT} file (a dict with 'format': {FORMAT!r}) at {path}, got {got}"
        raise ValueError(msg)
    if payload.get("version") != VERSION:
        msg = f"Expected {FORMAT} version {VERSION}, got version {payload.get('version')!r} in {path}"
        raise ValueError(msg)
    kind, config, state_dict = payload.get("kind"), payload.get("config"), _tensors(payload.get("state_dict"), path)
    if not isinstance(config, Mapping):
        msg = f"Expected a config dict in {path}, got {type(config).__name__}"
        raise ValueError(msg)  # noqa: TRY004 -- the file's content is wrong, not an argument's type
    if kind not in MODELS:
        msg = f"Expected a model kind in {sorted(MODELS)} in {path}, got {kind!r}"
        raise ValueError(msg)
    builder = MODELS[kind]
    unknown = sorted(set(config) - set(builder.CONFIG_KEYS))
    if unknown:
        msg = f"Expected {kind} constructor arguments {list(builder.CONFIG_KEYS)} in the config of {path}, got unknown {unknown}"
        raise ValueError(msg)
    model = builder(**config, device="meta")  # no memory until the saved tensors are assigned
    model.load_state_dict(state_dict, strict=True, assign=True)
    return model


def load_state_dict_file(model: ModuleT, path: str | os.PathLike[str], map_location: MapLocation = None) -> ModuleT:
    """Load a file holding a bare ``state_dict`` (say ``torch.save(nn_lstm.state_dict(), path)``) into ``model``.

    Read with ``weights_only=True`` and copied in with ``strict=True``; returns ``model``.
    Raises ``pickle.UnpicklingError`` for a file holding anything but tensors and
    plain data, ValueError when it is not a mapping of names to tensors, and
    RuntimeError when the tensors do not fit ``model``.
    """
    state_dict = _tensors(torch.load(path, map_location=map_location, weights_only=True), path)
    model.load_state_dict(state_dict, strict=True)
    return model


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _kind(model: object) -> str:
    for name, cls in MODELS.items():
        if type(model) is cls:
            return name
    *first, last = MODELS
    msg = f"Expected an lstm_replica {', '.join(first)} or {last}, got {type(model).__qualname__}"
    raise TypeError(msg)


def _plain(name: str, value: object) -> object:
    """A config value as a type ``weights_only`` loading accepts (numpy scalars become int / float)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    msg = f"Expected {name} to be a bool, int, float or str to save it, got {type(value).__name__}"
    raise TypeError(msg)


def _tensors(state_dict: object, path: str | os.PathLike[str]) -> dict[str, Tensor]:
    if not isinstance(state_dict, Mapping) or not all(
        isinstance(k, str) and isinstance(v, Tensor) for k, v in state_dict.items()
    ):
        msg = f"Expected a state_dict (a mapping of parameter names to tensors) in {path}, got {type(state_dict).__name__}"
        raise ValueError(msg)
    return dict(state_dict)
