"""Parameter names of ``nn.LSTM`` and ``nn.LSTMCell``, built and taken apart in one place.

``nn.LSTM`` names each layer and direction's tensors ``{kind}_l{layer}`` with
``_reverse`` appended for the reverse direction (``weight_hh_l1_reverse``);
``nn.LSTMCell`` names them by kind alone (``bias_ih``). The replica registers
its parameters with :class:`ParameterName`, and the replica, the harness and
its reports read names back with :func:`parse_parameter_name`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, NamedTuple

GATES = "ifgo"  # nn.LSTM's gate blocks of rows in every weight and bias, in order: input, forget, cell, output
KINDS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")  # an nn.LSTM layer's tensors, in its order


class ParameterName(NamedTuple):
    """A parameter name of ``nn.LSTM`` / ``nn.LSTMCell`` taken apart: ``weight_ih_l1_reverse``.

    ``kind`` is ``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh`` or ``weight_hr``; ``layer`` is None for an
    ``LSTMCell``'s parameters, which carry no layer suffix.
    """

    kind: str
    layer: int | None
    reverse: bool = False

    def __str__(self) -> str:
        if self.layer is None:
            return self.kind
        return f"{self.kind}_l{self.layer}{'_reverse' if self.reverse else ''}"


def direction_names(module: Any) -> Iterator[dict[str, ParameterName]]:  # Any: nn.LSTM or the replica's LSTM
    """nn.LSTM's parameter names per layer and direction, in nn.LSTM's order (layer 0 forward, layer 0 reverse,
    layer 1, ...), each ``{kind: name}`` for the kinds the module has (biases with ``bias``, ``weight_hr`` with
    ``proj_size``). The one reader of a module's tensors by layer and direction: ``getattr(module, str(name))``.
    """
    kinds = KINDS[: 4 if module.bias else 2] + (("weight_hr",) if module.proj_size else ())
    for layer in range(module.num_layers):
        for reverse in (False, True)[: 2 if module.bidirectional else 1]:
            yield {kind: ParameterName(kind, layer, reverse) for kind in kinds}


def cell_prefix(layer: int, reverse: bool) -> str:
    """The prefix the harness gives a stepped candidate's cell of one layer and direction: ``l1_reverse.``."""
    return f"l{layer}{'_reverse' if reverse else ''}."


_KIND = re.compile(r"(weight_ih|weight_hh|bias_ih|bias_hh|weight_hr)(?:_l(\d+)(_reverse)?)?")
_LAYER = re.compile(r"l(\d+)(_reverse)?")


def is_lstm_parameter(name: str) -> bool:
    """Whether ``name`` is one of ``nn.LSTM`` / ``nn.LSTMCell``'s parameter names (see :func:`parse_parameter_name`)."""
    try:
        parse_parameter_name(name)
    except ValueError:
        return False
    return True


def parse_parameter_name(name: str) -> ParameterName:
    """Take apart a parameter name of ``nn.LSTM`` (``weight_ih_l1_reverse``) or ``nn.LSTMCell`` (``bias_hh``).

    A dotted path is read through its last parts: ``lstm.weight_ih_l0`` (a classifier's LSTM) is layer 0, and a
    per-layer cell named ``l{k}`` or ``l{k}_reverse`` (``l1_reverse.weight_hh``, as the parity harness names the
    cells of a stepped candidate) gives its layer and direction to a cell parameter. Raises ValueError for a name
    that is neither.
    """
    *path, leaf = name.split(".")
    match = _KIND.fullmatch(leaf)
    if match is None:
        msg = f"Expected an LSTM parameter name such as weight_ih_l0 or l1_reverse.bias_hh, got {name!r}"
        raise ValueError(msg)
    kind, layer, reverse = match.groups()
    if layer is None and path and (owner := _LAYER.fullmatch(path[-1])):
        layer, reverse = owner.groups()
    return ParameterName(kind, None if layer is None else int(layer), reverse is not None)
