"""The mode and cache probes of the training protocol: train mode without grad (Monte-Carlo dropout),
eval-mode caches (weights changed in place, the same input buffer rewritten, train/eval toggles), and
inputs as users write them (an embedding look-up, a computed input, states as views of a wider buffer).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial

import torch

from lstm_replica.parity.calls import Call, Mode
from lstm_replica.parity.compare import compare
from lstm_replica.parity.inputs import Inputs, make_inputs
from lstm_replica.parity.probes.context import (
    ProbeLog,
    Probing,
    catching,
)
from lstm_replica.parity.probes.module import restore
from lstm_replica.parity.probes.protocol_calls import compared, forward_in_mode, protocol_seed, seeded_call

IN_PLACE_SCALE = 0.5  # the in-place weight change: exact in every dtype


def train_mode_without_grad(ctx: Probing, log: ProbeLog) -> None:
    """Train mode under no_grad and inference_mode (Monte-Carlo dropout), the same generator state on both sides."""
    config = ctx.config
    dropping = " (Monte-Carlo dropout)" if config.dropout and config.num_layers > 1 else ""
    ctx.pair.train(True)
    try:
        modes: tuple[tuple[Mode, str], ...] = (("no_grad", "no_grad"), ("inference", "inference_mode"))
        for mode, what in modes:
            inputs = make_inputs(config, ctx.device, ctx.generator)
            compared(ctx, log, f"train mode, {what}{dropping}", inputs, Call(mode=mode), seed=protocol_seed(ctx))
    finally:
        ctx.pair.train(False)


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
            seed = protocol_seed(ctx) if dropout else None
            with catching(log, probe):
                ref = seeded_call(
                    seed, partial(forward_in_mode, sides["reference"], config, buffers["reference"], mode, True)
                )
                cand = seeded_call(
                    seed, partial(forward_in_mode, sides["candidate"], config, buffers["candidate"], mode, False)
                )
                log.differences += [compare(n, cand.get(n), t, ctx.row, probe) for n, t in ref.items()]
    finally:
        pair.train(False)
        restore(pair)


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
        compared(ctx, log, probe, make_inputs(config, ctx.device, ctx.generator), call)
