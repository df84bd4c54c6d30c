"""The bad-input probes: wrong input must be refused with the exception type nn.LSTM raises, and
non-finite input must give nn.LSTM's pattern of NaN and infinity.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence

from lstm_replica.cell import Hidden
from lstm_replica.parity.build import Forward
from lstm_replica.parity.calls import Call, run
from lstm_replica.parity.candidates import CheckError
from lstm_replica.parity.compare import Difference
from lstm_replica.parity.inputs import Inputs, make_inputs, packed
from lstm_replica.parity.probes.context import ProbeLog, Probing, catching, compare_calls, run_reference


def bad_input(ctx: Probing, log: ProbeLog) -> None:
    """Calls nn.LSTM refuses (a wrong feature size; an input in another dtype than the module's; an hx for one
    sequence given with a batch of several): the candidate must refuse them too, with nn.LSTM's exception type
    (for the dtype: with any exception, as plain tensor ops do), rather than return something."""
    pair, config = ctx.pair, ctx.config
    inputs = make_inputs(config, ctx.device, ctx.generator)
    given = inputs.hx
    other = torch.float32 if inputs.x.dtype == torch.float64 else torch.float64
    cases = [
        ("input with one feature too many", _widened(inputs), given),
        (f"input in {str(other).removeprefix('torch.')}, the module in {config.dtype}", inputs.x.to(other), given),
    ]
    any_error = {cases[1][0]}  # a dtype mismatch: plain tensor ops raise RuntimeError where nn.LSTM's check raises
    if given is not None and given[0].dim() == 3 and given[0].size(1) > 1 and inputs.lengths is None:
        cases.append(("hx for a batch of 1, input a batch of several", inputs.x, (given[0][:, :1], given[1][:, :1])))
    for what, x, hx in cases:
        probe = f"bad input: {what}"
        fed = x if inputs.lengths is None else packed(x, inputs.lengths, config)
        expected = _raises(pair.reference.forward, fed, hx)
        if expected is None:
            continue
        got = _raises(pair.candidate.forward, fed, hx)
        if got is None or not (isinstance(got, type(expected)) or (what in any_error and isinstance(got, Exception))):
            said = "returned a result" if got is None else f"raised {type(got).__name__}: {got}"
            note = f"Expected {type(expected).__name__} as nn.LSTM raises ({expected}), got: {said}"
            log.differences.append(Difference.apart("refuses", note, probe))


def _widened(inputs: Inputs) -> Tensor:
    extra = torch.zeros(*inputs.x.shape[:-1], 1, dtype=inputs.x.dtype, device=inputs.x.device)
    return torch.cat([inputs.x, extra], -1)  # (..., H_in + 1)


def _raises(forward: Forward, fed: Tensor | PackedSequence, hx: Hidden | None) -> BaseException | None:
    try:
        with torch.no_grad():
            forward(fed, hx)
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - what is raised is what is compared
        return exc.__cause__ if isinstance(exc, CheckError) and exc.__cause__ is not None else exc
    return None


def non_finite(ctx: Probing, log: ProbeLog) -> None:
    """A NaN in the first sequence's first step and +inf in the last sequence's: nn.LSTM propagates them, and a
    candidate must too (a guard that turns them into numbers hides a diverging run)."""
    pair, config = ctx.pair, ctx.config
    probe = "non-finite input"
    inputs = make_inputs(config, ctx.device, ctx.generator)
    x = inputs.x.clone()
    if x.dim() == 3:
        x[0, 0, 0] = float("nan")  # first step of the first sequence, batch_first or not
        last = (-1, 0, 0) if config.batch_first else (0, -1, 0)
        if x.size(0 if config.batch_first else 1) > 1:
            x[last] = float("inf")
    else:
        x[0, 0] = float("nan")  # (L, H_in)
    inputs = replace(inputs, x=x)
    with catching(log, probe):
        ref = run_reference(pair.reference, config, inputs, Call())
        cand = run(pair.candidate, config, inputs, Call(), pair.pmap)
        log.differences += compare_calls(cand, ref, ctx.row, probe)
