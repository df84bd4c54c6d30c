"""A time limit per configuration, so that a hung candidate ends in "could not be checked" instead of never.

On the main thread of a POSIX process, an interval timer (``signal.setitimer``)
raises :class:`TimedOut` in the candidate's Python code when the limit passes.
``TimedOut`` derives from ``BaseException`` so that a candidate's own
``except Exception`` cannot swallow it. Code stuck where no Python runs (a C
loop, a deadlock) or that ignores the alarm cannot be interrupted that way: for
it, ``on_stuck`` is called from a watchdog thread a grace period later (the CLI
then prints why and ends the process with exit status 2). Where no alarm can
be set (another thread, Windows, an interval timer someone else is running),
only the watchdog applies.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

# setitimer overflows far beyond this; a week is no limit in practice.
MAX_TIMEOUT_S = 7 * 24 * 3600.0


class TimedOut(BaseException):
    """The configuration ran past its time limit."""


def grace(seconds: float) -> float:
    """How long after the limit the watchdog waits for the alarm to have taken effect."""
    return max(2.0, 0.1 * seconds)


def _alarm_available() -> bool:
    return (
        hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
        and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    )


def _raise_timed_out(signum: int, frame: FrameType | None) -> None:
    raise TimedOut


@contextmanager
def deadline(seconds: float | None, on_stuck: Callable[[], None] | None = None) -> Iterator[None]:
    """Raise :class:`TimedOut` in the body after ``seconds`` (None or 0: no limit); see the module docstring."""
    if not seconds:
        yield
        return
    seconds = min(seconds, MAX_TIMEOUT_S)
    watchdog = None
    if on_stuck is not None:
        watchdog = threading.Timer(seconds + grace(seconds), on_stuck)
        watchdog.daemon = True
        watchdog.start()
    alarm = _alarm_available()
    previous = signal.signal(signal.SIGALRM, _raise_timed_out) if alarm else None
    if alarm:
        signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        try:
            if alarm:
                signal.setitimer(signal.ITIMER_REAL, 0)
        finally:
            if alarm:
                signal.signal(signal.SIGALRM, previous)
            if watchdog is not None:
                watchdog.cancel()
