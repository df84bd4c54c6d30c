"""What a training script does to a module besides calling it on fresh inputs: the protocol probes.

Run by the certificate after every other probe (a defect those catch is still reported by theirs), on the same
candidate instance, from nn.LSTM's initial weights; each compares the candidate with ``nn.LSTM`` put through the
same thing, with the configuration's standard (``torch.equal``, or the tolerance). Every probe puts back what it
changed (mode, dtype, ``requires_grad``, weights, parametrizations).

- **train mode, no_grad** / **train mode, inference_mode**: a forward in train mode without autograd (Monte-Carlo
  dropout), dropout drawn from the same generator state on both sides. Catches dropout skipped, or drawn
  differently, when no graph is built, and a train-mode path taken only with grad.
- **eval cache: ...**: in eval mode under no_grad, one call, then the weights changed in place
  (``p.copy_`` under no_grad), then the *same* input buffer rewritten in place, then a train-mode call and an eval
  call on that buffer. Catches a cache (concatenated weights, input projections, outputs keyed on the input's
  storage) that does not see an in-place change or a train/eval switch.
- **input from an embedding look-up** / **input computed, state as views of a wider buffer**: the input as
  ``F.embedding(tokens, table)`` (the gradient goes to the table) and as ``x * 1.0`` (not a leaf), h_0 / c_0 as
  offset, non-contiguous views into a wider batch-major buffer (the gradient goes to the buffer). Catches an input
  or state detached, or read through the wrong strides, unless it is a plain leaf.
- **autocast bfloat16** / **autocast float16** (float32 configurations): a call with grad under ``torch.autocast``:
  output dtypes, values and gradients (the parameters' only where the candidate holds nn.LSTM's whole tensors:
  see ``AUTOCAST_PER_CALL_WEIGHTS``). Catches computing in another dtype than ``nn.LSTM`` (everything in the
  autocast dtype, or autocast switched off) and a state kept in the autocast dtype.
- **frozen: layer 0 / last layer / biases / weight_ih / the gate-f tensors**: some parameters frozen
  (``requires_grad=False``, in ``nn.LSTM``'s terms: the candidate's tensors that map wholly into the frozen ones;
  the last, for per-gate candidates only, the tensors holding gate f's rows alone). Forward, input and state
  gradients, the gradients of the parameters still trainable, and the frozen ones still frozen with no gradient.
  Each configuration runs layer 0 (with more than one layer), one other pattern drawn in turn, and the gate-f one.
  Catches a path chosen by ``requires_grad`` (frozen layers run under no_grad, say).
- **torch.func.vjp** (and **torch.func.vmap**, module candidates): gradients through ``torch.func.vjp`` (which
  ``grad`` and ``jacrev`` are built on; ``grad`` itself imports dynamo, seconds once per process) over
  ``torch.func.functional_call`` (a cell candidate's: of the input); under ``vmap``, which ``nn.LSTM`` refuses,
  the candidate must refuse too, with its exception type, or return nn.LSTM's result for each input. Catches an old-style ``autograd.Function``
  (``forward(ctx, ...)`` without ``setup_context``), which functorch transforms refuse.
- **after .double()** (float64 configurations: **after .float()**), then **..., new weights loaded**, and
  **parametrization registered** (module candidates; the last with ``nn.LSTM``'s parameter names): a dtype move
  after construction, new values loaded afterwards, and ``register_parametrization`` on a weight after use.
  Catches a dtype or weight reference fixed in ``__init__``, or weights memoised on the Parameter objects (a
  device fixed in ``__init__`` would need a second device to show: not probed).

Every probe runs on sequences of at most ``PROTOCOL_STEPS`` steps (long sequences are the other probes' concern).
Configurations with a truthy ``scale`` (real sizes, a reduced probe set) skip them all; large ones (see
``HEAVY_COST``) run one autocast dtype and one frozen pattern besides the gate-f one.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from typing import Any, TypeVar

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

from lstm_replica.names import parse_parameter_name
from lstm_replica.parity.candidates import CheckError
from lstm_replica.parity.compare import HALF, TOLERANCES, Difference, Tolerance, compare
from lstm_replica.parity.configs import Config
from lstm_replica.parity.diagnose import whole_tensors
from lstm_replica.parity.execution import (
    Call,
    Inputs,
    Outcome,
    Side,
    WrongResult,
    _call,
    _unpack,
    loss_of,
    make_inputs,
    run,
)
from lstm_replica.parity.session import (
    ProbeLog,
    Probing,
    ReferenceRaised,
    _catching,
    _restore,
    _run_reference,
    compare_calls,
    raised,
)

T = TypeVar("T")
HEAVY_COST = 3_000_000  # multiply-adds of one forward (Config.cost): above it, the reduced set below
PROTOCOL_STREAM = 0x9E3779B9  # added to the configuration's seed: these probes' own random stream
PROTOCOL_STEPS = 8  # sequences cut to this many steps: what these probes test does not need long ones
FROZEN_GATE = 1  # the gate whose rows a per-gate candidate freezes: f (nn.LSTM's blocks i, f, g, o)
IN_PLACE_SCALE = 0.5  # the in-place weight change: exact in every dtype


FROZEN_FIRST = "frozen: layer 0"  # its call: the input needs no gradient, the state does


def protocol_probes(ctx: Probing, log: ProbeLog, unsupported: frozenset[str] = frozenset()) -> None:
    """Every probe of this module, in order (see the module docstring); the pair is as before afterwards.

    ``unsupported``: the features the candidate declared or refused (configs.FEATURES): a dtype among them is
    neither moved to nor autocast to.
    """
    config = ctx.config
    if getattr(config, "scale", False):
        log.skipped["protocol probes"] = "a real-size configuration: the reduced probe set"
        return
    config = replace(config, steps=min(config.steps, PROTOCOL_STEPS))  # protocol, not length: short sequences
    # a stream of their own: the probes after these draw the inputs they drew before these existed
    generator = torch.Generator().manual_seed((ctx.generator.initial_seed() + PROTOCOL_STREAM) % 2**63)
    ctx = replace(ctx, config=config, generator=generator)
    heavy = config.cost > HEAVY_COST
    ctx.pair.train(False)
    _restore(ctx.pair)  # nn.LSTM's initial weights on both sides, whatever the probes before left
    try:
        train_mode_without_grad(ctx, log)
        eval_cache(ctx, log)
        inputs_as_written(ctx, log)
        autocast(ctx, log, heavy, unsupported)
        partially_frozen(ctx, log, heavy)
        if "torch_func" in unsupported:
            log.skipped["torch.func"] = "declared unsupported by the candidate"
        else:
            func_transforms(ctx, log)
        construction_capture(ctx, log, unsupported)
    finally:
        ctx.pair.train(False)
        _restore(ctx.pair)


def _seed(ctx: Probing) -> int:
    return int(torch.randint(0, 2**31, (1,), generator=ctx.generator))


def _seeded(seed: int | None, fn: Callable[[], T]) -> T:
    """``fn()`` with torch's generator seeded (dropout drawn from the same state on both sides)."""
    if seed is not None:
        torch.manual_seed(seed)
    return fn()


