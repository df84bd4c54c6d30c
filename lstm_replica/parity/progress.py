"""A minimal progress bar on stderr for long sweeps, with the expected duration and what is left; silent off a terminal.

The estimate weighs each configuration by :func:`work` (a fixed part plus one unit per step, layer and
direction: what a configuration's time grows with) and scales the time the finished ones took.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from lstm_replica.parity.configs import Config

FIXED_WORK = 50.0  # a configuration's cost beyond its steps (building, probes), in steps x layers x directions


def work(config: Config) -> float:
    """The expected cost of ``config`` in arbitrary units, for the estimate: proportional to its time."""
    return FIXED_WORK + config.steps * config.num_layers * (2 if config.bidirectional else 1)


def clock_time(seconds: float) -> str:
    """``seconds`` as ``m:ss`` (``h:mm:ss`` from an hour)."""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Progress:
    """``advance(label)`` as each item starts; ``items``: their number, or each one's :func:`work`."""

    def __init__(
        self,
        items: int | Sequence[float],
        enabled: bool = True,
        stream: TextIO | None = None,
        width: int = 30,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream or sys.stderr
        self.work = [1.0] * items if isinstance(items, int) else [max(w, 0.0) for w in items]
        self.total = max(len(self.work), 1)
        self.done = 0
        self.width = width
        self.clock = clock
        self.started: float | None = None
        self.enabled = enabled and self.stream.isatty()

    def expected(self, elapsed: float) -> float | None:
        """The whole run's expected seconds, from ``elapsed`` over the items done (None before the first is)."""
        done, total = sum(self.work[: self.done]), sum(self.work)
        if done <= 0 or total <= 0:
            return None
        return elapsed * total / done

    def timing(self, elapsed: float) -> str:
        """``elapsed`` and, once an item is done, the expected duration and the time left."""
        expected = self.expected(elapsed)
        if expected is None:
            return f"{clock_time(elapsed)} elapsed, estimating"
        left = max(expected - elapsed, 0.0)
        return f"{clock_time(elapsed)} elapsed, ~{clock_time(left)} left of ~{clock_time(expected)}"

    def advance(self, label: str) -> None:
        """Show that the item ``label`` is starting."""
        now = self.clock()
        if self.started is None:
            self.started = now
        if self.enabled:
            filled = self.width * self.done // self.total
            bar = "#" * filled + "-" * (self.width - filled)
            timing = self.timing(now - self.started)
            self.stream.write(f"\r[{bar}] {self.done}/{self.total} {label[:60]:<60} {timing:<40}")
            self.stream.flush()
        self.done += 1

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\r" + " " * (self.width + 120) + "\r")
            self.stream.flush()
