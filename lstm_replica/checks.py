"""Every check of the replica modules' constructors and calls, with ``torch.nn``'s exception types.

Each check raises the exception type ``nn.LSTM`` / ``nn.LSTMCell`` raises for the
same mistake, with a message naming what was expected and what came.

A call of :class:`~lstm_replica.LSTM` goes through here twice: :func:`prepare_call`
checks ``(input, hx)`` in ``nn.LSTM``'s order and turns it into one normalised
:class:`Call` (time-major or packed data, batched states), and :func:`finish_call`
gives the layers' results back in the caller's layout. Shapes are named as in the
glossary of :mod:`lstm_replica.lstm`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, cast

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from lstm_replica.cell import CellWeights, Hidden


def permute(t: Tensor, permutation: Tensor | None, dim: int = 1) -> Tensor:
    """``nn.LSTM``'s ``_apply_permutation``: reorder the batch dimension of a state."""
    return t if permutation is None else t.index_select(dim, permutation)


def permute_hidden(hx: object, permutation: Tensor) -> Hidden:
    """``nn.LSTM.permute_hidden``: both states' batch rows put in the packed order.

    ``index_select(1, ...)`` there fails with an IndexError for a state under
    2-D and a RuntimeError for too few rows; a 2-D state then fails ATen's
    ``hx.size(2)`` (IndexError, :func:`_check_packed_hidden`). Too many rows it
    silently cuts to the packed batch, and extra states beyond two it drops:
    the replica refuses both (RuntimeError, as for the same states with padded
    input).
    """
    states = (state_at(hx, 0, "LSTM"), state_at(hx, 1, "LSTM"))
    check_pair(hx, "LSTM")
    batch = len(permutation)
    for index, state in enumerate(states):
        if state.dim() < 2:
            msg = f"For packed input, expected hx[{index}] to be 3-D, got a {state.dim()}-D tensor"
            raise IndexError(msg)
        if state.size(1) < batch or (state.size(1) > batch and all(s.dim() >= 3 for s in states)):
            msg = f"For packed input of batch {batch}, expected hx[{index}].size(1) == {batch}, got {state.size(1)}"
            raise RuntimeError(msg)
    return permute(states[0], permutation), permute(states[1], permutation)


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
        state = hx[index]  # type: ignore[index]  # any indexable, as nn.LSTM indexes it
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


class Configured(Protocol):
    """What the call checks read of an LSTM module: its configuration and its parameters."""

    input_size: int
    hidden_size: int
    num_layers: int
    batch_first: bool
    bidirectional: bool

    @property
    def num_directions(self) -> int: ...

    @property
    def output_size(self) -> int: ...

    def parameters(self, recurse: bool = True) -> Iterator[nn.Parameter]: ...


@dataclass(frozen=True)
class Call:
    """One forward call, checked and normalised for :func:`lstm_replica.layers.layer_stack`.

    ``x`` is the time-major input ``(L, N, H_in)`` or the packed data ``(T, H_in)``;
    ``hidden`` is ``(h_0, c_0)`` of shapes ``(D*num_layers, N, H_out)`` and
    ``(D*num_layers, N, H_cell)``, in the packed batch order for packed input.
    The other fields say how to give the result back (:func:`finish_call`).
    """

    x: Tensor
    hidden: Hidden
    batch_sizes: list[int] | None = None  # per time step, for packed input
    packed: PackedSequence | None = None  # the packed input, for its batch sizes and permutations
    batch_first: bool = False  # padded input only
    is_batched: bool = True  # padded input only


def prepare_call(module: Configured, input: object, hx: object, weight_dtype: torch.dtype) -> Call:
    """Check ``module(input, hx)`` as ``nn.LSTM.forward`` and ATen do, in their order; normalise it.

    ``weight_dtype`` is the dtype of the module's first weight as this call reads
    it. States default to zeros of the input's dtype and device.
    """
    if isinstance(input, PackedSequence):
        return _prepare_packed(module, input, hx, weight_dtype)
    return _prepare_padded(module, input, hx, weight_dtype)


