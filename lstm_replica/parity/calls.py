"""Running one side of a comparison: a call of the module (or the cell's layer machinery) and its backward.

:func:`run` feeds a side the configuration's inputs (as a training script would: fresh leaves, optionally
strided views, the state as given), checks what comes back (``(output, (h_n, c_n))``), takes the gradients
of every output, state and parameter with the same upstream gradients on both sides, and records whether the
call modified its inputs, changed a parameter or returned tensors that share memory (:class:`Outcome`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Literal, TypeVar, overload

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

from lstm_replica.parity.build import CandidateRaised, Side, WrongResult, is_pair, structure
from lstm_replica.parity.candidates import CheckError
from lstm_replica.parity.configs import Config
from lstm_replica.parity.inputs import Inputs, packed
from lstm_replica.parity.parammap import ParamMap
from lstm_replica.parity.results import grad_key, gradient_of

T = TypeVar("T")


@dataclass
class Outcome:
    tensors: dict[str, Tensor | None]
    packing: tuple[Tensor, Tensor | None, Tensor | None] | None  # the output's batch_sizes and indices
    inputs_unmodified: bool
    parameters_changed: list[str] = field(default_factory=list)  # by the forward (or backward) itself
    aliased: list[str] = field(default_factory=list)  # returned tensors that share memory


Loss = Literal["all", "output", "h_n", "c_n"]  # what the backward of a call starts from
Mode = Literal["grad", "no_grad", "inference"]
InputForm = Literal["leaf", "computed", "lookup"]


@dataclass(frozen=True)
class Call:
    """How one call is made: which inputs require grad, which outputs the loss uses, and the grad mode.

    ``mode``: "grad" (forward and backward), "no_grad" or "inference" (forward only).
    ``strided``: the input and states handed over as non-contiguous views of the same values.
    Gradients with respect to the states are taken with respect to the leaves they are computed from, and so
    are those of the input (``input_form``: the embedding table a looked-up input comes from).
    """

    mode: Mode = "grad"
    input_grad: bool = True
    loss: Loss = "all"
    strided: bool = False
    state_grad: bool | None = None  # h_0 / c_0 require grad; None: as the input does
    computed_state: bool = False  # h_0 / c_0 handed over as the result of a computation (an encoder's state)
    sorted_packing: bool = False  # packed with lengths sorted longest first and enforce_sorted=True
    hx_keyword_list: bool = False  # forward(input, hx=[h_0, c_0]): by keyword and as a list, as users also write it
    input_form: InputForm = "leaf"  # "computed": x * 1.0; "lookup": an embedding look-up (grad input: the table's)
    state_views: bool = False  # h_0 / c_0 as views into a wider batch-major buffer (grad h_0 / c_0: the buffer's)


def _strided(t: Tensor) -> Tensor:
    """The same values as a non-contiguous view (every other element of a buffer twice as wide)."""
    buffer = torch.zeros(*t.shape[:-1], 2 * t.size(-1), dtype=t.dtype, device=t.device)  # (..., 2*F)
    buffer[..., ::2] = t
    return buffer[..., ::2]


def run(
    side: Side, config: Config, inputs: Inputs, with_grad: bool | Call = True, pmap: ParamMap | None = None
) -> Outcome:
    """One call of a side (forward, and backward when the call's mode is "grad"); tensors compared come back by name.

    Parameter gradients come back in the reference's names: ``pmap`` carries a candidate's back.
    """
    call = with_grad if isinstance(with_grad, Call) else Call(mode="grad" if with_grad else "no_grad")
    grad = call.mode == "grad"
    needs = grad and call.input_grad
    state_needs = grad and (call.input_grad if call.state_grad is None else call.state_grad)
    x = _clone(inputs.x, needs, call.strided)
    h0, c0 = _clone(inputs.h0, state_needs, call.strided), _clone(inputs.c0, state_needs, call.strided)
    leaves = x, h0, c0  # what the gradients are taken for; x, h0, c0: what forward is given
    if call.input_form != "leaf":
        leaf = _input_leaf(x, call.input_form)
        leaves, x = (leaf, leaves[1], leaves[2]), _formed(leaf, x, call.input_form)
    if call.state_views and h0 is not None and c0 is not None:
        leaves = (leaves[0], _state_buffer(h0), _state_buffer(c0))
        h0, c0 = _state_view(leaves[1], h0), _state_view(leaves[2], c0)
    fed: Tensor | PackedSequence = x
    lengths = inputs.lengths
    if lengths is not None and call.sorted_packing:
        order = lengths.argsort(descending=True, stable=True)
        lengths = lengths[order]
        dim = 0 if config.batch_first else 1
        x_sorted = x.index_select(dim, order.to(x.device))  # longest first, as enforce_sorted=True requires
        fed = pack_padded_sequence(x_sorted, lengths, batch_first=config.batch_first, enforce_sorted=True)
    elif lengths is not None:
        fed = packed(x, lengths, config)
    hx = None if h0 is None or c0 is None else (h0, c0)
    if hx is not None and lengths is not None and call.sorted_packing:
        hx = (hx[0].index_select(1, order.to(x.device)), hx[1].index_select(1, order.to(x.device)))
    if h0 is not None and c0 is not None and call.computed_state:
        hx = (h0 * 1.0, c0 * 1.0) if state_needs else (h0 + 0.0, c0 + 0.0)  # not leaves: computed upstream
    before = {name: (p, p.detach().clone()) for name, p in side.parameters.items()}
    context = torch.inference_mode() if call.mode == "inference" else torch.set_grad_enabled(grad)
    with context:
        if call.hx_keyword_list:
            given = None if hx is None else [hx[0], hx[1]]
            by_keyword: Callable[..., object] = side.forward  # a module's forward(input, hx=None)
            output, h_n, c_n = _unpack(_call("forward", partial(by_keyword, hx=given), fed))
        else:
            output, h_n, c_n = _unpack(_call("forward", side.forward, fed, hx))
    packing = None
    if isinstance(output, PackedSequence):
        packing = (output.batch_sizes, output.sorted_indices, output.unsorted_indices)
        output = output.data  # (T, D*H_out)
    tensors: dict[str, Tensor | None] = {"output": output, "h_n": h_n, "c_n": c_n}
    unmodified = all(
        given is None or original is None or torch.equal(given.detach(), original)
        for given, original in ((x, inputs.x), (h0, inputs.h0), (c0, inputs.c0))
    )
    changed = [name for name, (p, value) in before.items() if not torch.equal(p.detach(), value)]
    current = side.live()
    changed += [f"{name} (replaced by another tensor)" for name, (p, _) in before.items() if current.get(name) is not p]
    aliased = _aliased(tensors, (x, h0, c0))
    if grad:
        tensors.update(_gradients(side, (output, h_n, c_n), inputs, *leaves, call, pmap))
    return Outcome(tensors, packing, unmodified, changed, aliased)


def _input_leaf(x: Tensor, form: str) -> Tensor:
    """The leaf an input of ``form`` is computed from: ``x`` itself, or an embedding table of x's rows, reversed."""
    if form == "computed":
        return x
    if form != "lookup":
        msg = f"Expected input_form leaf, computed or lookup, got {form!r}"
        raise ValueError(msg)
    return x.detach().reshape(-1, x.size(-1)).flip(0).clone().requires_grad_(x.requires_grad)  # (V, H_in)


def _formed(table: Tensor, x: Tensor, form: str) -> Tensor:
    """The input as user code computes it, with x's values: ``x * 1.0``, or ``F.embedding(tokens, table)``."""
    if form == "computed":
        return x * 1.0  # not a leaf: the output of an upstream layer
    tokens = torch.arange(table.size(0) - 1, -1, -1, device=x.device).view(x.shape[:-1])  # row k of x is token V-1-k
    return torch.nn.functional.embedding(tokens, table)


def _state_buffer(t: Tensor) -> Tensor:
    """A batch-major buffer one layer longer and twice as wide holding ``t`` (a state, layers first) at [1:, :H]."""
    if t.dim() == 3:
        buffer = t.new_zeros(t.size(1), t.size(0) + 1, 2 * t.size(2))  # (N, layers + 1, 2*H)
        buffer[:, 1:, : t.size(2)] = t.detach().transpose(0, 1)
    else:
        buffer = t.new_zeros(t.size(0) + 1, 2 * t.size(1))  # unbatched: (layers + 1, 2*H)
        buffer[1:, : t.size(1)] = t.detach()
    return buffer.requires_grad_(t.requires_grad)


def _state_view(buffer: Tensor, t: Tensor) -> Tensor:
    """``t``'s values as a view of ``buffer``: offset, strided, and (batched) layers-first by a transpose."""
    if t.dim() == 3:
        return buffer[:, 1:, : t.size(2)].transpose(0, 1)  # (layers, N, H): non-contiguous
    return buffer[1:, : t.size(1)]


def _aliased(results: dict[str, Tensor | None], given: tuple[Tensor | None, ...]) -> list[str]:
    """Returned tensors sharing memory with each other or with the inputs (nn.LSTM returns fresh tensors)."""
    found = []
    named = [(n, t) for n, t in results.items() if isinstance(t, Tensor) and t.numel()]
    for i, (name, tensor) in enumerate(named):
        span = _span(tensor)
        for other, theirs in named[i + 1 :]:
            if _overlap(span, _span(theirs)):
                found.append(f"{name} and {other} share memory")
        if any(t is not None and t.numel() and _overlap(span, _span(t)) for t in given):
            found.append(f"{name} shares memory with an input")
    return found


def _span(t: Tensor) -> tuple[int, int]:
    start = t.untyped_storage().data_ptr() + int(t.storage_offset()) * t.element_size()
    extent = sum((size - 1) * stride for size, stride in zip(t.shape, t.stride(), strict=True)) + 1
    return start, start + extent * t.element_size()


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _call(phase: str, fn: Callable[..., T], *args: object) -> T:
    """``fn(*args)``; what the candidate's code raises becomes a :class:`CheckError` naming the phase."""
    try:
        return fn(*args)
    except (CheckError, WrongResult):
        raise
    except (Exception, SystemExit) as exc:
        msg = f"{phase} raised {type(exc).__name__}: {exc}"
        raise CandidateRaised(msg) from exc


def _unpack(result: object) -> tuple[Tensor | PackedSequence, Tensor, Tensor]:
    if is_pair(result):
        output, state = result
        if isinstance(output, (Tensor, PackedSequence)) and is_pair(state):
            h_n, c_n = state
            if isinstance(h_n, Tensor) and isinstance(c_n, Tensor):
                return output, h_n, c_n
    msg = f"Expected forward to return (output, (h_n, c_n)) as nn.LSTM does, got {structure(result)}"
    raise CheckError(msg)


def loss_of(results: tuple[Tensor, Tensor, Tensor], inputs: Inputs, loss: str) -> Tensor:
    """The scalar a call backpropagates: the upstream gradients dotted with the outputs the loss uses."""
    upstream = (inputs.grad_output, inputs.grad_h, inputs.grad_c)
    used = {"all": (0, 1, 2), "output": (0,), "h_n": (1,), "c_n": (2,)}[loss]
    terms = [(results[i] * upstream[i]).sum() for i in used]
    return sum(terms[1:], start=terms[0])


def _gradients(
    side: Side,
    results: tuple[Tensor, Tensor, Tensor],
    inputs: Inputs,
    x: Tensor,
    h0: Tensor | None,
    c0: Tensor | None,
    call: Call,
    pmap: ParamMap | None,
) -> dict[str, Tensor | None]:
    upstream = (inputs.grad_output, inputs.grad_h, inputs.grad_c)
    if any(r.shape != g.shape for r, g in zip(results, upstream, strict=True)):
        return {}  # the forward comparison already reports the wrong shape
    wrt: dict[str, Tensor] = {}
    if call.input_grad:
        wrt[grad_key("input")] = x
    if (call.input_grad if call.state_grad is None else call.state_grad) and h0 is not None and c0 is not None:
        wrt |= {grad_key("h_0"): h0, grad_key("c_0"): c0}
    params = {name: p for name, p in side.parameters.items() if p.requires_grad}
    wrt |= {grad_key(name): p for name, p in params.items()}

    def backward() -> tuple[Tensor | None, ...]:
        loss = loss_of(results, inputs, call.loss)
        if not loss.requires_grad:
            return (None,) * len(wrt)
        return torch.autograd.grad(loss, list(wrt.values()), allow_unused=True)

    grads = dict(zip(wrt, _call("backward", backward), strict=True))
    found = {k: v for k, v in grads.items() if gradient_of(k) is None or gradient_of(k) not in params}
    param_grads = {name: grads[grad_key(name)] for name in params}
    if pmap is not None:
        param_grads = pmap.grads_to_reference(param_grads)
    return found | {grad_key(name): g for name, g in param_grads.items()}


@overload
def _clone(t: Tensor, grad: bool, strided: bool = False) -> Tensor: ...
@overload
def _clone(t: Tensor | None, grad: bool, strided: bool = False) -> Tensor | None: ...
def _clone(t: Tensor | None, grad: bool, strided: bool = False) -> Tensor | None:
    if t is None:
        return None
    t = t.clone()
    if strided:
        t = _strided(t)
    return t.requires_grad_(grad) if not strided else t.detach().requires_grad_(grad)
