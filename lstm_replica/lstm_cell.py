"""``lstm_replica.LSTMCell``: a hand-written, drop-in replica of ``torch.nn.LSTMCell``.

One step of :func:`lstm_replica.cell.lstm_cell_step`, the op order of
``at::lstm_cell``, behind ``nn.LSTMCell``'s constructor, parameters and checks.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn
from torch.nn import init

from lstm_replica.cell import CellWeights, Hidden, lstm_cell_step
from lstm_replica.checks import check_pair, check_state_dtypes, describe_hidden, state_at, validate_dtype
from lstm_replica.transfer import copy_parameters, require_type

if TYPE_CHECKING:
    from typing import Self

CELL_PARAMETERS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


class LSTMCell(nn.Module):
    r"""A single LSTM step, a drop-in for ``torch.nn.LSTMCell``.

    .. math::
        \begin{array}{ll}
            i = \sigma(W_{ii} x + b_{ii} + W_{hi} h + b_{hi}) \\
            f = \sigma(W_{if} x + b_{if} + W_{hf} h + b_{hf}) \\
            g = \tanh(W_{ig} x + b_{ig} + W_{hg} h + b_{hg}) \\
            o = \sigma(W_{io} x + b_{io} + W_{ho} h + b_{ho}) \\
            c' = f \odot c + i \odot g \\
            h' = o \odot \tanh(c')
        \end{array}

    Shapes: input ``(N, H_in)`` or ``(H_in)``; h and c ``(N, H)`` or ``(H)``
    with H = hidden_size; returns ``(h', c')`` shaped as ``(h, c)``.

    Parameters: ``weight_ih (4*H, H_in)``, ``weight_hh (4*H, H)``, ``bias_ih``,
    ``bias_hh (4*H,)`` (None when ``bias=False``), rows in gate order i, f, g, o,
    drawn from U(-1/sqrt(H), 1/sqrt(H)) in that order, as ``nn.LSTMCell``.
    """

    input_size: int
    hidden_size: int
    bias: bool

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        factory_kwargs = {"device": device, "dtype": dtype}
        super().__init__()
        _validate_cell_config(input_size, hidden_size)
        validate_dtype(dtype, "LSTMCell")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        self.weight_ih = nn.Parameter(torch.empty((4 * hidden_size, input_size), **factory_kwargs))
        self.weight_hh = nn.Parameter(torch.empty((4 * hidden_size, hidden_size), **factory_kwargs))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(4 * hidden_size, **factory_kwargs))
            self.bias_hh = nn.Parameter(torch.empty(4 * hidden_size, **factory_kwargs))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw every parameter from U(-k, k), k = 1/sqrt(hidden_size), as ``nn.LSTMCell``."""
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def extra_repr(self) -> str:
        s = "{input_size}, {hidden_size}"
        if self.bias is not True:
            s += ", bias={bias}"
        return s.format(**self.__dict__)

    def forward(self, input: Tensor, hx: Hidden | None = None) -> Hidden:
        """One step: ``input (N, H_in)``, ``hx = (h, c)`` each ``(N, H)``; 1-D unbatched."""
        if not isinstance(input, Tensor):
            msg = f"LSTMCell: Expected input to be a Tensor, got {type(input).__name__}"
            raise AttributeError(msg)  # noqa: TRY004 -- what nn.LSTMCell's input.dim() raises
        if input.dim() not in (1, 2):
            msg = f"LSTMCell: Expected input to be 1D or 2D, got {input.dim()}D instead"
            raise ValueError(msg)
        given = hx
        if hx is not None:
            try:
                states = list(hx)
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
            zeros = torch.zeros(input.size(0), self.hidden_size, dtype=input.dtype, device=input.device)
            hx = (zeros, zeros)
        elif not is_batched:
            hx = (state_at(hx, 0, "LSTMCell").unsqueeze(0), state_at(hx, 1, "LSTMCell").unsqueeze(0))  # (1, H) each
        if given is not None:
            check_pair(given, "LSTMCell")
        # each weight read once, as nn.LSTMCell reads them: a parametrization runs once per call
        weights = CellWeights(self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        self._check(input, hx, weights)
        h, c = lstm_cell_step(input, hx, weights)
        if not is_batched:
            return h.squeeze(0), c.squeeze(0)
        return h, c

    def _check(self, input: Tensor, hx: Hidden, weights: CellWeights) -> None:
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
        for name in ("weight_ih", "weight_hh"):
            rows = getattr(weights, name).size(0)
            if rows != 4 * hidden_size:
                msg = f"{name} first dim must be 4 * hidden_size = {4 * hidden_size}, but got {rows}"
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
        for what, tensor in (("input", input), ("hx[0]", hx[0]), ("hx[1]", hx[1])):
            if tensor.device != weights.weight_ih.device:
                msg = (
                    f"LSTMCell: Expected {what} on {weights.weight_ih.device}, the weights' device, got {tensor.device}"
                )
                raise RuntimeError(msg)

    @classmethod
    def from_torch(cls, module: nn.LSTMCell) -> Self:
        """A replica cell with the configuration and a copy of the weights of ``module``."""
        require_type(module, nn.LSTMCell)
        replica = cls(module.input_size, module.hidden_size, module.bias, device="meta", dtype=module.weight_ih.dtype)
        replica = replica.to_empty(device=module.weight_ih.device)
        copy_parameters(module, replica, _names(replica))
        return replica

    def to_torch(self) -> nn.LSTMCell:
        """An ``nn.LSTMCell`` with this configuration and a copy of these weights."""
        module = nn.LSTMCell(self.input_size, self.hidden_size, self.bias, device="meta", dtype=self.weight_ih.dtype)
        module = module.to_empty(device=self.weight_ih.device)
        copy_parameters(self, module, _names(self))
        return module


def _names(cell: nn.Module) -> tuple[str, ...]:
    return CELL_PARAMETERS if cell.bias else CELL_PARAMETERS[:2]


def _validate_cell_config(input_size: int, hidden_size: int) -> None:
    """What ``nn.LSTMCell`` rejects at construction, with its exception types.

    It checks nothing itself: ``torch.empty`` refuses its weight shapes
    ``(4*hidden_size, input_size)`` and ``(4*hidden_size, hidden_size)``, with a
    TypeError for a size that is not an int and a RuntimeError for a negative
    one. The same shapes are tried here on the meta device (no memory) and the
    error re-raised with both sizes named. Zero sizes are accepted, as by
    ``nn.LSTMCell``.
    """
    try:
        for shape in ((4 * hidden_size, input_size), (4 * hidden_size, hidden_size)):
            torch.empty(shape, device="meta")
    except (TypeError, RuntimeError) as error:
        msg = (
            "LSTMCell: Expected input_size and hidden_size to be non-negative ints, "
            f"got input_size={input_size!r} ({type(input_size).__name__}), "
            f"hidden_size={hidden_size!r} ({type(hidden_size).__name__})"
        )
        raise type(error)(msg) from error
