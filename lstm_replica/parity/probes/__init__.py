"""The probes of a certificate: what one configuration puts a candidate through after its first call.

Every probe runs on the same candidate instance as the first call, so a defect that needs state across calls
shows up; each compares the candidate with nn.LSTM put through the same thing, and writes its differences,
the calls kept for locating one, and the probes it left out (with why) into a :class:`.ProbeLog`. A probe in
which the candidate raises where nn.LSTM does not is a difference; each difference carries its probe's name.

:data:`PROBES` lists them in the order they run, each with its words in the report's legend (the report reads
them from here). One module per probe:

- :mod:`.initial`: the candidate's own initial weights (and ``reset_parameters()``' draws, see :mod:`.module`)
  against nn.LSTM's for the same seed; under ``--tolerance``, their distribution (:mod:`..draws`);
- :mod:`.calls`: calls 2-5 on new inputs, the state carried, no_grad and inference_mode;
- :mod:`.module`: ``reset_parameters()``, frozen weights, ``torch.func.functional_call``;
- :mod:`.modes`: deterministic algorithms, and float64 built under the default dtype;
- :mod:`.bad_input`: wrong input (nn.LSTM's exception type) and non-finite input;
- :mod:`.gradients`: double backward (a gradient penalty);
- :mod:`.stress`: saturating weights and inputs, extreme values (:mod:`..regimes`);
- :mod:`.training`: SGD and Adam steps, accumulation, the trained weights;
- :mod:`.protocol`: what a training script does besides calling (:mod:`.autocast`, :mod:`.frozen`,
  :mod:`.func`, :mod:`.dtype_moves`, and the eval-mode caches, inputs as written, train mode without grad).

To add a probe: write ``probe(ctx, log)`` in a module of its own here, and add it to :data:`PROBES` where it
should run (after the probes whose state it must not disturb) with its words for the legend.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from torch import Tensor

from lstm_replica.parity.build import Candidate, Pair
from lstm_replica.parity.configs import Config
from lstm_replica.parity.probes.bad_input import bad_input, non_finite
from lstm_replica.parity.probes.calls import later_calls
from lstm_replica.parity.probes.context import ProbeLog, Probing
from lstm_replica.parity.probes.gradients import double_backward
from lstm_replica.parity.probes.initial import cast_hint, initial_weights, redraw_initial
from lstm_replica.parity.probes.modes import global_modes
from lstm_replica.parity.probes.module import module_protocol
from lstm_replica.parity.probes.protocol import protocol_probes
from lstm_replica.parity.probes.stress import stressed
from lstm_replica.parity.probes.training import FOLDED, training
from lstm_replica.parity.results import FOLDED_PROBE


@dataclass(frozen=True)
class Probe:
    """One probe of :data:`PROBES`: its name, its words in the report's legend (empty: a note, not a probe),
    and what runs it."""

    name: str
    legend: str
    run: Callable[[Probing, ProbeLog], None]


def _initial(ctx: Probing, log: ProbeLog) -> None:
    """The candidate's own initial weights (unless it declares its own initialisation); a folded bias noted."""
    pair, spec = ctx.pair, ctx.spec
    if "initialisation" in ctx.unsupported:
        log.skipped["initial weights"] = "declared unsupported by the candidate (its own initialisation)"
    elif spec is not None:
        redraw = partial(_redraw, spec, ctx.config, ctx.device, ctx.seed, pair)
        hint = cast_hint(spec, ctx.config)
        log.differences += initial_weights(pair, ctx.config, ctx.tolerance, ctx.row, redraw, hint)
    if pair.pmap.folded:
        log.skipped[f"{FOLDED_PROBE} ({', '.join(pair.pmap.folded)})"] = FOLDED


def _redraw(spec: Candidate, config: Config, device: str, seed: int, pair: Pair, k: int) -> dict[str, Tensor | None]:
    """The candidate's k-th extra draw of initial weights, under a seed derived from the configuration's."""
    return redraw_initial(spec, config, device, (seed + k * 7_919) % 2**62, pair.pmap)


def _later_calls(ctx: Probing, log: ProbeLog) -> None:
    if ctx.first is not None:
        later_calls(ctx, ctx.first, log)


def _module(ctx: Probing, log: ProbeLog) -> None:
    module_protocol(ctx, log, draws="initialisation" not in ctx.unsupported)


def _modes(ctx: Probing, log: ProbeLog) -> None:
    if ctx.spec is not None:
        global_modes(ctx, log, ctx.spec, ctx.seed)


def _double_backward(ctx: Probing, log: ProbeLog) -> None:
    if "double_backward" in ctx.unsupported:
        log.skipped["double backward"] = "declared unsupported by the candidate"
    elif ctx.backend == "cudnn":
        log.skipped["double backward"] = "nn.LSTM's cuDNN kernel has no double backward"
    else:
        double_backward(ctx, log)


def _cudnn_eval_mode(ctx: Probing, log: ProbeLog) -> None:
    """Not a probe: under cuDNN every call above ran in train mode, which the report says."""
    if ctx.backend == "cudnn" and ctx.spec is not None and ctx.spec.kind == "module":
        log.skipped["eval mode"] = (
            "nn.LSTM's cuDNN kernel has no backward in eval mode: every call ran in train mode "
            "(dropout 0, the same function); --backend native checks eval mode"
        )


def _protocol(ctx: Probing, log: ProbeLog) -> None:
    protocol_probes(ctx, log, ctx.unsupported)


PROBES: tuple[Probe, ...] = (
    Probe("initial weights", "initial weights", _initial),
    Probe(
        "calls 2-5",
        "calls 2-5 (state carried as a computed tensor, input without grad, non-contiguous input, enforce_sorted "
        "packing, loss h_n / output / c_n, hx by keyword as a list), no_grad, inference_mode",
        _later_calls,
    ),
    Probe("module protocol", "reset_parameters(), frozen weights, functional_call", _module),
    Probe("global modes", "global modes (deterministic algorithms, built under the default dtype)", _modes),
    Probe("bad input", "bad input", bad_input),
    Probe("non-finite input", "non-finite input", non_finite),
    Probe("double backward", "double backward", _double_backward),
    Probe("eval mode", "", _cudnn_eval_mode),
    Probe("stressed", "stressed (saturating weights and inputs), extreme values", stressed),
    Probe(
        "training",
        "training steps (SGD with momentum, then Adam, two accumulating micro-batches; outputs, gradients, "
        "parameters, optimiser state), trained",
        training,
    ),
    Probe(
        "training protocol",
        "then the training protocol (train mode under no_grad / inference_mode, eval-mode caches, inputs as an "
        "embedding look-up and computed, states as views, autocast, partly frozen parameters, torch.func, dtype "
        "moves, loading and parametrizations)",
        _protocol,
    ),
)


def run_probes(ctx: Probing, log: ProbeLog) -> None:
    """Every probe of :data:`PROBES`, in order, on ``ctx``: their differences and skips into ``log``."""
    for probe in PROBES:
        probe.run(ctx, log)
