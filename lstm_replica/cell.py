"""One LSTM time step, computed op for op as ATen's native CPU ``LSTMCell``.

Mirrors ``LSTMCell::operator()`` in aten/src/ATen/native/RNN.cpp, so that the
forward values *and* the autograd graph (hence every gradient) are bitwise
those of ``torch.nn.LSTM`` / ``torch.nn.LSTMCell`` on the native CPU path.

Shapes (one direction of one layer) are named as in the glossary of
:mod:`lstm_replica.lstm`: N batch, H_in the layer's input features, H_cell the
width of c_t and of *every* gate, H_out the width of h_t.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

Hidden = tuple[Tensor, Tensor]


class CellWeights(NamedTuple):
    """The parameters of one direction of one layer, in ``nn.LSTM``'s packing.

    Rows of ``weight_ih``, ``weight_hh`` and the biases are the four gates
    stacked in the order i, f, g, o: ``(W_ii|W_if|W_ig|W_io)``.
    """

    weight_ih: Tensor  # (4*H_cell, H_in)
    weight_hh: Tensor  # (4*H_cell, H_out)
    bias_ih: Tensor | None  # (4*H_cell,)
    bias_hh: Tensor | None  # (4*H_cell,)
    weight_hr: Tensor | None = None  # (H_out, H_cell), only with proj_size > 0


def input_projection(x: Tensor, w: CellWeights) -> Tensor:
    """``W_ih x + b_ih`` for a whole sequence at once: ``(..., H_in) -> (..., 4*H_cell)``.

    ATen computes this once per layer and direction before the time loop
    (``params.linear_ih(inputs)``); ``at::linear`` picks addmm or matmul + add_
    from the input's rank and contiguity, so a ``batch_first`` view is passed
    through as the same non-contiguous view ATen sees.
    """
    return F.linear(x, w.weight_ih, w.bias_ih)


def lstm_step(x_proj: Tensor, hidden: Hidden, w: CellWeights) -> Hidden:
    r"""Advance one time step from an already projected input.

    .. math::
        \begin{array}{ll}
            (a_i | a_f | a_g | a_o) = (W_{hh} h_{t-1} + b_{hh}) + (W_{ih} x_t + b_{ih}) \\
            i_t = \sigma(a_i), \quad f_t = \sigma(a_f), \quad
            g_t = \tanh(a_g), \quad o_t = \sigma(a_o) \\
            c_t = f_t \odot c_{t-1} + i_t \odot g_t \\
            h_t = o_t \odot \tanh(c_t) \\
            h_t = W_{hr} h_t \quad \text{(only with proj\_size > 0)}
        \end{array}

    Every gate is ``H_cell`` wide, and the state update is element-wise
    addition, never concatenation.

    Args:
        x_proj: ``(N, 4*H_cell)``, the step's slice of :func:`input_projection`.
        hidden: ``(h_{t-1}, c_{t-1})`` of shapes ``(N, H_out)`` and ``(N, H_cell)``.
        w: the layer-direction's weights.

    Returns:
        ``(h_t, c_t)`` of shapes ``(N, H_out)`` and ``(N, H_cell)``.
    """
    hx, cx = hidden
    gates = F.linear(hx, w.weight_hh, w.bias_hh).add_(x_proj)  # (N, 4*H_cell)
    return _gates_to_state(gates, cx, w)


def lstm_cell_step(x: Tensor, hidden: Hidden, w: CellWeights) -> Hidden:
    """One step from a raw input ``x`` of shape ``(N, H_in)``, as ``at::lstm_cell``.

    ATen's cell computes ``linear_hh(hx)`` before ``linear_ih(input)`` (C++17
    sequences the object expression of a member call before its argument).
    """
    hx, cx = hidden
    gates = F.linear(hx, w.weight_hh, w.bias_hh)  # (N, 4*H_cell)
    gates = gates.add_(F.linear(x, w.weight_ih, w.bias_ih))
    return _gates_to_state(gates, cx, w)


def _gates_to_state(gates: Tensor, cx: Tensor, w: CellWeights) -> Hidden:
    ingate, forgetgate, cellgate, outgate = gates.unsafe_chunk(4, 1)  # 4 x (N, H_cell)
    ingate = ingate.sigmoid_()
    forgetgate = forgetgate.sigmoid_()
    cellgate = cellgate.tanh_()
    outgate = outgate.sigmoid_()
    cy = (forgetgate * cx).add_(ingate * cellgate)  # (N, H_cell)
    hy = outgate * cy.tanh()  # (N, H_cell)
    if w.weight_hr is not None:
        hy = torch.matmul(hy, w.weight_hr.t())  # (N, H_out)
    return hy, cy
