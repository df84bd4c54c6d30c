"""The time loops: one layer over a padded or packed sequence, in either direction.

Mirrors ``FullLayer``, ``FullBidirectionalLayer``, ``PackedLayer``,
``ReversedPackedLayer``, ``PackedBidirectionalLayer`` and ``apply_layer_stack``
of aten/src/ATen/native/RNN.cpp on the CPU: the input projection of a whole
sequence (or of the whole packed data) is computed once before the loop, the
steps are walked with ``unbind`` / ``narrow`` (indexing with ``x[t]`` would
make the backward quadratic in the sequence length), and the outputs are
joined with ``stack`` / ``cat`` in ATen's order.

A layer is driven by a :class:`Recurrence`: ``project`` maps the whole input
sequence once, ``step`` advances one time step. The replica's recurrence is
:class:`NativeRecurrence`; the parity harness plugs a researcher's cell in here.
A recurrence that can run a whole padded layer at once (:class:`LayerRunner`,
``FastLSTM``'s fused loop) is handed the layer instead of being stepped.

Shapes are named as in the glossary of :mod:`lstm_replica.lstm`; T is the
number of packed rows (the sum of the sequence lengths).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor

from lstm_replica.cell import CellWeights, Hidden, input_projection, lstm_step


class Recurrence(Protocol):
    """What a layer loop needs from one direction of one layer."""

    def project(self, x: Tensor) -> Tensor:
        """Map a whole sequence ``(L, N, H_in)`` or packed data ``(T, H_in)`` once."""
        ...

    def step(self, x_t: Tensor, hidden: Hidden) -> Hidden:
        """One step from a slice of ``project``'s result: ``(N, *) -> (h_t, c_t)``."""
        ...


@runtime_checkable
class LayerRunner(Protocol):
    """A recurrence that runs a whole padded layer itself (the packed loops still step it)."""

    def run_layer(self, x: Tensor, hidden: Hidden, reverse: bool) -> tuple[Tensor, Hidden]:
        """``(L, N, H_in) -> (L, N, H_out)`` in time order, and ``(h_n, c_n)``; ``reverse`` walks from the end."""
        ...


@dataclass(frozen=True)
class NativeRecurrence:
    """The replica's recurrence: input projection hoisted out of the loop, as ATen does."""

    weights: CellWeights

    def project(self, x: Tensor) -> Tensor:
        return input_projection(x, self.weights)

    def step(self, x_t: Tensor, hidden: Hidden) -> Hidden:
        return lstm_step(x_t, hidden, self.weights)


@dataclass(frozen=True)
class CellRecurrence:
    """A step-at-a-time cell (``nn.LSTMCell``'s call signature) driven by the layer loops.

    Nothing is hoisted: each step hands the raw ``x_t`` of shape ``(N, H_in)``
    to ``cell(x_t, (h, c))``, which returns ``(h_t, c_t)``.
    """

    cell: Callable[[Tensor, Hidden], Hidden]

    def project(self, x: Tensor) -> Tensor:
        return x

    def step(self, x_t: Tensor, hidden: Hidden) -> Hidden:
        return self.cell(x_t, hidden)


def _scan(steps: Sequence[Tensor], hidden: Hidden, rec: Recurrence) -> tuple[list[Tensor], Hidden]:
    outputs = []
    for x_t in steps:
        hidden = rec.step(x_t, hidden)
        outputs.append(hidden[0])
    return outputs, hidden


def _require_steps(outputs: list[Tensor]) -> None:
    if not outputs:
        msg = "Expected sequence length to be larger than 0 in RNN"
        raise RuntimeError(msg)


def full_layer(x: Tensor, hidden: Hidden, rec: Recurrence) -> tuple[Tensor, Hidden]:
    """One direction over a padded sequence: ``(L, N, H_in) -> (L, N, H_out)``."""
    if isinstance(rec, LayerRunner):
        return rec.run_layer(x, hidden, reverse=False)
    outputs, hidden = _scan(rec.project(x).unbind(0), hidden, rec)
    _require_steps(outputs)
    return torch.stack(outputs, 0), hidden


