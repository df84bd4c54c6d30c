"""Judging one configuration: call 1 compared and audited, the probes, then the verdict and its location.

Per configuration the reference runs once with gradients; the candidate runs once without (to see that it
leaves its inputs unmodified) and twice with gradients (to see that it gives the same result twice). Every
output, state and gradient is compared and the parameter map audited; then the probes run (:mod:`.probes`;
a real-size configuration runs the reduced set :data:`.sizes.REDUCED_PROBES`), and the first difference is
located (:mod:`.locate`). :func:`judge_config` turns whatever the candidate does into a result: a raise on a
supported configuration is a difference, a failure to run one is an error.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from functools import partial

import torch
from torch import Tensor

from lstm_replica.parity import backends
from lstm_replica.parity.audit import unused_parameters
from lstm_replica.parity.backends import Backend
from lstm_replica.parity.build import (
    Candidate,
    CandidateRaised,
    Pair,
    Refused,
    WrongResult,
    build_pair,
)
from lstm_replica.parity.calls import Outcome, run
from lstm_replica.parity.candidates import (
    CheckError,
)
from lstm_replica.parity.compare import Tolerance, compare, per_step, tolerance_for
from lstm_replica.parity.configs import Config
from lstm_replica.parity.globalstate import global_state, torch_threads
from lstm_replica.parity.inputs import Inputs, make_inputs
from lstm_replica.parity.layouts import CandidateDiffers
from lstm_replica.parity.locate import locate, probe_cause, probe_gate, time_major
from lstm_replica.parity.noise import allowing_noise, as_float64, float64_reference, own_error
from lstm_replica.parity.probes import run_probes
from lstm_replica.parity.probes.context import ProbeLog, Probing, compare_calls, raised
from lstm_replica.parity.replay import single_steps
from lstm_replica.parity.report import ConfigResult, Report
from lstm_replica.parity.seeds import config_seed, seeded
from lstm_replica.parity.sizes import REDUCED_PROBES

FORWARD = ("output", "h_n", "c_n", "step h (teacher-forced)", "step c (teacher-forced)")


# unused parameters are looked for in these dtypes only: in float16 / bfloat16 a gate of default weights can
# round to exactly 1, so its gradient is exactly 0 and a change of its weights changes nothing, in a correct cell
UNUSED_DTYPES = ("float64", "float32")


PROBE_THREADS = 2  # a real-size configuration's call 1 is made again on this many threads, as users run


THREADS_MAX_STEPS = 64  # ... where layers x directions x steps is at most this (see _threaded)


def judge_config(
    spec: Candidate,
    config: Config,
    setup: Backend,
    tolerance: bool,
    seed: int,
    report: Report,
    unsupported: frozenset[str] = frozenset(),
) -> ConfigResult:
    if spec.kind == "cell" and config.proj_size:
        reason = "not applicable to cells: nn.LSTMCell has no projection (proj_size > 0)"
        return ConfigResult(config.to_dict(), "not applicable", reason)
    excluded = backends.not_compared(setup)
    if config.dropout and spec.kind == "module" and "dropout" in excluded:
        return ConfigResult(config.to_dict(), "not applicable", excluded["dropout"])
    try:
        with backends.flags(setup), seeded(config_seed(seed, config), setup.device), global_state() as changed:
            result = _check_config(spec, config, setup, tolerance, config_seed(seed, config), unsupported)
        if changed:  # the candidate left torch's global state changed (restored now): the reference ran under it
            result.status, result.reason = "different", f"the candidate changed torch's global state: {changed[0]}"
            result.audit += [f"changed torch's global state: {c}" for c in changed]
        return result
    except CandidateDiffers as exc:
        return ConfigResult(config.to_dict(), "different", str(exc))
    except (CandidateRaised, Refused) as exc:
        # its features were accepted (or not refused): a raise on a supported configuration is a difference
        report.traceback = report.traceback or traceback.format_exc()
        return ConfigResult(config.to_dict(), "different", f"{exc}; nn.LSTM does not raise here")
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - the candidate may raise anything: "could not check"
        report.traceback = report.traceback or traceback.format_exc()
        reason = str(exc) if isinstance(exc, CheckError) else f"{type(exc).__name__}: {exc}"
        return ConfigResult(config.to_dict(), "error", reason)


@dataclass
class _CallOne:
    """Call 1 of a configuration: the reference's with grad, the candidate's without grad, with grad and again."""

    pair: Pair
    inputs: Inputs
    generator: torch.Generator
    ref: Outcome
    plain: Outcome
    first: Outcome
    second: Outcome
    row: Tolerance  # the configuration's tolerance row
    rows: dict[str, Tolerance]  # per tensor, where a real-size configuration allows nn.LSTM's own noise


def _check_config(
    spec: Candidate, config: Config, setup: Backend, tolerance: bool, seed: int, unsupported: frozenset[str]
) -> ConfigResult:
    """One configuration: call 1 compared and audited, then the probes (or the reduced set), then the verdict."""
    call = _call_one(spec, config, setup, tolerance, seed)
    if isinstance(call, ConfigResult):
        return call
    pair, inputs, ref, plain, first, row = call.pair, call.inputs, call.ref, call.plain, call.first, call.row
    differences = [compare(n, first.tensors.get(n), t, call.rows.get(n, row)) for n, t in ref.tensors.items()]
    unused: list[str] = []
    if config.dtype in UNUSED_DTYPES:  # half precision saturates gates: a zero gradient there is no evidence
        unused = unused_parameters(
            pair.pmap,
            first.tensors,
            ref.tensors,
            pair.candidate.parameters,
            lambda: list(run(pair.candidate, config, inputs, with_grad=False).tensors.values()),
        )
    # the same call twice with grad, and the no-grad call's forward against the first: a run-to-run comparison
    reruns = compare_calls(call.second, first, row, "") + compare_calls(plain, first, row, "", FORWARD[:3])
    single = single_steps(pair, config, inputs, row)  # on call 1's weights, before the probes move them
    log = ProbeLog(parameters_changed=plain.parameters_changed + first.parameters_changed, aliased=first.aliased)
    log.keep("", plain)
    log.keep("", first)
    if config.scale:
        _reduced_probes(call, config, seed, log)
    else:
        ctx = Probing(
            pair, config, setup.device, row, call.generator, tolerance, spec, seed, unsupported, setup.backend, ref
        )
        run_probes(ctx, log)
    overwritten = log.overwritten()
    checks = {
        "inputs unmodified": plain.inputs_unmodified and first.inputs_unmodified,
        "same result twice": all(d.bitwise for d in reruns) or (tolerance and all(d.within_tolerance for d in reruns)),
        "output packing": _same_packing(first, ref),
        "parameters unchanged by forward": not log.parameters_changed,
        "returned tensors kept by later calls": not overwritten,
        "returned tensors share no memory": not log.aliased,
        "parameters correspond one to one": not pair.pmap.problems and not unused,
    }
    result = ConfigResult(config.to_dict(), "", differences=differences + log.differences, checks=checks)
    result.audit = (
        list(pair.pmap.problems)
        + unused
        + [f"{name} changed by a forward call" for name in dict.fromkeys(log.parameters_changed)]
        + [f"{name} returned by call 1 was overwritten by a later call" for name in overwritten]
    )
    result.skipped = log.skipped
    result.repeatability = max((d.max_abs for d in reruns), default=0.0)
    if _comparable(first, ref, "output"):
        result.steps.update(_output_steps(first, ref, config))
    result.differences += single.differences
    result.steps.update(single.steps)
    result.cell_errors.update(single.cell_errors)
    first.tensors.update(single.candidate)
    ref.tensors.update(single.reference)
    outcomes = {"": (first, ref, config), **log.outcomes}
    return _verdict(result, outcomes, spec, config, setup, tolerance, seed, row)


def _call_one(spec: Candidate, config: Config, setup: Backend, tolerance: bool, seed: int) -> _CallOne | ConfigResult:
    """Both sides built and called once (the candidate three times); a result already where the candidate
    returned a wrongly shaped state or raised after modifying its inputs."""
    row = tolerance_for(setup.tolerance_key, config.torch_dtype)
    pair = build_pair(spec, config, setup.device, seed, rest_in_train=setup.backend == "cudnn")
    generator = torch.Generator().manual_seed(seed)
    inputs = make_inputs(config, setup.device, generator)
    ref = run(pair.reference, config, inputs, with_grad=True)
    plain = None
    try:
        plain = run(pair.candidate, config, inputs, with_grad=False, pmap=pair.pmap)
        first = run(pair.candidate, config, inputs, with_grad=True, pmap=pair.pmap)
        second = run(pair.candidate, config, inputs, with_grad=True, pmap=pair.pmap)
    except WrongResult as exc:
        return ConfigResult(config.to_dict(), "different", str(exc))
    except Exception as exc:
        if plain is None or plain.inputs_unmodified:
            raise
        reason = f"inputs modified in place (then {exc})"
        return ConfigResult(config.to_dict(), "different", reason, checks={"inputs unmodified": False})
    rows = _call_one_rows(pair, config, setup.device, inputs, ref, row) if tolerance else {}
    return _CallOne(pair, inputs, generator, ref, plain, first, second, row, rows)


def _reduced_probes(call: _CallOne, config: Config, seed: int, log: ProbeLog) -> None:
    """A real-size configuration's probes (:data:`.sizes.REDUCED_PROBES`): call 1 again in train mode where there
    is dropout, and on :data:`PROBE_THREADS` threads where the sequence is short."""
    pair, inputs, rows, row = call.pair, call.inputs, call.rows, call.row
    log.skipped["the other probes"] = REDUCED_PROBES
    if config.dropout and config.num_layers > 1:
        _in_train_mode(pair, config, inputs, rows, row, seed, log)
    if config.num_layers * config.num_directions * config.steps <= THREADS_MAX_STEPS:
        _threaded(pair, config, inputs, rows, row, log)
    else:
        log.skipped[f"call 1 on {PROBE_THREADS} threads"] = (
            "a long or deep sequence of small products: on a shared machine torch's threads wait for one "
            "another at every step (the wide and large-batch configurations take this probe)"
        )


def _verdict(
    result: ConfigResult,
    outcomes: dict[str, tuple[Outcome, Outcome, Config]],
    spec: Candidate,
    config: Config,
    setup: Backend,
    tolerance: bool,
    seed: int,
    row: Tolerance,
) -> ConfigResult:
    """``result``'s status under the standard, and where a difference is, its first one located."""
    standard = (lambda d: d.within_tolerance) if tolerance else (lambda d: d.bitwise)
    failing = [d for d in result.differences if not standard(d)]
    if not failing and all(result.checks.values()):
        result.status = "bitwise" if all(d.bitwise for d in result.differences) else "within tolerance"
        return result
    result.status = "different"
    if not failing:
        failed = ", ".join(check for check, ok in result.checks.items() if not ok)
        result.reason = "; ".join(result.audit) or failed
        return result
    worst = failing[0]
    where = f"{worst.probe}: " if worst.probe else ""
    cand_outcome, ref_outcome, shaped = outcomes.get(worst.probe, (None, None, config))
    if cand_outcome is None or ref_outcome is None or not _comparable(cand_outcome, ref_outcome, worst.tensor):
        result.reason = where + (worst.note or f"{worst.tensor} differs")
    else:
        gate_row = row if tolerance else None
        probe = _gate_probe(spec, config, setup, seed, gate_row) if worst.tensor in FORWARD else None
        cause = _cause_probe(spec, config, setup, seed) if worst.tensor in FORWARD else None
        located = locate(worst.tensor, cand_outcome, ref_outcome, shaped, probe, cause)
        result.location = replace(located, tensor=where + located.tensor) if where else located
        result.reason = worst.note
    return result


