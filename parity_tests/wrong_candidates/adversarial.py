"""Wrong candidates that a matrix of small sizes, default weights and one kind of call lets through.

One class of defect each (see the issue "a certificate that is hard to fool"): sizes, values, state across
calls, parameters, gradient paths, dtypes, feature combinations. Each is correct in the set-ups the old
harness exercised and wrong in ordinary use elsewhere; ``test_adversarial_catalogue.py`` shows each
defect in plain use first, then that the harness rejects it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable
from torch.nn.utils.rnn import PackedSequence

import lstm_replica.layers
from lstm_replica import LSTM, LSTMCell
from lstm_replica.cell import Hidden
from lstm_replica.functional import CellWeights, input_projection, lstm_step
from lstm_replica.names import parse_parameter_name

from ._base import CountingRecurrence, StepLSTM, StepRecurrence
from .modules import _FactoredTanh

# --- sizes -----------------------------------------------------------------------------------------------


class SimdTail(StepLSTM):
    """Past 16 hidden units, the units after the last full block of 16 miss the recurrent term (a SIMD tail bug)."""

    @staticmethod
    def step_fn(x_proj: Tensor, hidden: Hidden, w: CellWeights) -> Hidden:
        size = w.weight_hh.size(0) // 4
        tail = size % 16
        if size <= 16 or not tail:
            return lstm_step(x_proj, hidden, w)
        mask = torch.ones(size, dtype=x_proj.dtype, device=x_proj.device)
        mask[size - tail :] = 0
        masked = CellWeights(w.weight_ih, w.weight_hh * mask.repeat(4).unsqueeze(1), w.bias_ih, w.bias_hh, w.weight_hr)
        return lstm_step(x_proj, hidden, masked)


class BigBatchHalves(LSTM):
    """Batches over 4 sequences run in two halves whose final states come back in swapped order."""

    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None):
        if not isinstance(input, Tensor) or input.dim() != 3 or hx is not None:
            return super().forward(input, hx)
        dim = 0 if self.batch_first else 1
        if input.size(dim) <= 4:
            return super().forward(input, hx)
        first, second = input.chunk(2, dim)
        out_a, (h_a, c_a) = super().forward(first)
        out_b, (h_b, c_b) = super().forward(second)
        return torch.cat([out_a, out_b], dim), (torch.cat([h_b, h_a], 1), torch.cat([c_b, c_a], 1))


class DecodeFastPath(StepLSTM):
    """A one-step input (decoding) takes a fast path that forgets bias_hh."""

    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None):
        steps = input.size(1 if self.batch_first and input.dim() == 3 else 0) if isinstance(input, Tensor) else 0
        if steps != 1 or not self.bias:
            return super().forward(input, hx)
        recs = [StepRecurrence(CellWeights(w.weight_ih, w.weight_hh, w.bias_ih, torch.zeros_like(w.bias_hh),
                                           w.weight_hr), lstm_step) for w in self.cell_weights()]  # fmt: skip
        return self.forward_with(recs, input, hx)


class _Detaching(CountingRecurrence):
    """Detaches (h, c) every 256 steps: truncated backpropagation inside the model, forward exact."""

    def counted_step(self, x_t: Tensor, hidden: Hidden) -> Hidden:
        if self.count % 256 == 0:
            hidden = (hidden[0].detach(), hidden[1].detach())
        return lstm_step(x_t, hidden, self.weights)


class LongSequenceTruncation(LSTM):
    """Gradients stop every 256 steps: right on sequences of up to 256 steps, wrong on longer ones."""

    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None):
        return self.forward_with([_Detaching(w) for w in self.cell_weights()], input, hx)


class FourthLayerReuse(StepLSTM):
    """An indexing bug: layers past the third reuse the third layer's weights (wrong only with 4+ layers)."""

    def recurrences(self) -> list:
        recs = super().recurrences()
        directions = 2 if self.bidirectional else 1
        if self.num_layers < 4 or self.proj_size:
            return recs  # with a projection the shapes would not even fit: keep the defect to plain 4-layer stacks
        third = 2 * directions  # index of layer 2's forward direction
        return recs[: 3 * directions] + [recs[third + i % directions] for i in range(3 * directions, len(recs))]