def finish_call(call: Call, output: Tensor, hidden: Hidden) -> tuple[Tensor | PackedSequence, Hidden]:
    """The layers' ``output`` (``(L, N, D*H_out)`` or ``(T, D*H_out)``) and ``(h_n, c_n)`` as ``nn.LSTM`` returns them."""
    h_n, c_n = hidden
    if call.packed is not None:
        _, batch_sizes, sorted_indices, unsorted_indices = call.packed
        packed = PackedSequence(output, batch_sizes, sorted_indices, unsorted_indices)
        return packed, (permute(h_n, unsorted_indices), permute(c_n, unsorted_indices))
    if call.batch_first:
        output = output.transpose(0, 1)  # (N, L, D*H_out)
    if not call.is_batched:
        return output.squeeze(0 if call.batch_first else 1), (h_n.squeeze(1), c_n.squeeze(1))
    return output, (h_n, c_n)


def _prepare_padded(module: Configured, input: object, hx: object, weight_dtype: torch.dtype) -> Call:
    if not isinstance(input, Tensor):
        msg = f"LSTM: Expected input to be a Tensor or a PackedSequence, got {type(input).__name__}"
        raise AttributeError(msg)  # noqa: TRY004 -- what nn.LSTM's input.dim() raises
    if input.dim() not in (2, 3):
        msg = f"LSTM: Expected input to be 2D or 3D, got {input.dim()}D instead"
        raise ValueError(msg)
    is_batched = input.dim() == 3
    if not is_batched:
        input = input.unsqueeze(0 if module.batch_first else 1)
    batch = input.size(0) if module.batch_first else input.size(1)
    if hx is None:
        hidden = zero_state(module, input, batch)
    else:
        h_0, c_0 = state_at(hx, 0, "LSTM"), state_at(hx, 1, "LSTM")
        expected_dim = 3 if is_batched else 2
        if h_0.dim() != expected_dim or c_0.dim() != expected_dim:
            kind = "batched 3-D" if is_batched else "unbatched 2-D"
            msg = (
                f"For {kind} input, hx and cx should also be {expected_dim}-D "
                f"but got ({h_0.dim()}-D, {c_0.dim()}-D) tensors"
            )
            raise RuntimeError(msg)
        hidden = (h_0, c_0) if is_batched else (h_0.unsqueeze(1), c_0.unsqueeze(1))
    _check_input_dtype(input, weight_dtype, ValueError)  # nn.RNNBase.check_input's ValueError
    _check_input_shape(module, input, 3)
    _check_hidden_size(module, hidden, batch)
    if hx is not None:
        check_pair(hx, "LSTM")
    _check_call_config(module)
    _check_devices(module, input, hidden)
    steps = input.size(1) if module.batch_first else input.size(0)
    if steps == 0:
        msg = f"Expected sequence length to be larger than 0 in RNN, got input of shape {list(input.shape)}"
        raise RuntimeError(msg)
    check_state_dtypes(hidden, weight_dtype, "LSTM")
    x = input.transpose(0, 1) if module.batch_first else input  # (L, N, H_in)
    return Call(x, hidden, batch_first=module.batch_first, is_batched=is_batched)


def _prepare_packed(module: Configured, input: PackedSequence, hx: object, weight_dtype: torch.dtype) -> Call:
    data, batch_sizes, sorted_indices, _ = input
    batch = int(batch_sizes[0])
    if hx is None:
        hidden = zero_state(module, data, batch)
    elif sorted_indices is not None:  # nn.LSTM.permute_hidden, before any check
        hidden = permute_hidden(hx, sorted_indices)
    else:
        check_pair(hx, "LSTM")
        h_0, c_0 = cast(Hidden, hx)  # check_pair: a tuple or list of two Tensors
        hidden = (h_0, c_0)
    _check_call_config(module)
    _check_packed_hidden(hidden)
    _check_input_dtype(data, weight_dtype, RuntimeError)  # ATen's first matrix product fails
    _check_input_shape(module, data, 2)
    _check_hidden_size(module, hidden, batch)
    _check_devices(module, data, hidden)
    check_state_dtypes(hidden, weight_dtype, "LSTM")
    return Call(data, hidden, batch_sizes.tolist(), input)


def zero_state(module: Configured, like: Tensor, batch: int) -> Hidden:
    """``(h_0, c_0)`` of zeros, ``(D*num_layers, N, H_out)`` and ``(D*num_layers, N, H_cell)``, as ``like``."""
    layers = module.num_layers * module.num_directions
    h_zeros = torch.zeros(layers, batch, module.output_size, dtype=like.dtype, device=like.device)
    c_zeros = torch.zeros(layers, batch, module.hidden_size, dtype=like.dtype, device=like.device)
    return h_zeros, c_zeros


