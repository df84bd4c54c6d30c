"""Peak memory of one forward+backward on the CPU, each measurement in a fresh subprocess.

Method: the process's resident-set high-water mark. In a fresh interpreter the
model and inputs are built and one warm-up forward+backward is run (one-time
caches are then in place for every implementation alike); gradients are
dropped, ``malloc_trim`` returns freed memory to the system, the kernel's
high-water mark is reset (``echo 5 > /proc/self/clear_refs``) and one
forward+backward is run. Peak = ``VmHWM`` after it minus ``VmRSS`` before it:
the most memory the step itself held at once (activations saved for backward,
gradients, temporaries). glibc is told to serve every allocation above 64 KiB
with ``mmap`` and to trim eagerly (``MALLOC_MMAP_THRESHOLD_``,
``MALLOC_TRIM_THRESHOLD_``), so freed tensors leave the resident set at once
and the RSS follows the live allocations. ``tracemalloc`` is not used: it does
not see torch's allocations. Linux only (``/proc``).

Usage: ``python benchmarks/memory.py --out FILE.json`` (all measurements), or
``--one WORKLOAD IMPL FLAGS`` (one measurement, printed as JSON; what the
parent runs in each subprocess).
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import subprocess
import sys
from pathlib import Path

import torch
from workloads import THREADS, WORKLOADS, backend_flags, make_step

# (workload, impl, flags) measured; the sweep's longest sequence shows how memory grows with length
MEASURED = [
    (workload, impl, flags)
    for workload in ("fastrnns", "classifier", "deep", "seq800")
    for impl, flags in (("nn.LSTM", "native"), ("nn.LSTM", "default"), ("replica", "native"), ("fast", "default"))
]
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"Expected {field} in /proc/self/status, got none")


def measure_one(workload: str, impl: str, flags: str) -> dict[str, object]:
    """Peak bytes of one forward+backward (call in a fresh process; see the module docstring)."""
    torch.set_num_threads(THREADS)
    step = make_step(WORKLOADS[workload], impl, "forward+backward", torch.device("cpu"))
    libc = ctypes.CDLL("libc.so.6")
    with backend_flags("cpu", flags):
        step()  # warm-up
        step.reset()
        gc.collect()
        libc.malloc_trim(0)
        before = _status_kib("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        step()
        peak = _status_kib("VmHWM")
    return {
        "workload": workload,
        "impl": impl,
        "flags": flags,
        "peak_bytes": (peak - before) * 1024,
        "method": "VmHWM - VmRSS around one forward+backward after a warm-up, fresh subprocess",
    }


def measure_all() -> list[dict[str, object]]:
    env = {**os.environ, **MALLOC_ENV}
    results = []
    for workload, impl, flags in MEASURED:
        done = subprocess.run(
            [sys.executable, __file__, "--one", workload, impl, flags],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        results.append(json.loads(done.stdout))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--out", type=Path, help="write every measurement to this JSON file")
    group.add_argument("--one", nargs=3, metavar=("WORKLOAD", "IMPL", "FLAGS"), help="measure one, print JSON")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure_one(*args.one)))
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(measure_all(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