def _compared(
    ctx: Probing,
    log: ProbeLog,
    probe: str,
    inputs: Inputs,
    call: Call,
    *,
    config: Config | None = None,
    row: Tolerance | None = None,
    seed: int | None = None,
    keep: bool = True,
) -> tuple[Outcome, Outcome] | None:
    """One call of each side (reference first), compared tensor by tensor; None where either raised."""
    pair, shaped = ctx.pair, config or ctx.config
    with _catching(log, probe), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # nn.LSTM's advisories (oneDNN and projections, say)
        ref = _seeded(seed, lambda: _run_reference(pair.reference, shaped, inputs, call))
        cand = _seeded(seed, lambda: run(pair.candidate, shaped, inputs, call, pair.pmap))
        log.differences += compare_calls(cand, ref, row or ctx.row, probe)
        if keep:
            log.outcomes[probe] = (cand, ref, shaped)
            log.parameters_changed += cand.parameters_changed
            log.keep(probe, cand)
        return cand, ref
    return None


# --- modes -----------------------------------------------------------------------------------------------


def train_mode_without_grad(ctx: Probing, log: ProbeLog) -> None:
    """Train mode under no_grad and inference_mode (Monte-Carlo dropout), the same generator state on both sides."""
    config = ctx.config
    dropping = " (Monte-Carlo dropout)" if config.dropout and config.num_layers > 1 else ""
    ctx.pair.train(True)
    try:
        for mode, what in (("no_grad", "no_grad"), ("inference", "inference_mode")):
            inputs = make_inputs(config, ctx.device, ctx.generator)
            _compared(ctx, log, f"train mode, {what}{dropping}", inputs, Call(mode=mode), seed=_seed(ctx))
    finally:
        ctx.pair.train(False)