# --- values ----------------------------------------------------------------------------------------------


class ClampedCell(StepLSTM):
    """Clamps the cell state to [-50, 50] "for stability": only matters once |c| is large."""

    @staticmethod
    def step_fn(x_proj: Tensor, hidden: Hidden, w: CellWeights) -> Hidden:
        hy, cy = lstm_step(x_proj, hidden, w)
        return hy, cy.clamp(-50, 50)


def _exp_tanh(x: Tensor) -> Tensor:
    e = torch.exp(2 * x)
    return (e - 1) / (e + 1)  # overflows to inf / inf = NaN past |x| ~ 44 (float32), ~ 355 (float64)


def _step_with_tanh(x_proj: Tensor, hidden: Hidden, w: CellWeights, tanh: Callable[[Tensor], Tensor]) -> Hidden:
    """The replica's step with ``tanh(c_t)`` (the one in h_t = o * tanh(c_t)) computed by ``tanh``."""
    gates = F.linear(hidden[0], w.weight_hh, w.bias_hh).add_(x_proj)  # (N, 4*H_cell)
    i, f, g, o = gates.unsafe_chunk(4, 1)  # 4 x (N, H_cell)
    cy = (f.sigmoid() * hidden[1]).add_(i.sigmoid() * g.tanh())
    hy = o.sigmoid() * tanh(cy)
    return (hy if w.weight_hr is None else torch.matmul(hy, w.weight_hr.t())), cy


class ExpTanh(StepLSTM):
    """tanh(c) written through exp: within a few ulps for moderate c, NaN once c is large."""

    @staticmethod
    def step_fn(x_proj: Tensor, hidden: Hidden, w: CellWeights) -> Hidden:
        return _step_with_tanh(x_proj, hidden, w, _exp_tanh)


class _ZeroSkipping:
    """Treats an all-zero input row as padding: that sequence keeps its state for the step."""

    def __init__(self, weights: CellWeights) -> None:
        self.weights, self.t, self.zero = weights, 0, None

    def project(self, x: Tensor) -> Tensor:
        self.zero = (x == 0).all(-1) if x.dim() == 3 else None  # (L, N): rows of the layer's input that are zero
        return input_projection(x, self.weights)

    def step(self, x_t: Tensor, hidden: Hidden) -> Hidden:
        new = lstm_step(x_t, hidden, self.weights)
        if self.zero is None or self.t >= self.zero.size(0) or x_t.size(0) != self.zero.size(1):
            return new
        skip = self.zero[self.t].unsqueeze(1)  # (N, 1)
        self.t += 1
        return torch.where(skip, hidden[0], new[0]), torch.where(skip, hidden[1], new[1])


class ZeroRowsAsPadding(LSTM):
    """Rows of exact zeros are taken for padding and skipped: never seen with N(0, 1) inputs."""

    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None):
        return self.forward_with([_ZeroSkipping(w) for w in self.cell_weights()], input, hx)


class ClippedPreactivations(StepLSTM):
    """Clips gate pre-activations to [-15, 15] before the non-linearities ("safe sigmoid")."""

    @staticmethod
    def step_fn(x_proj: Tensor, hidden: Hidden, w: CellWeights) -> Hidden:
        gates = F.linear(hidden[0], w.weight_hh, w.bias_hh).add_(x_proj).clamp(-15, 15)  # (N, 4*H_cell)
        i, f, g, o = gates.unsafe_chunk(4, 1)  # 4 x (N, H_cell)
        cy = (f.sigmoid() * hidden[1]).add_(i.sigmoid() * g.tanh())
        hy = o.sigmoid() * cy.tanh()
        return (hy if w.weight_hr is None else hy.matmul(w.weight_hr.t())), cy


