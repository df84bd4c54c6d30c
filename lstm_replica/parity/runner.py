"""Running a candidate through the configuration matrix and judging it against the reference.

Per configuration: the reference runs once with gradients; the candidate runs
once without (to see that it leaves its inputs unmodified) and twice with
gradients (to see that it gives the same result twice). Every output, state
and gradient is compared; the first difference is located. For a cell, every
step is also replayed teacher-forced (the reference's previous state fed to
the candidate's cell) to separate single-step error from accumulated error.

Bad candidates. A target that does not load, is not a class or factory with
nn.LSTM's / nn.LSTMCell's parameter names, does not construct, raises, exits,
returns something other than ``(output, (h_n, c_n))`` (a cell: ``(h, c)``) or
runs past the time limit *could not be checked* (exit status 2): nothing was
compared. A result of the right structure but the wrong shape or dtype, or with
NaN where nn.LSTM has numbers, is a proven difference: *not a replica* (exit
status 1), the report naming it ("Expected output of shape (7, 3, 6), got
(3, 7, 6)", "NaN in 12 of 126 elements ..."). When some configurations differ
and others could not be checked, the difference decides (1).

Determinism. Every configuration runs with torch's global generator forked and
seeded from the run's seed and the configuration's name (so the candidate's own
draws replay too, and the caller's generator is left as it was); weights,
inputs and upstream gradients derive from that seed. The same ``seed`` gives
the same report; the seed is in its provenance.

Time limit. Each configuration gets a limit in CPU time of this process, by default a
multiple of what nn.LSTM itself took on it, measured just before (``timeout``: that many
CPU seconds instead; see :mod:`lstm_replica.parity.deadline`), so that a verdict does not
depend on the machine's load; the first configuration that runs past it ends the run, the
configurations after it are listed as not run.

Threads. torch's intra-op thread count is :data:`HARNESS_THREADS` (1) for candidate and
reference alike while :func:`check` runs, and the caller's afterwards: the harness's tensors
are too small to gain from threads, and on a shared machine the threads wait for one another
(see README.md, "How long a check takes"). The report's provenance names it.
"""

from __future__ import annotations

import functools
import inspect
import platform
import time
import traceback
import zlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING, ParamSpec, TypedDict, TypeVar

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence

from lstm_replica.cell import Hidden
from lstm_replica.parity import backends, seeds
from lstm_replica.parity.backends import Backend
from lstm_replica.parity.candidates import (
    CheckError,
    Factory,
    WeightAdapter,
    as_factory,
    describe,
    kind_of,
    load,
    load_adapter,
)
from lstm_replica.parity.compare import Difference, Tolerance, compare, per_step, tolerance_for
from lstm_replica.parity.configs import (
    REDUCED_PROBES,
    Config,
    ConfigFields,
    ConfigKeysError,
    check_features,
    dtype_restriction,
    select,
)
from lstm_replica.parity.deadline import NO_LIMIT, TimedOut, deadline, limit_for
from lstm_replica.parity.diagnose import LOW_PRECISION, diagnose
from lstm_replica.parity.execution import (
    Candidate,
    CandidateRaised,
    Inputs,
    Outcome,
    Pair,
    Refused,
    Side,
    WrongResult,
    build_pair,
    cast_hint,
    cell_units,
    construct_candidate,
    make_inputs,
    redraw_initial,
    run,
)
from lstm_replica.parity.frameworks import framework, load_wrapper
from lstm_replica.parity.globalstate import global_state, replaced
from lstm_replica.parity.layouts import LAYOUTS, CandidateDiffers, layout_adapter
from lstm_replica.parity.layouts import UNSUPPORTED as LAYOUT_UNSUPPORTED
from lstm_replica.parity.locate import locate, probe_cause, probe_gate, time_major
from lstm_replica.parity.modes import global_modes
from lstm_replica.parity.noise import allowing_noise, as_float64, float64_reference, own_error
from lstm_replica.parity.parammap import unused_parameters
from lstm_replica.parity.progress import Progress, work
from lstm_replica.parity.protocol import protocol_probes
from lstm_replica.parity.report import FOLDED_PROBE, ConfigResult, Report
from lstm_replica.parity.session import (
    FOLDED,
    ProbeLog,
    Probing,
    bad_input,
    compare_calls,
    double_backward,
    initial_weights,
    later_calls,
    module_protocol,
    non_finite,
    raised,
    stressed,
    training,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack

REFERENCES = {"module": "torch.nn.LSTM", "cell": "torch.nn.LSTMCell"}
FORWARD = ("output", "h_n", "c_n", "step h (teacher-forced)", "step c (teacher-forced)")
DEFAULT_TIMEOUT_S: float | None = None  # None: tied to nn.LSTM's own time per configuration (see .deadline)
# unused parameters are looked for in these dtypes only: in float16 / bfloat16 a gate of default weights can
# round to exactly 1, so its gradient is exactly 0 and a change of its weights changes nothing, in a correct cell
UNUSED_DTYPES = ("float64", "float32")
HARNESS_THREADS = 1  # torch's intra-op threads while check() runs (see the module docstring)
PROBE_THREADS = 2  # a real-size configuration's call 1 is made again on this many threads, as users run
THREADS_MAX_STEPS = 64  # ... where layers x directions x steps is at most this (see _threaded)
P = ParamSpec("P")
R = TypeVar("R")
PROBED = Config(input_size=3, hidden_size=4)  # the small configuration features are tried on
CellStep = Callable[[Tensor, Hidden], Hidden]  # a cell called as cell(x_t, (h, c)) -> (h, c)


class CheckOptions(TypedDict, total=False):
    """:func:`check`'s keyword arguments but ``timeout`` and the callbacks: what a child process is sent (isolation)."""

    tolerance: bool
    quick: bool
    configs: list[str] | None
    device: str
    backend: str
    tf32: bool
    seed: int | str | None
    weights: str | WeightAdapter | None
    progress: bool
    fail_fast: bool
    config: Config | ConfigFields | None
    only_config: bool
    thorough: bool
    unsupported: tuple[str, ...] | list[str] | frozenset[str]
    dtypes: tuple[str, ...] | list[str] | None


class CheckArguments(CheckOptions, total=False):
    """Every keyword argument of :func:`check`."""

    timeout: float | None
    on_stuck: Callable[[str], None] | None
    on_result: Callable[[str, object], None] | None


def config_seed(seed: int, config: Config) -> int:
    """The seed of one configuration: the run's seed mixed with the configuration's name."""
    return (seed * 1_000_003 + zlib.crc32(config.name.encode())) % 2**62


@dataclass
class Selection:
    """What :func:`check` runs, chosen before anything is compared: the candidate and its configurations."""

    spec: Candidate
    declared: frozenset[str]  # features the candidate lacks: declared, refused when tried, or its layout's
    excluded: dict[str, str]  # features this backend cannot compare -> why
    configs: list[Config]
    seed: int  # the run's seed, resolved (see .seeds)
    seed_origin: str  # derived, random or given
    restricted: frozenset[str]  # every feature ruled out, for the envelope's coverage


def configurations(
    candidate: object = "lstm_replica:LSTM", *, isolate: bool = True, **options: Unpack[CheckArguments]
) -> list[Config]:
    """The configurations ``check(candidate, **options)`` runs, in its order, chosen by the same code.

    The candidate is loaded and its features tried as :func:`check` does; then what it refuses, its ``weights``
    layout's limits, a cell's lack of projection, ``unsupported``, ``dtypes`` and the backend's exclusions rule
    configurations out, and ``configs``, ``config``, ``only_config``, ``quick``, ``thorough`` and ``seed`` choose
    among the rest. So ``[c.name for c in configurations(MyLSTM, **options)]`` parametrizes one pytest item per
    configuration of ``check(MyLSTM, **options)``, each run as ``check(MyLSTM, configs=[name], **options)``.
    Options that choose nothing (``tolerance``, ``progress``, ``isolate``, ...) are taken and ignored, so both
    take one dict; the choice is made in this process (the candidate is built and called on a small
    configuration). Raises :class:`CheckError`, ValueError or :class:`ConfigKeysError` with the reason where
    ``check`` reports that the candidate could not be checked.
    """
    del isolate  # check's: where the candidate runs, not which configurations
    given = inspect.signature(check).bind(candidate, **options)
    given.apply_defaults()  # check's own defaults: the same selection
    chosen = given.arguments
    setup = Backend(chosen["device"], chosen["backend"], chosen["tf32"])
    scratch = Report("", "?", "?", "bitwise", {})  # _select notes what it learns here: not needed
    selecting = [p.name for p in inspect.signature(_select).parameters.values() if p.kind is p.KEYWORD_ONLY]
    return _select(candidate, scratch, setup, **{k: chosen[k] for k in selecting}).configs


def _select(
    candidate: object,
    report: Report,
    setup: Backend,
    *,
    configs: list[str] | None,
    quick: bool,
    seed: int | str | None,
    weights: str | WeightAdapter | None,
    timeout: float | None,
    on_stuck: Callable[[str], None] | None,
    config: Config | ConfigFields | None,
    only_config: bool,
    thorough: bool,
    unsupported: tuple[str, ...] | list[str] | frozenset[str],
    dtypes: tuple[str, ...] | list[str] | None,
) -> Selection:
    """Load ``candidate``, learn what it lacks (into ``report.why_unsupported``) and choose its configurations.

    Raises :class:`CheckError` or ValueError when it cannot be checked; see :func:`check` for the options.
    """
    backends.validate(setup)
    named = framework(candidate)
    if named is not None:
        loaded, report.provenance["framework"] = load_wrapper(named)
        weights = named.weights if weights is None else weights
        report.why_unsupported |= {f: why for f, why in named.declared.items() if f not in unsupported}
        unsupported = frozenset(unsupported) | frozenset(named.declared)
    else:
        loaded = load(candidate) if isinstance(candidate, str) else candidate
    tampered = replaced()
    if tampered:
        msg = f"Expected torch's own LSTM and comparison functions, got: {'; '.join(tampered)} (restored)"
        raise CheckError(msg)
    factory = as_factory(loaded)
    kind = kind_of(factory)
    declared = check_features(unsupported)
    report.why_unsupported |= _probed(factory, kind, declared, timeout, on_stuck)
    layout = weights if isinstance(weights, str) and weights in LAYOUTS else None
    spec = Candidate(factory, kind, layout_adapter(layout) if layout else load_adapter(weights))
    declared |= frozenset(report.why_unsupported)
    if layout:
        report.why_unsupported |= dict.fromkeys(sorted(LAYOUT_UNSUPPORTED - declared), f"the {layout} layout has none")
        declared |= LAYOUT_UNSUPPORTED
    excluded = backends.not_compared(setup)
    restricted = declared | dtype_restriction(dtypes) | frozenset(excluded)
    if kind == "cell":
        restricted |= {"proj_size"}  # nn.LSTMCell has no projection: a cell's matrix is covered without one
    yours = Config.from_fields(config) if isinstance(config, dict) else config
    number, origin = seeds.resolve(seed, loaded, weights)
    chosen = select(configs, quick, number, restricted, thorough, yours, only_config)
    return Selection(spec, declared, excluded, chosen, number, origin, restricted)


@contextmanager
def _torch_threads(count: int) -> Iterator[None]:
    """torch's intra-op thread count at ``count``, the caller's put back after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _harness_threads(fn: Callable[P, R]) -> Callable[P, R]:
    """``fn`` run with torch's intra-op thread count at :data:`HARNESS_THREADS`, the caller's put back after."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with _torch_threads(HARNESS_THREADS):
            return fn(*args, **kwargs)

    return wrapper


@_harness_threads
def check(
    candidate: object = "lstm_replica:LSTM",
    *,
    tolerance: bool = False,
    quick: bool = False,
    configs: list[str] | None = None,
    device: str = "cpu",
    backend: str = "native",
    tf32: bool = False,
    seed: int | str | None = None,
    weights: str | WeightAdapter | None = None,
    progress: bool = False,
    timeout: float | None = DEFAULT_TIMEOUT_S,
    on_stuck: Callable[[str], None] | None = None,
    fail_fast: bool = False,
    config: Config | ConfigFields | None = None,
    only_config: bool = False,
    thorough: bool = False,
    unsupported: tuple[str, ...] | list[str] | frozenset[str] = (),
    dtypes: tuple[str, ...] | list[str] | None = None,
    on_result: Callable[[str, object], None] | None = None,
) -> Report:
    """Check ``candidate`` (a class, a factory or a ``module:attr`` / ``file.py:attr`` target) against nn.LSTM.

    Never raises for a faulty candidate: a report whose ``exit_status`` is 2 says why it could not be checked.
    ``timeout``: None (the default) for a CPU-time limit per configuration of ``max(FLOOR_S, MULTIPLE x``
    nn.LSTM's own CPU time on it), else that many CPU seconds (0: no limit); a wall-clock backstop of
    ``WALL_FACTOR`` x the CPU limit stops a candidate that waits (see :mod:`.deadline`). ``on_stuck(message)``
    is called from a watchdog thread if a timed-out candidate does not give control back.
    ``fail_fast``: stop at the first configuration that differs; the rest are listed as not run.
    ``configs``: names from :func:`configurations` with the same options (which lists what would run); another
    name is refused. ``config``: your own set-up (a :class:`Config` or its fields as a dict, ``seq_len`` and
    ``batch_size`` naming ``steps`` and ``batch``), added to the matrix, or run alone with ``only_config``.
    ``thorough``: every structural combination, not only triples. ``unsupported``: features the candidate
    declares it lacks (see ``configs.FEATURES``); the verdict states that scope.
    ``dtypes``: run the matrix in these dtypes only (e.g. ``["bfloat16"]``). ``on_result(kind, payload)`` hears
    ``("started", (report, [config dicts]))`` once the configurations are chosen, ``("limit", (name, seconds))``
    before each configuration's candidate runs (its wall-clock backstop; None: no limit) and
    ``("result", ConfigResult)`` after each (see :mod:`.isolation`). torch runs :data:`HARNESS_THREADS` intra-op
    threads meanwhile.
    """
    setup = Backend(device, backend, tf32)
    provenance = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": device,
        "backend": setup.describe(),
        "seed": "derived from the candidate" if seed is None else str(seed),
        "standard": "tolerance" if tolerance else "bitwise (torch.equal)",
        "threads": str(torch.get_num_threads()),
    }
    label = candidate if isinstance(candidate, str) else describe(candidate)
    report = Report(label, "?", "?", "tolerance" if tolerance else "bitwise", provenance)
    try:
        chosen = _select(
            candidate,
            report,
            setup,
            configs=configs,
            quick=quick,
            seed=seed,
            weights=weights,
            timeout=timeout,
            on_stuck=on_stuck,
            config=config,
            only_config=only_config,
            thorough=thorough,
            unsupported=unsupported,
            dtypes=dtypes,
        )
    except (CheckError, ValueError, ConfigKeysError) as exc:
        report.error = str(exc)
        report.traceback = traceback.format_exc()
        return report
    spec, declared, excluded, selected = chosen.spec, chosen.declared, chosen.excluded, chosen.configs
    seed = chosen.seed
    report.provenance["seed"] = f"{seed} ({chosen.seed_origin})"
    kind = spec.kind
    report.kind, report.reference = kind, REFERENCES[kind]
    report.unsupported = sorted(declared)
    report.ruled_out = sorted(chosen.restricted)
    report.not_compared = excluded
    report.quick = quick
    report.matrix = "quick" if quick else ("thorough" if thorough else "default")
    for dtype in sorted({c.torch_dtype for c in selected}, key=str):
        row = tolerance_for(setup.tolerance_key, dtype)
        report.tolerances[str(dtype).removeprefix("torch.")] = {"rtol": row.rtol, "atol": row.atol, "why": row.why}
    if on_result is not None:
        on_result("started", (replace(report), [c.to_dict() for c in selected]))
    bar = Progress([work(c) for c in selected], enabled=progress)
    for index, current in enumerate(selected):
        bar.advance(current.name)
        stuck = None if on_stuck is None else _in(on_stuck, f"in configuration {current.name}")
        try:
            with deadline(limit_for(None, timeout), stuck) as running:
                limit = NO_LIMIT
                if running is not None:  # the reference is timed under the floor's limit, then the limit is set
                    limit = limit_for(reference_seconds(kind, current, setup, seed), timeout)
                    running.set(limit)
                if on_result is not None:
                    on_result("limit", (current.name, limit.wall_s or None))
                result = _guarded(spec, current, setup, tolerance, seed, report, declared)
        except TimedOut as exc:
            report.traceback = report.traceback or traceback.format_exc()  # where the candidate was
            report.results.append(ConfigResult(current.to_dict(), "error", str(exc)))
            if on_result is not None:
                on_result("result", report.results[-1])
            report.not_run = [c.name for c in selected[index + 1 :]]
            report.stopped = "after the time-out"
            break
        report.results.append(result)
        if on_result is not None:
            on_result("result", result)
        if fail_fast and result.status == "different":
            report.not_run = [c.name for c in selected[index + 1 :]]
            report.stopped = "after the first difference (--fail-fast)"
            break
    bar.close()
    report.diagnosis = _diagnosis(spec, report, setup, seed, selected)
    report.close_envelope()
    return report