def _in_train_mode(
    pair: Pair, config: Config, inputs: Inputs, rows: dict[str, Tolerance], row: Tolerance, seed: int, log: ProbeLog
) -> None:
    """Call 1 again in train mode, both sides drawing dropout from the same generator state (a real-size
    configuration with dropout: the matrix's trains at its own sizes)."""
    pair.train(True)
    try:
        _again(pair, config, inputs, rows, row, log, "call 1 in train mode (dropout)", lambda: seeded(seed, "cpu"))
    finally:
        pair.train(False)


def _threaded(
    pair: Pair, config: Config, inputs: Inputs, rows: dict[str, Tolerance], row: Tolerance, log: ProbeLog
) -> None:
    """Call 1 again with torch on :data:`PROBE_THREADS` intra-op threads, both sides (a real-size configuration):
    users run with several, and a candidate may take another path there (a fused product that parallelises)."""
    probe = f"call 1 on {PROBE_THREADS} threads"
    _again(pair, config, inputs, rows, row, log, probe, lambda: torch_threads(PROBE_THREADS))


def _again(
    pair: Pair,
    config: Config,
    inputs: Inputs,
    rows: dict[str, Tolerance],
    row: Tolerance,
    log: ProbeLog,
    probe: str,
    each: Callable[[], AbstractContextManager[None]],
) -> None:
    """Call 1 again, the reference's and then the candidate's call each inside ``each()``; compared as ``probe``."""
    outcomes = []
    try:
        for side, pmap in ((pair.reference, None), (pair.candidate, pair.pmap)):
            with each():
                outcomes.append(run(side, config, inputs, with_grad=True, pmap=pmap))
    except (CandidateRaised, WrongResult) as exc:
        log.differences.append(raised(probe, exc))
        return
    ref, cand = outcomes
    log.differences += [compare(n, cand.tensors.get(n), t, rows.get(n, row), probe) for n, t in ref.tensors.items()]
    log.outcomes[probe] = (cand, ref, config)
    log.keep(probe, cand)