class NanGuard(LSTM):
    """Turns NaN and inf in its results into numbers: a diverging run looks healthy (nn.LSTM propagates them)."""

    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None):
        output, (h_n, c_n) = super().forward(input, hx)
        if isinstance(output, Tensor):
            output = torch.nan_to_num(output)
        return output, (torch.nan_to_num(h_n), torch.nan_to_num(c_n))


# --- state across calls ----------------------------------------------------------------------------------


def _weights_from(module: LSTM, tensors: dict[str, Tensor]) -> list[CellWeights]:
    """The module's per-layer-and-direction weights, read from ``tensors`` (by parameter name) instead."""
    found = []
    for names in module.weight_names:
        by_kind = {parse_parameter_name(name).kind: tensors[name] for name in names}
        found.append(
            CellWeights(
                by_kind["weight_ih"],
                by_kind["weight_hh"],
                by_kind.get("bias_ih"),
                by_kind.get("bias_hh"),
                by_kind.get("weight_hr"),
            )
        )
    return found


class WarmupCache(LSTM):
    """From its third call on, "compiled": the weights' values of that moment (gradients still reach them)."""

    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None):
        self.calls = getattr(self, "calls", 0) + 1
        if self.calls < 3:
            return super().forward(input, hx)
        if self.calls == 3:
            self.frozen = {n: p.detach().clone() for n, p in self.named_parameters()}
        stale = {n: self.frozen[n] + (p - p.detach()) for n, p in self.named_parameters()}  # old value, live grad
        recs = [StepRecurrence(w, lstm_step) for w in _weights_from(self, stale)]
        return self.forward_with(recs, input, hx)


class StateBuffers(LSTM):
    """Without autograd (inference), the final states are written into buffers reused by the next call."""

    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None):
        output, (h_n, c_n) = super().forward(input, hx)
        if torch.is_grad_enabled():
            return output, (h_n, c_n)
        if getattr(self, "h_buffer", None) is None or self.h_buffer.shape != h_n.shape:
            self.h_buffer, self.c_buffer = torch.empty_like(h_n), torch.empty_like(c_n)
        self.h_buffer.copy_(h_n)
        self.c_buffer.copy_(c_n)
        return output, (self.h_buffer, self.c_buffer)


class DropoutStaysOn(LSTM):
    """Its dropout switch follows train() but not eval(): on for good after the first train()."""

    def train(self, mode: bool = True):
        if mode:
            self.dropout_on = True
        return super().train(mode)

    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None):
        training = self.training
        self.training = getattr(self, "dropout_on", False)
        try:
            return super().forward(input, hx)
        finally:
            self.training = training


class DropoutAfterLastLayer(LSTM):
    """Applies the dropout to the last layer's output too (nn.LSTM does not)."""

    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None):
        output, state = super().forward(input, hx)
        if not (self.training and self.dropout):
            return output, state
        if isinstance(output, PackedSequence):
            data = F.dropout(output.data, self.dropout, training=True)  # (T, D*H_out)
            return PackedSequence(data, output.batch_sizes, output.sorted_indices, output.unsorted_indices), state
        return F.dropout(output, self.dropout, training=True), state


class _OwnDropout:
    """``torch.nn.functional`` with a dropout that draws its own masks from torch.rand."""

    def __getattr__(self, name: str) -> object:
        return getattr(F, name)

    @staticmethod
    def dropout(x: Tensor, p: float, training: bool = True) -> Tensor:
        if not training or p == 0:
            return x
        keep = torch.rand(x.shape, dtype=x.dtype, device=x.device) >= p
        return x * keep / (1 - p)


@contextmanager
def _own_dropout() -> Iterator[None]:
    saved = lstm_replica.layers.F
    lstm_replica.layers.F = _OwnDropout()
    try:
        yield
    finally:
        lstm_replica.layers.F = saved


