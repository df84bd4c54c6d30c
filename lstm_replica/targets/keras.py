r"""Keras 3's own ``keras.layers.LSTM``, run on Keras's torch backend and called the way ``nn.LSTM`` is called.

:class:`KerasLSTM` is what ``lstm-replica check keras:LSTM`` certifies: it builds one Keras ``LSTM`` per layer
(``Bidirectional(LSTM)`` for two directions) and computes with Keras's code, not ours. What it adds is only
``nn.LSTM``'s calling convention:

- input ``(L, N, H_in)`` (``(N, L, H_in)`` with ``batch_first``, ``(L, H_in)`` unbatched) is handed to Keras batch
  first, ``(N, L, H_in)``, and the output ``(N, L, D * H)`` comes back in the caller's layout;
- ``hx = (h_0, c_0)``, each ``(D * num_layers, N, H)``, becomes each Keras layer's ``initial_state``
  (``[h, c]``, forward then backward), and the Keras layers' final states are stacked back into ``(h_n, c_n)``;
- a ``PackedSequence`` becomes the padded batch and a Keras mask (``True`` on the first ``length`` steps of each
  sequence): Keras carries the state across masked steps, so the final state is the one at each sequence's last
  step, and the backward direction of right-padded input starts at the last real step, as ``nn.LSTM``'s does.

Each layer and direction's Keras variables are registered as this module's parameters, ``l{k}.kernel``
``(H_in, 4H)``, ``l{k}.recurrent_kernel`` ``(H, 4H)`` and ``l{k}.bias`` ``(4H,)`` (``l{k}_reverse.*`` for the
backward direction): the ``keras`` layout of ``--weights``. They are the very tensors the Keras variables hold, so an
optimiser step trains Keras's layer, and the forward passes them to ``Layer.stateless_call``, so
``torch.func.functional_call`` reaches Keras too.

What Keras's LSTM has not is refused with NotImplementedError, which the harness reads as an unsupported feature:
a projection (``proj_size``) and ``nn.LSTM``'s dropout between layers (Keras's ``dropout=`` masks every layer's
input, a different function). Keras needs ``KERAS_BACKEND=torch``, set here before Keras is imported; a Keras
already imported on another backend is refused with RuntimeError.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from lstm_replica.cell import Hidden
from lstm_replica.checks import finish_call, prepare_call

_DTYPES = {torch.float64: "float64", torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16"}


def import_keras() -> Any:
    """Keras 3 on its torch backend (``KERAS_BACKEND=torch`` set first); RuntimeError if it runs on another."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras  # an optional dependency (the interop extra): imported when a model is built

    if keras.backend.backend() != "torch":
        msg = f"Expected Keras on its torch backend (KERAS_BACKEND=torch), got the {keras.backend.backend()} backend"
        raise RuntimeError(msg)
    return keras


class KerasWeights(nn.Module):
    """One layer and direction's Keras variables, as parameters: ``kernel``, ``recurrent_kernel`` and ``bias``."""

    def __init__(self, cell: Any) -> None:
        super().__init__()
        self.kernel = cell.kernel.value  # (H_in, 4H): the torch Parameter the Keras variable holds
        self.recurrent_kernel = cell.recurrent_kernel.value  # (H, 4H)
        self.bias = cell.bias.value if cell.use_bias else None  # (4H,)