def reversed_full_layer(x: Tensor, hidden: Hidden, rec: Recurrence) -> tuple[Tensor, Hidden]:
    """The reverse direction over a padded sequence: ``(L, N, H_in) -> (L, N, H_out)``.

    Walks the projected steps from last to first; the outputs are put back in
    time order before stacking.
    """
    if isinstance(rec, LayerRunner):
        return rec.run_layer(x, hidden, reverse=True)
    outputs, hidden = _scan(rec.project(x).unbind(0)[::-1], hidden, rec)
    _require_steps(outputs)
    outputs.reverse()
    return torch.stack(outputs, 0), hidden


def full_bidirectional_layer(
    x: Tensor, hidden: tuple[Hidden, Hidden], rec: tuple[Recurrence, Recurrence]
) -> tuple[Tensor, tuple[Hidden, Hidden]]:
    """Both directions: ``(L, N, H_in) -> (L, N, 2*H_out)``, forward features first."""
    fw_output, fw_hidden = full_layer(x, hidden[0], rec[0])
    rev_output, rev_hidden = reversed_full_layer(x, hidden[1], rec[1])
    return torch.cat([fw_output, rev_output], fw_output.dim() - 1), (fw_hidden, rev_hidden)


def _hidden_slice(hidden: Hidden, start: int, end: int) -> Hidden:
    return hidden[0].narrow(0, start, end - start), hidden[1].narrow(0, start, end - start)


def _hidden_concat(hiddens: Sequence[Hidden]) -> Hidden:
    return torch.cat([h for h, _ in hiddens], 0), torch.cat([c for _, c in hiddens], 0)


def packed_layer(data: Tensor, batch_sizes: Sequence[int], hidden: Hidden, rec: Recurrence) -> tuple[Tensor, Hidden]:
    """Forward direction over packed data ``(T, H_in) -> (T, H_out)``.

    ``batch_sizes`` is non-increasing; when it shrinks, the rows of the
    sequences that just ended are set aside as their final state and the
    running state is narrowed to the sequences still going.
    """
    data_proj = rec.project(data)  # (T, 4*H_cell) for the native recurrence
    outputs: list[Tensor] = []
    finished: list[Hidden] = []
    offset = 0
    last_batch_size = batch_sizes[0]
    for batch_size in batch_sizes:
        x_t = data_proj.narrow(0, offset, batch_size)  # (batch_size, *)
        offset += batch_size
        dec = last_batch_size - batch_size
        if dec > 0:
            finished.append(_hidden_slice(hidden, last_batch_size - dec, last_batch_size))
            hidden = _hidden_slice(hidden, 0, last_batch_size - dec)
        last_batch_size = batch_size
        hidden = rec.step(x_t, hidden)
        outputs.append(hidden[0])
    finished.append(hidden)
    finished.reverse()
    return torch.cat(outputs, 0), _hidden_concat(finished)


def reversed_packed_layer(
    data: Tensor, batch_sizes: Sequence[int], hidden: Hidden, rec: Recurrence
) -> tuple[Tensor, Hidden]:
    """Reverse direction over packed data ``(T, H_in) -> (T, H_out)``.

    Starts from the last time step with only the longest sequences' initial
    state, and widens the state with the next sequences' initial rows as the
    batch grows walking backwards.
    """
    data_proj = rec.project(data)
    outputs: list[Tensor] = []
    offset = data.size(0)
    last_batch_size = batch_sizes[-1]
    initial = hidden
    hidden = _hidden_slice(initial, 0, last_batch_size)
    for batch_size in reversed(batch_sizes):
        inc = batch_size - last_batch_size
        if inc > 0:
            hidden = _hidden_concat([hidden, _hidden_slice(initial, last_batch_size, batch_size)])
        x_t = data_proj.narrow(0, offset - batch_size, batch_size)  # (batch_size, *)
        offset -= batch_size
        last_batch_size = batch_size
        hidden = rec.step(x_t, hidden)
        outputs.append(hidden[0])
    outputs.reverse()
    return torch.cat(outputs, 0), hidden