def _call_one_rows(
    pair: Pair, config: Config, device: str, inputs: Inputs, ref: Outcome, row: Tolerance
) -> dict[str, Tolerance]:
    """Under ``--tolerance``, a real-size configuration below float64 allows each tensor of call 1 to differ by
    :data:`.noise.NOISE_FACTOR` x nn.LSTM's own error against float64 (sums of a thousand terms, thousands of
    steps: rounding the fixed tolerance was not set for; see :mod:`.noise`); else the fixed tolerance."""
    if not config.scale or config.dtype == "float64":
        return {}
    truth = run(float64_reference(pair, config, device), config, as_float64(inputs), with_grad=True)
    errors = own_error(ref, truth)
    return {name: allowing_noise(row, errors.get(name, 0.0)) for name in ref.tensors}


def _gate_probe(
    spec: Candidate, config: Config, setup: Backend, seed: int, row: Tolerance | None = None
) -> Callable[[], str | None]:
    """Which gates differ (see :func:`.locate.probe_gate`); ``row``: under ``--tolerance``, what counts as equal."""

    def close(a: Tensor, b: Tensor) -> bool:
        return row is not None and a.shape == b.shape and compare("", a, b, row).within_tolerance

    def probe() -> str | None:
        generator = torch.Generator().manual_seed(seed + 1)
        with torch.no_grad():
            pairing = partial(build_pair, spec, device=setup.device, seed=seed)
            return probe_gate(pairing, config, generator, close if row is not None else None)

    return probe


