"""The check run in a child process, so that the candidate cannot take the report down with it.

A candidate can end the process that runs it: a segfault in an extension, ``os._exit`` or ``sys.exit`` from
a thread, the kernel's out-of-memory kill, a hang no alarm reaches. :func:`check` (the package's ``check``, the
CLI's and the pytest fixture's) therefore runs the in-process :func:`lstm_replica.parity.orchestrate.check` in a
spawned child that sends each configuration's result back as soon as it has it. When the child dies, the
configuration it was in is recorded as a difference ("the candidate's process died in this configuration
(killed by SIGSEGV)": a crash on valid input), and a fresh child carries on with the configurations left.
When its watchdog gives up on a hang, or it stays silent past its wall-clock backstop and a grace, that
configuration could not be checked and the run stops there, as it does in the caller's process after a time-out.
A death before any configuration ran, or after the last (in the diagnosis's rerun), leaves the run unfinished
(exit 2). So a dying candidate never ends a run with exit status 0. torch's global state cannot leak from the
candidate into the caller; within the child it is watched per configuration (:mod:`.globalstate`).

One child serves the checks of a process in turn: starting one imports torch, which costs seconds, so a pytest
suite whose items are one configuration each pays that once per pytest process, not once per item. A fresh
child replaces one that died. The candidate and a ``weights`` adapter travel to the child pickled (a class or
function by module and name; each check brings the caller's current ``sys.path``, directory and environment,
and spawn re-imports the caller's main script, which must therefore keep its own calls under
``if __name__ == "__main__":``). Where that cannot work (a class defined inside a function, a lambda, a class
of a ``python -c`` session, a caller that may not start processes) the check runs in the caller's process, and
the report's provenance says so: ``isolation none: ...``.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING

from lstm_replica.parity import orchestrate
from lstm_replica.parity.candidates import describe
from lstm_replica.parity.orchestrate import DEFAULT_TIMEOUT_S
from lstm_replica.parity.report import ConfigResult, Report
from lstm_replica.parity.results import FAILED_FAST, TIMED_OUT, Message, Stop
from lstm_replica.parity.selection import CheckOptions

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from lstm_replica.parity.selection import CheckArguments

STUCK_EXIT = 3  # the child's exit status after its watchdog gave up on the candidate
GRACE_S = 30.0  # beyond a configuration's wall-clock backstop, how long the parent waits for a silent child
BACKSTOP_FACTOR = 10.0  # the runner's wall-clock backstop, times ``timeout`` (its CPU seconds; see .deadline)
START_S = 300.0  # how long a new child may take to start (importing torch) and take its first check
NOT_ISOLATED = "none: asked for (isolate=False / --no-isolate)"
Listener = Callable[[Message, object], None]  # on_result(kind, payload)


class NotSent(Exception):
    """The check cannot run in a child process; the message says why (it then runs in the caller's)."""


def check(
    candidate: object = "lstm_replica:LSTM", *, isolate: bool = True, **arguments: Unpack[CheckArguments]
) -> Report:
    """:func:`lstm_replica.parity.orchestrate.check` of ``candidate``, run in a child process unless ``isolate`` is False.

    Takes the runner's keyword arguments. Isolated, a candidate that ends its process costs the configuration it
    died in (see the module docstring), and ``on_stuck`` is not called: a stuck child is ended instead.
    ``isolate=False`` (for a debugger or a profiler) runs the candidate in this process, as does a candidate that
    cannot be sent to a child; the report's provenance then reads ``isolation none: <why>``.
    """
    if isolate:
        try:
            return check_isolated(candidate, **arguments)
        except NotSent as exc:
            why = f"none: {exc}; a crash in the candidate ends this process"
    else:
        why = NOT_ISOLATED
    report = orchestrate.check(candidate, **arguments)
    report.provenance["isolation"] = why
    return report


def check_isolated(
    candidate: object,
    *,
    timeout: float | None = DEFAULT_TIMEOUT_S,
    on_result: Listener | None = None,
    on_stuck: Callable[[str], None] | None = None,
    **options: Unpack[CheckOptions],
) -> Report:
    """:func:`orchestrate.check` of ``candidate`` in a child process; :class:`NotSent` where it cannot run in one.

    ``on_result`` hears the child's messages (``"started"``, ``"result"``, ...) as they arrive. ``on_stuck`` is
    taken for the runner's signature and not called: a child stuck in the candidate is ended instead, and the
    configuration it was in could not be checked.
    """
    try:
        sent = pickle.dumps((candidate, {k: v for k, v in options.items() if k != "configs"}))
    except (pickle.PicklingError, AttributeError, TypeError) as exc:  # a local class, a lambda, an open file, ...
        what = "the candidate or its weights adapter" if options.get("weights") is not None else "the candidate"
        msg = f"{what} cannot be sent to a child process ({type(exc).__name__}: {exc})"
        raise NotSent(msg) from exc
    label = candidate if isinstance(candidate, str) else describe(candidate)
    run = _Run(label, sent, timeout, bool(options.get("fail_fast")), on_result)
    with _LOCK:
        return run.go(options.get("configs"))


@dataclass
class _Run:
    """One isolated check: what the children said, and the children replaced on the way."""

    label: str  # the candidate as the report names it
    sent: bytes  # the pickled candidate and options
    timeout: float | None
    fail_fast: bool
    on_result: Listener | None
    header: Report | None = None  # the report as the configurations were chosen
    configs: list[dict[str, object]] = field(default_factory=list)  # the chosen configurations
    results: list[ConfigResult] = field(default_factory=list)
    replaced: int = 0  # fresh children started to carry on after a death
    not_run: list[str] = field(default_factory=list)  # the configurations left where a child's end stopped the run
    stopped: Stop = ""  # why the child's end stopped the run ("": it did not)

    def go(self, configs: list[str] | None) -> Report:
        final: Report | None = None
        note = ""
        while True:
            worker = _worker()
            request = pickle.dumps((list(sys.path), os.getcwd(), dict(os.environ), self.sent, self.timeout, configs))
            try:
                kind, payload = worker.run(request, self.timeout, self.hear)
            except BaseException:  # an interrupt in the middle of a check: the child's state is unknown
                _discard(worker)
                raise
            if kind == "unsendable":
                msg = f"the candidate could not be loaded in a child process ({payload})"
                raise NotSent(msg)
            if kind == "gone":  # say, the out-of-memory killer took it while idle: a fresh one takes the check
                _discard(worker)
                continue
            if kind == "unstarted":
                _discard(worker)
                _UNSTARTABLE.append(_unstarted(payload))  # as it will for every check of this process: not again
                raise NotSent(_UNSTARTABLE[0])
            if kind == "raised":  # the harness's own exception (a bad option, say): raised here as it was there
                raised, where = _reraised(payload)
                raise raised from where
            if kind == "report":
                assert isinstance(payload, Report)
                final = payload
                break
            _discard(worker)  # it died, hung past the watchdog or stayed silent: the configuration it was in pays
            done = {r.name for r in self.results}
            left = [c for c in self.configs if c["name"] not in done]
            if self.header is None or not left:
                note = f"{_ended(kind, payload)} {'before' if self.header is None else 'after'} {_WHERE}"
                break
            self.results.append(_cost(left[0], kind, payload))
            rest = [str(c["name"]) for c in left[1:]]
            if kind != "died":  # a hang ends the run, as in the caller's process: the next would wait as long
                self.not_run, self.stopped = rest, TIMED_OUT
                break
            if self.fail_fast:
                self.not_run, self.stopped = rest, FAILED_FAST
                break
            if not rest:
                break
            configs = rest  # a fresh child carries on
            self.replaced += 1
        return self.assemble(final, note)

    def hear(self, kind: Message, payload: object) -> None:
        """A message of the child's runner: the chosen configurations, a result, or one this version does not know."""
        if kind == "started":
            if self.header is not None:  # a fresh child's, after a death: the caller heard the first
                return
            assert isinstance(payload, tuple)
            self.header, self.configs = payload
        elif kind == "result":
            assert isinstance(payload, ConfigResult)
            self.results.append(payload)
        if self.on_result is not None:
            self.on_result(kind, payload)

    def assemble(self, final: Report | None, note: str) -> Report:
        """One report of every child's results; ``note``: how the last child ended, if it did not report."""
        if self.header is None:
            if final is not None:  # the child reported without starting: the candidate could not load or select
                final.provenance["isolation"] = "a child process"
                return final
            return Report(self.label, "?", "?", "bitwise", {"isolation": "a child process"}, error=note)
        report = replace(self.header, results=self.results, not_run=[], stopped="")
        if final is not None:
            report.diagnosis, report.traceback = final.diagnosis, final.traceback
            report.not_run, report.stopped = final.not_run, final.stopped
        if self.stopped:
            report.not_run, report.stopped = self.not_run, self.stopped
        if note:  # after the last configuration, in the diagnosis's float64 rerun: never a clean exit
            report.diagnosis = f"Diagnosis: not available ({note})"
            if report.exit_status == 0:
                report.error = note
        report.close_envelope()  # of every child's results
        children = f"{self.replaced + 1} child processes (a fresh one after each death)" if self.replaced else ""
        report.provenance = {**report.provenance, "isolation": children or "a child process"}
        return report


_WHERE = "the configurations ran"  # where a child that ended outside a configuration was


class ChildTraceback(Exception):
    """The traceback, as text, of an exception the harness raised in the child: the cause of the one raised here."""


def _reraised(payload: object) -> tuple[Exception, ChildTraceback]:
    """The child's exception (pickled) and its traceback; a RuntimeError with the traceback where it won't unpickle."""
    assert isinstance(payload, tuple)
    pickled, text = payload
    try:
        raised = pickle.loads(pickled)
    except Exception:  # noqa: BLE001 - an exception class this process cannot rebuild: its words still come through
        raised = None
    if not isinstance(raised, Exception):
        raised = RuntimeError(f"Expected the check to run to its report in the child process, got:\n{text}")
    return raised, ChildTraceback(text)


def _cost(config: dict[str, object], kind: Message, payload: object) -> ConfigResult:
    """The result of the configuration a child ended in: a death is a difference, a hang could not be checked."""
    if kind == "died":
        return ConfigResult(config, "different", f"the candidate's process died in this configuration ({payload})")
    return ConfigResult(config, "error", _ended(kind, payload))


def _ended(kind: Message, payload: object) -> str:
    """How a child ended: ``died`` (payload: the exit reason), ``stuck`` (the watchdog's word), ``silent`` (s)."""
    if kind == "died":
        return f"the candidate's process died ({payload})"
    if kind == "stuck":
        return f"{payload}; the candidate did not give control back, so its process was ended"
    return f"timed out after {payload:g} s without a word from the candidate's process, so it was killed"


def _unstarted(why: object) -> str:
    """Why no check of this process can run in a child: its first child ended before its loop."""
    return (
        f"the child process ended before it took the check ({why}); from a script, call check() under "
        "if __name__ == '__main__': (multiprocessing's spawn imports the script again in the child)"
    )


def _exit_reason(code: object) -> str:
    """A child's exit code in words: ``exit status 1``, ``killed by SIGSEGV``."""
    if isinstance(code, int) and code < 0:
        name = signal.Signals(-code).name
        return f"killed by {name}" + (", the signal of the kernel's out-of-memory killer" if name == "SIGKILL" else "")
    return f"exit status {code}"


class _Worker:
    """A spawned child process that runs checks one at a time, for as long as it lives."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.connection, child_end = context.Pipe()
        self.process = context.Process(target=_serve, args=(child_end,), daemon=True, name="lstm-replica check")
        self.ready = False  # it got through spawn's start-up (the caller's main script re-imported) to its loop
        self.served = False  # it has taken a check
        try:
            self.process.start()
        except (OSError, AssertionError) as exc:  # no process to be had; a daemonic process may not have children
            msg = f"no child process could be started ({type(exc).__name__}: {exc})"
            raise NotSent(msg) from exc
        finally:
            child_end.close()

    def run(self, request: bytes, timeout: float | None, hear: Listener) -> tuple[Message, object]:
        """Send one check and hear its messages until it ends; return how it ended and with what.

        ``("report", Report)``, ``("unsendable", why)``, ``("raised", (pickled exception, traceback))``,
        ``("stuck", the watchdog's message)``, ``("died", exit reason)``, ``("silent", seconds)``;
        ``("unstarted", exit code or why)``: it never reached its loop; ``("gone", exit reason)``: a child that
        had served ended before it took this check (idle, or loading this candidate).
        """
        served = self.served
        with contextlib.suppress(OSError):  # a child that has ended already: found out below
            self.connection.send_bytes(request)
        allowed = _silence(timeout)
        limit = allowed if served else START_S
        heard = time.monotonic()
        taken = False
        while True:
            if self.connection.poll(0.2):
                try:
                    kind, payload = self.connection.recv()
                except (EOFError, OSError):
                    break
                heard = time.monotonic()
                if kind == "ready":
                    self.ready = True
                elif kind == "accepted":
                    self.served = taken = True
                    limit = allowed
                elif kind in ("report", "unsendable", "raised", "stuck"):
                    return kind, payload
                else:  # "started", "result", "limit" and any kind this version does not know: the listener's
                    if kind == "limit":
                        limit = _backstop(payload, allowed)
                    hear(kind, payload)
            elif not self.process.is_alive() and not self.connection.poll(0):
                break
            elif limit is not None and time.monotonic() - heard > limit:
                self.process.kill()
                return ("silent", limit) if self.ready else ("unstarted", f"no word within {limit:g} s")
        self.process.join(5)
        if not self.ready:
            return "unstarted", _exit_reason(self.process.exitcode)
        return ("gone" if served and not taken else "died"), _exit_reason(self.process.exitcode)

    def close(self) -> None:
        """End the child, if it still runs, and release its pipe."""
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.connection.close()


def _silence(timeout: float | None) -> float | None:
    """How long a child may stay silent before it names a configuration's limit (loading, the feature probes).

    The runner's wall-clock backstop and a grace; none where ``timeout`` leaves the limit to the runner (None)
    or sets none (0): the child's own watchdog still ends a hang there.
    """
    return BACKSTOP_FACTOR * timeout + GRACE_S if timeout else None


def _backstop(payload: object, fallback: float | None) -> float | None:
    """The silence allowed after ``("limit", (configuration, wall-clock backstop in seconds or None))``."""
    if not (isinstance(payload, tuple) and len(payload) == 2):
        return fallback
    seconds = payload[1]
    if seconds is None or seconds == 0:
        return None
    return seconds + GRACE_S if isinstance(seconds, (int, float)) else fallback


_LOCK = threading.Lock()  # one check at a time talks to the child
_CHILD: list[_Worker] = []  # the child this process's checks share: none yet, or one
_UNSTARTABLE: list[str] = []  # why a child of this process ended before taking its check (its main script, say)


def _worker() -> _Worker:
    """The shared child if it lives, else a fresh one; :class:`NotSent` where a child could not start before."""
    if _UNSTARTABLE:
        raise NotSent(_UNSTARTABLE[0])
    if _CHILD and _CHILD[0].process.is_alive():
        return _CHILD[0]
    if _CHILD:
        _discard(_CHILD[0])
    worker = _Worker()
    _CHILD.append(worker)
    return worker


def _discard(worker: _Worker) -> None:
    """End ``worker`` and forget it: the next check starts a fresh one."""
    worker.close()
    if worker in _CHILD:
        _CHILD.remove(worker)


def _serve(connection: Connection) -> None:
    """The child: take a check, run it, send back its messages and report; until the caller hangs up."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the caller's: it ends this child
    connection.send(("ready", None))

    def notify(kind: Message, payload: object) -> None:
        connection.send((kind, payload))

    def give_up(message: str) -> None:
        connection.send(("stuck", message))
        os._exit(STUCK_EXIT)

    while True:
        try:
            request = connection.recv_bytes()
        except (EOFError, OSError):  # the caller is gone
            return
        path, directory, environ, sent, timeout, configs = pickle.loads(request)
        try:
            sys.path[:] = path
            os.chdir(directory)
            os.environ.clear()
            os.environ.update(environ)
            candidate, options = pickle.loads(sent)  # imports the candidate's module: it may fail here
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - whatever keeps it from loading here: it runs there
            connection.send(("unsendable", f"{type(exc).__name__}: {exc}"))
            continue
        connection.send(("accepted", None))
        try:
            report = orchestrate.check(
                candidate, timeout=timeout, on_result=notify, on_stuck=give_up, configs=configs, **options
            )
        except Exception as exc:  # noqa: BLE001 - the harness's own exception: the caller raises it
            try:
                pickled = pickle.dumps(exc)
            except Exception:  # noqa: BLE001 - an exception that will not pickle: its traceback still goes
                pickled = b""
            connection.send(("raised", (pickled, traceback.format_exc())))
            continue
        connection.send(("report", report))
