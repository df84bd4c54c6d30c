"""What every interop converter shares: gate orders, and ``nn.LSTM``'s tensors read and written per layer and direction.

``nn.LSTM`` stacks the four gates in the order i, f, g, o along the rows of
``weight_ih_l{k}`` ``(4*H_cell, H_in)``, ``weight_hh_l{k}`` ``(4*H_cell, H_out)``
and the two biases ``(4*H_cell,)``. Other frameworks store the same four
blocks in another order, transposed, split per gate, or with the two biases
summed into one. Gate orders are written here in torch's letters, whatever
the framework calls the cell candidate g (Keras and ONNX ``c``, TensorFlow
``j``):

========== =====
torch      ifgo
Keras      ifgo
Flax       ifgo
TensorFlow igfo
ONNX       iofg
========== =====

Shapes follow the glossary of :mod:`lstm_replica.lstm` (H_in, H_cell, H_out, D).
Nothing here imports a framework: arrays come in as anything ``torch.tensor``
reads (numpy, JAX) and go out as torch tensors that share no memory with their
source.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from lstm_replica.cell import CellWeights
from lstm_replica.lstm import LSTM
from lstm_replica.names import GATES, KINDS, ParameterName, direction_names, parse_parameter_name

TORCH_ORDER = GATES


@dataclass(frozen=True)
class LSTMWeights:
    """``nn.LSTM``'s tensors, one :class:`CellWeights` per layer and direction, in ``nn.LSTM``'s order.

    ``cells[layer * D + direction]``: layer 0 forward, layer 0 reverse (when
    bidirectional), layer 1 forward, ...
    """

    cells: tuple[CellWeights, ...]
    bidirectional: bool

    @property
    def num_layers(self) -> int:
        return len(self.cells) // (2 if self.bidirectional else 1)


def as_tensor(array: object, name: str) -> Tensor:
    """A framework's array (numpy, JAX, torch) as a torch tensor, copied unless it is one; ``name`` is for the error.

    ``torch.tensor`` copies, so a read-only array (JAX hands numpy views that are) makes an ordinary tensor.
    """
    if isinstance(array, Tensor):
        return array.detach()
    try:
        return torch.tensor(array)
    except (TypeError, RuntimeError, ValueError) as exc:
        msg = f"Expected {name} to be an array torch.tensor reads, got {type(array).__qualname__}"
        raise TypeError(msg) from exc


def copied(tensor: Tensor) -> Tensor:
    """A contiguous copy: converters hand out tensors that share no memory with their source."""
    return tensor.detach().clone(memory_format=torch.contiguous_format)


def reorder_gates(tensor: Tensor, source: str, target: str, dim: int = 0) -> Tensor:
    """The four gate blocks of ``tensor`` along ``dim``, taken from ``source`` order into ``target`` order (a copy).

    ``source`` and ``target`` are permutations of ``"ifgo"``: ``reorder_gates(b, "ifgo", "iofg")`` turns
    ``nn.LSTM``'s ``(b_i|b_f|b_g|b_o)`` into ONNX's ``(b_i|b_o|b_f|b_g)``. Pure data movement: bitwise.
    """
    if sorted(source) != sorted(TORCH_ORDER) or sorted(target) != sorted(TORCH_ORDER):
        msg = f"Expected two orders of the gates {TORCH_ORDER!r}, got {source!r} and {target!r}"
        raise ValueError(msg)
    if tensor.shape[dim] % 4:
        msg = f"Expected dimension {dim} to hold 4 gate blocks (a multiple of 4), got shape {tuple(tensor.shape)}"
        raise ValueError(msg)
    blocks = dict(zip(source, tensor.chunk(4, dim), strict=True))  # each (..., H_cell, ...)
    return torch.cat([blocks[gate] for gate in target], dim)  # (..., 4*H_cell, ...)


def folded_bias(cell: CellWeights) -> Tensor | None:
    """``b_ih + b_hh`` for a layout with one bias (None without biases).

    The sum is rounded to the biases' dtype once per element (at most half an
    ulp of the sum): a model with one bias computes ``(W_ih x + W_hh h) + (b_ih +
    b_hh)`` where ``nn.LSTM`` computes ``(W_hh h + b_hh) + (W_ih x + b_ih)``, so
    outputs agree within rounding, not bitwise (the tests measure it).
    """
    if cell.bias_ih is None or cell.bias_hh is None:
        return None
    return cell.bias_ih + cell.bias_hh


def split_bias(bias: Tensor) -> tuple[Tensor, Tensor]:
    """One bias into ``nn.LSTM``'s two: all of it in ``bias_ih``, zeros in ``bias_hh`` (exact: ``b + 0 = b``)."""
    return copied(bias), torch.zeros_like(bias)