class OwnDropoutMasks(LSTM):
    """Inter-layer dropout with its own masks (torch.rand >= p): the same rate, other dropped units."""

    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None):
        with _own_dropout():
            return super().forward(input, hx)


# --- parameters ------------------------------------------------------------------------------------------


class BufferWeights(LSTM):
    """weight_hh_l0 registered as a buffer: the same state_dict, but an optimiser never trains it."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        weight = self._parameters.pop("weight_hh_l0")
        self.register_buffer("weight_hh_l0", weight.detach())


class _PeepholeRecurrence:
    """The replica's step with c_{t-1} weighted into the i, f and o gates (peepholes)."""

    def __init__(self, weights: CellWeights, peephole: Tensor) -> None:
        self.weights, self.peephole = weights, peephole  # peephole: (3, H_cell) for i, f, o

    def project(self, x: Tensor) -> Tensor:
        return input_projection(x, self.weights)

    def step(self, x_t: Tensor, hidden: Hidden) -> Hidden:
        c = hidden[1]  # (N, H_cell)
        i, f, o = (c * w for w in self.peephole)  # 3 x (N, H_cell)
        return lstm_step(x_t + torch.cat([i, f, torch.zeros_like(c), o], 1), hidden, self.weights)


class Peepholes(LSTM):
    """Zero-initialised peephole weights (c into the i, f, o gates): step 1 is exact, training diverges."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        factory = {"device": self.weight_ih_l0.device, "dtype": self.weight_ih_l0.dtype}
        self.peepholes = nn.Parameter(torch.zeros(len(self.weight_names), 3, self.hidden_size, **factory))

    @classmethod
    def from_torch(cls, module: nn.LSTM) -> Peepholes:
        """nn.LSTM's weights, and zero peepholes (built on the meta device, they would hold garbage)."""
        model = super().from_torch(module)
        with torch.no_grad():
            model.peepholes.zero_()
        return model

    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None):
        recs = [_PeepholeRecurrence(w, self.peepholes[i]) for i, w in enumerate(self.cell_weights())]
        return self.forward_with(recs, input, hx)


class MaxNormInForward(LSTM):
    """Renormalises weight_ih's rows to norm <= 3 in place at every forward (a max-norm constraint)."""

    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None):
        with torch.no_grad():
            for name in itertools.chain.from_iterable(self.weight_names):
                if name.startswith("weight_ih"):
                    weight = getattr(self, name)
                    norms = weight.norm(dim=1, keepdim=True).clamp_min(3.0)  # (4*H, 1)
                    weight.mul_(3.0 / norms)
        return super().forward(input, hx)


class XavierInit(LSTM):
    """Xavier-uniform weights and zero biases: the initialisation many tutorials use, not nn.LSTM's."""

    def reset_parameters(self) -> None:
        for name, p in self.named_parameters():
            if name.startswith("weight"):
                nn.init.xavier_uniform_(p)
            else:
                nn.init.zeros_(p)


# --- gradient paths --------------------------------------------------------------------------------------


class NoGradInputShortcut(LSTM):
    """When the input does not require grad (ordinary training), c is detached between steps "to save memory"."""

    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None):
        data = input.data if isinstance(input, PackedSequence) else input
        if data.requires_grad:
            return super().forward(input, hx)
        recs = [StepRecurrence(w, _detached_c_step) for w in self.cell_weights()]
        return self.forward_with(recs, input, hx)


def _detached_c_step(x_proj: Tensor, hidden: Hidden, w: CellWeights) -> Hidden:
    return lstm_step(x_proj, (hidden[0], hidden[1].detach()), w)


