r"""Flax ``LSTMCell`` / ``OptimizedLSTMCell`` parameter trees to and from ``nn.LSTM``: one Dense per gate and side.

A Flax linen ``LSTMCell(features=H)`` (and ``OptimizedLSTMCell``, whose parameters have the same names and
shapes) holds eight Dense layers: ``ii``, ``if``, ``ig``, ``io`` on the input, each ``{"kernel": (H_in, H)}``
with no bias, and ``hi``, ``hf``, ``hg``, ``ho`` on the hidden state, each ``{"kernel": (H, H), "bias": (H,)}``:

.. math::
    \begin{array}{ll}
        i = \sigma(x K_{ii} + h K_{hi} + b_{hi}), \quad f = \sigma(x K_{if} + h K_{hf} + b_{hf}) \\
        g = \tanh(x K_{ig} + h K_{hg} + b_{hg}), \quad o = \sigma(x K_{io} + h K_{ho} + b_{ho}) \\
        c' = f \odot c + i \odot g, \quad h' = o \odot \tanh(c')
    \end{array}

So Flax's ``ii`` kernel is torch's i block of ``weight_ih`` transposed ``(H_in, H)``, its ``hi`` kernel the i block
of ``weight_hh`` transposed, and its ``hi`` bias the i blocks of ``bias_ih + bias_hh`` (one bias per gate: the sum
rounds once per element); likewise for f, g, o. Flax's carry is ``(c, h)``, in that order, where ``nn.LSTM``'s is
``(h, c)``. ``nn.RNN(cell)`` runs a cell over a sequence (batch-major unless ``time_major=True``), and
``nn.Bidirectional(nn.RNN(cell), nn.RNN(cell))`` concatenates forward then backward, as ``nn.LSTM`` does; a stack
is one such module per layer. The trees here are the cell's own (what sits under ``"cell"`` in an ``nn.RNN``'s
``params``). Flax NNX's ``LSTMCell`` names its layers differently and is not covered.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from lstm_replica.cell import CellWeights
from lstm_replica.interop.gates import (
    TORCH_ORDER,
    as_tensor,
    cells_from,
    copied,
    folded_bias,
    read_lstm,
    split_bias,
    state_dict,
)

ParamTree = dict[str, dict[str, Tensor]]
_INPUT = tuple(f"i{gate}" for gate in TORCH_ORDER)  # ii, if, ig, io
_HIDDEN = tuple(f"h{gate}" for gate in TORCH_ORDER)  # hi, hf, hg, ho


def to_flax(lstm: nn.Module | Mapping[str, Tensor]) -> list[ParamTree]:
    """``nn.LSTM`` / ``lstm_replica.LSTM`` (or its state_dict) as Flax ``LSTMCell`` parameter trees.

    One tree per layer and direction, in ``nn.LSTM``'s order (layer 0 forward, layer 0 reverse, layer 1 ...).
    Kernels are transposed copies of the gate blocks (bitwise); each ``h*`` bias is ``b_ih + b_hh`` for that
    gate, rounded once (zeros for ``bias=False``: Flax's cell always has them). Raises ValueError for a
    projection (``proj_size > 0``). Convert each leaf with ``jnp.asarray(t.numpy())`` for Flax.
    """
    trees = []
    for cell in read_lstm(lstm, "Flax LSTMCell").cells:
        bias = folded_bias(cell)
        if bias is None:
            bias = cell.weight_ih.new_zeros(cell.weight_ih.shape[0])  # (4H,)
        tree: ParamTree = {}
        for name, block in zip(_INPUT, cell.weight_ih.chunk(4), strict=True):  # each (H, H_in)
            tree[name] = {"kernel": copied(block.t())}  # (H_in, H)
        for name, block, gate_bias in zip(_HIDDEN, cell.weight_hh.chunk(4), bias.chunk(4), strict=True):
            tree[name] = {"kernel": copied(block.t()), "bias": copied(gate_bias)}  # (H, H), (H,)
        trees.append(tree)
    return trees


def from_flax(cells: Sequence[Mapping[str, Mapping[str, object]]], *, bidirectional: bool = False) -> dict[str, Tensor]:
    """Flax ``LSTMCell`` / ``OptimizedLSTMCell`` parameter trees, in ``nn.LSTM``'s order, as its state_dict.

    The eight ``h*`` biases, stacked i, f, g, o, go into ``bias_ih`` and zeros into ``bias_hh`` (exact). A tree
    with other layers or leaves (a bias on an input Dense) is refused with ValueError. Build the module with
    :func:`lstm_replica.interop.config_from_state_dict`.
    """
    converted = []
    for index, tree in enumerate(cells):
        leaf = _leaves(tree, index)
        weight_ih = torch.cat([leaf[name, "kernel"].t() for name in _INPUT])  # (4H, H_in)
        weight_hh = torch.cat([leaf[name, "kernel"].t() for name in _HIDDEN])  # (4H, H)
        bias = torch.cat([leaf[name, "bias"] for name in _HIDDEN])  # (4H,)
        converted.append(CellWeights(weight_ih, weight_hh, *split_bias(bias)))
    return state_dict(cells_from(converted, bidirectional, "Flax"))


def _leaves(tree: Mapping[str, Mapping[str, object]], index: int) -> dict[tuple[str, str], Tensor]:
    """The tree's eight layers' leaves as tensors, ``(layer, "kernel" | "bias") -> tensor``, their shapes checked."""
    expected = {name: {"kernel"} for name in _INPUT} | {name: {"kernel", "bias"} for name in _HIDDEN}
    got = {name: set(leaves) for name, leaves in tree.items()}
    if got != expected:
        msg = f"Expected a Flax LSTMCell tree {expected} for cell {index}, got {got}"
        raise ValueError(msg)
    leaf = {
        (name, kind): as_tensor(value, f"cell {index} {name}.{kind}")
        for name, leaves in tree.items()
        for kind, value in leaves.items()
    }
    hidden, inputs = leaf["hi", "kernel"].shape[-1], leaf["ii", "kernel"].shape[0]
    for (name, kind), tensor in leaf.items():
        shape = (hidden,) if kind == "bias" else (inputs if name in _INPUT else hidden, hidden)
        if tuple(tensor.shape) != shape:
            msg = f"Expected {name}.{kind} of shape {shape} in Flax cell {index}, got {tuple(tensor.shape)}"
            raise ValueError(msg)
    return leaf