def packed_bidirectional_layer(
    data: Tensor,
    batch_sizes: Sequence[int],
    hidden: tuple[Hidden, Hidden],
    rec: tuple[Recurrence, Recurrence],
) -> tuple[Tensor, tuple[Hidden, Hidden]]:
    """Both directions over packed data: ``(T, H_in) -> (T, 2*H_out)``."""
    fw_data, fw_hidden = packed_layer(data, batch_sizes, hidden[0], rec[0])
    rev_data, rev_hidden = reversed_packed_layer(data, batch_sizes, hidden[1], rec[1])
    return torch.cat([fw_data, rev_data], -1), (fw_hidden, rev_hidden)


def layer_stack(
    x: Tensor,
    hidden: Hidden,
    recurrences: Sequence[Recurrence],
    *,
    bidirectional: bool,
    batch_sizes: Sequence[int] | None = None,
    dropout: float = 0.0,
    training: bool = False,
) -> tuple[Tensor, Hidden]:
    """Run every layer, as ATen's ``_lstm_impl`` + ``apply_layer_stack``.

    Args:
        x: ``(L, N, H_in)`` (time-major), or packed data ``(T, H_in)`` when
            ``batch_sizes`` is given.
        hidden: ``(h_0, c_0)``, ``(D*num_layers, N, H_out)`` and ``(D*num_layers, N, H_cell)``.
        recurrences: one per layer and direction, in ``nn.LSTM``'s order
            (layer 0 forward, layer 0 reverse, layer 1 forward, ...).
        bidirectional: whether the recurrences come in (forward, reverse) pairs.
        batch_sizes: the packed sequence's batch size per time step, or None for padded input.
        dropout: applied to every layer's output but the last's when ``training``.

    Returns:
        ``(output, (h_n, c_n))``: output ``(L, N, D*H_out)`` or ``(T, D*H_out)``,
        h_n ``(D*num_layers, N, H_out)``, c_n ``(D*num_layers, N, H_cell)``.
    """
    directions = 2 if bidirectional else 1
    h0, c0 = hidden
    if len(recurrences) != h0.size(0) or len(recurrences) % directions:
        msg = (
            f"Expected one recurrence per layer and direction ({h0.size(0)} states, "
            f"{directions} per layer), got {len(recurrences)}"
        )
        raise ValueError(msg)
    num_layers = len(recurrences) // directions
    hiddens = list(zip(h0.unbind(0), c0.unbind(0), strict=True))
    final: list[Hidden] = []
    layer_input = x
    for layer in range(num_layers):
        if bidirectional:
            pair = (hiddens[2 * layer], hiddens[2 * layer + 1])
            recs = (recurrences[2 * layer], recurrences[2 * layer + 1])
            if batch_sizes is None:
                layer_input, (fw, rev) = full_bidirectional_layer(layer_input, pair, recs)
            else:
                layer_input, (fw, rev) = packed_bidirectional_layer(layer_input, batch_sizes, pair, recs)
            final += [fw, rev]
        else:
            if batch_sizes is None:
                layer_input, last = full_layer(layer_input, hiddens[layer], recurrences[layer])
            else:
                layer_input, last = packed_layer(layer_input, batch_sizes, hiddens[layer], recurrences[layer])
            final.append(last)
        if dropout != 0 and training and layer < num_layers - 1:
            layer_input = F.dropout(layer_input, dropout, training=True)
    h_n = torch.stack([h for h, _ in final], 0)  # (D*num_layers, N, H_out)
    c_n = torch.stack([c for _, c in final], 0)  # (D*num_layers, N, H_cell)
    return layer_input, (h_n, c_n)