def _check_call_config(module: Configured) -> None:
    """What ATen's argument parser refuses on every call although the constructor let it through.

    ``nn.LSTM`` does not type-check ``bidirectional`` and accepts a bool for
    ``num_layers`` (an int subclass) at construction, then every forward
    fails with a TypeError listing ATen's overloads.
    """
    bidirectional = module.bidirectional
    if not isinstance(bidirectional, bool):
        msg = f"LSTM: Expected bidirectional to be a bool, got {type(bidirectional).__name__} ({bidirectional!r})"
        raise TypeError(msg)
    if isinstance(module.num_layers, bool):
        msg = f"LSTM: Expected num_layers to be an int, got bool ({module.num_layers!r})"
        raise TypeError(msg)


def _check_input_dtype(input: Tensor, weight_dtype: torch.dtype, error: type[ValueError | RuntimeError]) -> None:
    """Input in the weights' dtype, outside autocast: ``nn.RNNBase.check_input``'s test.

    ``nn.LSTM`` raises ValueError for padded input; packed input skips its Python
    checks and fails in ATen's first matrix product, a RuntimeError.
    """
    if input.dtype != weight_dtype and not torch._C._is_any_autocast_enabled():
        msg = (
            f"RNN input dtype ({input.dtype}) does not match weight dtype ({weight_dtype}). "
            f"Convert input: input.to({weight_dtype}), or convert model: model.to({input.dtype})"
        )
        raise error(msg)


def _check_input_shape(module: Configured, input: Tensor, expected_dim: int) -> None:
    """Rank and feature count of padded input ``(L, N, H_in)`` or packed data ``(T, H_in)`` (RuntimeError)."""
    if input.dim() != expected_dim:
        msg = f"input must have {expected_dim} dimensions, got {input.dim()}"
        raise RuntimeError(msg)
    if module.input_size != input.size(-1):
        msg = f"input.size(-1) must be equal to input_size. Expected {module.input_size}, got {input.size(-1)}"
        raise RuntimeError(msg)


def _check_hidden_size(module: Configured, hx: Hidden, batch: int) -> None:
    """h_0 ``(D*num_layers, N, H_out)`` and c_0 ``(D*num_layers, N, H_cell)``, as ``nn.LSTM.check_forward_args``.

    Packed input skips that check in ``nn.LSTM``; ATen then fails with a
    RuntimeError (a broadcast error, ``"Expected more hidden states in
    stacked_rnn"`` or ``"got an incorrect number of RNN parameters"``), or
    silently broadcasts a c_0 of batch 1. The replica refuses all of these here.
    """
    layers = module.num_layers * module.num_directions
    for index, (state, width) in enumerate(zip(hx, (module.output_size, module.hidden_size), strict=True)):
        expected = (layers, batch, width)
        if state.size() != expected:
            msg = f"Expected hidden[{index}] size {expected}, got {list(state.size())}"
            raise RuntimeError(msg)


def _check_packed_hidden(hx: Hidden) -> None:
    """ATen's first read of a packed call's states, ``hx[i].size(2)``: an IndexError under 3-D."""
    for index, (state, name) in enumerate(zip(hx, ("h_0", "c_0"), strict=True)):
        if state.dim() < 3:
            msg = f"For packed input, expected hx[{index}] ({name}) to be 3-D, got a {state.dim()}-D tensor"
            raise IndexError(msg)


def _check_devices(module: Configured, input: Tensor, hx: Hidden) -> None:
    """ATen's ``check_attributes``: input, parameters and states on one device (RuntimeError)."""
    for parameter in module.parameters():
        if parameter.device != input.device:
            msg = (
                "Input and parameter tensors are not at the same device, "
                f"found input tensor at {input.device} and parameter tensor at {parameter.device}"
            )
            raise RuntimeError(msg)
    for state in hx:
        if state.device != input.device:
            msg = (
                "Input and hidden tensors are not at the same device, "
                f"found input tensor at {input.device} and hidden tensor at {state.device}"
            )
            raise RuntimeError(msg)


