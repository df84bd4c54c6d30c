"""CPU timings: the replica (exact), the fast mode and ``nn.LSTM`` side by side, float32, 2 threads.

One pytest-benchmark group per configuration and mode (``cpu/<workload>/<mode>``);
inside a group every implementation runs the same work from the same weights
and inputs, one after the other in the same process, so ``report.py`` can
divide their times. ``nn.LSTM`` is timed under both flag sets: ``native``
(oneDNN off, the path the replica mirrors bitwise) and ``default`` (oneDNN on).

Run with ``nox -s bench`` (or ``pytest benchmarks/test_bench_cpu.py``);
``BENCH_ROUNDS`` / ``BENCH_WARMUP`` override the rounds for a quick look.
"""

from __future__ import annotations

import os

import pytest
import torch
from pytest_benchmark.fixture import BenchmarkFixture
from workloads import CPU_VARIANTS, MODES, THREADS, WORKLOADS, Variant, backend_flags, make_step

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
WARMUP = int(os.environ.get("BENCH_WARMUP", "1"))


GROUPS = [
    pytest.param(name, mode, marks=pytest.mark.benchmark(group=f"cpu/{name}/{mode}"), id=f"{name}-{mode}")
    for name in WORKLOADS
    for mode in MODES
]


# nn.LSTM with proj_size (the deep configuration) warns and runs its native implementation under oneDNN
@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN:UserWarning")
@pytest.mark.parametrize("variant", CPU_VARIANTS, ids=lambda v: v.id)
@pytest.mark.parametrize(("workload", "mode"), GROUPS)
def test_cpu(benchmark: BenchmarkFixture, workload: str, mode: str, variant: Variant) -> None:
    torch.set_num_threads(THREADS)
    w = WORKLOADS[workload]
    step = make_step(w, variant.impl, mode, torch.device("cpu"))
    benchmark.extra_info.update(
        device="cpu",
        workload=workload,
        mode=mode,
        impl=variant.impl,
        flags=variant.flags,
        threads=torch.get_num_threads(),
        load_before=os.getloadavg()[0],
        **w.shapes(),
    )
    with backend_flags("cpu", variant.flags):
        benchmark.pedantic(step, setup=step.reset, rounds=ROUNDS, warmup_rounds=WARMUP)
    benchmark.extra_info["load_after"] = os.getloadavg()[0]
