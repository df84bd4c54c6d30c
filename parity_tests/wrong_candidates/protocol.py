"""Wrong candidates exact on fresh inputs in eval mode, wrong for what a training script also does to a module.

One per class of the protocol probes (``lstm_replica/parity/probes/protocol.py``): autocast, partial freezing,
construction-time capture, evaluation-mode caches, old-style autograd Functions under ``torch.func``, train mode
without autograd, and inputs as users write them. Each is an ordinary bug; ``test_protocol_probes.py`` shows
each defect in plain use first, then that the certificate rejects it.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence

from lstm_replica import LSTM, LSTMCell
from lstm_replica.cell import Hidden
from lstm_replica.functional import CellWeights
from lstm_replica.layers import NativeRecurrence, Recurrence

from ._base import DtypeAtConstruction, StepLSTM

Result = tuple[Tensor | PackedSequence, Hidden]


def _device_type(input: Tensor | PackedSequence) -> str:
    return (input.data if isinstance(input, PackedSequence) else input).device.type


# --- autocast --------------------------------------------------------------------------------------------


class AutocastHalfState(LSTM):
    """Under autocast, casts the input and state to the autocast dtype and runs every op in it, as the fused
    kernels do (oneDNN, cuDNN), on the native path too: outputs and state in bfloat16 where nn.LSTM's stay float32."""

    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None) -> Result:
        device = _device_type(input)
        if not torch.is_autocast_enabled(device):
            return super().forward(input, hx)
        low = torch.get_autocast_dtype(device)
        if isinstance(input, PackedSequence):
            input = PackedSequence(input.data.to(low), input.batch_sizes, input.sorted_indices, input.unsorted_indices)
        else:
            input = input.to(low)
        hx = None if hx is None else (hx[0].to(low), hx[1].to(low))
        return self.forward_with([self.recurrence(w) for w in self.cell_weights()], input, hx)


class AutocastOffCell(LSTMCell):
    """Runs with autocast switched off "for stability": float32 products where nn.LSTMCell's are autocast."""

    def forward(self, input: Tensor, hx: Hidden | None = None) -> Hidden:
        with torch.autocast(input.device.type, enabled=False):
            return super().forward(input, hx)


# --- partial freezing ------------------------------------------------------------------------------------


class _NoGraph:
    """A layer run without building its graph: its output is a constant for the layers above."""

    def __init__(self, inner: Recurrence) -> None:
        self.inner = inner

    def project(self, x: Tensor) -> Tensor:
        with torch.no_grad():
            return self.inner.project(x)

    def step(self, x_t: Tensor, hidden: Hidden) -> Hidden:
        with torch.no_grad():
            return self.inner.step(x_t, hidden)


class FrozenLayersWithoutGraph(LSTM):
    """Layers below the first trainable one are run under no_grad, as frozen feature extractors are: nothing
    below needs a gradient, it reasons, forgetting the input's and the initial state's. With every parameter
    frozen (inference) it runs as usual."""

    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None) -> Result:
        weights = self.cell_weights()
        trainable = [any(t is not None and t.requires_grad for t in w) for w in weights]
        if all(trainable) or not any(trainable):
            return super().forward(input, hx)
        first = trainable.index(True) // self.num_directions  # the first layer that trains
        recurrences: list[Recurrence] = [
            _NoGraph(NativeRecurrence(w)) if k // self.num_directions < first else NativeRecurrence(w)
            for k, w in enumerate(weights)
        ]
        return self.forward_with(recurrences, input, hx)


# --- construction-time capture ---------------------------------------------------------------------------


class ConstructionDtypeResults(DtypeAtConstruction):
    """Casts its results to the dtype it was built with (kept in ``__init__`` for mixed-precision callers):
    after ``.double()`` its outputs are still float32."""

    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None) -> Result:
        output, (h_n, c_n) = super().forward(input, hx)
        if isinstance(output, PackedSequence):
            data = output.data.to(self.built_dtype)
            output = PackedSequence(data, output.batch_sizes, output.sorted_indices, output.unsorted_indices)
        else:
            output = output.to(self.built_dtype)
        return output, (h_n.to(self.built_dtype), c_n.to(self.built_dtype))


