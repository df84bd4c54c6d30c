"""The time limit per configuration is CPU time tied to nn.LSTM's own, and the harness runs torch on one thread.

Issue 19: a verdict must not depend on the machine's load or thread count. The limit is CPU time of the
process (a loaded machine stretches wall time, not CPU time), by default ``max(FLOOR_S, MULTIPLE x`` the
reference's CPU time on the configuration), with a wall-clock backstop for a candidate that waits.
"""

from __future__ import annotations

import io
import signal
import time
from typing import ClassVar

import pytest
import torch
from torch import Tensor

from lstm_replica import LSTM
from lstm_replica.cell import Hidden
from lstm_replica.parity import deadline, orchestrate
from lstm_replica.parity.compare import compare, tolerance_for
from lstm_replica.parity.deadline import FLOOR_S, MULTIPLE, WALL_FACTOR, limit_for
from lstm_replica.parity.matrix import quick_matrix
from lstm_replica.parity.orchestrate import check
from lstm_replica.parity.progress import Progress, clock_time

CONFIG = quick_matrix()[0].name  # batched, 1 layer, float64, L=7, N=3, H=6


class BurnsCPU(LSTM):
    """Computes forever in Python: only the CPU limit stops it."""

    def forward(self, input: Tensor, hx: Hidden | None = None) -> tuple[Tensor, Hidden]:
        spins = 0
        while True:
            spins += 1


class SleepsForever(LSTM):
    """Waits forever without computing: only the wall-clock backstop stops it."""

    def forward(self, input: Tensor, hx: Hidden | None = None) -> tuple[Tensor, Hidden]:
        time.sleep(10**6)
        return super().forward(input, hx)


class WaitsOnceThenExact(LSTM):
    """The replica, but its first call waits 4 s (as a process does on a machine busy elsewhere): no CPU spent."""

    waited = False

    def forward(self, input: Tensor, hx: Hidden | None = None) -> tuple[Tensor, Hidden]:
        if not WaitsOnceThenExact.waited:
            WaitsOnceThenExact.waited = True
            time.sleep(4.0)
        return super().forward(input, hx)


class RecordsThreads(LSTM):
    """The replica, noting torch's thread count at every call."""

    seen: ClassVar[set[int]] = set()

    def forward(self, input: Tensor, hx: Hidden | None = None) -> tuple[Tensor, Hidden]:
        RecordsThreads.seen.add(torch.get_num_threads())
        return super().forward(input, hx)


def test_the_default_limit_is_a_multiple_of_the_references_time_with_a_floor():
    small, large = limit_for(1e-3, None), limit_for(2.0, None)
    assert small.cpu_s == FLOOR_S, f"Expected the floor for a 1 ms reference, got {small.cpu_s}"
    assert large.cpu_s == MULTIPLE * 2.0, f"Expected {MULTIPLE:g} x 2 s, got {large.cpu_s}"
    assert large.wall_s == WALL_FACTOR * large.cpu_s, f"Expected a {WALL_FACTOR:g} x backstop, got {large.wall_s}"
    assert large.why == f"{MULTIPLE:g} x nn.LSTM's 2 s on this configuration, floor {FLOOR_S:g} s"


def test_an_explicit_timeout_is_cpu_seconds_and_zero_is_no_limit():
    given = limit_for(2.0, 5.0)
    assert (given.cpu_s, given.wall_s) == (5.0, WALL_FACTOR * 5.0), given
    assert given.why == "--timeout 5 s; nn.LSTM's 2 s on this configuration"
    assert not limit_for(2.0, 0), "Expected no limit for timeout 0"
    with pytest.raises(ValueError, match="Expected a time-out of 0 \\(no limit\\) or more seconds, got -1"):
        limit_for(None, -1.0)


@pytest.mark.certificate
def test_a_candidate_computing_forever_is_stopped_by_its_cpu_time_with_nn_lstms_time_named():
    handlers = signal.getsignal(signal.SIGPROF), signal.getsignal(signal.SIGALRM)
    report = check(BurnsCPU, quick=True, timeout=1.0)
    assert report.exit_status == 2, report.text()
    reason = report.results[0].reason
    assert reason.startswith("timed out after "), reason
    assert " s CPU (limit: --timeout 1 s; nn.LSTM's " in reason, reason
    assert reason.endswith(" s on this configuration)"), reason
    assert report.stopped == "after the time-out", report.stopped
    assert len(report.not_run) == len(quick_matrix()) - 1, report.not_run
    assert (signal.getsignal(signal.SIGPROF), signal.getsignal(signal.SIGALRM)) == handlers, "handlers restored"
    assert signal.getitimer(signal.ITIMER_PROF) == (0.0, 0.0), "the CPU timer must be cancelled"
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0), "the backstop must be cancelled"


