"""How the training-protocol probes call both sides: seeded calls, a forward in a given autograd mode, and
the comparison of one protocol call (see :mod:`.protocol`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TypeVar

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence

from lstm_replica.parity.build import Side, WrongResult
from lstm_replica.parity.calls import Call, Outcome, _call, _unpack, run
from lstm_replica.parity.candidates import CheckError
from lstm_replica.parity.compare import Tolerance
from lstm_replica.parity.configs import Config
from lstm_replica.parity.inputs import Inputs, packed
from lstm_replica.parity.probes.context import (
    ProbeLog,
    Probing,
    ReferenceRaised,
    catching,
    compare_calls,
    run_reference,
)

T = TypeVar("T")


def protocol_seed(ctx: Probing) -> int:
    return int(torch.randint(0, 2**31, (1,), generator=ctx.generator))


def seeded_call(seed: int | None, fn: Callable[[], T]) -> T:
    """``fn()`` with torch's generator seeded (dropout drawn from the same state on both sides)."""
    if seed is not None:
        torch.manual_seed(seed)
    return fn()


def compared(
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
    with catching(log, probe), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # nn.LSTM's advisories (oneDNN and projections, say)
        ref = seeded_call(seed, lambda: run_reference(pair.reference, shaped, inputs, call))
        cand = seeded_call(seed, lambda: run(pair.candidate, shaped, inputs, call, pair.pmap))
        log.differences += compare_calls(cand, ref, row or ctx.row, probe)
        if keep:
            log.outcomes[probe] = (cand, ref, shaped)
            log.parameters_changed += cand.parameters_changed
            log.keep(probe, cand)
        return cand, ref
    return None


def forward_in_mode(side: Side, config: Config, inputs: Inputs, mode: str, reference: bool) -> dict[str, Tensor | None]:
    """A forward without autograd on exactly these tensors (no copies: the same buffers call after call)."""
    fed: Tensor | PackedSequence = inputs.x
    if inputs.lengths is not None:
        fed = packed(inputs.x, inputs.lengths, config)
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