class MemoisedWeights(LSTM):
    """Memoises its weight list (the Parameters themselves: in-place updates show), rebuilt when a parameter is
    replaced or moved (``functional_call``, ``.to()``): a parametrization registered after a call replaces no
    parameter (the original stays, under ``parametrizations``), so the raw weight is read on."""

    def cell_weights(self) -> list[CellWeights]:
        key = frozenset((id(p), p.dtype, p.device) for p in self.parameters())
        if getattr(self, "weights_key", None) != key:
            self.weights_cache, self.weights_key = super().cell_weights(), key
        return self.weights_cache


# --- evaluation-mode caches ------------------------------------------------------------------------------


class EvalWeightCache(LSTM):
    """In eval mode without autograd it runs on copies of its weights made once ("pre-packed for inference"),
    dropped by ``train()`` / ``eval()``: a weight changed in place (``p.add_`` under no_grad) is not seen."""

    def train(self, mode: bool = True) -> EvalWeightCache:
        self.packed = None
        return super().train(mode)

    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None) -> Result:
        if self.training or torch.is_grad_enabled():
            return super().forward(input, hx)
        if getattr(self, "packed", None) is None:
            self.packed = [
                CellWeights(*(None if t is None else t.detach().clone() for t in w)) for w in self.cell_weights()
            ]
        return self.forward_with([NativeRecurrence(w) for w in self.packed], input, hx)


# --- old-style autograd Functions ------------------------------------------------------------------------


class _Tanh(torch.autograd.Function):
    """tanh with ATen's backward, written old-style: ``forward(ctx, x)``, no ``setup_context``."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        y = x.tanh()
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (y,) = ctx.saved_tensors
        return torch.ops.aten.tanh_backward(grad, y)


class OldStyleFunction(StepLSTM):
    """tanh(c) through an old-style autograd.Function: exact under autograd, refused by torch.func.grad."""

    @staticmethod
    def step_fn(x_proj: Tensor, hidden: Hidden, w: CellWeights) -> Hidden:
        hx, cx = hidden
        gates = F.linear(hx, w.weight_hh, w.bias_hh).add_(x_proj)  # (N, 4*H_cell)
        ingate, forgetgate, cellgate, outgate = gates.unsafe_chunk(4, 1)
        ingate, forgetgate = ingate.sigmoid_(), forgetgate.sigmoid_()
        cellgate, outgate = cellgate.tanh_(), outgate.sigmoid_()
        cy = (forgetgate * cx).add_(ingate * cellgate)  # (N, H_cell)
        hy = outgate * _Tanh.apply(cy)
        if w.weight_hr is not None:
            hy = torch.matmul(hy, w.weight_hr.t())  # (N, H_out)
        return hy, cy


# --- modes -----------------------------------------------------------------------------------------------


class DropoutOnlyWithGrad(LSTM):
    """Inter-layer dropout only while autograd records (``self.training and torch.is_grad_enabled()``): in train
    mode under no_grad (Monte-Carlo dropout) it drops nothing."""

    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None) -> Result:
        training = self.training
        self.training = training and torch.is_grad_enabled()
        try:
            return super().forward(input, hx)
        finally:
            self.training = training


# --- inputs as users write them --------------------------------------------------------------------------


class NonLeafInputDetached(LSTM):
    """Stops the gradient at an input that is not a leaf, taking it for another module's output that trains on
    its own: an embedding looked up in front of it gets no gradient."""

    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None) -> Result:
        if isinstance(input, Tensor) and not input.is_leaf:
            input = input.detach()
        return super().forward(input, hx)