def _cause_probe(spec: Candidate, config: Config, setup: Backend, seed: int) -> Callable[[], str | None]:
    def cause() -> str | None:
        generator = torch.Generator().manual_seed(seed + 2)
        return probe_cause(lambda c: build_pair(spec, c, setup.device, seed), config, generator)

    return cause


def _comparable(a: Outcome, b: Outcome, name: str) -> bool:
    x, y = a.tensors.get(name), b.tensors.get(name)
    return x is not None and y is not None and x.shape == y.shape and x.dtype == y.dtype


def _output_steps(cand: Outcome, ref: Outcome, config: Config) -> dict[str, dict[str, list[float]]]:
    """Per-step error series of the output; for a bidirectional module also of each direction's half."""
    cand_output, ref_output = cand.tensors["output"], ref.tensors["output"]
    if cand_output is None or ref_output is None:  # not comparable: no series
        return {}
    a = time_major(cand_output, config, ref.packing)  # (L, N, D*H_out)
    b = time_major(ref_output, config, ref.packing)  # (L, N, D*H_out)
    abs_steps, ulp_steps = per_step(a, b)
    series = {"output": {"max_abs": abs_steps, "max_ulps": ulp_steps}}
    if config.bidirectional:
        for direction, half_a, half_b in zip(("forward", "reverse"), a.chunk(2, 2), b.chunk(2, 2), strict=True):
            abs_steps, ulp_steps = per_step(half_a, half_b)  # (L, N, H_out) each
            series[f"output {direction}"] = {"max_abs": abs_steps, "max_ulps": ulp_steps}
    return series


def _same_packing(cand: Outcome, ref: Outcome) -> bool:
    if ref.packing is None or cand.packing is None:
        return ref.packing is None and cand.packing is None
    return all(
        (a is None and b is None) or (a is not None and b is not None and torch.equal(a, b))
        for a, b in zip(cand.packing, ref.packing, strict=True)
    )
