"""The check run in a child process, so that the candidate cannot take the report down with it.

A candidate can end the process that runs it: a segfault in an extension, ``os._exit``, the kernel's
out-of-memory kill, a hang no alarm reaches. :func:`check_isolated` runs :func:`check` in a spawned
child that sends each configuration's result back as soon as it has it. When the child dies, the
configuration it was in is recorded as a difference ("the candidate's process died": a crash on valid
input), and a fresh child carries on with the configurations left; when it hangs past the time-out, that
configuration could not be checked and the others still run. torch's global state cannot leak from the
candidate into the parent, and within a child it is watched per configuration (:mod:`.globalstate`).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from dataclasses import replace
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING

from lstm_replica.parity.report import ConfigResult, Report
from lstm_replica.parity.runner import DEFAULT_TIMEOUT_S, CheckOptions, check

if TYPE_CHECKING:
    from typing_extensions import Unpack

STUCK_EXIT = 3  # the child's exit status after its watchdog gave up on the candidate
GRACE_S = 30.0  # beyond the per-configuration time-out, how long the parent waits for a silent child
Started = tuple[Report, list[dict[str, object]]]  # the header report and the chosen configurations


def check_isolated(
    candidate: str, *, timeout: float | None = DEFAULT_TIMEOUT_S, **options: Unpack[CheckOptions]
) -> Report:
    """:func:`check` of ``candidate`` (a ``module:attr`` / ``file.py:attr`` target) in child processes."""
    context = multiprocessing.get_context("spawn")
    header: Report | None = None
    results: list[ConfigResult] = []
    configs: list[dict[str, object]] = []
    last: Report | None = None
    remaining = options.pop("configs", None)
    while True:
        receiver, sender = context.Pipe(duplex=False)
        sent: CheckOptions = {**options, "configs": remaining}
        args = (sender, candidate, timeout, sent)
        child = context.Process(target=_child, args=args, daemon=True)
        child.start()
        sender.close()
        ended, started, stuck = _listen(receiver, child, results, timeout)
        if header is None and started is not None:
            header, configs = started
        if ended is not None:
            last = ended
            if not (ended.stopped == "after the time-out" and ended.not_run):
                break
            remaining = list(ended.not_run)  # a hang costs its configuration only: a fresh child runs the rest
            continue
        done = {r.name for r in results}
        left = [c for c in configs if c["name"] not in done]
        if not left:
            break
        current = left[0]
        if stuck:
            results.append(ConfigResult(current, "error", stuck))
        else:
            why = f"the candidate's process died in this configuration ({_exit_reason(child.exitcode)})"
            results.append(ConfigResult(current, "different", why))
        remaining = [str(c["name"]) for c in left[1:]]
        if not remaining:
            break
    return _assemble(header, last, results, candidate)


def _child(sender: Connection, candidate: str, timeout: float | None, options: CheckOptions) -> None:
    def notify(kind: str, payload: object) -> None:
        sender.send((kind, payload))

    def give_up(message: str) -> None:
        sender.send(("stuck", message))
        os._exit(STUCK_EXIT)

    report = check(candidate, timeout=timeout, on_result=notify, on_stuck=give_up, **options)
    sender.send(("report", report))
    sender.close()


def _listen(
    receiver: Connection, child: multiprocessing.process.BaseProcess, results: list[ConfigResult], timeout: float | None
) -> tuple[Report | None, Started | None, str]:
    """Results until the child's final report, its death or its silence: (final report, started, stuck)."""
    started: Started | None = None
    silence = (timeout or 0) + GRACE_S if timeout else None
    heard = time.monotonic()
    while True:
        if receiver.poll(0.2):
            try:
                kind, payload = receiver.recv()
            except (EOFError, OSError):
                break
            heard = time.monotonic()
            if kind == "started":
                started = payload
            elif kind == "result":
                results.append(payload)
            elif kind == "stuck":
                child.join(5)
                return None, started, str(payload)
            elif kind == "report":
                child.join(5)
                return payload, started, ""
        elif not child.is_alive():
            break
        elif silence is not None and time.monotonic() - heard > silence:
            child.kill()
            child.join(5)
            return None, started, f"timed out after {timeout:g} s; the candidate's process was killed"
    child.join(5)
    return None, started, ""


def _exit_reason(code: int | None) -> str:
    if code is not None and code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit status {code}"


def _assemble(header: Report | None, last: Report | None, results: list[ConfigResult], candidate: str) -> Report:
    if header is None:
        if last is not None:  # the child reported without starting: it could not load or select
            return last
        report = Report(candidate, "?", "?", "bitwise", {})
        report.error = "the candidate's process died before any configuration ran"
        return report
    report = replace(header, results=results, not_run=[])
    if last is not None:
        report.diagnosis, report.traceback = last.diagnosis, last.traceback
        if last.stopped != "after the time-out":
            report.not_run, report.stopped = last.not_run, last.stopped
    return report