# --- evaluation-mode caches ------------------------------------------------------------------------------


def _forward(side: Side, config: Config, inputs: Inputs, mode: str, reference: bool) -> dict[str, Tensor | None]:
    """A forward without autograd on exactly these tensors (no copies: the same buffers call after call)."""
    fed: Tensor | PackedSequence = inputs.x
    if inputs.lengths is not None:
        fed = pack_padded_sequence(inputs.x, inputs.lengths, batch_first=config.batch_first, enforce_sorted=False)
    context = torch.inference_mode() if mode == "inference" else torch.no_grad()
    try:
        with context:
            output, h_n, c_n = _unpack(_call("forward", side.forward, fed, inputs.hx))
    except (CheckError, WrongResult) as exc:
        if reference:
            raise ReferenceRaised(str(exc)) from exc
        raise
    if isinstance(output, PackedSequence):
        output = output.data  # (T, D*H_out)
    return {"output": output, "h_n": h_n, "c_n": c_n}


def _buffers(inputs: Inputs) -> Inputs:
    """Inputs with their own tensors: each side's buffers, rewritten in place between calls."""
    h0, c0 = (None if t is None else t.clone() for t in (inputs.h0, inputs.c0))
    return replace(inputs, x=inputs.x.clone(), h0=h0, c0=c0)


def _change_weights_in_place(ctx: Probing) -> None:
    """Every weight scaled in place (``copy_`` under no_grad) on both sides; the candidate's through the map."""
    pair = ctx.pair
    with torch.no_grad():
        for p in pair.reference.parameters.values():
            p.mul_(IN_PLACE_SCALE)
        theirs = {n: p.detach() for n, p in pair.reference.parameters.items()}
        mine = {n: p for n, p in pair.candidate.parameters.items() if n in pair.pmap.sources}
        for name, value in pair.pmap.from_reference(theirs, {n: p.detach() for n, p in mine.items()}).items():
            mine[name].copy_(value)


def eval_cache(ctx: Probing, log: ProbeLog) -> None:
    """Eval mode, no autograd, the same input buffers throughout: weights then input changed in place, a mode switch."""
    pair, config = ctx.pair, ctx.config
    drawn = make_inputs(config, ctx.device, ctx.generator)
    fresh = make_inputs(config, ctx.device, ctx.generator)
    buffers = {"reference": _buffers(drawn), "candidate": _buffers(drawn)}
    sides = {"reference": pair.reference, "candidate": pair.candidate}

    def rewrite() -> None:
        for given in buffers.values():
            given.x.copy_(fresh.x)

    steps: list[tuple[str, Callable[[], None], str, bool]] = [
        ("eval cache: first call", lambda: None, "no_grad", False),
        ("eval cache: weights changed in place", lambda: _change_weights_in_place(ctx), "no_grad", False),
        ("eval cache: input rewritten in place", rewrite, "inference", False),
        ("eval cache: train mode, same input", lambda: pair.train(True), "no_grad", True),
        ("eval cache: eval mode again", lambda: pair.train(False), "no_grad", False),
    ]
    try:
        for probe, before, mode, dropout in steps:
            before()
            seed = _seed(ctx) if dropout else None
            with _catching(log, probe):
                ref = _seeded(seed, partial(_forward, sides["reference"], config, buffers["reference"], mode, True))
                cand = _seeded(seed, partial(_forward, sides["candidate"], config, buffers["candidate"], mode, False))
                log.differences += [compare(n, cand.get(n), t, ctx.row, probe) for n, t in ref.items()]
    finally:
        pair.train(False)
        _restore(pair)


