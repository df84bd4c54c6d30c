"""``lstm_replica.LSTMCell``: a hand-written, drop-in replica of ``torch.nn.LSTMCell``.

One step of :func:`lstm_replica.cell.lstm_cell_step`, the op order of
``at::lstm_cell``, behind ``nn.LSTMCell``'s constructor, parameters and checks.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import Tensor, nn
from torch.nn import init

from lstm_replica.arguments import validate_dtype
from lstm_replica.cell import CellWeights, Hidden, lstm_cell_step
from lstm_replica.checks import check_cell_call, prepare_cell_call
from lstm_replica.transfer import require_type, transferred

if TYPE_CHECKING:
    from typing_extensions import Self


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
    # the constructor arguments config() returns, device and dtype aside
    CONFIG_KEYS: ClassVar[tuple[str, ...]] = ("input_size", "hidden_size", "bias")

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        factory_kwargs: dict[str, Any] = {"device": device, "dtype": dtype}
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
        input, hidden, is_batched = prepare_cell_call(input, hx, self.hidden_size)
        # each weight read once, as nn.LSTMCell reads them: a parametrization runs once per call
        weights = CellWeights(self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        check_cell_call(input, hidden, weights)
        h, c = lstm_cell_step(input, hidden, weights)
        if not is_batched:
            return h.squeeze(0), c.squeeze(0)
        return h, c

    def config(self) -> dict[str, object]:
        """The constructor arguments, device and dtype aside: ``LSTMCell(**m.config())`` builds the same shape."""
        return {name: getattr(self, name) for name in self.CONFIG_KEYS}

    @classmethod
    def from_torch(cls, module: nn.LSTMCell) -> Self:
        """A replica cell with the configuration and a copy of the weights of ``module``."""
        require_type(module, nn.LSTMCell)
        return transferred(module, cls, {name: getattr(module, name) for name in cls.CONFIG_KEYS})

    def to_torch(self) -> nn.LSTMCell:
        """An ``nn.LSTMCell`` with this configuration and a copy of these weights."""
        return transferred(self, nn.LSTMCell, self.config())


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