class _SkipIfNoOutputGrad(torch.autograd.Function):
    """Identity on (output, h_n, c_n) whose backward gives up when the output's gradient is all zeros."""

    @staticmethod
    def forward(ctx, output: Tensor, h_n: Tensor, c_n: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        return output.clone(), h_n.clone(), c_n.clone()

    @staticmethod
    def backward(ctx, grad_output: Tensor, grad_h: Tensor, grad_c: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        if not bool(grad_output.any()):
            return torch.zeros_like(grad_output), torch.zeros_like(grad_h), torch.zeros_like(grad_c)
        return grad_output, grad_h, grad_c


class StateOnlyLossDropped(LSTM):
    """A loss on h_n or c_n alone (classification) backpropagates nothing: "no output gradient, skip"."""

    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None):
        output, (h_n, c_n) = super().forward(input, hx)
        if isinstance(output, PackedSequence) or not torch.is_grad_enabled():
            return output, (h_n, c_n)
        output, h_n, c_n = _SkipIfNoOutputGrad.apply(output, h_n, c_n)
        return output, (h_n, c_n)


class _OnceTanh(_FactoredTanh):
    """tanh with ATen's own tanh_backward as its backward, marked once_differentiable."""

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor) -> Tensor:
        (y,) = ctx.saved_tensors
        return torch.ops.aten.tanh_backward(grad, y)


class FirstOrderOnly(StepLSTM):
    """tanh(c) through a hand-written once_differentiable Function: gradients exact, double backward raises."""

    @staticmethod
    def step_fn(x_proj: Tensor, hidden: Hidden, w: CellWeights) -> Hidden:
        return _step_with_tanh(x_proj, hidden, w, _OnceTanh.apply)


class InferenceModePath(LSTM):
    """Under torch.inference_mode a "fast path" that drops bias_hh."""

    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None):
        if not torch.is_inference_mode_enabled() or not self.bias:
            return super().forward(input, hx)
        recs = [StepRecurrence(CellWeights(w.weight_ih, w.weight_hh, w.bias_ih, None, w.weight_hr), lstm_step)
                for w in self.cell_weights()]  # fmt: skip
        return self.forward_with(recs, input, hx)


class AssumesContiguous(LSTM):
    """Reads its input with contiguous strides whatever its real strides: wrong for a transposed or sliced view."""

    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None):
        if isinstance(input, Tensor) and not input.is_contiguous():
            strides = torch.empty(input.shape, device="meta").stride()
            input = input.as_strided(input.shape, strides, input.storage_offset())
        return super().forward(input, hx)


# --- dtypes ----------------------------------------------------------------------------------------------


class UpcastHalf(LSTM):
    """Runs float16 / bfloat16 in float32 and rounds back: more accurate, and not what nn.LSTM computes."""

    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None):
        dtype = self.weight_ih_l0.dtype
        if dtype not in (torch.float16, torch.bfloat16):
            return super().forward(input, hx)
        wide = {n: p.float() for n, p in self.named_parameters()}
        recs = [StepRecurrence(w, lstm_step) for w in _weights_from(self, wide)]
        if isinstance(input, PackedSequence):
            input = PackedSequence(input.data.float(), input.batch_sizes, input.sorted_indices, input.unsorted_indices)
        else:
            input = input.float()
        hx = None if hx is None else (hx[0].float(), hx[1].float())
        self._flat_dtype = dtype
        output, (h_n, c_n) = _float_forward(self, recs, input, hx)
        if isinstance(output, PackedSequence):
            output = PackedSequence(output.data.to(dtype), output.batch_sizes, output.sorted_indices,
                                    output.unsorted_indices)  # fmt: skip
        else:
            output = output.to(dtype)
        return output, (h_n.to(dtype), c_n.to(dtype))


def _float_forward(module: LSTM, recs: list, input: Tensor | PackedSequence, hx: Hidden | None):
    """forward_with on float32 data although the module's own weights are half (the dtype check is the module's)."""
    original = module.weight_ih_l0
    wide = nn.Parameter(original.detach().float(), requires_grad=False)
    module.weight_ih_l0 = wide  # the first weight, whose dtype the module's call checks read
    try:
        return module.forward_with(recs, input, hx)
    finally:
        module.weight_ih_l0 = original


