"""Smoke test of ``benchmarks/``: the CPU benchmark runs one round of the classifier groups and reports.

Keeps the benchmark code from rotting without putting the benchmarks in the
CI run: pytest-benchmark runs ``benchmarks/test_bench_cpu.py -k classifier``
with one round, no warm-up and one thread (two threads on a busy CI
machine can stall for seconds in OpenMP barriers) in a subprocess, and ``report.py``'s timing
table is built from its JSON. Timings themselves are not checked here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture
def report_module() -> object:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import report

        yield report
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_cpu_benchmark_runs_one_round_and_reports(tmp_path: Path, report_module: object) -> None:
    out = tmp_path / "bench.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}  # a plain run, not a worker
    env |= {"BENCH_ROUNDS": "1", "BENCH_WARMUP": "0", "BENCH_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(BENCHMARKS / "test_bench_cpu.py"), "-k", "classifier",
         "-q", "-p", "no:cacheprovider", "-n", "0", f"--benchmark-json={out}"],
        env=env, capture_output=True, text=True, check=False, cwd=BENCHMARKS.parent, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    benchmarks = json.loads(out.read_text())["benchmarks"]
    groups = {b["group"] for b in benchmarks}
    assert groups == {"cpu/classifier/forward", "cpu/classifier/forward+backward"}, groups
    from workloads import CPU_VARIANTS

    for group in groups:
        ran = {(b["extra_info"]["impl"], b["extra_info"]["flags"]) for b in benchmarks if b["group"] == group}
        assert ran == {(v.impl, v.flags) for v in CPU_VARIANTS}, f"{group}: Expected every CPU variant, got {ran}"
    assert {b["extra_info"]["threads"] for b in benchmarks} == {1}
    assert {b["extra_info"]["seq_len"] for b in benchmarks} == {50}
    timings, _ = report_module.load_timings({"benchmarks": benchmarks})
    table = report_module.timing_section(timings, "cpu", "default")
    assert [row.split("|")[1].strip() for row in table[2:]] == ["classifier", "classifier"], table