# --- inputs as users write them --------------------------------------------------------------------------


def inputs_as_written(ctx: Probing, log: ProbeLog) -> None:
    """The input looked up in an embedding; computed, with the state as views: forward and every gradient."""
    config = ctx.config
    forms = [("input from an embedding look-up", Call(input_form="lookup"))]
    if config.hx_given:
        forms.append(
            ("input computed, state as views of a wider buffer", Call(input_form="computed", state_views=True))
        )
    else:
        forms.append(("input computed (not a leaf)", Call(input_form="computed", loss="output")))
    for probe, call in forms:
        _compared(ctx, log, probe, make_inputs(config, ctx.device, ctx.generator), call)


# --- autocast --------------------------------------------------------------------------------------------


def autocast(ctx: Probing, log: ProbeLog, heavy: bool, unsupported: frozenset[str] = frozenset()) -> None:
    """A call with grad under ``torch.autocast`` in each half dtype, against nn.LSTM under the same autocast."""
    config = ctx.config
    if config.dtype != "float32":
        log.skipped["autocast"] = "autocast changes float32 computations only (run in the float32 configurations)"
        return
    device_type = torch.device(ctx.device).type
    lows = (torch.bfloat16,) if heavy else (torch.bfloat16, torch.float16)
    if heavy:
        log.skipped["autocast float16"] = "a large configuration: autocast bfloat16 only"
    whole = whole_tensors(ctx.pair.pmap)
    if not whole:
        log.skipped["autocast: parameter gradients"] = AUTOCAST_PER_CALL_WEIGHTS
    for low in lows:
        probe = f"autocast {str(low).removeprefix('torch.')}"
        if str(low).removeprefix("torch.") in unsupported:
            log.skipped[probe] = "the candidate does not support that dtype"
            continue
        inputs = make_inputs(config, ctx.device, ctx.generator)
        with _catching(log, probe), warnings.catch_warnings(), torch.autocast(device_type, dtype=low):
            warnings.simplefilter("ignore", UserWarning)  # nn.LSTM: projections are not supported with oneDNN
            ref = _run_reference(ctx.pair.reference, config, inputs, Call())
            cand = run(ctx.pair.candidate, config, inputs, Call(), ctx.pair.pmap)
            names = [n for n in ref.tensors if whole or not n.startswith("grad ") or n in _LEAF_GRADS]
            log.differences += compare_calls(cand, ref, HALF[low], probe, tuple(names))


AUTOCAST_PER_CALL_WEIGHTS = (
    "the candidate's parameters are not nn.LSTM's whole tensors: under autocast a weight built per call (per-gate "
    "tensors stacked) is cast at every call and its gradient summed in float32, where autocast casts nn.LSTM's "
    "leaf weights once and sums their gradient in the autocast dtype; forward dtypes and values and the input "
    "and state gradients are compared"
)


# --- partial freezing ------------------------------------------------------------------------------------


def _whole(names: set[str], name: str, shape: torch.Size) -> Tensor | None:
    """Every element of the reference parameters in ``names``."""
    return torch.ones(shape, dtype=torch.bool) if name in names else None


