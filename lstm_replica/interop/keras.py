r"""Keras ``LSTM`` weights to and from ``nn.LSTM``: transposed kernels, the gates in torch's order, one bias.

A Keras ``LSTM`` layer (Keras 3, and ``tf.keras`` / Keras 2 too: the stored layout has not changed) holds, in the
order of ``layer.get_weights()`` / ``layer.set_weights()``:

====================== ================= =================================
weight                 shape             nn.LSTM
====================== ================= =================================
``kernel``             ``(H_in, 4*H)``   ``weight_ih_l{k}.T``
``recurrent_kernel``   ``(H, 4*H)``      ``weight_hh_l{k}.T``
``bias``               ``(4*H,)``        ``bias_ih_l{k} + bias_hh_l{k}``
====================== ================= =================================

with the gate blocks in the order i, f, c, o (Keras's c is torch's g), and computes per step

.. math::
    \begin{array}{ll}
        (z_i | z_f | z_c | z_o) = x_t K + h_{t-1} U + b \\
        i_t = \rho(z_i), \quad f_t = \rho(z_f), \quad o_t = \rho(z_o) \\
        c_t = f_t \odot c_{t-1} + i_t \odot \tanh(z_c), \quad h_t = o_t \odot \tanh(c_t)
    \end{array}

``ρ`` is ``recurrent_activation``: the logistic sigmoid by default since Keras 2.3.0 and TensorFlow 2.0, but
``hard_sigmoid`` in Keras before 2.3.0 and ``tf.keras`` in TensorFlow 1.x. A model trained with ``hard_sigmoid``
(or any activation other than sigmoid / tanh) is *not* an ``nn.LSTM``, whatever its weights: check the layer's
``get_config()`` before porting. ``unit_forget_bias=True`` (the default) only initialises the f block of the bias
to 1; it is part of the stored bias, so nothing is added on conversion.

A ``Bidirectional(LSTM)`` layer's weights are the forward layer's three, then the backward layer's three (merge
mode ``"concat"``, forward first, is ``nn.LSTM``'s output layout); a stack of ``num_layers`` is that many Keras
layers, each with ``return_sequences=True`` below the top. With ``use_bias=False`` each direction has two arrays.
Keras has no projection (``proj_size``) and one bias: see :func:`to_keras` for the rounding that folding costs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from torch import Tensor, nn

from lstm_replica.cell import CellWeights
from lstm_replica.interop.gates import as_tensor, cells_from, copied, folded_bias, read_lstm, split_bias, state_dict

# arrays per direction -> (bias, directions): 2 and 3 for one direction, 4 and 6 for Bidirectional
_COUNTS = {2: (False, 1), 3: (True, 1), 4: (False, 2), 6: (True, 2)}


def to_keras(lstm: nn.Module | Mapping[str, Tensor]) -> list[list[Tensor]]:
    """``nn.LSTM`` / ``lstm_replica.LSTM`` (or its state_dict) as Keras weights: one list per layer.

    Each list is what ``keras.layers.LSTM(H).set_weights`` takes (``Bidirectional(LSTM(H)).set_weights`` for a
    bidirectional layer): ``[kernel (H_in, 4H), recurrent_kernel (H, 4H), bias (4H,)]`` per direction, forward
    first; without biases, two arrays per direction (``use_bias=False``). Call ``.numpy()`` on each for Keras.

    The kernels are transposed copies (bitwise). The bias is ``b_ih + b_hh`` rounded once to the dtype: the
    Keras layer agrees with ``nn.LSTM`` within rounding, not bitwise (``parity_tests/test_interop_keras.py``
    measures it). Raises ValueError for a projection (``proj_size > 0``): Keras has none.
    """
    weights = read_lstm(lstm, "Keras LSTM")
    directions = 2 if weights.bidirectional else 1
    layers: list[list[Tensor]] = []
    for index, cell in enumerate(weights.cells):
        if index % directions == 0:
            layers.append([])
        layers[-1] += [copied(cell.weight_ih.t()), copied(cell.weight_hh.t())]  # (H_in, 4H), (H, 4H)
        bias = folded_bias(cell)
        if bias is not None:
            layers[-1].append(bias)
    return layers


def from_keras(layers: Sequence[Sequence[object]]) -> dict[str, Tensor]:
    """Keras weights (one ``layer.get_weights()`` list per layer) as ``nn.LSTM``'s state_dict.

    Each list holds ``kernel, recurrent_kernel[, bias]`` for an ``LSTM``, twice (forward, backward) for a
    ``Bidirectional(LSTM)``; numpy, torch or any array ``torch.as_tensor`` reads. Bidirectionality and biases are
    read from the count (2 or 3 arrays: one direction; 4 or 6: two). The Keras bias goes into ``bias_ih`` and
    zeros into ``bias_hh`` (exact: the sum ``nn.LSTM`` forms is the Keras bias). Build the module with
    :func:`lstm_replica.interop.config_from_state_dict`.
    """
    counts = sorted({len(arrays) for arrays in layers})
    if len(counts) != 1 or counts[0] not in _COUNTS:
        msg = f"Expected 2, 3, 4 or 6 arrays in every layer's weights (the same count in each), got counts {counts}"
        raise ValueError(msg)
    count = counts[0]
    bias, directions = _COUNTS[count]
    cells = []
    per_direction = count // directions
    for number, arrays in enumerate(layers):
        for direction in range(directions):
            names = ("kernel", "recurrent_kernel", "bias")[:per_direction]
            start = direction * per_direction
            kernel, recurrent, *rest = (
                as_tensor(array, f"layer {number} {name}")
                for name, array in zip(names, arrays[start : start + per_direction], strict=True)
            )
            biases = split_bias(rest[0]) if bias else (None, None)
            cells.append(CellWeights(copied(kernel.t()), copied(recurrent.t()), *biases))  # (4H, H_in), (4H, H)
    return state_dict(cells_from(cells, directions == 2, "Keras"))
