"""Input and configuration checks shared by the replica modules, with ``torch.nn``'s exception types.

Each check raises the exception type ``nn.LSTM`` / ``nn.LSTMCell`` raises for the
same mistake, with a message naming what was expected and what came.
"""

from __future__ import annotations

import numbers
import warnings

import torch
from torch import Tensor

from lstm_replica.cell import Hidden


def permute(t: Tensor, permutation: Tensor | None, dim: int = 1) -> Tensor:
    """``nn.LSTM``'s ``_apply_permutation``: reorder the batch dimension of a state."""
    return t if permutation is None else t.index_select(dim, permutation)


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
    for name, value in (("bias", bias), ("batch_first", batch_first)):
        if not isinstance(value, bool):
            msg = f"{name} should be of type bool, got: {type(value).__name__}"
            raise TypeError(msg)
    for name, value in (("input_size", input_size), ("hidden_size", hidden_size)):
        if not isinstance(value, int):
            msg = f"{name} should be of type int, got: {type(value).__name__}"
            raise TypeError(msg)
        if value <= 0:
            msg = f"{name} must be greater than zero, got {value}"
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


def permute_hidden(hx: object, permutation: Tensor) -> Hidden:
    """``nn.LSTM.permute_hidden``: both states' batch rows put in the packed order.

    ``index_select(1, ...)`` there fails with an IndexError for a state under
    2-D and a RuntimeError for too few rows; too many rows it silently cuts to
    the packed batch, and extra states beyond two it drops. The replica
    refuses both (RuntimeError, as for the same states with padded input).
    """
    states = (state_at(hx, 0, "LSTM"), state_at(hx, 1, "LSTM"))
    check_pair(hx, "LSTM")
    batch = len(permutation)
    for index, state in enumerate(states):
        if state.dim() < 2:
            msg = f"For packed input, expected hx[{index}] to be 3-D, got a {state.dim()}-D tensor"
            raise IndexError(msg)
        if state.size(1) != batch:
            msg = f"For packed input of batch {batch}, expected hx[{index}].size(1) == {batch}, got {state.size(1)}"
            raise RuntimeError(msg)
    return permute(states[0], permutation), permute(states[1], permutation)


def validate_dtype(dtype: torch.dtype | None, owner: str) -> None:
    """Parameters need a floating point or complex dtype: ``nn.Parameter``'s RuntimeError, naming the dtype."""
    resolved = torch.get_default_dtype() if dtype is None else dtype
    if not (resolved.is_floating_point or resolved.is_complex):
        msg = f"{owner}: Expected a floating point or complex dtype for the parameters, got {resolved}"
        raise RuntimeError(msg)


def _compares_with_int(value: object) -> bool:
    """Whether ``value <= 0`` works, as ``nn.RNNBase.__init__`` evaluates it (a TypeError otherwise)."""
    try:
        value <= 0  # noqa: B015
    except TypeError:
        return False
    return True


def describe_hidden(hx: object) -> str:
    if isinstance(hx, Tensor):
        return f"a Tensor of shape {list(hx.shape)}"
    if isinstance(hx, (tuple, list)):
        return f"a {type(hx).__name__} of {len(hx)} elements ({', '.join(type(t).__name__ for t in hx)})"
    return f"a {type(hx).__name__}"


def state_at(hx: object, index: int, owner: str) -> Tensor:
    """``hx[index]``, read as ``nn.LSTM`` / ``nn.LSTMCell`` read it, failing with the type they fail with.

    Indexing fails with TypeError, IndexError or KeyError; a state that is not a
    Tensor fails on their ``.dim()``, an AttributeError.
    """
    try:
        state = hx[index]  # type: ignore[index]
    except (TypeError, IndexError, KeyError) as error:
        msg = f"{owner}: Expected hx to be a tuple (h_0, c_0) of Tensors, got {describe_hidden(hx)}"
        raise type(error)(msg) from error
    if not isinstance(state, Tensor):
        msg = f"{owner}: Expected hx[{index}] to be a Tensor, got {type(state).__name__}"
        raise AttributeError(msg)  # noqa: TRY004 -- what their state.dim() raises
    return state


def check_pair(hx: object, owner: str) -> None:
    """What ATen's argument parser and ``"expects two hidden states"`` check refuse.

    Not a tuple or list of Tensors: TypeError; not two of them: RuntimeError.
    ``nn.LSTM`` skips this for unbatched input (it rebuilds ``hx`` from
    ``hx[0]`` and ``hx[1]``, dropping extras); the replica refuses there too.
    """
    if not isinstance(hx, (tuple, list)) or not all(isinstance(t, Tensor) for t in hx):
        msg = f"{owner}: Expected hx to be a tuple (h_0, c_0) of Tensors, got {describe_hidden(hx)}"
        raise TypeError(msg)
    if len(hx) != 2:
        msg = f"{owner}: Expected hx to hold two states (h_0, c_0), got {len(hx)}"
        raise RuntimeError(msg)


def check_state_dtypes(hx: Hidden, weight_dtype: torch.dtype, owner: str) -> None:
    """States in the weights' dtype (RuntimeError), as ATen's matrix products require.

    h_0 of another dtype always fails in ATen (``"mat1 and mat2 must have the
    same dtype"``). c_0 enters only element-wise products: ATen fails only
    once the promoted state reaches a matrix product and otherwise silently
    returns promoted outputs (c_0 float64 into a float32 module, one step);
    the replica refuses a c_0 that would promote, and accepts one that would
    not (float16 into float32), as ATen computes both.
    """
    if torch._C._is_any_autocast_enabled():
        return
    h_0, c_0 = hx
    if h_0.dtype != weight_dtype:
        msg = f"{owner}: Expected hx[0] (h_0) of dtype {weight_dtype}, the weights' dtype, got {h_0.dtype}"
        raise RuntimeError(msg)
    if torch.promote_types(c_0.dtype, weight_dtype) != weight_dtype:
        msg = f"{owner}: Expected hx[1] (c_0) of dtype {weight_dtype}, the weights' dtype, got {c_0.dtype}"
        raise RuntimeError(msg)