def _reference_mask(pair_names: dict[str, torch.Size], chosen: Callable[[str, torch.Size], Tensor | None]) -> Tensor:
    """A flat mask over the reference's elements (ParamMap's order): ``chosen(name, shape)`` per parameter."""
    parts = []
    for name, shape in pair_names.items():
        picked = chosen(name, shape)
        parts.append(torch.zeros(shape.numel(), dtype=torch.bool) if picked is None else picked.flatten())
    return torch.cat(parts)


def _whole_tensors(ctx: Probing, mask: Tensor) -> tuple[set[str], set[str]]:
    """The candidate's parameters every mapped element of which the mask holds, and those it holds only in part."""
    whole, part = set(), set()
    for name, index in ctx.pair.pmap.sources.items():
        partner = ctx.pair.pmap.partners.get(name)
        flat = index.flatten()
        sources = [flat[flat >= 0]]
        if partner is not None:
            sources.append(partner.flatten()[partner.flatten() >= 0])
        held = torch.cat(sources)
        if not held.numel():
            continue
        inside = mask[held]
        if bool(inside.all()):
            whole.add(name)
        elif bool(inside.any()):
            part.add(name)
    return whole, part


def _patterns(ctx: Probing) -> list[tuple[str, set[str], Tensor]]:
    """(probe, reference parameters frozen, the reference elements frozen) for each pattern of this configuration."""
    config, shapes = ctx.config, ctx.pair.pmap.ref_shapes
    parsed = {name: parse_parameter_name(name) for name in shapes}
    by: list[tuple[str, Callable[[str], bool]]] = []
    if config.num_layers > 1:
        by.append((FROZEN_FIRST, lambda n: parsed[n].layer == 0))
        by.append(("frozen: last layer", lambda n: parsed[n].layer == config.num_layers - 1))
    if config.bias:
        by.append(("frozen: biases", lambda n: parsed[n].kind in ("bias_ih", "bias_hh")))
    by.append(("frozen: weight_ih", lambda n: parsed[n].kind == "weight_ih"))
    patterns = []
    for probe, frozen in by:
        names = {n for n in shapes if frozen(n)}
        patterns.append((probe, names, _reference_mask(shapes, partial(_whole, names))))

    def gate_rows(name: str, shape: torch.Size) -> Tensor | None:
        if parsed[name].kind == "weight_hr" or shape[0] % 4:
            return None
        rows = torch.zeros(shape, dtype=torch.bool)
        block = shape[0] // 4
        rows[FROZEN_GATE * block : (FROZEN_GATE + 1) * block] = True
        return rows

    patterns.append(("frozen: the gate-f tensors", set(), _reference_mask(shapes, gate_rows)))
    return patterns


def partially_frozen(ctx: Probing, log: ProbeLog, heavy: bool) -> None:
    """Some parameters frozen on both sides: forward, input / state gradients and the trainable ones' gradients."""
    pair = ctx.pair
    *by_name, gate = _patterns(ctx)
    chosen = by_name[:1] if ctx.config.num_layers > 1 else []  # layer 0: below a trainable layer
    rest = [p for p in by_name if p not in chosen]
    chosen.append(rest[int(torch.randint(0, len(rest), (1,), generator=ctx.generator))])  # one more, in turn
    if heavy:
        chosen = chosen[:1]
    for probe, ref_frozen, mask in [*chosen, gate]:
        frozen, mixed = _whole_tensors(ctx, mask)
        if not ref_frozen and not frozen:
            continue  # the gate pattern: no candidate tensor holds one gate's rows alone (nn.LSTM's layout)
        if mixed:
            log.skipped[probe] = (
                f"the candidate holds frozen and trainable weights in one tensor ({', '.join(sorted(mixed))})"
            )
            continue
        if frozen >= set(pair.candidate.parameters):
            continue  # everything frozen: the frozen weights probe
        _frozen_call(ctx, log, probe, ref_frozen, frozen, mask)