def read_lstm(source: nn.Module | Mapping[str, Tensor], target: str) -> LSTMWeights:
    """An ``nn.LSTM`` / ``lstm_replica.LSTM``, or its state_dict, read by ``nn.LSTM``'s parameter names.

    A module is read through ``getattr`` (a parametrized weight gives the weight it computes). Projections are
    refused: ``target`` (the layout's name, for the messages) has none.
    """
    if isinstance(source, nn.Module):
        named = _module_tensors(source)
    elif isinstance(source, Mapping):
        named = {parse_parameter_name(key): as_tensor(tensor, key) for key, tensor in source.items()}
    else:
        msg = f"Expected an nn.LSTM, an lstm_replica.LSTM or a state_dict, got {type(source).__qualname__}"
        raise TypeError(msg)
    if any(name.kind == "weight_hr" for name in named):
        msg = f"Expected an LSTM without projection (proj_size=0) for {target}, which has none; got weight_hr"
        raise ValueError(msg)
    if not named or any(name.layer is None for name in named):
        msg = f"Expected nn.LSTM's parameter names (weight_ih_l0, ...), got {sorted(map(str, named))}"
        raise ValueError(msg)
    bidirectional = any(name.reverse for name in named)
    cells = []
    for layer in range(1 + max(name.layer or 0 for name in named)):
        for reverse in (False, True)[: 2 if bidirectional else 1]:
            tensors = [named.get(ParameterName(kind, layer, reverse)) for kind in KINDS[:4]]
            weight_ih, weight_hh, bias_ih, bias_hh = (None if t is None else t.detach() for t in tensors)
            if weight_ih is None or weight_hh is None:
                msg = f"Expected weight_ih and weight_hh for layer {layer}{' reverse' if reverse else ''}, got none"
                raise ValueError(msg)
            cells.append(CellWeights(weight_ih, weight_hh, bias_ih, bias_hh))
    return cells_from(cells, bidirectional, "the torch LSTM")


def _module_tensors(module: nn.Module) -> dict[ParameterName, Tensor]:
    if not isinstance(module, nn.LSTM | LSTM):
        msg = f"Expected an nn.LSTM or lstm_replica.LSTM, got {type(module).__qualname__}"
        raise TypeError(msg)
    return {name: getattr(module, str(name)) for names in direction_names(module) for name in names.values()}


def cells_from(cells: Sequence[CellWeights], bidirectional: bool, source: str) -> LSTMWeights:
    """Cells converted from another layout, checked to stack as ``nn.LSTM``'s layers do.

    Every cell has the same H_cell, layer 0 takes any H_in, layer k > 0 takes D * H_cell; biases on all cells
    or none. ``source`` names the layout in the messages.
    """
    directions = 2 if bidirectional else 1
    if not cells or len(cells) % directions:
        msg = f"Expected {source} cells for whole layers ({directions} per layer), got {len(cells)}"
        raise ValueError(msg)
    hidden = cells[0].weight_ih.shape[0] // 4
    for index, cell in enumerate(cells):
        where = f"{source} cell {index} (layer {index // directions}{' reverse' if index % directions else ''})"
        inputs = cells[0].weight_ih.shape[1] if index < directions else directions * hidden
        expected = {
            "weight_ih": (4 * hidden, inputs),
            "weight_hh": (4 * hidden, hidden),
            "bias_ih": (4 * hidden,),
            "bias_hh": (4 * hidden,),
        }
        for kind, shape in expected.items():
            tensor = getattr(cell, kind)
            if tensor is not None and tuple(tensor.shape) != shape:
                msg = f"Expected {kind} of shape {shape} in {where} (as nn.LSTM's), got {tuple(tensor.shape)}"
                raise ValueError(msg)
        if (cell.bias_ih is None) != (cells[0].bias_ih is None):
            msg = f"Expected biases on every cell or on none, got {where} differing from cell 0"
            raise ValueError(msg)
    return LSTMWeights(tuple(cells), bidirectional)


def state_dict(weights: LSTMWeights) -> dict[str, Tensor]:
    """``nn.LSTM``'s state_dict for ``weights``: its keys, in its registration order, each a copy."""
    directions = 2 if weights.bidirectional else 1
    out = {}
    for index, cell in enumerate(weights.cells):
        layer, reverse = divmod(index, directions)
        for kind in KINDS:
            tensor = getattr(cell, kind)
            if tensor is not None:
                out[str(ParameterName(kind, layer, bool(reverse)))] = copied(tensor)
    return out


def config_from_state_dict(state: Mapping[str, Tensor]) -> dict[str, int | bool]:
    """``nn.LSTM``'s constructor arguments that a state_dict determines.

    ``input_size``, ``hidden_size``, ``num_layers``, ``bias``, ``bidirectional`` and ``proj_size``, so that
    ``nn.LSTM(**config_from_state_dict(sd)).load_state_dict(sd)`` rebuilds the module; the arguments that hold no
    weights (``batch_first``, ``dropout``) are the caller's.
    """
    named = {parse_parameter_name(key): tensor for key, tensor in state.items()}
    first = named.get(ParameterName("weight_ih", 0))
    if first is None:
        msg = f"Expected nn.LSTM's parameter names (weight_ih_l0, ...), got {sorted(state)}"
        raise ValueError(msg)
    projection = named.get(ParameterName("weight_hr", 0))
    return {
        "input_size": first.shape[1],
        "hidden_size": first.shape[0] // 4,
        "num_layers": 1 + max(name.layer or 0 for name in named),
        "bias": ParameterName("bias_ih", 0) in named,
        "bidirectional": any(name.reverse for name in named),
        "proj_size": 0 if projection is None else projection.shape[0],
    }
