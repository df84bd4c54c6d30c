"""The constructor arguments of the replica modules, checked as ``nn.LSTM`` / ``nn.LSTMCell`` check theirs.

Each check raises the exception type torch raises for the same argument, at the same point of its order,
with a message naming what was expected and what came (the calls' checks are :mod:`lstm_replica.checks`).
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any

import torch


def validate_config(
    input_size: int,
    hidden_size: int,
    num_layers: int,
    bias: bool,
    batch_first: bool,
    dropout: float,
    proj_size: int,
) -> None:
    """``nn.RNNBase.__init__``'s checks in its order, with its exception types.

    Each message says what was expected and what came. Beyond the explicit
    checks, ``nn.LSTM`` fails on ``float(dropout)``, on ``range(num_layers)``
    and on ``torch.empty`` of the projection shapes; those are checked here at
    the same point of the order, with the same exception types.
    """
    try:
        float(dropout)
    except (TypeError, ValueError) as error:
        msg = f"dropout should be a number in range [0, 1], got {dropout!r} ({type(dropout).__name__})"
        raise type(error)(msg) from error
    if not isinstance(dropout, numbers.Number) or not 0 <= dropout <= 1 or isinstance(dropout, bool):
        msg = (
            "dropout should be a number in range [0, 1] representing the probability of an element being zeroed, "
            f"got {dropout!r} ({type(dropout).__name__})"
        )
        raise ValueError(msg)
    if dropout > 0 and num_layers == 1:
        warnings.warn(
            "dropout option adds dropout after all but last recurrent layer, so non-zero dropout "
            f"expects num_layers greater than 1, but got dropout={dropout} and num_layers={num_layers}",
            stacklevel=3,
        )
    for name, flag in (("bias", bias), ("batch_first", batch_first)):
        if not isinstance(flag, bool):
            msg = f"{name} should be of type bool, got: {type(flag).__name__}"
            raise TypeError(msg)
    for name, size in (("input_size", input_size), ("hidden_size", hidden_size)):
        if not isinstance(size, int):
            msg = f"{name} should be of type int, got: {type(size).__name__}"
            raise TypeError(msg)
        if size <= 0:
            msg = f"{name} must be greater than zero, got {size}"
            raise ValueError(msg)
    if not _compares_with_int(num_layers):
        msg = f"num_layers should be of type int, got: {type(num_layers).__name__}"
        raise TypeError(msg)
    if num_layers <= 0:
        msg = f"num_layers must be greater than zero, got {num_layers}"
        raise ValueError(msg)
    if not _compares_with_int(proj_size):
        msg = f"proj_size should be of type int, got: {type(proj_size).__name__}"
        raise TypeError(msg)
    if proj_size < 0:
        msg = f"proj_size should be a positive integer or zero to disable projections, got {proj_size}"
        raise ValueError(msg)
    if proj_size >= hidden_size:
        msg = f"proj_size has to be smaller than hidden_size, got proj_size={proj_size} and hidden_size={hidden_size}"
        raise ValueError(msg)
    try:
        range(num_layers)
    except TypeError as error:
        msg = f"num_layers should be of type int, got: {type(num_layers).__name__} ({num_layers!r})"
        raise TypeError(msg) from error
    if proj_size > 0:
        try:
            torch.empty((4 * hidden_size, proj_size), device="meta")
            torch.empty((proj_size, hidden_size), device="meta")
        except TypeError as error:
            msg = f"proj_size should be of type int, got: {type(proj_size).__name__} ({proj_size!r})"
            raise TypeError(msg) from error


def validate_dtype(dtype: torch.dtype | None, owner: str) -> None:
    """Parameters need a floating point or complex dtype: ``nn.Parameter``'s RuntimeError, naming the dtype."""
    resolved = torch.get_default_dtype() if dtype is None else dtype
    if not (resolved.is_floating_point or resolved.is_complex):
        msg = f"{owner}: Expected a floating point or complex dtype for the parameters, got {resolved}"
        raise RuntimeError(msg)


def _compares_with_int(value: Any) -> bool:  # Any: whatever the constructor was given
    """Whether ``value <= 0`` works, as ``nn.RNNBase.__init__`` evaluates it (a TypeError otherwise)."""
    try:
        value <= 0  # noqa: B015
    except TypeError:
        return False
    return True