class KerasLSTM(nn.Module):
    """``keras.layers.LSTM`` stacked ``num_layers`` deep, with ``nn.LSTM``'s constructor and call (see the module).

    ``keras_options``: further keyword arguments of every ``keras.layers.LSTM`` (``recurrent_activation``,
    ``unroll``, ...), to certify a Keras layer configured as a model has it.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        keras_options: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if proj_size:
            msg = f"Expected proj_size 0 (Keras's LSTM has no projection), got {proj_size}"
            raise NotImplementedError(msg)
        if dropout:
            msg = (
                f"Expected dropout 0 (Keras's LSTM has no dropout between layers; its dropout= masks each layer's "
                f"input), got {dropout}"
            )
            raise NotImplementedError(msg)
        keras = import_keras()
        dtype = dtype or torch.get_default_dtype()
        name = _DTYPES.get(dtype)
        if name is None:
            msg = f"Expected a floating dtype from {', '.join(_DTYPES.values())}, got {dtype}"
            raise ValueError(msg)
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.bidirectional = bias, batch_first, bidirectional
        directions = 2 if bidirectional else 1
        layers = []
        self._cells: list[KerasWeights] = []  # registered below, one per layer and direction, as l{k}[_reverse]
        self._order: list[list[tuple[str, str]]] = []  # per Keras layer: its trainable variables as (submodule, attr)
        with keras.device(str(torch.device(device or "cpu"))):
            for layer in range(num_layers):
                lstm = keras.layers.LSTM(
                    hidden_size,
                    return_sequences=True,
                    return_state=True,
                    use_bias=bias,
                    dtype=name,
                    **dict(keras_options or {}),
                )
                keras_layer = keras.layers.Bidirectional(lstm, dtype=name) if bidirectional else lstm
                keras_layer.build((None, None, input_size if layer == 0 else directions * hidden_size))
                cells = (
                    [keras_layer.forward_layer.cell, keras_layer.backward_layer.cell] if bidirectional else [lstm.cell]
                )
                where = {}
                for cell, suffix in zip(cells, ("", "_reverse")[:directions], strict=True):
                    owner = f"l{layer}{suffix}"
                    self._cells.append(KerasWeights(cell))
                    self.add_module(owner, self._cells[-1])
                    for attr in ("kernel", "recurrent_kernel", "bias"):
                        variable = getattr(cell, attr, None)
                        if variable is not None:
                            where[id(variable)] = (owner, attr)
                self._order.append([where[id(variable)] for variable in keras_layer.trainable_variables])
                layers.append(keras_layer)
        self._keras = tuple(layers)  # a tuple: not registered as submodules (their parameters are ours, above)
        self._keras_device = keras.device

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def output_size(self) -> int:
        return self.hidden_size

    def forward(
        self, input: Tensor | PackedSequence, hx: Hidden | None = None
    ) -> tuple[Tensor | PackedSequence, Hidden]:
        """``(output, (h_n, c_n))`` as ``nn.LSTM`` returns them, computed by the Keras layers.

        The call is checked and normalised by :func:`lstm_replica.checks.prepare_call`, the replica's own checks
        of ``nn.LSTM``'s call (so bad input raises what ``nn.LSTM`` raises); the layers are Keras's.
        """
        call = prepare_call(self, input, hx, self._cells[0].kernel.dtype)
        mask = None
        if call.batch_sizes is not None:  # packed: the sequences longest first, as call.hidden is ordered
            sizes = torch.tensor(call.batch_sizes)
            x, lengths = pad_packed_sequence(PackedSequence(call.x, sizes), batch_first=True)  # (N, L, H_in)
            mask = (torch.arange(x.shape[1]).unsqueeze(0) < lengths.unsqueeze(1)).to(x.device)  # (N, L): real steps
        else:
            x = call.x.transpose(0, 1)  # (N, L, H_in)
        h_0, c_0 = call.hidden  # (D * num_layers, N, H)
        finals: list[tuple[Tensor, Tensor]] = []
        with self._keras_device(str(x.device)):
            for index, layer in enumerate(self._keras):
                rows = range(index * self.num_directions, (index + 1) * self.num_directions)
                initial = [state[row] for row in rows for state in (h_0, c_0)]  # [h, c] forward, then backward
                weights = [getattr(getattr(self, owner), attr) for owner, attr in self._order[index]]
                rest = [variable.value for variable in layer.non_trainable_variables]  # its dropout seed: unused
                result, _ = layer.stateless_call(weights, rest, x, initial_state=initial, mask=mask)
                x, states = result[0], result[1:]  # (N, L, D * H); [h, c] per direction
                finals += [(states[2 * d], states[2 * d + 1]) for d in range(self.num_directions)]
        hidden = torch.stack([h for h, _ in finals]), torch.stack([c for _, c in finals])  # (D * num_layers, N, H)
        if call.batch_sizes is not None:
            output = pack_padded_sequence(x, lengths, batch_first=True).data  # (T, D * H)
        else:
            output = x.transpose(0, 1)  # (L, N, D * H)
        return finish_call(call, output, hidden)

    def extra_repr(self) -> str:
        parts = [f"{self.input_size}, {self.hidden_size}", f"num_layers={self.num_layers}"]
        parts += [f"{name}={getattr(self, name)}" for name in ("bias", "batch_first", "bidirectional")]
        return ", ".join(parts)