def _frozen_call(ctx: Probing, log: ProbeLog, probe: str, ref_frozen: set[str], frozen: set[str], mask: Tensor) -> None:
    pair, config = ctx.pair, ctx.config
    chosen = [pair.reference.parameters[n] for n in ref_frozen] + [pair.candidate.parameters[n] for n in frozen]
    inputs = make_inputs(config, ctx.device, ctx.generator)
    try:
        for p in chosen:
            p.requires_grad_(False)
            p.grad = None
        with _catching(log, probe):
            # layer 0 frozen: fed features that need no gradient, its state does (fine-tuning above a frozen layer)
            call = Call(input_grad=False, state_grad=True) if probe == FROZEN_FIRST else Call()
            ref = _run_reference(pair.reference, config, inputs, call)
            cand = run(pair.candidate, config, inputs, call)  # gradients in its own names: mapped below
            trainable = {n: cand.tensors.get(f"grad {n}") for n in pair.pmap.sources if n not in frozen}
            mapped = pair.pmap.grads_to_reference(trainable | dict.fromkeys(frozen))  # frozen: zeros
            found = {k: t for k, t in cand.tensors.items() if not k.startswith("grad ") or k in _LEAF_GRADS}
            found |= {f"grad {n}": g for n, g in mapped.items()}
            expected = dict(ref.tensors)
            offset = 0
            for name, shape in pair.pmap.ref_shapes.items():
                rows = mask[offset : offset + shape.numel()].view(shape)
                offset += shape.numel()
                grad = expected.get(f"grad {name}")
                if grad is not None and bool(rows.any()) and name not in ref_frozen:  # the gate pattern's rows
                    expected[f"grad {name}"] = grad.masked_fill(rows.to(grad.device), 0)
            log.differences += [compare(n, found.get(n), t, ctx.row, probe) for n, t in expected.items()]
            woken = [n for n in frozen if pair.candidate.parameters[n].requires_grad]
            graded = [n for n in frozen if pair.candidate.parameters[n].grad is not None]
            if woken or graded:
                note = f"frozen parameters {', '.join(sorted(set(woken + graded)))} were given requires_grad or a .grad"
                inf = float("inf")
                log.differences.append(Difference("frozen", False, False, inf, inf, inf, note, probe))
    finally:
        for p in chosen:
            p.requires_grad_(True)
            p.grad = None


_LEAF_GRADS = ("grad input", "grad h_0", "grad c_0")


# --- torch.func ------------------------------------------------------------------------------------------


def _fed(config: Config, inputs: Inputs, x: Tensor) -> Tensor | PackedSequence:
    if inputs.lengths is None:
        return x
    return pack_padded_sequence(x, inputs.lengths, batch_first=config.batch_first, enforce_sorted=False)


def _func_grads(side: Side, config: Config, inputs: Inputs, module: bool) -> dict[str, Tensor]:
    """Gradients through ``torch.func.vjp`` (what ``grad`` and ``jacrev`` are built on): of the parameters (through
    functional_call) and the input."""

    def loss(output: Tensor | PackedSequence, h_n: Tensor, c_n: Tensor) -> Tensor:
        data = output.data if isinstance(output, PackedSequence) else output  # (T, D*H_out) when packed
        return loss_of((data, h_n, c_n), inputs, "all")

    if not module:
        value, pullback, *_ = torch.func.vjp(
            lambda x: loss(*_unpack(side.forward(_fed(config, inputs, x), inputs.hx))), inputs.x
        )
        (grad_x,) = pullback(torch.ones_like(value))
        return {"grad input": grad_x}
    target = side.modules[0]
    params = {n: p.detach() for n, p in side.parameters.items()}

    def f(weights: dict[str, Tensor], x: Tensor) -> Tensor:
        result = torch.func.functional_call(target, weights, (_fed(config, inputs, x), inputs.hx), strict=False)
        return loss(*_unpack(result))

    value, pullback, *_ = torch.func.vjp(f, params, inputs.x)  # torch.func.grad's own path, without dynamo
    grads, grad_x = pullback(torch.ones_like(value))
    return {"grad input": grad_x} | {f"grad {n}": g for n, g in grads.items()}