def _diagnosis(spec: Candidate, report: Report, setup: Backend, seed: int, selected: list[Config]) -> str:
    """Rounding or defect, for the first float32 or half configuration that is not bitwise (see :mod:`.diagnose`).

    ``selected``: the configurations the report's results are of (a result names its configuration).
    """
    suspects = [r for r in report.checked if r.status in ("within tolerance", "different") and r.differences]
    suspects = [r for r in suspects if r.config["dtype"] in LOW_PRECISION and not all(d.bitwise for d in r.differences)]
    if not suspects:
        return ""
    config = {c.name: c for c in selected}[suspects[0].name]
    try:
        with backends.flags(setup), _seeded(config_seed(seed, config), setup.device), global_state():
            first = next(d.probe for d in suspects[0].differences if not d.bitwise)
            return diagnose(spec, config, setup.device, config_seed(seed, config), first)
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - a diagnosis is extra evidence, never the verdict
        return f"Diagnosis: not available ({type(exc).__name__}: {exc})"


def _in(on_stuck: Callable[[str], None], where: str) -> Callable[[str], None]:
    """``on_stuck`` told where: the watchdog's message (how long, what limit) followed by ``where``."""
    return lambda message: on_stuck(f"{message} {where}")


def reference_seconds(kind: str, config: Config, setup: Backend, seed: int) -> float | None:
    """CPU seconds of one forward and backward of the reference on ``config`` (None: it could not run there).

    The reference is nn.LSTM, or for a cell nn.LSTMCell in the harness's layer loop, built and fed as
    :func:`check` does; only the call is timed, in this thread's CPU time (torch runs on it: one intra-op
    thread). It is what a configuration's default time limit scales with.
    """
    factory: Factory = nn.LSTM if kind == "module" else nn.LSTMCell
    try:
        with backends.flags(setup), _seeded(config_seed(seed, config), setup.device), global_state():
            pair = build_pair(Candidate(factory, kind), config, setup.device, seed)
            inputs = make_inputs(config, setup.device, torch.Generator().manual_seed(seed))
            start = time.thread_time()  # not process_time: a running ITIMER_PROF makes it count in ticks
            run(pair.reference, config, inputs, with_grad=True)
            if setup.device == "cuda":
                torch.cuda.synchronize()
            return time.thread_time() - start
    except Exception:  # noqa: BLE001 - e.g. a projection for a cell: no reference time, the floor applies
        return None