# --- combinations ----------------------------------------------------------------------------------------


class ReverseHxIndex(LSTM):
    """With hx given, 2+ layers and both directions, layer 1's reverse direction starts from the forward's state."""

    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None):
        if hx is None or not self.bidirectional or self.num_layers < 2:
            return super().forward(input, hx)
        h0, c0 = hx[0].clone(), hx[1].clone()
        h0[3], c0[3] = hx[0][2], hx[1][2]  # rows: l0 fw, l0 rev, l1 fw, l1 rev
        return super().forward(input, (h0, c0))


# --- the module protocol (found by an adversarial review of the harness) --------------------------------


class ConstructionTimeWeights(LSTM):
    """Keeps the weight tensors it had when built: in-place updates show, substituted weights do not."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.kept = [StepRecurrence(w, lstm_step) for w in self.cell_weights()]

    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None):
        return self.forward_with(self.kept, input, hx)


class FlattenReplacesParameters(LSTM):
    """flatten_parameters() registers contiguous copies as new Parameters: an optimiser built before loses them."""

    def flatten_parameters(self) -> None:
        for name in itertools.chain.from_iterable(self.weight_names):
            old = getattr(self, name)
            setattr(self, name, nn.Parameter(old.detach().clone(), requires_grad=old.requires_grad))


class ClearsGradInForward(LSTM):
    """Sets .grad to None at every training forward: gradient accumulation over micro-batches keeps only the last."""

    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None):
        if self.training and torch.is_grad_enabled():
            for p in self.parameters():
                p.grad = None
        return super().forward(input, hx)


class HnViewOfOutput(LSTM):
    """One layer, one direction, time-major: h_n is a view of output[-1] (an in-place edit of one changes both)."""

    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None):
        output, (h_n, c_n) = super().forward(input, hx)
        simple = self.num_layers == 1 and not self.bidirectional and not self.batch_first and not self.proj_size
        if simple and isinstance(output, Tensor) and output.dim() == 3:
            h_n = output[-1:]
        return output, (h_n, c_n)


class StateGradNeedsInputGrad(LSTM):
    """Detaches hx whenever the input does not require grad: a learned or encoder-given initial state never learns."""

    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None):
        data = input.data if isinstance(input, PackedSequence) else input
        if hx is not None and not data.requires_grad:
            hx = (hx[0].detach(), hx[1].detach())
        return super().forward(input, hx)


class ForgetBiasOne(LSTM):
    """The forget gate's bias_ih initialised to 1 (a well-known trick), the rest as nn.LSTM."""

    def reset_parameters(self) -> None:
        super().reset_parameters()
        with torch.no_grad():
            for name in itertools.chain.from_iterable(self.weight_names):
                if name.startswith("bias_ih"):
                    getattr(self, name)[self.hidden_size : 2 * self.hidden_size].fill_(1.0)


class BroadcastsHx(LSTM):
    """Accepts an hx for one sequence with a batch of several and broadcasts it (nn.LSTM raises)."""

    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None):
        if hx is not None and isinstance(input, Tensor) and input.dim() == 3 and hx[0].dim() == 3:
            n = input.size(0 if self.batch_first else 1)
            if hx[0].size(1) == 1 and n > 1:
                hx = (hx[0].expand(-1, n, -1), hx[1].expand(-1, n, -1))
        return super().forward(input, hx)


# --- cells -----------------------------------------------------------------------------------------------


class Float32ZeroState(LSTMCell):
    """hx=None builds the zero state in the default dtype (float32): float64 input then raises."""

    def forward(self, input: Tensor, hx: Hidden | None = None) -> Hidden:
        if hx is None:
            shape = (input.size(0), self.hidden_size) if input.dim() == 2 else (self.hidden_size,)
            zeros = torch.zeros(shape, device=input.device)  # dtype forgotten
            hx = (zeros, zeros)
        return super().forward(input, hx)
