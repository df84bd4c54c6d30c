"""The parameter audit's search for unused parameters: a candidate parameter whose gradient is exactly zero
where nn.LSTM's is not, and whose change changes no output, is named with the gate blocks it stands for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
from torch import Tensor

from lstm_replica.names import GATES, parse_parameter_name
from lstm_replica.parity.compare import differing
from lstm_replica.parity.parammap import ParamMap
from lstm_replica.parity.results import grad_key

LIVE_FRACTION = 1e-6  # nn.LSTM's gradient counts as non-zero above this fraction of its tensor's largest


def unused_parameters(
    pmap: ParamMap,
    tensors: Mapping[str, Tensor | None],
    reference: Mapping[str, Tensor | None],
    parameters: Mapping[str, Tensor],
    outputs: Callable[[], Sequence[Tensor | None]],
) -> list[str]:
    """Candidate parameters (or parts) that are loaded but never used, each named with the reference elements it holds.

    ``tensors`` / ``reference``: one call's results of candidate and reference, gradients under ``"grad {name}"``
    in the reference's names (the candidate's carried back by the map). A candidate element is a suspect where
    its gradient is exactly zero and nn.LSTM's, for the elements it maps to, is not (above ``LIVE_FRACTION`` of
    that gradient's largest element: not zero by rounding); the suspects of each
    parameter are then changed in place (``parameters``: the candidate's live ones, restored after) and the
    candidate run again (``outputs()``): only when no output changes is the parameter named. A parameter that is
    used without getting a gradient (detached), or a gradient that is zero by rounding, is not named here.
    """
    zero = torch.zeros(pmap.total, dtype=torch.bool)
    live = torch.zeros(pmap.total, dtype=torch.bool)
    offset = 0
    for name, shape in pmap.ref_shapes.items():
        mine, theirs = tensors.get(grad_key(name)), reference.get(grad_key(name))
        if mine is not None and theirs is not None and mine.shape == theirs.shape == shape:
            part = slice(offset, offset + shape.numel())
            zero[part] = (mine.detach() == 0).flatten().cpu()
            magnitude = theirs.detach().abs().nan_to_num(0.0, 0.0, 0.0)  # (same shape): |nn.LSTM's gradient|
            scale = float(magnitude.max()) if magnitude.numel() else 0.0
            live[part] = (magnitude > LIVE_FRACTION * scale).flatten().cpu()  # far from zero, not by rounding
        offset += shape.numel()
    suspects: dict[str, Tensor] = {}
    for name in pmap.sources:
        index, partner = pmap._pairs(name, torch.device("cpu"))
        mapped, folded = index >= 0, partner >= 0
        source, second = index.clamp(min=0), partner.clamp(min=0)
        silent = mapped & zero[source] & (~folded | zero[second])
        suspect = silent & (live[source] | (folded & live[second]))
        if bool(suspect.any()) and name in parameters:
            suspects[name] = suspect
    if not suspects:
        return []
    try:
        before = list(outputs())
    except Exception:  # noqa: BLE001 - the candidate may raise anything: then nothing is confirmed
        return []
    found = []
    for name, suspect in suspects.items():
        if _changes_output(parameters[name], suspect, before, outputs):
            continue
        index, partner = pmap._pairs(name, torch.device("cpu"))
        held = torch.cat([index[suspect], partner[suspect & (partner >= 0)]])
        what = _describe(pmap, held)
        count, size = int(suspect.sum()), suspect.numel()
        if count == size:
            found.append(
                f"{name} (nn.LSTM's {what}) is never used: its gradient is zero where nn.LSTM's is not, "
                "and changing it changes no output"
            )
        else:
            found.append(
                f"{name}: {count} of {size} elements (nn.LSTM's {what}) are never used: their gradient is zero "
                "where nn.LSTM's is not, and changing them changes no output"
            )
    return found


def _changes_output(
    parameter: Tensor, elements: Tensor, before: Sequence[Tensor | None], outputs: Callable[[], Sequence[Tensor | None]]
) -> bool:
    """Whether adding 1 to ``elements`` (flat, bool) of ``parameter`` changes any output; the value comes back after.

    A call that raises counts as a change: nothing is confirmed unused.
    """
    saved = parameter.detach().clone()
    delta = torch.zeros(parameter.shape, dtype=parameter.dtype, device=parameter.device)
    delta.view(-1)[elements.to(parameter.device).flatten()] = 1.0
    try:
        with torch.no_grad():
            parameter.add_(delta)
        after = list(outputs())
    except Exception:  # noqa: BLE001 - the candidate may raise anything: not evidence of an unused parameter
        return True
    finally:
        with torch.no_grad():
            parameter.copy_(saved)
    return len(after) != len(before) or any(
        (a is None) != (b is None)
        or (a is not None and b is not None and (a.shape != b.shape or bool(differing(a, b).any())))
        for a, b in zip(after, before, strict=True)
    )


def _describe(pmap: ParamMap, held: Tensor) -> str:
    """Flat reference indices as words: ``l0.weight_ih rows of gate g``, or ``5 of 24 elements of bias_hh_l0``."""
    parts = []
    offset = 0
    for name, shape in pmap.ref_shapes.items():
        size = shape.numel()
        local = held[(held >= offset) & (held < offset + size)] - offset
        offset += size
        if local.numel():
            parts.append(_describe_one(name, shape, local.unique()))
    return " and ".join(parts)


def _describe_one(name: str, shape: torch.Size, local: Tensor) -> str:
    """Elements (flat, unique) of one reference parameter in words, by gate block where it has them."""
    if local.numel() == shape.numel():
        return name
    hit = torch.zeros(shape.numel(), dtype=torch.bool)
    hit[local] = True
    try:
        kind = parse_parameter_name(name).kind
    except ValueError:  # not an LSTM parameter name: no gate blocks to name
        kind = ""
    if not kind or kind == "weight_hr" or shape[0] % len(GATES):
        return f"{local.numel()} of {shape.numel()} elements of {name}"
    blocks = hit.view(len(GATES), -1)  # one row of the view per gate block
    whole = [g for g, block in zip(GATES, blocks, strict=True) if bool(block.all())]
    touched = [g for g, block in zip(GATES, blocks, strict=True) if bool(block.any())]
    gates = "gate" if len(touched) == 1 else "gates"
    if whole == touched:
        return f"{name} rows of {gates} {', '.join(whole)}"
    return f"{local.numel()} of {shape.numel()} elements of {name}, in the rows of {gates} {', '.join(touched)}"