def prepare_cell_call(input: object, hx: object, hidden_size: int) -> tuple[Tensor, Hidden, bool]:
    """``nn.LSTMCell.forward``'s checks of ``(input, hx)``, in its order; the call made batched.

    Returns ``input (N, H_in)``, ``(h, c)`` each ``(N, H)`` (zeros of the input's
    dtype when ``hx`` is None) and whether the input was batched.
    """
    if not isinstance(input, Tensor):
        msg = f"LSTMCell: Expected input to be a Tensor, got {type(input).__name__}"
        raise AttributeError(msg)  # noqa: TRY004 -- what nn.LSTMCell's input.dim() raises
    if input.dim() not in (1, 2):
        msg = f"LSTMCell: Expected input to be 1D or 2D, got {input.dim()}D instead"
        raise ValueError(msg)
    if hx is not None:
        try:
            states = list(hx)  # type: ignore[call-overload]  # any iterable, as nn.LSTMCell iterates it
        except TypeError as error:
            msg = f"LSTMCell: Expected hx to be a tuple (h, c) of Tensors, got {describe_hidden(hx)}"
            raise TypeError(msg) from error
        for idx, value in enumerate(states):
            if not isinstance(value, Tensor):
                msg = f"LSTMCell: Expected hx[{idx}] to be a Tensor, got {type(value).__name__}"
                raise AttributeError(msg)  # noqa: TRY004 -- what nn.LSTMCell's value.dim() raises
            if value.dim() not in (1, 2):
                msg = f"LSTMCell: Expected hx[{idx}] to be 1D or 2D, got {value.dim()}D instead"
                raise ValueError(msg)
    is_batched = input.dim() == 2
    if not is_batched:
        input = input.unsqueeze(0)  # (1, H_in)
    if hx is None:
        zeros = torch.zeros(input.size(0), hidden_size, dtype=input.dtype, device=input.device)
        hidden = (zeros, zeros)
    elif is_batched:
        check_pair(hx, "LSTMCell")
        h, c = cast(Hidden, hx)  # check_pair: a tuple or list of two Tensors
        hidden = (h, c)
    else:  # nn.LSTMCell reads hx[0] and hx[1] to unsqueeze them before anything checks the pair
        hidden = (state_at(hx, 0, "LSTMCell").unsqueeze(0), state_at(hx, 1, "LSTMCell").unsqueeze(0))  # (1, H) each
        check_pair(hx, "LSTMCell")
    return input, hidden, is_batched


def check_cell_call(input: Tensor, hx: Hidden, weights: CellWeights) -> None:
    """``at::lstm_cell``'s shape checks, read from the weights as ATen does, then dtypes and devices.

    All RuntimeError. ``nn.LSTMCell`` fails on a dtype or device mismatch
    only inside its matrix products, with messages that do not say which
    tensor is wrong; a c of a wider dtype it silently promotes into the
    outputs, which the replica refuses.
    """
    input_size = weights.weight_ih.size(1)
    hidden_size = weights.weight_hh.size(1)
    if input.size(1) != input_size:
        msg = f"input has inconsistent input_size: got {input.size(1)} expected {input_size}"
        raise RuntimeError(msg)
    for name, weight in (("weight_ih", weights.weight_ih), ("weight_hh", weights.weight_hh)):
        if weight.size(0) != 4 * hidden_size:
            msg = f"{name} first dim must be 4 * hidden_size = {4 * hidden_size}, but got {weight.size(0)}"
            raise RuntimeError(msg)
    for label, state in enumerate(hx):
        if input.size(0) != state.size(0):
            msg = f"Input batch size {input.size(0)} doesn't match hidden{label} batch size {state.size(0)}"
            raise RuntimeError(msg)
        if state.size(1) != hidden_size:
            msg = f"hidden{label} has inconsistent hidden_size: got {state.size(1)}, expected {hidden_size}"
            raise RuntimeError(msg)
    weight_dtype = weights.weight_ih.dtype
    if input.dtype != weight_dtype and not torch._C._is_any_autocast_enabled():
        msg = f"LSTMCell: Expected input of dtype {weight_dtype}, the weights' dtype, got {input.dtype}"
        raise RuntimeError(msg)
    check_state_dtypes(hx, weight_dtype, "LSTMCell")
    device = weights.weight_ih.device
    for what, tensor in (("input", input), ("hx[0]", hx[0]), ("hx[1]", hx[1])):
        if tensor.device != device:
            msg = f"LSTMCell: Expected {what} on {device}, the weights' device, got {tensor.device}"
            raise RuntimeError(msg)
