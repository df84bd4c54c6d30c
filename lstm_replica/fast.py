r"""``FastLSTM``: a drop-in ``nn.LSTM`` whose time loop is one autograd node with a hand-written backward.

The exact replica (:class:`~lstm_replica.LSTM`) records ~10 autograd nodes per
time step, as ATen's native path does, so its backward walks them one by one
and computes the recurrent weight's gradient one small GEMM per step. Here one
layer-direction's recurrence is a single :class:`torch.autograd.Function`:

* forward: the input projection of the whole sequence is one GEMM, with both
  biases folded into it, written into the buffer that becomes the gates; each
  step adds ``h_{t-1} W_hhᵀ`` to its slice in place (``addmm_``) and applies
  the activations in place, with no autograd bookkeeping;
* backward: per step only what the recurrence forces — the gate gradients and
  one ``(N, 4H) @ (4H, H_out)`` GEMM for the gradient flowing into
  ``h_{t-1}``; the gradients of the input, ``W_ih``, the bias, ``W_hh`` (and
  ``W_hr`` with ``proj_size``) are one GEMM (or sum) each over all steps.

Results are not bitwise ``nn.LSTM``'s (the bias fold and the summation order
of the weight gradients differ), but stay within the parity harness's float32
and float64 tolerances; ``parity_tests/test_fast.py`` checks that, forward and
gradients. Same constructor, parameters, state_dict keys and forward signature
as ``nn.LSTM``. ``PackedSequence`` input runs the exact replica's path (correct,
not faster): the fused loop handles padded ``(L, N, H_in)`` input only.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, cast

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from lstm_replica.cell import CellWeights, Hidden
from lstm_replica.layers import NativeRecurrence, Recurrence, full_layer, reversed_full_layer
from lstm_replica.lstm import LSTM


class _FusedRecurrence(torch.autograd.Function):
    """One direction of one layer over a padded sequence, from its projected input.

    Inputs: ``x (L, N, H_in)`` contiguous, ``h0 (N, H_out)``, ``c0 (N, H)``,
    ``weight_ih (4H, H_in)``, ``bias (4H,)`` (``b_ih + b_hh``) or None,
    ``weight_hh (4H, H_out)``, ``weight_hr (H_out, H)`` or None.
    Outputs: ``out (L, N, H_out)`` in time order, ``h_n``, ``c_n``.

    The input projection is computed here, into the buffer that then holds the
    gates: each step adds ``h_{t-1} W_hhᵀ`` to its slice in place (no copy).
    """

    @staticmethod
    def forward(
        x: Tensor,
        h0: Tensor,
        c0: Tensor,
        weight_ih: Tensor,
        bias: Tensor | None,
        weight_hh: Tensor,
        weight_hr: Tensor | None,
        reverse: bool,
    ) -> tuple[Tensor, ...]:
        steps, batch, _ = x.shape
        four_h, h_out = weight_hh.shape
        hidden = four_h // 4
        x_2d = x.view(steps * batch, -1)
        projected = x_2d @ weight_ih.t() if bias is None else torch.addmm(bias, x_2d, weight_ih.t())
        gates = projected.view(steps, batch, four_h)  # W_ih x + b, then activated i, f, g, o per step
        cells = x.new_empty(steps, batch, hidden)  # c_t
        tanh_cells = x.new_empty(steps, batch, hidden)  # tanh(c_t)
        out = x.new_empty(steps, batch, h_out)  # h_t
        pre_proj = x.new_empty(steps, batch, hidden if weight_hr is not None else 0)  # o ⊙ tanh(c_t) with W_hr
        w_hh_t = weight_hh.t()
        h, c = h0, c0
        for t in _order(steps, reverse):
            g = gates[t].addmm_(h, w_hh_t)
            g[:, : 2 * hidden].sigmoid_()
            g[:, 2 * hidden : 3 * hidden].tanh_()
            g[:, 3 * hidden :].sigmoid_()
            i, f, gg, o = g.chunk(4, 1)
            c = torch.mul(f, c, out=cells[t]).addcmul_(i, gg)
            tc = torch.tanh(c, out=tanh_cells[t])
            if weight_hr is None:
                h = torch.mul(o, tc, out=out[t])
            else:
                hc = torch.mul(o, tc, out=pre_proj[t])
                h = torch.mm(hc, weight_hr.t(), out=out[t])
        return out, h.clone(), c.clone(), gates, cells, tanh_cells, pre_proj

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, ...]) -> None:
        """Separate from forward, so torch.func transforms (grad, jacrev) can run the Function."""
        x, h0, c0, weight_ih, bias, weight_hh, weight_hr, reverse = inputs
        out, _, _, gates, cells, tanh_cells, kept = output
        ctx.mark_non_differentiable(gates, cells, tanh_cells, kept)  # kept: o ⊙ tanh(c_t), empty without W_hr
        ctx.reverse = reverse
        ctx.has_bias = bias is not None
        pre_proj = kept if weight_hr is not None else None
        ctx.save_for_backward(x, gates, cells, tanh_cells, out, pre_proj, h0, c0, weight_ih, weight_hh, weight_hr)

    @staticmethod
    @once_differentiable
    def backward(
        ctx: Any, grad_out: Tensor | None, grad_hn: Tensor | None, grad_cn: Tensor | None, *_saved: Tensor | None
    ) -> tuple[Tensor | None, ...]:
        x, gates, cells, tanh_cells, out, pre_proj, h0, c0, weight_ih, weight_hh, weight_hr = ctx.saved_tensors
        reverse: bool = ctx.reverse
        steps, batch, four_h = gates.shape
        hidden = four_h // 4
        grad_out = torch.zeros_like(out) if grad_out is None else grad_out
        dh = torch.zeros_like(h0) if grad_hn is None else grad_hn.clone()
        dc = torch.zeros_like(c0) if grad_cn is None else grad_cn.clone()
        d_gates = torch.empty_like(gates)  # d loss / d pre-activation gates, per step
        d_h_total = torch.empty_like(out) if weight_hr is not None else out.new_empty(0)  # d loss / d h_t, for dW_hr
        scratch = gates.new_empty(batch, hidden)
        order = list(_order(steps, reverse))
        for k, t in enumerate(reversed(order)):
            dh.add_(grad_out[t])
            if weight_hr is not None:
                d_h_total[t].copy_(dh)
                dhc = dh @ weight_hr  # (N, H)
            else:
                dhc = dh
            i, f, g, o = gates[t].chunk(4, 1)
            tc = tanh_cells[t]
            c_prev = c0 if k == steps - 1 else cells[order[steps - 2 - k]]
            di, df, dg, do = d_gates[t].chunk(4, 1)
            # dc += dhc ⊙ o ⊙ (1 - tanh²c)
            torch.mul(tc, tc, out=scratch).neg_().add_(1).mul_(o)
            dc.addcmul_(dhc, scratch)
            # do = dhc ⊙ tanh c ⊙ o(1 - o)
            torch.mul(dhc, tc, out=do).mul_(o)
            torch.sub(1, o, out=scratch)
            do.mul_(scratch)
            # di = dc ⊙ g ⊙ i(1 - i)
            torch.mul(dc, g, out=di).mul_(i)
            torch.sub(1, i, out=scratch)
            di.mul_(scratch)
            # df = dc ⊙ c_{t-1} ⊙ f(1 - f)
            torch.mul(dc, c_prev, out=df).mul_(f)
            torch.sub(1, f, out=scratch)
            df.mul_(scratch)
            # dg = dc ⊙ i ⊙ (1 - g²)
            torch.mul(g, g, out=scratch).neg_().add_(1).mul_(i)
            torch.mul(dc, scratch, out=dg)
            dc.mul_(f)
            dh = d_gates[t] @ weight_hh  # (N, H_out), into h_{t-1}
        flat = d_gates.view(steps * batch, four_h)
        # dW_hh = Σ_t dgates_tᵀ h_{t-1}; h_{t-1} is out shifted by one step (h0 for the first step)
        first, rest = (steps - 1, slice(0, steps - 1)) if reverse else (0, slice(1, steps))
        prev = slice(1, steps) if reverse else slice(0, steps - 1)
        grad_w_hh = d_gates[first].t() @ h0
        if steps > 1:
            grad_w_hh.addmm_(d_gates[rest].reshape(-1, four_h).t(), out[prev].reshape(-1, out.size(2)))
        grad_w_hr = None
        if weight_hr is not None:
            grad_w_hr = d_h_total.reshape(-1, out.size(2)).t() @ pre_proj.reshape(-1, hidden)
        grad_x = (flat @ weight_ih).view_as(x) if ctx.needs_input_grad[0] else None
        grad_w_ih = flat.t() @ x.view(steps * batch, -1) if ctx.needs_input_grad[3] else None
        grad_bias = flat.sum(0) if ctx.has_bias else None
        return grad_x, dh, dc, grad_w_ih, grad_bias, grad_w_hh, grad_w_hr, None


def _order(steps: int, reverse: bool) -> range:
    return range(steps - 1, -1, -1) if reverse else range(steps)


def _bias(w: CellWeights) -> Tensor | None:
    if w.bias_ih is None or w.bias_hh is None:
        return None
    return w.bias_ih + w.bias_hh


def fused_layer(x: Tensor, hidden: Hidden, w: CellWeights, reverse: bool = False) -> tuple[Tensor, Hidden]:
    """One direction of one layer: ``(L, N, H_in) -> (L, N, H_out)`` and ``(h_n, c_n)``."""
    out, h_n, c_n, *_ = _FusedRecurrence.apply(  # the rest: what backward keeps, not outputs
        x.contiguous(), hidden[0], hidden[1], w.weight_ih, _bias(w), w.weight_hh, w.weight_hr, reverse
    )
    return out, (h_n, c_n)


@dataclass(frozen=True)
class FusedRecurrence(NativeRecurrence):
    """The replica's recurrence, but a padded layer runs as one :class:`_FusedRecurrence` node.

    The layer loops hand it whole padded layers (:class:`~lstm_replica.layers.LayerRunner`);
    packed input steps it as the exact replica (``project`` / ``step`` of :class:`NativeRecurrence`), and so
    does autocast, whose casts the fused loop's in-place products cannot take.
    """

    def run_layer(self, x: Tensor, hidden: Hidden, reverse: bool) -> tuple[Tensor, Hidden]:
        if torch.is_autocast_enabled(x.device.type):  # the fused loop's in-place products take one dtype
            native = NativeRecurrence(self.weights)
            return reversed_full_layer(x, hidden, native) if reverse else full_layer(x, hidden, native)
        return fused_layer(x, hidden, self.weights, reverse)


class FastLSTM(LSTM):
    """``nn.LSTM``-compatible; padded input runs :class:`_FusedRecurrence`, packed input the exact replica.

    Everything around the layers (checks, states, layouts, dropout) is :class:`~lstm_replica.LSTM`'s:
    only the recurrence differs. Not bitwise: within the harness tolerance.
    """

    def recurrence(self, weights: CellWeights) -> Recurrence:
        return FusedRecurrence(weights)


def cuda_graphed(module: nn.Module, example_input: Tensor) -> nn.Module:
    """The GPU fast path: ``module``'s forward and backward captured once as CUDA graphs, then replayed.

    Launch overhead (~10 small kernels per time step) dominates an eager LSTM
    at GPU speeds; a replay launches the whole sequence at once. The captured
    graphs are only valid for inputs shaped, typed and placed as
    ``example_input`` and called as ``module(input)`` (``hx`` left to zeros);
    outputs are static buffers overwritten by the next call. Parameters may be
    updated in place between calls (optimizers do), not reassigned.
    """
    if example_input.device.type != "cuda":
        msg = f"Expected a CUDA example input for cuda_graphed, got one on {example_input.device}"
        raise ValueError(msg)
    with warnings.catch_warnings():
        # torch >= 2.10 warns from inside make_graphed_callables: its side-stream warm-up creates the
        # parameters' AccumulateGrad nodes on a stream other than the capture's; harmless for the result
        warnings.filterwarnings("ignore", "The AccumulateGrad node's stream does not match", UserWarning)
        graphed = torch.cuda.make_graphed_callables(module, (example_input,))
    return cast(nn.Module, graphed)  # a Module in gives the same Module back, its forward replaced
