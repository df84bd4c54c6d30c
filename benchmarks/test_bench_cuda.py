"""CUDA timings: cuDNN's ``nn.LSTM``, its native CUDA path, the replica and the GPU fast path, float32.

Same workloads and groups as the CPU file (``cuda/<workload>/<mode>``). Every
timed call ends with ``torch.cuda.synchronize()``, so the wall-clock time
pytest-benchmark records covers the GPU work; the same call is also bracketed
with CUDA events, whose median (ms) goes to ``extra_info["cuda_event_ms"]``.
Warm-up rounds run first (cuDNN plans, cuBLAS handles, graph capture).
TF32 is off for matmuls and cuDNN, so every implementation computes in float32.

``fast+graphs`` is :class:`lstm_replica.fast.FastLSTM` captured with
:func:`lstm_replica.fast.cuda_graphed`. Every test is marked ``cuda`` and skips
with a reason on a machine without a GPU.
"""

from __future__ import annotations

import os
import statistics

import pytest
import torch
from pytest_benchmark.fixture import BenchmarkFixture
from workloads import MODES, WORKLOADS, Step, Variant, backend_flags, make_step

from lstm_replica.fast import cuda_graphed

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "20"))
WARMUP = int(os.environ.get("BENCH_WARMUP", "5"))

CUDA_VARIANTS = (
    Variant("nn.LSTM", "native"),
    Variant("replica", "native"),
    Variant("nn.LSTM", "default"),
    Variant("replica", "default"),
    Variant("fast", "default"),
    Variant("fast+graphs", "default"),
)
GROUPS = [
    pytest.param(name, mode, marks=pytest.mark.benchmark(group=f"cuda/{name}/{mode}"), id=f"{name}-{mode}")
    for name in WORKLOADS
    for mode in MODES
]

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU: torch.cuda.is_available() is False"),
]


class SyncedStep:
    """A step followed by ``torch.cuda.synchronize()``, also timed with CUDA events."""

    def __init__(self, step: Step) -> None:
        self.step = step
        self.event_ms: list[float] = []

    def reset(self) -> None:
        self.step.reset()

    def __call__(self) -> None:
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        self.step()
        end.record()
        torch.cuda.synchronize()
        self.event_ms.append(start.elapsed_time(end))


@pytest.mark.parametrize("variant", CUDA_VARIANTS, ids=lambda v: v.id)
@pytest.mark.parametrize(("workload", "mode"), GROUPS)
def test_cuda(benchmark: BenchmarkFixture, workload: str, mode: str, variant: Variant) -> None:
    w = WORKLOADS[workload]
    device = torch.device("cuda", 0)
    wrapper = cuda_graphed if variant.impl == "fast+graphs" else None
    with backend_flags("cuda", variant.flags):
        timed = SyncedStep(make_step(w, variant.impl, mode, device, model_wrapper=wrapper))
        # after the first allocation: before it the device has no allocator to reset ("Invalid device argument")
        torch.cuda.reset_peak_memory_stats(device)
        benchmark.pedantic(timed, setup=timed.reset, rounds=ROUNDS, warmup_rounds=WARMUP)
    benchmark.extra_info.update(
        device="cuda",
        gpu=torch.cuda.get_device_name(device),
        torch=torch.__version__,
        cudnn=torch.backends.cudnn.version(),
        workload=workload,
        mode=mode,
        impl=variant.impl,
        flags=variant.flags,
        tf32=False,
        cuda_event_ms=statistics.median(timed.event_ms[WARMUP:]),
        peak_cuda_bytes=torch.cuda.max_memory_allocated(device),
        **w.shapes(),
    )