def _probed(
    factory: Factory, kind: str, declared: frozenset[str], timeout: float | None, on_stuck: Callable[[str], None] | None
) -> dict[str, str]:
    """:func:`refused_features` under the time limit; a candidate that hangs there shows it in the configurations.

    The limit is a configuration's, measured on the probes' small configuration.
    """
    what = "while trying the candidate's features (a small build and call)"
    stuck = None if on_stuck is None else _in(on_stuck, what)
    try:
        with deadline(limit_for(None, timeout), stuck) as running:
            if running is not None:
                took = reference_seconds(kind, PROBED, Backend(), 0)
                running.set(limit_for(took, timeout, "the probes' small configuration"))
            return refused_features(factory, kind, declared)
    except TimedOut:
        return {}


def refused_features(factory: Factory, kind: str, declared: frozenset[str]) -> dict[str, str]:
    """Features the candidate refuses when built for them (see :func:`construct_candidate`), with its words.

    Each feature is tried alone on a small CPU configuration; what the caller already declared is not tried.
    """
    base = PROBED
    trials = {
        "float64": base,
        "float32": replace(base, dtype="float32"),
        "float16": replace(base, dtype="float16"),
        "bfloat16": replace(base, dtype="bfloat16"),
        "no_bias": replace(base, bias=False),
    }
    if kind == "module":
        trials |= {
            "multi_layer": replace(base, num_layers=2),
            "bidirectional": replace(base, bidirectional=True),
            "proj_size": replace(base, proj_size=2),
            "batch_first": replace(base, batch_first=True),
            "dropout": replace(base, num_layers=2, dropout=0.25),
        }
    refused: dict[str, str] = {}
    failures: list[CandidateRaised] = []
    plain: tuple[nn.Module, torch.dtype] | None = None  # the first float64 / float32 build: for the input probes
    for feature, config in trials.items():
        if feature in declared:
            continue
        kwargs = config.module_kwargs() if kind == "module" else cell_units(config)[0][1]
        try:
            with torch.random.fork_rng(devices=[]), global_state():
                built = construct_candidate(factory, {**kwargs, "device": "cpu", "dtype": config.torch_dtype})
        except Refused as exc:
            refused[feature] = str(exc)
        except CandidateRaised as exc:
            failures.append(exc)
        except (Exception, SystemExit):  # noqa: BLE001, S110 - other failures show in the configurations themselves
            pass
        else:
            if plain is None and feature in ("float64", "float32"):
                plain = built, config.torch_dtype
    if failures and len(failures) == len([f for f in trials if f not in declared]):
        # no configuration builds, nn.LSTM's plainest included: a signature mismatch, nothing can be compared
        raise CheckError(str(failures[0])) from failures[0]
    if kind == "module" and plain is not None:
        refused |= _refused_inputs(*plain, base.input_size, declared)
    return refused


