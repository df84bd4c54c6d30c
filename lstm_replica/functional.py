r"""The replica's functions and loop machinery, as ``torch.nn.functional`` is to ``torch.nn``.

:mod:`lstm_replica` exports the modules (``LSTM``, ``LSTMCell``, ``LSTMClassifier``, ``FastLSTM``); here is what
they are built from, to compute with directly or to replace a piece of (defined in :mod:`lstm_replica.cell`,
:mod:`lstm_replica.layers` and :mod:`lstm_replica.classifier`; re-exported here). Shapes as in the glossary of
:mod:`lstm_replica.lstm`: L steps, N batch, H_in input features, H_cell the width of c_t and of every gate,
H_out the width of h_t, D directions, T packed rows.

One step (:mod:`lstm_replica.cell`), bitwise ATen's native CPU ``LSTMCell``:

- :class:`CellWeights`: one direction of one layer's parameters in ``nn.LSTM``'s packing, gates stacked i, f, g, o:
  ``weight_ih (4*H_cell, H_in)``, ``weight_hh (4*H_cell, H_out)``, ``bias_ih`` / ``bias_hh (4*H_cell,)`` or None,
  ``weight_hr (H_out, H_cell)`` or None.
- :func:`input_projection`: ``W_ih x + b_ih`` for a whole sequence at once, ``(..., H_in) -> (..., 4*H_cell)``.
- :func:`lstm_step`: one step from a projected input ``(N, 4*H_cell)`` and ``(h_{t-1}, c_{t-1})``
  ``(N, H_out)``, ``(N, H_cell)`` to ``(h_t, c_t)``:

  .. math::
      \begin{array}{ll}
          (a_i | a_f | a_g | a_o) = (W_{hh} h_{t-1} + b_{hh}) + (W_{ih} x_t + b_{ih}) \\
          i_t = \sigma(a_i), \quad f_t = \sigma(a_f), \quad g_t = \tanh(a_g), \quad o_t = \sigma(a_o) \\
          c_t = f_t \odot c_{t-1} + i_t \odot g_t, \quad h_t = o_t \odot \tanh(c_t) \quad (h_t = W_{hr} h_t
          \text{ with proj\_size > 0})
      \end{array}

- :func:`lstm_cell_step`: the same step from a raw input ``x (N, H_in)``, as ``at::lstm_cell`` (what
  ``LSTMCell`` runs).

The time loops (:mod:`lstm_replica.layers`), ATen's ``FullLayer`` / ``PackedLayer`` / ``apply_layer_stack``:

- :class:`Recurrence`: the protocol a loop drives, per layer and direction: ``project(x)`` maps the whole
  sequence ``(L, N, H_in)`` (or packed data ``(T, H_in)``) once, ``step(x_t, (h, c))`` advances one step.
- :class:`NativeRecurrence`: the replica's, ``NativeRecurrence(CellWeights(...))``: :func:`input_projection`
  hoisted out of the loop, :func:`lstm_step` per step.
- :class:`CellRecurrence`: a step-at-a-time cell with ``nn.LSTMCell``'s call, ``cell(x_t, (h, c)) -> (h_t, c_t)``,
  nothing hoisted (how a researcher's cell is run as a whole LSTM).
- :func:`layer_stack`: every layer, one recurrence per layer and direction in ``nn.LSTM``'s order: ``x (L, N, H_in)``
  (or ``(T, H_in)`` with ``batch_sizes``), ``(h_0, c_0)`` ``(D*num_layers, N, H_out)``, ``(D*num_layers, N, H_cell)``
  to ``(output, (h_n, c_n))``, output ``(L, N, D*H_out)`` (or ``(T, D*H_out)``); dropout between layers.

The classifier's readout (:mod:`lstm_replica.classifier`):

- :func:`top_layer_state`: the top layer's final hidden state, directions concatenated forward first:
  ``h_n (D*num_layers, N, H_out) -> (N, D*H_out)``.

Checkpoint I/O (``save_checkpoint``, ``load_checkpoint``, ``load_state_dict_file``) is in
:mod:`lstm_replica.checkpoint`.
"""

from __future__ import annotations

from lstm_replica.cell import CellWeights, input_projection, lstm_cell_step, lstm_step
from lstm_replica.classifier import top_layer_state
from lstm_replica.layers import CellRecurrence, NativeRecurrence, Recurrence, layer_stack

__all__ = [
    "CellRecurrence",
    "CellWeights",
    "NativeRecurrence",
    "Recurrence",
    "input_projection",
    "layer_stack",
    "lstm_cell_step",
    "lstm_step",
    "top_layer_state",
]
