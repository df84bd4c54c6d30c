"""The partial-freezing probe: some parameters frozen (``requires_grad=False``, in nn.LSTM's terms), then
forward, input and state gradients, the gradients still trainable, and the frozen ones still frozen.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
from torch import Tensor

from lstm_replica.names import parse_parameter_name
from lstm_replica.parity.calls import Call, run
from lstm_replica.parity.compare import Difference, compare
from lstm_replica.parity.inputs import make_inputs
from lstm_replica.parity.probes.context import ProbeLog, Probing, catching, run_reference
from lstm_replica.parity.results import LEAF_GRADS, grad_key, gradient_of

FROZEN_GATE = 1  # the gate whose rows a per-gate candidate freezes: f (nn.LSTM's blocks i, f, g, o)


FROZEN_FIRST = "frozen: layer 0"  # its call: the input needs no gradient, the state does


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
        with catching(log, probe):
            # layer 0 frozen: fed features that need no gradient, its state does (fine-tuning above a frozen layer)
            call = Call(input_grad=False, state_grad=True) if probe == FROZEN_FIRST else Call()
            ref = run_reference(pair.reference, config, inputs, call)
            cand = run(pair.candidate, config, inputs, call)  # gradients in its own names: mapped below
            trainable = {n: cand.tensors.get(grad_key(n)) for n in pair.pmap.sources if n not in frozen}
            mapped = pair.pmap.grads_to_reference(trainable | dict.fromkeys(frozen))  # frozen: zeros
            found = {k: t for k, t in cand.tensors.items() if gradient_of(k) is None or k in LEAF_GRADS}
            found |= {grad_key(n): g for n, g in mapped.items()}
            expected = dict(ref.tensors)
            offset = 0
            for name, shape in pair.pmap.ref_shapes.items():
                rows = mask[offset : offset + shape.numel()].view(shape)
                offset += shape.numel()
                grad = expected.get(grad_key(name))
                if grad is not None and bool(rows.any()) and name not in ref_frozen:  # the gate pattern's rows
                    expected[grad_key(name)] = grad.masked_fill(rows.to(grad.device), 0)
            log.differences += [compare(n, found.get(n), t, ctx.row, probe) for n, t in expected.items()]
            woken = [n for n in frozen if pair.candidate.parameters[n].requires_grad]
            graded = [n for n in frozen if pair.candidate.parameters[n].grad is not None]
            if woken or graded:
                note = f"frozen parameters {', '.join(sorted(set(woken + graded)))} were given requires_grad or a .grad"
                log.differences.append(Difference.apart("frozen", note, probe))
    finally:
        for p in chosen:
            p.requires_grad_(True)
            p.grad = None