def _refused_inputs(module: nn.Module, dtype: torch.dtype, input_size: int, declared: frozenset[str]) -> dict[str, str]:
    """Packed and unbatched input refused by the forward with NotImplementedError or ValueError.

    ``module``: the candidate built in ``dtype``, one it accepts (float64, else float32).
    """
    x = torch.zeros(2, 2, input_size, dtype=dtype)  # (L, N, H_in)
    inputs = {
        "unbatched": x[:, 0],  # (L, H_in)
        "packed": pack_padded_sequence(x, torch.tensor([2, 1]), enforce_sorted=False),
    }
    refused = {}
    for feature, fed in inputs.items():
        if feature in declared:
            continue
        try:
            with torch.no_grad(), torch.random.fork_rng(devices=[]), global_state():
                module(fed)
        except (NotImplementedError, ValueError) as exc:
            refused[feature] = f"the forward refused {feature} input: {type(exc).__name__}: {exc}"
        except (Exception, SystemExit):  # noqa: BLE001, S110 - the configurations will show it
            pass
    return refused


@contextmanager
def _seeded(seed: int, device: str) -> Iterator[None]:
    """torch's global generator forked and seeded for one configuration; the caller's state comes back after."""
    with torch.random.fork_rng(devices=[torch.cuda.current_device()] if device == "cuda" else []):
        torch.manual_seed(seed)
        yield


