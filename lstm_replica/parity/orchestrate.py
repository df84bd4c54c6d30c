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
(see docs/checking.md, "How long a check takes, and its time limit"). The report's provenance names it.
"""

from __future__ import annotations

import functools
import inspect
import platform
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal, ParamSpec, TypeVar

import torch

from lstm_replica.parity import backends
from lstm_replica.parity.backends import Backend
from lstm_replica.parity.build import (
    Candidate,
)
from lstm_replica.parity.candidates import (
    CheckError,
    WeightAdapter,
    describe,
)
from lstm_replica.parity.compare import tolerance_for
from lstm_replica.parity.configs import Config, ConfigFields, ConfigKeysError
from lstm_replica.parity.deadline import NO_LIMIT, TimedOut, deadline, limit_for
from lstm_replica.parity.diagnose import LOW_PRECISION, diagnose
from lstm_replica.parity.globalstate import global_state, torch_threads
from lstm_replica.parity.judge import judge_config
from lstm_replica.parity.progress import Progress, work
from lstm_replica.parity.report import ConfigResult, Report
from lstm_replica.parity.results import FAILED_FAST, TIMED_OUT, Message
from lstm_replica.parity.seeds import config_seed, seeded
from lstm_replica.parity.selection import CheckArguments, Selection, select_candidate
from lstm_replica.parity.timing import reference_seconds, told_where

if TYPE_CHECKING:
    from typing_extensions import Unpack

REFERENCES = {"module": "torch.nn.LSTM", "cell": "torch.nn.LSTMCell"}
DEFAULT_TIMEOUT_S: float | None = None  # None: tied to nn.LSTM's own time per configuration (see .deadline)
HARNESS_THREADS = 1  # torch's intra-op threads while check() runs (see the module docstring)
P = ParamSpec("P")
R = TypeVar("R")


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
    scratch = Report("", "?", "?", "bitwise", {})  # select_candidate notes what it learns here: not needed
    selecting = [p.name for p in inspect.signature(select_candidate).parameters.values() if p.kind is p.KEYWORD_ONLY]
    return select_candidate(candidate, scratch, setup, **{k: chosen[k] for k in selecting}).configs


def _harness_threads(fn: Callable[P, R]) -> Callable[P, R]:
    """``fn`` run with torch's intra-op thread count at :data:`HARNESS_THREADS`, the caller's put back after."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with torch_threads(HARNESS_THREADS):
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
    on_result: Callable[[Message, object], None] | None = None,
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
    report = _new_report(candidate, setup, seed, tolerance)
    try:
        chosen = select_candidate(
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
    _describe_selection(report, chosen, setup, "quick" if quick else ("thorough" if thorough else "default"))
    if on_result is not None:
        on_result("started", (replace(report), [c.to_dict() for c in chosen.configs]))
    run = _Run(report, chosen, setup, tolerance, timeout, on_stuck, on_result)
    bar = Progress([work(c) for c in chosen.configs], enabled=progress)
    for index, current in enumerate(chosen.configs):
        bar.advance(current.name)
        result = run.one(current)
        left = [c.name for c in chosen.configs[index + 1 :]]
        if result is None:
            report.not_run, report.stopped = left, TIMED_OUT
            break
        if fail_fast and result.status == "different":
            report.not_run, report.stopped = left, FAILED_FAST
            break
    bar.close()
    report.diagnosis = _diagnosis(chosen.spec, report, setup, chosen.seed, chosen.configs)
    report.close_envelope()
    return report


def _new_report(candidate: object, setup: Backend, seed: int | str | None, tolerance: bool) -> Report:
    """An empty report of ``candidate``: its label, the standard and the provenance known before it is loaded."""
    provenance = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": setup.device,
        "backend": setup.describe(),
        "seed": "derived from the candidate" if seed is None else str(seed),
        "standard": "tolerance" if tolerance else "bitwise (torch.equal)",
        "threads": str(torch.get_num_threads()),
    }
    label = candidate if isinstance(candidate, str) else describe(candidate)
    return Report(label, "?", "?", "tolerance" if tolerance else "bitwise", provenance)


def _describe_selection(
    report: Report, chosen: Selection, setup: Backend, matrix: Literal["default", "thorough", "quick"]
) -> None:
    """What the selection settled, into the report: the seed, the candidate's kind, its scope and tolerances."""
    report.provenance["seed"] = f"{chosen.seed} ({chosen.seed_origin})"
    report.kind, report.reference = chosen.spec.kind, REFERENCES[chosen.spec.kind]
    report.unsupported = sorted(chosen.declared)
    report.ruled_out = sorted(chosen.restricted)
    report.not_compared = chosen.excluded
    report.matrix = matrix
    for dtype in sorted({c.torch_dtype for c in chosen.configs}, key=str):
        row = tolerance_for(setup.tolerance_key, dtype)
        report.tolerances[str(dtype).removeprefix("torch.")] = {"rtol": row.rtol, "atol": row.atol, "why": row.why}


@dataclass
class _Run:
    """The configurations of one check, judged one at a time under their time limits."""

    report: Report
    chosen: Selection
    setup: Backend
    tolerance: bool
    timeout: float | None
    on_stuck: Callable[[str], None] | None
    on_result: Callable[[Message, object], None] | None

    def one(self, config: Config) -> ConfigResult | None:
        """``config`` judged and its result added to the report; None when it ran past its time limit (its
        result then says so, and the run ends)."""
        spec, seed, report = self.chosen.spec, self.chosen.seed, self.report
        stuck = None if self.on_stuck is None else told_where(self.on_stuck, f"in configuration {config.name}")
        try:
            with deadline(limit_for(None, self.timeout), stuck) as running:
                limit = NO_LIMIT
                if running is not None:  # the reference is timed under the floor's limit, then the limit is set
                    limit = limit_for(reference_seconds(spec.kind, config, self.setup, seed), self.timeout)
                    running.set(limit)
                self._tell("limit", (config.name, limit.wall_s or None))
                result = judge_config(spec, config, self.setup, self.tolerance, seed, report, self.chosen.declared)
        except TimedOut as exc:
            report.traceback = report.traceback or traceback.format_exc()  # where the candidate was
            report.results.append(ConfigResult(config.to_dict(), "error", str(exc)))
            self._tell("result", report.results[-1])
            return None
        report.results.append(result)
        self._tell("result", result)
        return result

    def _tell(self, kind: Message, payload: object) -> None:
        if self.on_result is not None:
            self.on_result(kind, payload)


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
        with backends.flags(setup), seeded(config_seed(seed, config), setup.device), global_state():
            first = next(d.probe for d in suspects[0].differences if not d.bitwise)
            return diagnose(spec, config, setup.device, config_seed(seed, config), first)
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - a diagnosis is extra evidence, never the verdict
        return f"Diagnosis: not available ({type(exc).__name__}: {exc})"
