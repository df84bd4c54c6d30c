"""Turn the benchmark JSON (pytest-benchmark, memory.py, harness_time.py) into ``benchmarks/RESULTS.md``.

Every ratio divides two medians taken in the same pytest run, in the same
group (same work, weights and inputs): implementation / ``nn.LSTM`` under the
stated flags. Each target of issue 4 is printed with its measured value and
``met`` / ``NOT met``; nothing is claimed that the JSON does not contain.

Usage: ``python benchmarks/report.py --bench B.json [--memory M.json] [--harness H.json] --out RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from collections.abc import Iterable
from pathlib import Path

import torch

# targets of issue 4
EXACT_NATIVE = 1.10
EXACT_DEFAULT = 1.30
SCALING = 1.15
MEMORY = 1.50
FAST_CPU = 1.00
FAST_CUDA = 1.50

Timings = dict[tuple[str, str, str, str, str], float]  # (device, workload, mode, impl, flags) -> median seconds


def load_timings(bench: dict) -> tuple[Timings, list[dict]]:
    timings: Timings = {}
    infos = []
    for b in bench["benchmarks"]:
        info = b["extra_info"]
        key = (info["device"], info["workload"], info["mode"], info["impl"], info["flags"])
        timings[key] = b["stats"]["median"]
        infos.append(info)
    return timings, infos


def ratio(timings: Timings, device: str, workload: str, mode: str, impl: str, flags: str, ref_flags: str) -> float:
    return timings[device, workload, mode, impl, flags] / timings[device, workload, mode, "nn.LSTM", ref_flags]


def verdict(value: float, limit: float) -> str:
    return "met" if value <= limit else "**NOT met**"


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def table(header: Iterable[str], rows: Iterable[Iterable[object]]) -> list[str]:
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def timing_section(timings: Timings, device: str, accel: str) -> list[str]:
    """One row per workload and mode: medians in ms and the ratios to nn.LSTM."""
    workloads = list(dict.fromkeys(k[1] for k in timings if k[0] == device))
    fast_impls = [i for i in ("fast", "fast+graphs") if any(k[0] == device and k[3] == i for k in timings)]
    header = [
        "config",
        "mode",
        "nn.LSTM native ms",
        "replica native ms",
        "**replica / nn.LSTM (native)**",
        f"nn.LSTM {accel} ms",
        f"**replica / nn.LSTM ({accel})**",
    ]
    header += [f"{i} ms" for i in fast_impls] + [f"**{i} / nn.LSTM ({accel})**" for i in fast_impls]
    rows = []
    for w in workloads:
        for mode in ("forward", "forward+backward"):
            ms = {
                (i, f): timings[device, w, mode, i, f] * 1e3
                for (d, ww, m, i, f) in timings
                if (d, ww, m) == (device, w, mode)
            }
            row = [
                w,
                mode,
                f"{ms['nn.LSTM', 'native']:.1f}",
                f"{ms['replica', 'native']:.1f}",
                f"{ms['replica', 'native'] / ms['nn.LSTM', 'native']:.2f}",
                f"{ms['nn.LSTM', 'default']:.1f}",
                f"{ms['replica', 'default'] / ms['nn.LSTM', 'default']:.2f}",
            ]
            row += [f"{ms[i, 'default']:.1f}" for i in fast_impls]
            row += [f"{ms[i, 'default'] / ms['nn.LSTM', 'default']:.2f}" for i in fast_impls]
            rows.append(row)
    return table(header, rows)


def targets_section(timings: Timings, memory: list[dict] | None, harness: dict | None) -> list[str]:
    fb = "forward+backward"
    rows = []
    for w in ("fastrnns", "classifier", "deep"):
        r = ratio(timings, "cpu", w, fb, "replica", "native", "native")
        rows.append(
            [f"exact fwd+bwd vs nn.LSTM native, {w}", f"≤ {EXACT_NATIVE:.2f}×", f"{r:.2f}×", verdict(r, EXACT_NATIVE)]
        )
    for w in ("fastrnns", "classifier", "deep"):
        r = ratio(timings, "cpu", w, fb, "replica", "default", "default")
        rows.append(
            [
                f"exact fwd+bwd vs nn.LSTM default, {w}",
                f"≤ {EXACT_DEFAULT:.2f}×",
                f"{r:.2f}×",
                verdict(r, EXACT_DEFAULT),
            ]
        )
    for flags in ("native", "default"):
        for impl in ("replica", "fast"):
            if ("cpu", "seq800", fb, impl, flags) not in timings:
                continue
            own = timings["cpu", "seq800", fb, impl, flags] / timings["cpu", "seq100", fb, impl, flags]
            ref = timings["cpu", "seq800", fb, "nn.LSTM", flags] / timings["cpu", "seq100", fb, "nn.LSTM", flags]
            rows.append([
                f"{impl} 800/100-step cost ({own:.2f}) / nn.LSTM's ({ref:.2f}), {flags} flags",
                f"≤ {SCALING:.2f}×",
                f"{own / ref:.2f}×",
                verdict(own / ref, SCALING),
            ])  # fmt: skip
    if memory:
        peak = {(m["workload"], m["impl"], m["flags"]): m["peak_bytes"] for m in memory}
        for w in dict.fromkeys(m["workload"] for m in memory):
            for impl, flags, ref_flags in (
                ("replica", "native", "native"),
                ("replica", "native", "default"),
                ("fast", "default", "default"),
            ):
                r = peak[w, impl, flags] / peak[w, "nn.LSTM", ref_flags]
                rows.append([
                    f"peak memory fwd+bwd, {impl} / nn.LSTM {ref_flags}, {w}",
                    f"≤ {MEMORY:.2f}×",
                    f"{r:.2f}× ({peak[w, impl, flags] / 2**20:.0f} / {peak[w, 'nn.LSTM', ref_flags] / 2**20:.0f} MiB)",
                    verdict(r, MEMORY),
                ])  # fmt: skip
    else:
        rows.append(["peak memory fwd+bwd", f"≤ {MEMORY:.2f}×", "not measured in this run", "pending"])
    for w in ("fastrnns", "classifier", "deep"):
        r = ratio(timings, "cpu", w, fb, "fast", "default", "default")
        rows.append(
            [
                f"fast fwd+bwd vs nn.LSTM default (oneDNN), {w}",
                f"aim < {FAST_CPU:.2f}×",
                f"{r:.2f}×",
                "beats nn.LSTM" if r < FAST_CPU else "**does not beat nn.LSTM**",
            ]
        )
    if harness:
        cert = harness.get("default matrix, lstm_replica.fast:FastLSTM, --tolerance --unsupported double_backward")
        if cert:
            rows.append(
                [
                    "fast mode certified: `" + cert["command"] + "`",
                    "exit 0",
                    f"exit {cert['exit_status']}: {cert['verdict']}",
                    verdict(cert["exit_status"], 0),
                ]
            )
    if any(k[0] == "cuda" for k in timings):
        r = ratio(timings, "cuda", "fastrnns", fb, "fast+graphs", "default", "default")
        rows.append(
            ["GPU fast path fwd+bwd vs cuDNN, fastrnns", f"≤ {FAST_CUDA:.2f}×", f"{r:.2f}×", verdict(r, FAST_CUDA)]
        )
    else:
        rows.append(
            [
                "GPU fast path fwd+bwd vs cuDNN, fastrnns",
                f"≤ {FAST_CUDA:.2f}×",
                "not run: no GPU in this session",
                "pending",
            ]
        )
    return table(["target", "limit", "measured", "status"], rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--bench", type=Path, nargs="+", required=True,
        help="pytest-benchmark --benchmark-json outputs (CPU and CUDA runs may come from different machines)",
    )  # fmt: skip
    parser.add_argument("--memory", type=Path, help="memory.py --out output")
    parser.add_argument("--harness", type=Path, help="harness_time.py --out output")
    parser.add_argument("--cuda-session", type=Path, help="what ran on the GPU machine: tests, checks (JSON)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    runs = [json.loads(path.read_text()) for path in args.bench]
    bench = {
        "datetime": ", ".join(r["datetime"] for r in runs),
        "benchmarks": [b for r in runs for b in r["benchmarks"]],
    }
    timings, infos = load_timings(bench)
    memory = json.loads(args.memory.read_text()) if args.memory else None
    harness = json.loads(args.harness.read_text()) if args.harness else None
    cpu_infos = [i for i in infos if i["device"] == "cpu"]
    loads = [i[k] for i in cpu_infos for k in ("load_before", "load_after")]
    rounds = sorted({b["stats"]["rounds"] for b in bench["benchmarks"]})

    lines = [
        "# Benchmark results",
        "",
        (
            "Written by `benchmarks/report.py` from the JSON in `benchmarks/results/` (`nox -s bench`). "
            "Times are pytest-benchmark medians; every ratio divides two medians from the same run and group "
            "(same work, weights and inputs), implementation / `nn.LSTM`. float32 throughout."
        ),
        "",
        "## Machine",
        "",
        f"- date: {bench['datetime']}",
        (
            f"- CPU: {cpu_model()}, {os.cpu_count()} logical cores; torch threads: "
            f"{sorted({i['threads'] for i in cpu_infos})} (`torch.set_num_threads`)"
        ),
        f"- torch {torch.__version__}, Python {platform.python_version()}, {platform.system()} {platform.release()}",
        (
            f"- backend flags: `native` = oneDNN off (`torch.backends.mkldnn.enabled = False`, set by `lstm_replica.parity.backends.flags`: ATen's own kernels, the path the "
            f"replica mirrors bitwise); `default` = PyTorch's defaults (oneDNN available: "
            f"{torch.backends.mkldnn.is_available()}, enabled: {torch.backends.mkldnn.enabled})"
        ),
        f"- 1-minute load average during the CPU benchmarks: {min(loads):.2f} to {max(loads):.2f} "
        f"(the benchmark's own two threads included; the 2 cores are shared with other work)"
        if loads
        else "- no CPU benchmarks in this run",
        f"- rounds per benchmark: {rounds}, after warm-up rounds",
        "",
        "## Targets (issue 4)",
        "",
        *targets_section(timings, memory, harness),
        "",
        "## CPU timings",
        "",
        *timing_section(timings, "cpu", "default"),
        "",
        (
            "Configurations: fastrnns = seq 100, batch 64, input 512, hidden 512; classifier = the seed's "
            "(input 5, hidden 256, 10 classes, seq 50, batch 32; cross-entropy on an nn.Linear head); deep = 3 layers, "
            "bidirectional, proj_size 128 (input 256, hidden 256, seq 100, batch 32); seqN = batch 32, input 256, "
            "hidden 256, N steps. forward = one forward with autograd recording; forward+backward = forward, loss "
            "(output sum, or cross-entropy), backward. `default` for nn.LSTM is oneDNN, except in deep: oneDNN has "
            "no LSTM with proj_size, so nn.LSTM warns and runs its native implementation there. Replica and fast use "
            "plain ATen ops under either flag set."
        ),
        "",
    ]
    if any(k[0] == "cuda" for k in timings):
        cuda_infos = [i for i in infos if i["device"] == "cuda"]
        gpus = sorted({i["gpu"] for i in cuda_infos})
        software = sorted({f"torch {i['torch']}, cuDNN {i['cudnn']}" for i in cuda_infos if "torch" in i})
        lines += [
            f"## CUDA timings ({', '.join(gpus)})",
            "",
            (
                f"{'; '.join(software) or 'torch and cuDNN versions not recorded in this JSON'}. Every call ends "
                "with `torch.cuda.synchronize()`; TF32 off (`fp32_precision = 'ieee'` for matmuls and cuDNN RNNs). "
                "`native` = cuDNN off (ATen's CUDA kernels), `default` = cuDNN on. fast+graphs = FastLSTM replayed "
                "as CUDA graphs. The CUDA run may come from another machine and torch build than the CPU run."
            ),
            "",
            *timing_section(timings, "cuda", "default"),
            "",
        ]
    else:
        lines += [
            "## CUDA timings",
            "",
            (
                "Not run: no GPU in the session that produced this file. `benchmarks/test_bench_cuda.py` "
                "(marked `cuda`) skips with a reason without one; `nox -s bench` on a GPU machine runs it."
            ),
            "",
        ]
    if args.cuda_session:
        cuda = json.loads(args.cuda_session.read_text())
        lines += [
            "## The GPU session (tests and certificate on CUDA)",
            "",
            f"{cuda['gpu']}; {cuda['software']}; {cuda['date']}.",
            "",
            *table(
                ["command", "wall s", "result"],
                [[f"`{r['command']}`", r["seconds"], r["result"]] for r in cuda["runs"]],
            ),
            "",
            f"TF32 check: {cuda['tf32_check']}.",
            "",
        ]
    if memory:
        lines += [
            "## Peak memory (CPU, forward+backward)",
            "",
            f"Method: {memory[0]['method']}. See `benchmarks/memory.py`.",
            "",
            *table(
                ["config", "impl", "flags", "peak MiB"],
                [[m["workload"], m["impl"], m["flags"], f"{m['peak_bytes'] / 2**20:.1f}"] for m in memory],
            ),
            "",
        ]
    lines += ["## Parity harness time", ""]
    if harness:
        lines += [
            (
                "torch on one intra-op thread (`check()` sets it). CPU s: the run's processes, user + system. Load: "
                "idle, or beside N busy processes (`harness_time.py --busy N`); in brackets the 1-minute load "
                "average before and after (other work on the shared machine included)."
            ),
            "",
            *table(
                ["run", "load", "wall s", "CPU s", "exit", "verdict"],
                [
                    [
                        f"`{h['command']}`",
                        f"{h.get('load', 'not recorded')} ({', '.join(f'{a:.1f}' for a in h.get('load_average', [])) or '-'})",
                        f"{h['seconds']:.1f}",
                        f"{h['cpu_seconds']:.1f}" if "cpu_seconds" in h else "-",
                        h["exit_status"],
                        h["verdict"],
                    ]
                    for h in harness.values()
                ],
            ),
        ]
    else:
        lines.append("Pending: `benchmarks/harness_time.py` was not run for this file.")
    args.out.write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
