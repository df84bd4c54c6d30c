"""A time limit per configuration, tied to the work, so that a hung candidate ends in "could not be checked".

What is limited. The limit is CPU time of this process, not wall-clock time: a machine shared with
four busy processes stretches a configuration's wall time about fourfold but leaves its CPU time
(nearly) as it is, so a verdict does not depend on the machine's load. By default (:func:`limit_for`
with ``timeout=None``) a configuration may use ``max(FLOOR_S, MULTIPLE x r)`` CPU seconds, where
``r`` is the CPU time the reference (nn.LSTM; for a cell, nn.LSTMCell in the harness's layer loop)
took for one forward and backward on that configuration, measured in the same run just before the
candidate runs. An explicit ``timeout=S`` (``--timeout S``) means S CPU seconds per configuration;
0 means no limit.

Why 1000 and 120 s. A configuration makes about 40 calls of candidate and reference. Measured on the
default matrix (2 shared cores, AMD EPYC, load 3 to 9, torch on one thread): the built-in replica used
at most 14 CPU s on a configuration, a hand-written per-step Python cell (``examples/textbook_cell.py``
with ``--weights per-gate-t``, ``examples/researcher_cell.py`` with its ``copy_weights``) at most 13 s;
where nn.LSTM's own call takes over 50 ms (the long sequences) they used at most 53, 54 and 82 times
it. On the short configurations fixed costs (building, the parameter map, the training probe's
optimiser) dominate and the ratio reaches 1900, but at most 4 CPU s: the floor's business. With
``MULTIPLE = 1000`` and ``FLOOR_S = 120`` every configuration of all three stayed under 1/15 of its
limit, room for a slower machine or a slower cell, while a candidate computing forever is stopped
after 120 CPU s on a short configuration (about 320 s on the longest of the default matrix).

A candidate that waits without computing (``time.sleep``, a lock, a deadlock in C) uses no CPU time,
so a wall-clock backstop also applies: ``WALL_FACTOR`` (10) times the CPU limit, which a correct
candidate reaches only on a machine oversubscribed more than 150 times (it uses under 1/15 of its CPU
limit, and an oversubscribed machine stretches wall time, not CPU time). A waiting candidate is
therefore stopped after 1200 s on a short configuration; ``--timeout`` lowers both.

How it is stopped. On the main thread of a POSIX process, interval timers (``signal.setitimer``:
``ITIMER_PROF`` counts this process's CPU time, ``ITIMER_REAL`` the backstop) raise
:class:`TimedOut` in the candidate's Python code when a limit passes. ``TimedOut`` derives from
``BaseException`` so that a candidate's own ``except Exception`` cannot swallow it. Code stuck where
no Python runs (a C loop, a deadlock) or that ignores the signals cannot be interrupted that way: for
it, ``on_stuck`` is called from a watchdog thread once the CPU limit or the backstop has passed by a
grace period (the CLI then prints why and ends the process with exit status 2). Where a timer cannot
be set (another thread, Windows, a timer someone else is running), only the watchdog applies.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType

# setitimer overflows far beyond this; a week is no limit in practice.
MAX_TIMEOUT_S = 7 * 24 * 3600.0
FLOOR_S = 120.0  # CPU seconds a configuration may always use (see the module docstring)
MULTIPLE = 1000.0  # times nn.LSTM's own CPU time on the configuration
WALL_FACTOR = 10.0  # the wall-clock backstop, times the CPU limit
POLL_S = 0.25  # how often the watchdog looks at the clocks


class TimedOut(BaseException):
    """The configuration ran past its time limit; ``str()`` says after how long and what the limit was."""


@dataclass(frozen=True)
class Limit:
    """A configuration's time limit: ``cpu_s`` CPU seconds of this process, ``wall_s`` wall-clock seconds.

    Both 0: no limit. ``why`` says where the CPU limit comes from, for the time-out message.
    """

    cpu_s: float
    wall_s: float
    why: str

    def __bool__(self) -> bool:
        return self.cpu_s > 0


NO_LIMIT = Limit(0.0, 0.0, "no limit")


def limit_for(reference_s: float | None, timeout: float | None, what: str = "this configuration") -> Limit:
    """The limit for work on which nn.LSTM took ``reference_s`` CPU seconds (None: not measured).

    ``timeout``: None for the default (``max(FLOOR_S, MULTIPLE x reference_s)``), 0 for no limit, else
    that many CPU seconds. The wall-clock backstop is ``WALL_FACTOR`` times the CPU limit.
    """
    if timeout is not None and timeout < 0:
        msg = f"Expected a time-out of 0 (no limit) or more seconds, got {timeout:g}"
        raise ValueError(msg)
    if timeout == 0:
        return NO_LIMIT
    took = "" if reference_s is None else f"nn.LSTM's {reference_s:.2g} s on {what}"
    if timeout is not None:
        cpu = min(timeout, MAX_TIMEOUT_S)
        why = f"--timeout {cpu:g} s" + (f"; {took}" if took else "")
    else:
        cpu = max(FLOOR_S, MULTIPLE * (reference_s or 0.0))
        cpu = min(cpu, MAX_TIMEOUT_S)
        why = f"{MULTIPLE:g} x {took}, floor {FLOOR_S:g} s" if took else f"floor {FLOOR_S:g} s"
    return Limit(cpu, min(WALL_FACTOR * cpu, MAX_TIMEOUT_S), why)


def grace(seconds: float) -> float:
    """How long after a limit the watchdog waits for the signal to have taken effect."""
    return max(2.0, 0.1 * seconds)


def _timer_free(which: int) -> bool:
    return (
        hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
        and signal.getitimer(which) == (0.0, 0.0)
    )


class Deadline:
    """A running limit (see :func:`deadline`): its clocks started when it was made; :meth:`set` re-arms it."""

    def __init__(self, limit: Limit, on_stuck: Callable[[str], None] | None) -> None:
        self.limit = limit
        self.cpu_start, self.wall_start = time.process_time(), time.monotonic()
        self.stopped = threading.Event()
        self.on_stuck = on_stuck
        self.profiling = hasattr(signal, "ITIMER_PROF") and _timer_free(signal.ITIMER_PROF)
        self.alarm = hasattr(signal, "ITIMER_REAL") and _timer_free(signal.ITIMER_REAL)
        self.previous: dict[int, object] = {}

    def used(self) -> tuple[float, float]:
        """(CPU seconds, wall-clock seconds) since the deadline started."""
        return time.process_time() - self.cpu_start, time.monotonic() - self.wall_start

    def message(self, computing: bool) -> str:
        """Why the limit ended the work (``computing``: the CPU limit, else the backstop): how long, what limit."""
        cpu, wall = self.used()
        if computing:
            return f"timed out after {cpu:.3g} s CPU (limit: {self.limit.why})"
        backstop = f"backstop {WALL_FACTOR:g} x the CPU limit of {self.limit.cpu_s:g} s ({self.limit.why})"
        return f"timed out after {wall:.3g} s wall-clock with {cpu:.2g} s CPU: waiting, not computing ({backstop})"

    def _expired(self, signum: int, frame: FrameType | None) -> None:
        computing = signum == signal.SIGPROF
        if computing and self.used()[0] < self.limit.cpu_s:  # the timer's accounting ran ahead of the clock's
            self.set(self.limit)
            return
        raise TimedOut(self.message(computing))

    def start(self) -> None:
        if self.on_stuck is not None:
            threading.Thread(target=self._watch, name="lstm-replica deadline", daemon=True).start()
        if self.profiling:
            self.previous[signal.SIGPROF] = signal.signal(signal.SIGPROF, self._expired)
        if self.alarm:
            self.previous[signal.SIGALRM] = signal.signal(signal.SIGALRM, self._expired)
        self.set(self.limit)

    def set(self, limit: Limit) -> None:
        """Make ``limit`` the limit, counted from the deadline's start (the time used so far counts)."""
        self.limit = limit
        cpu, wall = self.used()
        if self.profiling:
            signal.setitimer(signal.ITIMER_PROF, max(limit.cpu_s - cpu, 1e-3))
        if self.alarm:
            signal.setitimer(signal.ITIMER_REAL, max(limit.wall_s - wall, 1e-3))

    def stop(self) -> None:
        self.stopped.set()
        try:
            if self.profiling:
                signal.setitimer(signal.ITIMER_PROF, 0)
            if self.alarm:
                signal.setitimer(signal.ITIMER_REAL, 0)
        finally:
            for signum, handler in self.previous.items():
                signal.signal(signum, handler)  # type: ignore[arg-type]  # what signal.signal returned

    def _watch(self) -> None:
        while not self.stopped.wait(POLL_S):
            cpu, wall = self.used()
            limit = self.limit
            computing = cpu > limit.cpu_s + grace(limit.cpu_s)
            if computing or wall > limit.wall_s + grace(limit.wall_s):
                if self.on_stuck is not None and not self.stopped.is_set():
                    self.on_stuck(self.message(computing))
                return


@contextmanager
def deadline(limit: Limit, on_stuck: Callable[[str], None] | None = None) -> Iterator[Deadline | None]:
    """Raise :class:`TimedOut` in the body once ``limit`` passes (a false limit: none); see the module docstring.

    ``on_stuck(message)`` is called from the watchdog thread if the body does not give control back.
    Yields the running :class:`Deadline` (None without a limit), whose :meth:`Deadline.set` changes the limit.
    """
    if not limit:
        yield None
        return
    running = Deadline(limit, on_stuck)
    running.start()
    try:
        yield running
    finally:
        running.stop()
