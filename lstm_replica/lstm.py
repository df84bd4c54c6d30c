r"""``lstm_replica.LSTM``: a hand-written, drop-in replica of ``torch.nn.LSTM``.

Same constructor, parameters, state_dict keys, initialisation and forward
signature as ``nn.LSTM``; the computation is the native CPU path of
aten/src/ATen/native/RNN.cpp written out in tensor ops (see :mod:`cell` and
:mod:`layers`), so on that path it is bitwise identical, gradients included.
This module holds the module itself; its calls are checked and normalised in
:mod:`checks`, its weights copied in :mod:`transfer`.

Shape glossary, used by every module of the package:
    N        batch size
    L        sequence length
    T        packed rows: the sum of the sequence lengths of a ``PackedSequence``
    D        2 if bidirectional else 1
    H_in     features entering a layer: input_size for layer 0, D * H_out above
    H_cell   hidden_size: the width of c_t and of *every* gate (the gates stack to 4 * H_cell)
    H_out    proj_size if proj_size > 0 else hidden_size: the width of h_t
    C        num_classes, the classifier head's outputs
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, overload

import torch
from torch import Tensor, nn
from torch.nn import init
from torch.nn.utils.rnn import PackedSequence

from lstm_replica.arguments import validate_config, validate_dtype
from lstm_replica.cell import CellWeights, Hidden
from lstm_replica.checks import finish_call, prepare_call
from lstm_replica.layers import NativeRecurrence, Recurrence, layer_stack
from lstm_replica.names import ParameterName, is_lstm_parameter, parse_parameter_name
from lstm_replica.transfer import require_type, transferred

if TYPE_CHECKING:
    from typing_extensions import Self


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
    # the constructor arguments config() returns, device and dtype aside
    CONFIG_KEYS: ClassVar[tuple[str, ...]] = (
        "input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout", "bidirectional", "proj_size",
    )  # fmt: skip

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
        factory_kwargs: dict[str, Any] = {"device": device, "dtype": dtype}
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
                kinds: dict[str, tuple[int, ...]] = {
                    "weight_ih": (gate_size, layer_input_size),
                    "weight_hh": (gate_size, real_hidden_size),
                }
                if bias:
                    kinds |= {"bias_ih": (gate_size,), "bias_hh": (gate_size,)}
                if proj_size > 0:
                    kinds["weight_hr"] = (proj_size, hidden_size)
                names = [str(ParameterName(kind, layer, direction == 1)) for kind in kinds]
                for name, shape in zip(names, kinds.values(), strict=True):
                    setattr(self, name, nn.Parameter(torch.empty(shape, **factory_kwargs)))
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
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

    def __setattr__(self, name: str, value: Tensor | nn.Module) -> None:
        if "_flat_weights_names" in self.__dict__ and name in self._flat_weights_names:
            self._flat_weights[self._flat_weights_names.index(name)] = value  # as nn.LSTM: kept up to date
        super().__setattr__(name, value)

    def _apply(self, fn: Callable[[Tensor], Tensor], recurse: bool = True) -> Self:
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
        stdv = 1.0 / math.sqrt(self.hidden_size)  # hidden_size > 0: the constructor checked it
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
    def weight_names(self) -> list[list[str]]:
        """The parameter names per layer and direction, in ``nn.LSTM``'s order (``weight_ih_l0``, ...)."""
        return [list(names) for names in self._all_weights]

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
        flat: dict[str, Tensor] = {}
        for name, weight in zip(self._flat_weights_names, self._flat_weights, strict=True):
            if weight is None:  # set to None: nn.LSTM reads the first weight's dtype, and hands ATen the others
                msg = f"Expected a tensor for {name}, got None"
                raise (AttributeError if name == self._flat_weights_names[0] else TypeError)(msg)
            flat[name] = weight
        weights = []
        for names in self._all_weights:
            tensors = {parse_parameter_name(name).kind: flat[name] for name in names}
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
        the input and states cast to it (see :func:`autocast_dtype`); the weights enter only matrix products,
        which autocast casts itself.
        """
        weights = self.cell_weights()
        low = autocast_dtype(input, self.proj_size)
        if low is None:
            return self.forward_with([self.recurrence(w) for w in weights], input, hx)
        if isinstance(input, PackedSequence):
            data, batch_sizes, sorted_indices, unsorted_indices = input
            input = PackedSequence(data.to(low), batch_sizes, sorted_indices, unsorted_indices)
        else:
            input = input.to(low)
        hx = None if hx is None else (hx[0].to(low), hx[1].to(low))
        with torch.autocast(input.data.device.type, dtype=low):  # the layer's own products in that dtype too
            return self.forward_with([self.recurrence(w) for w in weights], input, hx)

    def recurrence(self, weights: CellWeights) -> Recurrence:
        """The recurrence :meth:`forward` runs for one layer and direction: the replica's native one.

        Subclasses return their own (``FastLSTM`` a fused whole-layer loop); everything around the cells stays
        this module's.
        """
        return NativeRecurrence(weights)

    @overload
    def forward_with(
        self, recurrences: Sequence[Recurrence], input: Tensor, hx: Hidden | None = None
    ) -> tuple[Tensor, Hidden]: ...

    @overload
    def forward_with(
        self, recurrences: Sequence[Recurrence], input: PackedSequence, hx: Hidden | None = None
    ) -> tuple[PackedSequence, Hidden]: ...

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
        first = self._flat_weights[0]  # as nn.LSTM: the dtype of its first listed weight, read once
        if first is None:
            msg = f"Expected a tensor for {self._flat_weights_names[0]}, got None"
            raise AttributeError(msg)
        call = prepare_call(self, input, hx, first.dtype)
        output, hidden = layer_stack(
            call.x,
            call.hidden,
            recurrences,
            bidirectional=self.bidirectional,
            batch_sizes=call.batch_sizes,
            dropout=self.dropout,
            training=self.training,
        )
        return finish_call(call, output, hidden)

    def config(self) -> dict[str, object]:
        """The constructor arguments, device and dtype aside: ``LSTM(**m.config())`` builds the same shape."""
        return lstm_config(self)

    @classmethod
    def from_torch(cls, module: nn.LSTM) -> Self:
        """A replica with the configuration and a copy of the weights of ``module``."""
        require_type(module, nn.LSTM)
        return transferred(module, cls, lstm_config(module), is_lstm_parameter)  # a subclass's own: left to it

    def to_torch(self) -> nn.LSTM:
        """An ``nn.LSTM`` with this configuration and a copy of these weights."""
        return transferred(self, nn.LSTM, self.config())


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
    return {name: getattr(module, name) for name in LSTM.CONFIG_KEYS}