def _guarded(
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
        with backends.flags(setup), _seeded(config_seed(seed, config), setup.device), global_state() as changed:
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


def _check_config(
    spec: Candidate, config: Config, setup: Backend, tolerance: bool, seed: int, unsupported: frozenset[str]
) -> ConfigResult:
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
    differences = [compare(n, first.tensors.get(n), t, rows.get(n, row)) for n, t in ref.tensors.items()]
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
    reruns = compare_calls(second, first, row, "") + compare_calls(plain, first, row, "", FORWARD[:3])
    repeat = max((d.max_abs for d in reruns), default=0.0)
    single = _single_steps(pair, config, inputs, row)  # on call 1's weights, before the probes move them
    log = ProbeLog(parameters_changed=plain.parameters_changed + first.parameters_changed, aliased=first.aliased)
    log.keep("", plain)
    log.keep("", first)
    if config.scale:
        log.skipped["the other probes"] = REDUCED_PROBES
        if config.dropout and config.num_layers > 1:
            _in_train_mode(pair, config, inputs, rows, row, seed, log)
        if config.num_layers * config.directions * config.steps <= THREADS_MAX_STEPS:
            _threaded(pair, config, inputs, rows, row, log)
        else:
            log.skipped[f"call 1 on {PROBE_THREADS} threads"] = (
                "a long or deep sequence of small products: on a shared machine torch's threads wait for one "
                "another at every step (the wide and large-batch configurations take this probe)"
            )
    else:
        _probe(spec, config, setup, tolerance, seed, unsupported, pair, ref, row, generator, log)
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
    result.repeatability = repeat
    if _comparable(first, ref, "output"):
        result.steps.update(_output_steps(first, ref, config))
    outcomes = {"": (first, ref, config), **log.outcomes}
    result.differences += single.differences
    result.steps.update(single.steps)
    result.cell_errors.update(single.cell_errors)
    first.tensors.update(single.candidate)
    ref.tensors.update(single.reference)
    standard = (lambda d: d.within_tolerance) if tolerance else (lambda d: d.bitwise)
    failing = [d for d in result.differences if not standard(d)]
    if not failing and all(checks.values()):
        result.status = "bitwise" if all(d.bitwise for d in result.differences) else "within tolerance"
        return result
    result.status = "different"
    if not failing:
        result.reason = "; ".join(result.audit) or ", ".join(check for check, ok in checks.items() if not ok)
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
        _again(pair, config, inputs, rows, row, log, "call 1 in train mode (dropout)", lambda: _seeded(seed, "cpu"))
    finally:
        pair.train(False)


def _threaded(
    pair: Pair, config: Config, inputs: Inputs, rows: dict[str, Tolerance], row: Tolerance, log: ProbeLog
) -> None:
    """Call 1 again with torch on :data:`PROBE_THREADS` intra-op threads, both sides (a real-size configuration):
    users run with several, and a candidate may take another path there (a fused product that parallelises)."""
    probe = f"call 1 on {PROBE_THREADS} threads"
    _again(pair, config, inputs, rows, row, log, probe, lambda: _torch_threads(PROBE_THREADS))


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


def _probe(
    spec: Candidate,
    config: Config,
    setup: Backend,
    tolerance: bool,
    seed: int,
    unsupported: frozenset[str],
    pair: Pair,
    ref: Outcome,
    row: Tolerance,
    generator: torch.Generator,
    log: ProbeLog,
) -> None:
    """The probes after call 1 (see :mod:`.session`), their differences and skips into ``log``."""
    if "initialisation" in unsupported:
        log.skipped["initial weights"] = "declared unsupported by the candidate (its own initialisation)"
    else:
        redraw = partial(_redraw, spec, config, setup.device, seed, pair)
        log.differences += initial_weights(pair, config, tolerance, row, redraw, cast_hint(spec, config))
    if pair.pmap.folded:
        log.skipped[f"{FOLDED_PROBE} ({', '.join(pair.pmap.folded)})"] = FOLDED
    ctx = Probing(pair, config, setup.device, row, generator, tolerance)
    later_calls(ctx, ref, log)
    module_protocol(ctx, log, draws="initialisation" not in unsupported)
    global_modes(ctx, log, spec, seed)
    bad_input(ctx, log)
    non_finite(ctx, log)
    if "double_backward" in unsupported:
        log.skipped["double backward"] = "declared unsupported by the candidate"
    elif setup.backend == "cudnn":
        log.skipped["double backward"] = "nn.LSTM's cuDNN kernel has no double backward"
    else:
        double_backward(ctx, log)
    if setup.backend == "cudnn" and spec.kind == "module":
        log.skipped["eval mode"] = (
            "nn.LSTM's cuDNN kernel has no backward in eval mode: every call ran in train mode "
            "(dropout 0, the same function); --backend native checks eval mode"
        )
    stressed(ctx, log)
    training(ctx, log)
    protocol_probes(ctx, log, unsupported)


def _redraw(spec: Candidate, config: Config, device: str, seed: int, pair: Pair, k: int) -> dict[str, Tensor | None]:
    """The candidate's k-th extra draw of initial weights, under a seed derived from the configuration's."""
    return redraw_initial(spec, config, device, (seed + k * 7_919) % 2**62, pair.pmap)


@dataclass
class SingleSteps:
    """A cell's single-step comparisons (a module candidate's: none), made on the weights of call 1.

    ``candidate`` / ``reference``: the teacher-forced states by name, for locating a difference.
    """

    differences: list[Difference] = field(default_factory=list)
    steps: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # series -> max_abs / max_ulps per step
    cell_errors: dict[str, float] = field(default_factory=dict)
    candidate: dict[str, Tensor] = field(default_factory=dict)
    reference: dict[str, Tensor] = field(default_factory=dict)


def _single_steps(pair: Pair, config: Config, inputs: Inputs, row: Tolerance) -> SingleSteps:
    """The teacher-forced replay and the stateless calls of a cell, on call 1's inputs and weights.

    Run right after call 1, before any probe moves the weights (bitwise, the training steps run free, and
    move a folded bias twice as far as nn.LSTMCell's pair): the single steps compare the very weights the
    whole sequences were compared with, under either standard and whatever the layout or adapter.
    """
    single = SingleSteps()
    _teacher_forced(pair.candidate, pair.reference, config, inputs, row, single)
    single.differences += _cell_without_state(pair, config, inputs, row)
    return single


def _cell_without_state(pair: Pair, config: Config, inputs: Inputs, row: Tolerance) -> list[Difference]:
    """The cell called as ``cell(x)``, hx=None, batched and 1-D, against nn.LSTMCell called the same way.

    ``x``: call 1's first time step, ``(N, H_in)``.
    """
    reference_cell, candidate_cell = pair.reference.raw_cell, pair.candidate.raw_cell
    if reference_cell is None or candidate_cell is None:  # module candidates: no cell to call
        return []
    x = time_major(inputs.x, config, None)[0]  # (N, H_in)
    found = []
    for probe, given in (("cell(x), hx=None", x), ("cell(x) 1-D, hx=None", x[0])):
        with torch.no_grad():
            expected = reference_cell(given)
        try:
            with torch.no_grad():
                got = candidate_cell(given)
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - the candidate may raise anything: a difference
            found.append(raised(probe, CheckError(f"{type(exc).__name__}: {exc}")))
            continue
        if not (isinstance(got, (tuple, list)) and len(got) == 2):
            got = (None, None)
        found += [
            compare(name, mine, theirs, row, probe) for name, mine, theirs in zip("hc", got, expected, strict=True)
        ]
    return found


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


def _replay(
    step: Callable[[CellStep, Tensor, Hidden], Hidden],
    cand_cell: CellStep,
    ref_cell: CellStep,
    x: Tensor,
    start: Hidden,
) -> tuple[list[Hidden], list[Hidden], list[Hidden]]:
    """Reference states, free-running candidate states and teacher-forced candidate states, per step."""
    ref_states: list[Hidden] = []
    free: list[Hidden] = []
    forced: list[Hidden] = []
    ref_state, cand_state = start, start
    with torch.no_grad():
        for x_t in x.unbind(0):
            forced.append(step(cand_cell, x_t, ref_state))
            ref_state = step(ref_cell, x_t, ref_state)
            cand_state = step(cand_cell, x_t, cand_state)
            ref_states.append(ref_state)
            free.append(cand_state)
    return ref_states, free, forced


def _teacher_forced(cand: Side, ref: Side, config: Config, inputs: Inputs, row: Tolerance, single: SingleSteps) -> None:
    """Layer 0's forward cell over the whole padded input, free-running and teacher-forced.

    Adds to ``single`` the teacher-forced comparisons, the per-step series, the cell errors and the
    teacher-forced tensors of candidate and reference by name.
    """
    if cand.cell is None or ref.cell is None:  # module candidates: no cell to replay
        return
    x = time_major(inputs.x, config, None)  # (L, N, H_in)
    n, h = x.size(1), config.hidden_size
    given = inputs.hx
    if given is None:
        start = (x.new_zeros(n, h), x.new_zeros(n, h))
    else:
        start = (given[0][0].reshape(n, h), given[1][0].reshape(n, h))  # layer 0 forward: (N, H)
    unbatched = config.input_kind == "unbatched"

    def step(cell: CellStep, x_t: Tensor, state: Hidden) -> Hidden:
        if not unbatched:
            return cell(x_t, state)
        h_t, c_t = cell(x_t[0], (state[0][0], state[1][0]))  # 1-D, as the layer machinery never feeds it
        return h_t.unsqueeze(0), c_t.unsqueeze(0)  # (1, H) each

    try:
        ref_states, free, forced = _replay(step, cand.cell, ref.cell, x, start)
    except WrongResult as exc:  # the candidate's cell is checked: a state shaped or typed unlike the one it was given
        note = f"{exc} for {'1-D' if unbatched else '2-D'} input"
        inf = float("inf")
        single.differences.append(Difference("step h (teacher-forced)", False, False, inf, inf, inf, note))
        return

    series = single.steps
    for index, label in enumerate("hc"):
        reference = torch.stack([s[index] for s in ref_states])  # (L, N, H)
        teacher = torch.stack([s[index] for s in forced])  # (L, N, H)
        accumulated = torch.stack([s[index] for s in free])  # (L, N, H)
        name = f"step {label} (teacher-forced)"
        single.differences.append(compare(name, teacher, reference, row))
        single.candidate[name], single.reference[name] = teacher, reference
        for kind, candidate in (("teacher-forced", teacher), ("accumulated", accumulated)):
            abs_steps, ulp_steps = per_step(candidate, reference)
            series[f"{label} {kind}"] = {"max_abs": abs_steps, "max_ulps": ulp_steps}
    for kind, key in (("teacher-forced", "single_step"), ("accumulated", "accumulated")):
        single.cell_errors[f"{key}_max_abs"] = max(max(series[f"{s} {kind}"]["max_abs"]) for s in "hc")
        single.cell_errors[f"{key}_max_ulps"] = max(max(series[f"{s} {kind}"]["max_ulps"]) for s in "hc")
