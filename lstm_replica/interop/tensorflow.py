r"""TensorFlow-style LSTM cell weights to and from ``nn.LSTM``: one kernel on ``[x, h]``, gates i, j, f, o, forget_bias.

TensorFlow's fused LSTM (``tf.raw_ops.BlockLSTM`` / ``LSTMBlockCell``, ``LSTMBlockFusedCell``) and the
``tf.compat.v1.nn.rnn_cell`` ``LSTMCell`` / ``BasicLSTMCell`` keep, per layer and direction, a ``kernel`` of
shape ``(H_in + H, 4*H)`` applied to the concatenation ``[x_t, h_{t-1}]`` and one ``bias`` ``(4*H,)``, with the
gate blocks in the order i, j, f, o (j is torch's g, the cell candidate), and add a constant ``forget_bias``
(default 1.0) to the forget gate inside the cell:

.. math::
    \begin{array}{ll}
        (z_i | z_j | z_f | z_o) = [x_t, h_{t-1}] K + b \\
        c_t = \sigma(z_f + \text{forget\_bias}) \odot c_{t-1} + \sigma(z_i) \odot \tanh(z_j) \\
        h_t = \sigma(z_o) \odot \tanh(c_t)
    \end{array}

So ``K = [W_ih, W_hh]^T`` with the gate blocks reordered, and ``b = b_ih + b_hh`` reordered, with
``forget_bias`` taken out of its f block: converting folds ``forget_bias`` into ``nn.LSTM``'s f bias (from
TensorFlow) or out of it (to TensorFlow), so the same ``forget_bias`` must be given to the cell that uses the
weights. Both the bias sum and the ``± forget_bias`` round once per element (see :func:`to_tensorflow`).
``BlockLSTMV2`` (Keras's fused path) orders the gates i, f, c, o with no forget_bias: that is the Keras
layout (:mod:`lstm_replica.interop.keras`), not this one.

Not converted, because ``nn.LSTM`` has no equivalent: peepholes (``use_peephole``, ``w_*_diag`` / ``wci``,
``wcf``, ``wco``), ``cell_clip`` (BlockLSTM clips c to ±3 unless given ``cell_clip <= 0``), and ``LSTMCell``'s
``num_proj`` projection (``proj_size`` is refused). A multi-layer (``MultiRNNCell``) or bidirectional
(``bidirectional_dynamic_rnn``) model is one cell per layer and direction, listed here in ``nn.LSTM``'s order.
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
    reorder_gates,
    split_bias,
    state_dict,
)

TF_ORDER = "igfo"  # TensorFlow's i, j, f, o in torch's letters
FORGET_BIAS = 1.0  # the default of BlockLSTM, LSTMBlockCell, LSTMCell and BasicLSTMCell


def to_tensorflow(
    lstm: nn.Module | Mapping[str, Tensor], *, forget_bias: float = FORGET_BIAS
) -> list[dict[str, Tensor]]:
    """``nn.LSTM`` / ``lstm_replica.LSTM`` (or its state_dict) as TensorFlow cells, in ``nn.LSTM``'s order.

    One dict per layer and direction (layer 0 forward, layer 0 reverse, layer 1 forward, ...):
    ``{"kernel": (H_in + H, 4H), "bias": (4H,)}``, gates i, j, f, o. The f block of the bias is
    ``b_ih + b_hh - forget_bias``, so that a cell run with ``forget_bias`` computes ``nn.LSTM``'s gate; each of the
    two operations rounds once (``forget_bias=0.0`` leaves only the sum). Without biases (``bias=False``) the
    TensorFlow bias is zeros, less ``forget_bias`` in the f block. The kernel is a reordered, transposed copy
    (bitwise). Raises ValueError for a projection (``proj_size > 0``).
    """
    weights = read_lstm(lstm, "the TensorFlow fused LSTM")
    cells = []
    for cell in weights.cells:
        stacked = torch.cat([cell.weight_ih, cell.weight_hh], dim=1)  # (4H, H_in + H)
        kernel = reorder_gates(stacked, TORCH_ORDER, TF_ORDER).t()  # (H_in + H, 4H)
        bias = folded_bias(cell)
        if bias is None:
            bias = cell.weight_ih.new_zeros(cell.weight_ih.shape[0])  # (4H,)
        bias = reorder_gates(bias, TORCH_ORDER, TF_ORDER)  # (4H,), a copy
        hidden = cell.weight_hh.shape[1]
        bias[2 * hidden : 3 * hidden] -= forget_bias  # the f block, third in i, j, f, o
        cells.append({"kernel": copied(kernel), "bias": bias})
    return cells


def from_tensorflow(
    cells: Sequence[Mapping[str, object]], *, bidirectional: bool = False, forget_bias: float = FORGET_BIAS
) -> dict[str, Tensor]:
    """TensorFlow cells (``{"kernel", "bias"}`` each, in ``nn.LSTM``'s order) as ``nn.LSTM``'s state_dict.

    ``forget_bias`` is the one the TensorFlow cell added (1.0 unless it was built with another): it is added to
    the f block of the bias (rounding once per element). The whole bias goes into ``bias_ih`` and zeros into
    ``bias_hh``. Any other tensor in a cell (peepholes, a projection) is refused with ValueError: ``nn.LSTM``
    cannot compute it. Build the module with :func:`lstm_replica.interop.config_from_state_dict`.
    """
    converted = []
    for index, tensors in enumerate(cells):
        if set(tensors) != {"kernel", "bias"}:
            msg = f"Expected exactly kernel and bias in TensorFlow cell {index} (no peepholes), got {sorted(tensors)}"
            raise ValueError(msg)
        kernel = as_tensor(tensors["kernel"], f"cell {index} kernel")  # (H_in + H, 4H)
        bias = as_tensor(tensors["bias"], f"cell {index} bias")  # (4H,)
        hidden = bias.shape[0] // 4
        if kernel.dim() != 2 or kernel.shape[1] != 4 * hidden or kernel.shape[0] <= hidden:
            msg = f"Expected cell {index} kernel of shape (H_in + {hidden}, {4 * hidden}), got {tuple(kernel.shape)}"
            raise ValueError(msg)
        stacked = reorder_gates(kernel.t(), TF_ORDER, TORCH_ORDER)  # (4H, H_in + H)
        inputs = kernel.shape[0] - hidden
        bias = reorder_gates(bias, TF_ORDER, TORCH_ORDER)  # (4H,), a copy
        bias[hidden : 2 * hidden] += forget_bias  # the f block, second in i, f, g, o
        weight_ih, weight_hh = stacked.split([inputs, hidden], dim=1)  # (4H, H_in), (4H, H)
        converted.append(CellWeights(weight_ih, weight_hh, *split_bias(bias)))
    return state_dict(cells_from(converted, bidirectional, "TensorFlow"))