def func_transforms(ctx: Probing, log: ProbeLog) -> None:
    """``torch.func.vjp`` on both sides; ``torch.func.vmap`` refused as nn.LSTM refuses it (module candidates)."""
    pair, config = ctx.pair, ctx.config
    module = pair.candidate.prefixes == ("",)
    probe = "torch.func.vjp"
    inputs = make_inputs(config, ctx.device, ctx.generator)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "RNN module weights are not part of single contiguous", UserWarning)
        try:
            theirs = _func_grads(pair.reference, config, inputs, module)
        except Exception as exc:  # noqa: BLE001 - nn.LSTM's refusal: the probe does not apply
            log.skipped[probe] = f"nn.LSTM itself raises under it here ({type(exc).__name__})"
        else:
            try:
                mine = _func_grads(pair.candidate, config, inputs, module)
            except (Exception, SystemExit) as exc:  # noqa: BLE001 - the candidate may raise anything: a difference
                log.differences.append(raised(probe, CheckError(f"{type(exc).__name__}: {exc}")))
            else:
                params = {n[len("grad ") :]: g for n, g in mine.items() if n != "grad input"}
                mapped = pair.pmap.grads_to_reference(params) if params else {}
                found = {"grad input": mine["grad input"]} | {f"grad {n}": g for n, g in mapped.items()}
                log.differences += [compare(n, found.get(n), t, ctx.row, probe) for n, t in theirs.items()]
    if not module or inputs.lengths is not None:
        return  # vmap: a module's own forward on padded input
    _vmap(ctx, log, inputs)


def _vmap(ctx: Probing, log: ProbeLog, inputs: Inputs) -> None:
    """Two inputs under ``torch.func.vmap``. Where nn.LSTM refuses (no batching rule for ``aten::lstm``), the
    candidate must raise its exception type, or return exactly what nn.LSTM returns for each input on its own (a
    pure-tensor-op rewrite batches correctly: not a difference; a result that is not nn.LSTM's is)."""
    pair, probe = ctx.pair, "torch.func.vmap"
    xs = torch.stack([inputs.x, inputs.x * 0.5])  # two independent inputs

    def attempt(side: Side) -> tuple[Tensor | None, BaseException | None]:
        try:
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore", UserWarning)
                forward: Callable[..., Any] = side.forward
                output = torch.func.vmap(lambda x: _unpack(forward(x, inputs.hx))[0])(xs)
            return (output if isinstance(output, Tensor) else None), None
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - what is raised is what is compared
            return None, exc

    expected, refused = attempt(pair.reference)
    got, error = attempt(pair.candidate)
    if error is not None and (refused is None or not isinstance(error, type(refused))):
        if refused is None:
            log.differences.append(raised(probe, CheckError(f"{type(error).__name__}: {error}")))
            return
        note = f"Expected {type(refused).__name__} as nn.LSTM raises ({refused}), got {type(error).__name__}: {error}"
        inf = float("inf")
        log.differences.append(Difference("refuses", False, False, inf, inf, inf, note, probe))
        return
    if error is not None:
        note = f"refused with {type(error).__name__}, as nn.LSTM refuses it"
        log.differences.append(Difference("refuses", True, True, 0.0, 0.0, 0.0, note, probe))
        return
    if refused is not None:  # the candidate batched what nn.LSTM cannot: its answer must be nn.LSTM's per input
        try:
            with torch.no_grad():
                each = [_unpack(pair.reference.forward(x, inputs.hx))[0] for x in xs.unbind(0)]
                expected = torch.stack([t for t in each if isinstance(t, Tensor)])  # padded input: tensors
        except Exception as exc:  # noqa: BLE001 - nn.LSTM itself raising: nothing to compare with
            log.skipped[probe] = f"nn.LSTM itself raises here ({type(exc).__name__})"
            return
    log.differences.append(compare("output", got, expected, ctx.row, probe))


# --- construction-time capture ---------------------------------------------------------------------------