@pytest.mark.certificate
def test_a_candidate_sleeping_forever_is_stopped_by_the_wall_clock_backstop():
    started = time.monotonic()
    report = check(SleepsForever, configs=[CONFIG], timeout=0.2)
    assert time.monotonic() - started < 60, "the backstop did not end the sleep"
    reason = report.results[0].reason
    assert reason.startswith("timed out after "), reason
    assert " s wall-clock with " in reason, reason
    backstop = f"waiting, not computing (backstop {WALL_FACTOR:g} x the CPU limit of 0.2 s (--timeout 0.2 s; nn.LSTM's "
    assert backstop in reason, reason


@pytest.mark.certificate
def test_waiting_is_not_counted_against_the_cpu_limit():
    # under the old wall-clock limit of 3 s, the 4 s wait timed out a correct candidate
    WaitsOnceThenExact.waited = False
    report = check(WaitsOnceThenExact, configs=[CONFIG], timeout=3.0)
    assert report.exit_status == 0, report.text()
    assert report.results[0].status == "bitwise", report.results[0].reason


@pytest.mark.certificate
def test_the_default_limit_comes_from_the_measured_reference_time(monkeypatch):
    monkeypatch.setattr(deadline, "FLOOR_S", 0.5)
    monkeypatch.setattr(orchestrate, "reference_seconds", lambda *args: 1e-4)  # 1000 x 0.1 ms < the floor
    heard: list[tuple[str, object]] = []
    report = check(BurnsCPU, configs=[CONFIG], on_result=lambda kind, payload: heard.append((kind, payload)))
    reason = report.results[0].reason
    assert reason.startswith("timed out after "), reason
    assert reason.endswith(" s CPU (limit: 1000 x nn.LSTM's 0.0001 s on this configuration, floor 0.5 s)"), reason
    limits = [payload for kind, payload in heard if kind == "limit"]
    assert limits == [(CONFIG, WALL_FACTOR * 0.5)], f"Expected one ('limit', (name, backstop)), got {limits}"
    kinds = [kind for kind, _ in heard]
    assert kinds == ["started", "limit", "result"], kinds


def test_check_runs_torch_on_one_thread_and_gives_the_callers_count_back():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        RecordsThreads.seen = set()
        report = check(RecordsThreads, configs=[CONFIG])
        assert torch.get_num_threads() == 2, "Expected the caller's thread count back after check()"
    finally:
        torch.set_num_threads(before)
    assert RecordsThreads.seen == {1}, f"Expected every call on 1 thread, got {RecordsThreads.seen}"
    assert report.exit_status == 0, "the harness's own thread setting is not the candidate's change"
    assert report.provenance["threads"] == "1", report.provenance
    assert "threads 1" in report.text(), report.text()


def test_the_progress_bar_shows_the_expected_duration_and_the_time_left():
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    now = [100.0]
    stream = Tty()
    bar = Progress([1.0, 3.0], stream=stream, clock=lambda: now[0])
    bar.advance("a")
    assert "0:00 elapsed, estimating" in stream.getvalue(), stream.getvalue()
    now[0] += 15.0  # the first item, a quarter of the work, took 15 s
    bar.advance("b")
    assert "0:15 elapsed, ~0:45 left of ~1:00" in stream.getvalue(), stream.getvalue()
    assert clock_time(3725) == "1:02:05"


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("row", ["native", "cudnn"])  # cudnn: atol scaled by the largest finite magnitude
def test_a_bitwise_equal_pair_is_reported_as_the_full_measurement_reports_it(dtype, row, monkeypatch):
    # compare's shortcut for bitwise-equal tensors (issue 19's speed-up) must change no number of the report
    values = torch.tensor([[-3.5, 0.0, -0.0], [float("inf"), 2.0, -float("inf")], [1e-30, 7.0, -2.5]])
    cases = [values.to(dtype), values[1:, 1:].to(dtype), torch.tensor(-4.0, dtype=dtype), values[1].to(dtype)]
    tolerance = tolerance_for(row, torch.float32 if row == "cudnn" else dtype)
    fast = [compare("output", t, t.clone(), tolerance, "probe") for t in cases]
    monkeypatch.setattr(torch, "equal", lambda a, b: False)  # every pair through the full measurement
    full = [compare("output", t, t.clone(), tolerance, "probe") for t in cases]
    assert fast == full, f"Expected the shortcut to report what the measurement does, got {fast} vs {full}"
