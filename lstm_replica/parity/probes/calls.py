"""Calls 2-5: new inputs each (other lengths and batch sizes where the configuration allows), the state of
call 1 carried into call 2 as truncated backpropagation does, inputs without grad, losses from h_n,
output and c_n alone, non-contiguous inputs, ``enforce_sorted`` packing, ``hx`` by keyword as a list; then
no_grad and inference_mode forwards.
"""

from __future__ import annotations

import random
from dataclasses import replace

import torch

from lstm_replica.parity.calls import Call, Outcome, run
from lstm_replica.parity.configs import Config
from lstm_replica.parity.inputs import Inputs, make_inputs
from lstm_replica.parity.probes.context import ProbeLog, Probing, catching, compare_calls, run_reference


def vary(config: Config, rng: random.Random) -> tuple[int, int]:
    """Another length and batch size for a later call: as many steps as allowed, unbatched input keeps N = 1."""
    steps = config.steps if config.steps == 1 else rng.randint(max(1, config.steps // 2), config.steps)
    batch = config.batch if config.input_kind == "unbatched" or config.batch == 1 else rng.randint(1, config.batch)
    return steps, batch


def _carried(inputs: Inputs, outcome: Outcome) -> Inputs:
    """The next chunk of a truncated-backpropagation run: the previous call's final state, detached, as hx."""
    h_n, c_n = outcome.tensors["h_n"], outcome.tensors["c_n"]
    if inputs.h0 is None or h_n is None or c_n is None or h_n.shape != inputs.h0.shape:
        return inputs
    return replace(inputs, h0=h_n.detach().clone(), c0=c_n.detach().clone())


def later_calls(ctx: Probing, first: Outcome, log: ProbeLog) -> None:
    """Calls 2-5, no_grad and inference_mode, on new inputs each (call 5: ``forward(x, hx=[h_0, c_0])``)."""
    pair, config, device, row, generator = ctx.pair, ctx.config, ctx.device, ctx.row, ctx.generator
    rng = random.Random(int(torch.randint(0, 2**31, (1,), generator=generator)))
    calls = (
        (
            "call 2: input without grad, state carried and computed, loss h_n",
            Call(input_grad=False, state_grad=True, computed_state=True, loss="h_n"),
            True,
        ),
        ("call 3: non-contiguous input, loss output", Call(strided=True, loss="output"), False),
        ("call 4: loss c_n, packed sorted (enforce_sorted=True)", Call(loss="c_n", sorted_packing=True), False),
        ("call 5: hx by keyword, as a list", Call(hx_keyword_list=True), False),
        ("no_grad", Call(mode="no_grad"), False),
        ("inference_mode", Call(mode="inference"), False),
    )
    for probe, call, carried in calls:
        steps, batch = (config.steps, config.batch) if carried else vary(config, rng)
        inputs = make_inputs(config, device, generator, steps=steps, batch=batch)
        if carried:
            inputs = _carried(inputs, first)
        with catching(log, probe):
            ref = run_reference(pair.reference, config, inputs, call)
            cand = run(pair.candidate, config, inputs, call, pair.pmap)
            log.differences += compare_calls(cand, ref, row, probe)
            log.outcomes[probe] = (cand, ref, replace(config, steps=steps, batch=batch))
            log.parameters_changed += cand.parameters_changed
            log.aliased += cand.aliased
            log.keep(probe, cand)