def _row_for(ctx: Probing, dtype: torch.dtype) -> Tolerance:
    """The tolerance row of ``dtype`` on this configuration's backend (found from its own row)."""
    for (backend, of), row in TOLERANCES.items():
        if of == ctx.config.torch_dtype and row == ctx.row:
            return TOLERANCES.get((backend, dtype), ctx.row)
    return ctx.row


@contextmanager
def _moved(modules: list[nn.Module], dtype: torch.dtype, back: torch.dtype) -> Iterator[None]:
    try:
        for module in modules:
            module.to(dtype)
        yield
    finally:
        for module in modules:
            module.to(back)


def construction_capture(ctx: Probing, log: ProbeLog, unsupported: frozenset[str] = frozenset()) -> None:
    """A dtype move after construction, new weights loaded after it, and a parametrization registered after use."""
    pair, config = ctx.pair, ctx.config
    if pair.candidate.prefixes != ("",):
        log.skipped["dtype moves and parametrizations"] = "a cell candidate: the layer machinery holds its dtype"
        return
    target = torch.float32 if config.dtype == "float64" else torch.float64
    move = "after .float()" if target is torch.float32 else "after .double()"
    moved = replace(config, dtype=str(target).removeprefix("torch."))
    row = _row_for(ctx, target)
    if moved.dtype in unsupported or "dtype_moves" in unsupported:
        why = "declared unsupported by the candidate" if "dtype_moves" in unsupported else "not supported"
        log.skipped[move] = f"{why}: {moved.dtype if why == 'not supported' else 'dtype moves'}"
        _parametrized(ctx, log)
        return
    try:
        with _catching(log, move), _moved([pair.reference.modules[0]], target, config.torch_dtype):
            try:
                pair.candidate.modules[0].to(target)
            except Exception as exc:
                msg = f"{move} raised {type(exc).__name__}: {exc}"
                raise CheckError(msg) from exc
            try:
                _compared(ctx, log, move, make_inputs(moved, ctx.device, ctx.generator), Call(), config=moved, row=row)
                with torch.no_grad():
                    for p in pair.reference.parameters.values():
                        p.copy_(torch.rand(p.shape, generator=ctx.generator, dtype=torch.float64).sub_(0.5))
                pair.sync()
                probe = f"{move}, new weights loaded"
                inputs = make_inputs(moved, ctx.device, ctx.generator)
                _compared(ctx, log, probe, inputs, Call(mode="no_grad"), config=moved, row=row, keep=False)
            finally:
                pair.candidate.modules[0].to(config.torch_dtype)
    finally:
        _restore(pair)
    _parametrized(ctx, log)


class _Halved(nn.Module):
    """A parametrization: the weight read as half its stored value."""

    def forward(self, weight: Tensor) -> Tensor:
        return weight * 0.5


def _parametrized(ctx: Probing, log: ProbeLog) -> None:
    pair, probe = ctx.pair, "parametrization registered"
    if set(pair.candidate.parameters) != set(pair.reference.parameters) or pair.pmap.offsets:
        log.skipped[probe] = "needs nn.LSTM's parameter names on the candidate"
        return
    name = "weight_hh_l0"
    modules = [pair.reference.modules[0], pair.candidate.modules[0]]
    registered: list[nn.Module] = []
    inputs = make_inputs(ctx.config, ctx.device, ctx.generator)
    try:
        with _catching(log, probe):
            for side in (pair.reference, pair.candidate):  # used, then parametrized: as a script adds weight norm
                _forward(side, ctx.config, inputs, "no_grad", side is pair.reference)
            for module in modules:
                try:
                    parametrize.register_parametrization(module, name, _Halved())
                except Exception as exc:
                    msg = f"register_parametrization raised {type(exc).__name__}: {exc}"
                    raise CheckError(msg) from exc
                registered.append(module)
            _compared(ctx, log, probe, inputs, Call(), keep=False)
    finally:
        for module in registered:
            parametrize.remove_parametrizations(module, name, leave_parametrized=False)
