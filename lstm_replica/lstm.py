r"""``lstm_replica.LSTM``: a hand-written, drop-in replica of ``torch.nn.LSTM``.

Same constructor, parameters, state_dict keys, initialisation and forward
signature as ``nn.LSTM``; the computation is the native CPU path of
aten/src/ATen/native/RNN.cpp written out in tensor ops (see :mod:`cell` and
:mod:`layers`), so on that path it is bitwise identical, gradients included.
"""

from __future__ import annotations

import math
import warnings
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, overload

import torch
from torch import Tensor, nn
from torch.nn import init
from torch.nn.utils.rnn import PackedSequence

from lstm_replica.cell import CellWeights, Hidden
from lstm_replica.checks import (
    check_pair,
    check_state_dtypes,
    permute,
    permute_hidden,
    state_at,
    validate_config,
    validate_dtype,
)
from lstm_replica.layers import NativeRecurrence, Recurrence, layer_stack
from lstm_replica.transfer import copy_parameters, require_type

if TYPE_CHECKING:
    from typing import Self


class LSTM(nn.Module):
    r"""Multi-layer LSTM, a drop-in for ``torch.nn.LSTM``.

    For each layer and time step, with gates stacked in the order i, f, g, o:

    .. math::
        \begin{array}{ll}
            i_t = \sigma(W_{ii} x_t + b_{ii} + W_{hi} h_{t-1} + b_{hi}) \\
            f_t = \sigma(W_{if} x_t + b_{if} + W_{hf} h_{t-1} + b_{hf}) \\
            g_t = \tanh(W_{ig} x_t + b_{ig} + W_{hg} h_{t-1} + b_{hg}) \\
            o_t = \sigma(W_{io} x_t + b_{io} + W_{ho} h_{t-1} + b_{ho}) \\
            c_t = f_t \odot c_{t-1} + i_t \odot g_t \\
            h_t = o_t \odot \tanh(c_t) \\
            h_t = W_{hr} h_t \quad \text{(only with proj\_size > 0)}
        \end{array}

    :math:`\sigma` is the logistic sigmoid and :math:`\odot` the element-wise
    product. There are two bias vectors, ``b_ih`` and ``b_hh``, both added.
    Layer :math:`l \ge 1` takes the previous layer's :math:`h_t` (both
    directions concatenated, forward first), with dropout in training mode.

    Shape glossary:
        N = batch size, L = sequence length, D = 2 if bidirectional else 1,
        H_in = input_size, H_cell = hidden_size,
        H_out = proj_size if proj_size > 0 else hidden_size.

    Inputs ``input, (h_0, c_0)``:
        input: ``(L, N, H_in)``, or ``(N, L, H_in)`` with ``batch_first``,
        ``(L, H_in)`` unbatched, or a ``PackedSequence``.
        h_0: ``(D*num_layers, N, H_out)`` (``(D*num_layers, H_out)`` unbatched).
        c_0: ``(D*num_layers, N, H_cell)`` (``(D*num_layers, H_cell)`` unbatched).
        Zeros when ``hx`` is None.

    Outputs ``output, (h_n, c_n)``:
        output: ``(L, N, D*H_out)`` (``(N, L, D*H_out)`` with ``batch_first``,
        ``(L, D*H_out)`` unbatched, packed for packed input).
        h_n, c_n: the final states, shaped as h_0 and c_0.

    Parameters (``k`` the layer, ``_reverse`` appended for the reverse direction):
        weight_ih_l{k}: ``(4*H_cell, H_in)`` for k = 0, ``(4*H_cell, D*H_out)`` after;
        weight_hh_l{k}: ``(4*H_cell, H_out)``; bias_ih_l{k}, bias_hh_l{k}: ``(4*H_cell,)``;
        weight_hr_l{k}: ``(H_out, H_cell)`` when proj_size > 0.
        All drawn from U(-1/sqrt(H_cell), 1/sqrt(H_cell)) in registration order,
        so the same seed gives the same weights as ``nn.LSTM``.
    """

    input_size: int
    hidden_size: int
    num_layers: int
    bias: bool
    batch_first: bool
    dropout: float
    bidirectional: bool
    proj_size: int

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        factory_kwargs = {"device": device, "dtype": dtype}
        super().__init__()
        validate_config(input_size, hidden_size, num_layers, bias, batch_first, dropout, proj_size)
        validate_dtype(dtype, "LSTM")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size

        num_directions = self.num_directions
        gate_size = 4 * hidden_size
        real_hidden_size = self.output_size
        self._flat_weights_names: list[str] = []
        self._all_weights: list[list[str]] = []
        for layer in range(num_layers):
            for direction in range(num_directions):
                layer_input_size = input_size if layer == 0 else real_hidden_size * num_directions
                suffix = "_reverse" if direction == 1 else ""
                shapes = {
                    f"weight_ih_l{layer}{suffix}": (gate_size, layer_input_size),
                    f"weight_hh_l{layer}{suffix}": (gate_size, real_hidden_size),
                }
                if bias:
                    shapes[f"bias_ih_l{layer}{suffix}"] = (gate_size,)
                    shapes[f"bias_hh_l{layer}{suffix}"] = (gate_size,)
                if proj_size > 0:
                    shapes[f"weight_hr_l{layer}{suffix}"] = (proj_size, hidden_size)
                for name, shape in shapes.items():
                    setattr(self, name, nn.Parameter(torch.empty(shape, **factory_kwargs)))
                self._flat_weights_names.extend(shapes)
                self._all_weights.append(list(shapes))
        self._init_flat_weights()
        self.reset_parameters()

    # nn.LSTM reads its weights through a list it refreshes when one of them is no longer the tensor it holds
    # (functional_call, a reassigned attribute, a parametrization: each read of a parametrized weight runs the
    # parametrization). The replica keeps the same list with the same reads, so a parametrization with state
    # (spectral_norm's power iteration) advances as often per forward as under nn.LSTM.

    def _init_flat_weights(self) -> None:
        self._flat_weights = [getattr(self, n) if hasattr(self, n) else None for n in self._flat_weights_names]
        self._remember_flat_weights()

    def _remember_flat_weights(self) -> None:
        self._flat_weight_refs = [weakref.ref(w) if w is not None else None for w in self._flat_weights]

    def _weights_have_changed(self) -> bool:
        for ref, name in zip(self._flat_weight_refs, self._flat_weights_names, strict=True):
            weight = getattr(self, name) if hasattr(self, name) else None
            if weight is not None and ref is not None and ref() is not weight:
                return True
        return False

    def _update_flat_weights(self) -> None:
        if self._weights_have_changed():
            self._init_flat_weights()

    def __setattr__(self, name: str, value: object) -> None:
        if "_flat_weights_names" in self.__dict__ and name in self._flat_weights_names:
            self._flat_weights[self._flat_weights_names.index(name)] = value  # as nn.LSTM: kept up to date
        super().__setattr__(name, value)

    def _apply(self, fn: Callable[[Tensor], Tensor], recurse: bool = True) -> Self:
        self._flat_weight_refs = []
        module = super()._apply(fn, recurse)
        self._init_flat_weights()
        return module

    def __getstate__(self) -> dict[str, object]:
        self._update_flat_weights()
        state = self.__dict__.copy()
        del state["_flat_weight_refs"]  # weak references do not pickle
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        super().__setstate__(state)
        self._remember_flat_weights()

    def reset_parameters(self) -> None:
        """Draw every parameter from U(-k, k), k = 1/sqrt(hidden_size), as ``nn.LSTM``."""
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    @property
    def num_directions(self) -> int:
        """D: 2 if bidirectional else 1."""
        return 2 if self.bidirectional else 1

    @property
    def output_size(self) -> int:
        """H_out, the width of h_t and of each direction's output: proj_size if proj_size > 0 else hidden_size."""
        return self.proj_size if self.proj_size > 0 else self.hidden_size

    @property
    def all_weights(self) -> list[list[Tensor]]:
        """The parameters grouped per layer and direction, as ``nn.LSTM.all_weights``."""
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    def flatten_parameters(self) -> None:
        """``nn.LSTM``'s cuDNN weight-packing hook, kept so code that calls it runs: the replica reads its
        weights where they are on every forward, so there is nothing to pack and the parameters stay the same
        objects (an optimiser built earlier keeps training them)."""

    def cell_weights(self) -> list[CellWeights]:
        """The weights of every layer and direction, read as ``nn.LSTM`` reads them on every forward.

        Its list of weights is refreshed when an attribute no longer holds the tensor it lists (so ``.to()``,
        weight tying, ``functional_call`` and ``torch.nn.utils.parametrize`` behave as with ``nn.LSTM``).
        """
        self._update_flat_weights()
        flat = dict(zip(self._flat_weights_names, self._flat_weights, strict=True))
        weights = []
        for names in self._all_weights:
            tensors = {name.split("_l")[0]: flat[name] for name in names}
            weights.append(
                CellWeights(
                    tensors["weight_ih"],
                    tensors["weight_hh"],
                    tensors.get("bias_ih"),
                    tensors.get("bias_hh"),
                    tensors.get("weight_hr"),
                )
            )
        return weights

    def extra_repr(self) -> str:
        s = "{input_size}, {hidden_size}"
        if self.proj_size != 0:
            s += ", proj_size={proj_size}"
        if self.num_layers != 1:
            s += ", num_layers={num_layers}"
        if self.bias is not True:
            s += ", bias={bias}"
        if self.batch_first is not False:
            s += ", batch_first={batch_first}"
        if self.dropout != 0:
            s += ", dropout={dropout}"
        if self.bidirectional is not False:
            s += ", bidirectional={bidirectional}"
        return s.format(**self.__dict__)

    @overload
    def forward(self, input: Tensor, hx: Hidden | None = None) -> tuple[Tensor, Hidden]: ...

    @overload
    def forward(self, input: PackedSequence, hx: Hidden | None = None) -> tuple[PackedSequence, Hidden]: ...

    def forward(
        self, input: Tensor | PackedSequence, hx: Hidden | None = None
    ) -> tuple[Tensor | PackedSequence, Hidden]:
        """Run the LSTM; see the class docstring for shapes.

        Under autocast, where ``nn.LSTM`` takes a fused kernel whose layer op autocast casts (oneDNN on the CPU:
        padded input, no projection; cuDNN on CUDA) it computes in the autocast dtype: so does the replica, with
        the input, states and weights cast to it (see :func:`autocast_dtype`).
        """
        weights = self.cell_weights()
        low = autocast_dtype(input, self.proj_size)
        if low is None:
            return self.forward_with([NativeRecurrence(w) for w in weights], input, hx)
        weights = [CellWeights(*(None if t is None else t.to(low) for t in w)) for w in weights]
        if isinstance(input, PackedSequence):
            data, batch_sizes, sorted_indices, unsorted_indices = input
            input = PackedSequence(data.to(low), batch_sizes, sorted_indices, unsorted_indices)
        else:
            input = input.to(low)
        hx = None if hx is None else (hx[0].to(low), hx[1].to(low))
        with torch.autocast(input.data.device.type, dtype=low):  # the layer's own products in that dtype too
            return self.forward_with([NativeRecurrence(w) for w in weights], input, hx)

    def forward_with(
        self, recurrences: Sequence[Recurrence], input: Tensor | PackedSequence, hx: Hidden | None = None
    ) -> tuple[Tensor | PackedSequence, Hidden]:
        """Run this module's configuration with the given recurrences in place of its own.

        ``recurrences`` holds one :class:`~lstm_replica.layers.Recurrence` per
        layer and direction in ``nn.LSTM``'s order. Everything around the cells
        (checks, zero states, packing and sorting, ``batch_first``, unbatched
        input, inter-layer dropout) is this module's, so a researcher's cell
        plugged in here differs from the replica in the cell alone.
        """
        if isinstance(input, PackedSequence):
            data, batch_sizes, sorted_indices, unsorted_indices = input
            max_batch_size = int(batch_sizes[0])
            if hx is None:
                hx = self._zero_state(data, max_batch_size)
            elif sorted_indices is not None:  # nn.LSTM.permute_hidden, before any check
                hx = permute_hidden(hx, sorted_indices)
            else:
                check_pair(hx, "LSTM")
            self._check_call_config()
            self._check_packed_hidden(hx)
            self._check_input(data, 2, RuntimeError)
            self._check_hidden_size(hx, max_batch_size)
            self._check_devices(data, hx)
            check_state_dtypes(hx, self._flat_weights[0].dtype, "LSTM")
            output, h_n, c_n = layer_stack(
                data, batch_sizes.tolist(), hx[0], hx[1], recurrences,
                self.num_layers, self.bidirectional, self.dropout, self.training,
            )  # fmt: skip
            packed = PackedSequence(output, batch_sizes, sorted_indices, unsorted_indices)
            return packed, (permute(h_n, unsorted_indices), permute(c_n, unsorted_indices))

        x, hx, is_batched = self._normalise_padded(input, hx)
        output, h_n, c_n = layer_stack(
            x, None, hx[0], hx[1], recurrences,
            self.num_layers, self.bidirectional, self.dropout, self.training,
        )  # fmt: skip
        return self._restore_padded(output, (h_n, c_n), is_batched)

    def _normalise_padded(self, input: Tensor, hx: Hidden | None) -> tuple[Tensor, Hidden, bool]:
        """Checks, zero states and unbatched handling of padded input, as ``nn.LSTM.forward``.

        Returns the time-major input ``(L, N, H_in)``, ``(h_0, c_0)`` with a batch
        dimension, and whether the input was batched.
        """
        if not isinstance(input, Tensor):
            msg = f"LSTM: Expected input to be a Tensor or a PackedSequence, got {type(input).__name__}"
            raise AttributeError(msg)  # noqa: TRY004 -- what nn.LSTM's input.dim() raises
        if input.dim() not in (2, 3):
            msg = f"LSTM: Expected input to be 2D or 3D, got {input.dim()}D instead"
            raise ValueError(msg)
        is_batched = input.dim() == 3
        batch_dim = 0 if self.batch_first else 1
        if not is_batched:
            input = input.unsqueeze(batch_dim)
        max_batch_size = input.size(0) if self.batch_first else input.size(1)
        given = hx
        if hx is None:
            hx = self._zero_state(input, max_batch_size)
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
            hx = (h_0, c_0) if is_batched else (h_0.unsqueeze(1), c_0.unsqueeze(1))
        self._check_input(input, 3, ValueError)
        self._check_hidden_size(hx, max_batch_size)
        if given is not None:
            check_pair(given, "LSTM")
        self._check_call_config()
        self._check_devices(input, hx)
        steps = input.size(1) if self.batch_first else input.size(0)
        if steps == 0:
            msg = f"Expected sequence length to be larger than 0 in RNN, got input of shape {list(input.shape)}"
            raise RuntimeError(msg)
        check_state_dtypes(hx, self._flat_weights[0].dtype, "LSTM")

        x = input.transpose(0, 1) if self.batch_first else input  # (L, N, H_in)
        return x, hx, is_batched

    def _restore_padded(self, output: Tensor, hidden: Hidden, is_batched: bool) -> tuple[Tensor, Hidden]:
        """Time-major ``output (L, N, D*H_out)`` back to ``batch_first`` / unbatched, as ``nn.LSTM`` returns it."""
        h_n, c_n = hidden
        if self.batch_first:
            output = output.transpose(0, 1)  # (N, L, D*H_out)
        if not is_batched:
            batch_dim = 0 if self.batch_first else 1
            return output.squeeze(batch_dim), (h_n.squeeze(1), c_n.squeeze(1))
        return output, (h_n, c_n)

    def _zero_state(self, like: Tensor, batch: int) -> Hidden:
        layers = self.num_layers * self.num_directions
        h_zeros = torch.zeros(layers, batch, self.output_size, dtype=like.dtype, device=like.device)
        c_zeros = torch.zeros(layers, batch, self.hidden_size, dtype=like.dtype, device=like.device)
        return h_zeros, c_zeros

    def _check_call_config(self) -> None:
        """What ATen's argument parser refuses on every call although the constructor let it through.

        ``nn.LSTM`` does not type-check ``bidirectional`` and accepts a bool for
        ``num_layers`` (an int subclass) at construction, then every forward
        fails with a TypeError listing ATen's overloads.
        """
        if not isinstance(self.bidirectional, bool):
            msg = f"LSTM: Expected bidirectional to be a bool, got {type(self.bidirectional).__name__} ({self.bidirectional!r})"
            raise TypeError(msg)
        if isinstance(self.num_layers, bool):
            msg = f"LSTM: Expected num_layers to be an int, got bool ({self.num_layers!r})"
            raise TypeError(msg)

    def _check_input(self, input: Tensor, expected_dim: int, dtype_error: type[Exception]) -> None:
        """``nn.RNNBase.check_input``: dtype, rank and feature count of padded input or packed data.

        ``nn.LSTM`` raises ValueError for the dtype of padded input; packed input
        skips its Python checks and fails in ATen's first matrix product, a
        RuntimeError, so the caller names the type.
        """
        weight_dtype = self._flat_weights[0].dtype  # as nn.LSTM: no second read of a parametrized weight
        if input.dtype != weight_dtype and not torch._C._is_any_autocast_enabled():
            msg = (
                f"RNN input dtype ({input.dtype}) does not match weight dtype ({weight_dtype}). "
                f"Convert input: input.to({weight_dtype}), or convert model: model.to({input.dtype})"
            )
            raise dtype_error(msg)
        if input.dim() != expected_dim:
            msg = f"input must have {expected_dim} dimensions, got {input.dim()}"
            raise RuntimeError(msg)
        if self.input_size != input.size(-1):
            msg = f"input.size(-1) must be equal to input_size. Expected {self.input_size}, got {input.size(-1)}"
            raise RuntimeError(msg)

    def _check_hidden_size(self, hx: Hidden, batch: int) -> None:
        """h_0 ``(D*num_layers, N, H_out)`` and c_0 ``(D*num_layers, N, H_cell)``, as ``nn.LSTM.check_forward_args``.

        Packed input skips that check in ``nn.LSTM``; ATen then fails with a
        RuntimeError (a broadcast error, ``"Expected more hidden states in
        stacked_rnn"`` or ``"got an incorrect number of RNN parameters"``), or
        silently broadcasts a c_0 of batch 1. The replica refuses all of these here.
        """
        layers = self.num_layers * self.num_directions
        for index, (state, width) in enumerate(zip(hx, (self.output_size, self.hidden_size), strict=True)):
            expected = (layers, batch, width)
            if state.size() != expected:
                msg = f"Expected hidden[{index}] size {expected}, got {list(state.size())}"
                raise RuntimeError(msg)

    def _check_packed_hidden(self, hx: Hidden) -> None:
        """ATen's first read of a packed call's states, ``hx[i].size(2)``: an IndexError under 3-D."""
        for index, (state, name) in enumerate(zip(hx, ("h_0", "c_0"), strict=True)):
            if state.dim() < 3:
                msg = f"For packed input, expected hx[{index}] ({name}) to be 3-D, got a {state.dim()}-D tensor"
                raise IndexError(msg)

    def _check_devices(self, input: Tensor, hx: Hidden) -> None:
        """ATen's ``check_attributes``: input, parameters and states on one device (RuntimeError)."""
        for t in self.parameters():
            if t.device != input.device:
                msg = (
                    "Input and parameter tensors are not at the same device, "
                    f"found input tensor at {input.device} and parameter tensor at {t.device}"
                )
                raise RuntimeError(msg)
        for t in hx:
            if t.device != input.device:
                msg = (
                    "Input and hidden tensors are not at the same device, "
                    f"found input tensor at {input.device} and hidden tensor at {t.device}"
                )
                raise RuntimeError(msg)

    @classmethod
    def from_torch(cls, module: nn.LSTM) -> Self:
        """A replica with the configuration and a copy of the weights of ``module``."""
        require_type(module, nn.LSTM)
        replica = cls(**lstm_config(module), device="meta", dtype=module.weight_ih_l0.dtype)
        replica = replica.to_empty(device=module.weight_ih_l0.device)
        copy_parameters(module, replica, replica._flat_weights_names)
        replica.train(module.training)
        return replica

    def to_torch(self) -> nn.LSTM:
        """An ``nn.LSTM`` with this configuration and a copy of these weights."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # the dropout / num_layers=1 advisory
            module = nn.LSTM(**lstm_config(self), device="meta", dtype=self.weight_ih_l0.dtype)
        module = module.to_empty(device=self.weight_ih_l0.device)
        copy_parameters(self, module, self._flat_weights_names)
        module.train(self.training)
        return module


def autocast_dtype(input: Tensor | PackedSequence, proj_size: int) -> torch.dtype | None:
    """The dtype ``nn.LSTM`` computes in under autocast, where that differs from the input's: None elsewhere.

    Autocast casts the fused kernels' layer ops to its lower precision: oneDNN's (``mkldnn_rnn_layer``),
    which ATen's CPU LSTM takes for padded float32 (or autocast-dtype) input without projections when
    oneDNN is on, and cuDNN's (``_cudnn_rnn``) on CUDA with cuDNN on. The native paths have no such cast
    (their matmuls cast, their element-wise ops follow), nor does packed input on the CPU.
    """
    data = input.data if isinstance(input, PackedSequence) else input
    if not isinstance(data, Tensor):
        return None  # not an input at all: the call checks say so
    if data.device.type == "cuda":
        if not (torch.is_autocast_enabled("cuda") and torch.backends.cudnn.enabled):
            return None
        low = torch.float16  # ATen's cuDNN RNN autocast wrapper casts to half, whatever the autocast dtype
    else:
        if not torch.is_autocast_enabled("cpu") or isinstance(input, PackedSequence) or proj_size:
            return None
        if not (torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled):
            return None
        low = torch.get_autocast_dtype("cpu")
    if data.dtype not in (torch.float32, low) or data.numel() == 0:
        return None
    return low


def lstm_config(module: object) -> dict[str, object]:
    """``nn.LSTM``'s constructor arguments, device and dtype aside, read from ``module``'s attributes.

    ``module`` is an ``nn.LSTM``, a replica ``LSTM`` or any object with those attributes (a configuration record).
    """
    return {
        "input_size": module.input_size,
        "hidden_size": module.hidden_size,
        "num_layers": module.num_layers,
        "bias": module.bias,
        "batch_first": module.batch_first,
        "dropout": module.dropout,
        "bidirectional": module.bidirectional,
        "proj_size": module.proj_size,
    }
