"""Wall and CPU time of the parity harness's default matrix, and the fast mode's certification, as JSON.

Runs, each in a fresh process:
* ``lstm-replica check`` (the built-in replica, default matrix, bitwise) — the
  time recorded in RESULTS.md so that the harness cannot silently slow down;
* ``lstm-replica check --thorough`` — every structural combination;
* ``lstm-replica check lstm_replica.fast:FastLSTM --tolerance --unsupported double_backward`` —
  the fast mode certified within the stated tolerances, scoped (its backward is once_differentiable);
* ``lstm-replica check examples/textbook_cell.py:TextbookLSTMCell --weights per-gate-t --tolerance`` —
  a hand-written per-step Python cell, the slowest kind of candidate the matrix meets.

``--busy N`` runs them beside N busy processes (``while True: pass``, ended afterwards), to record
the harness's time on a loaded machine; each entry names its load and the 1-minute load average.
``--update`` adds the entries to an existing file instead of replacing it.

Usage: ``python benchmarks/harness_time.py --out FILE.json [--busy N] [--update] [--only NAME ...]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

RUNS = {
    "default matrix, lstm_replica:LSTM, bitwise": ["check", "--no-progress"],
    "thorough matrix, lstm_replica:LSTM, bitwise": ["check", "--thorough", "--no-progress"],
    "default matrix, lstm_replica.fast:FastLSTM, --tolerance --unsupported double_backward": [
        "check",
        "lstm_replica.fast:FastLSTM",
        "--tolerance",
        "--unsupported",
        "double_backward",
        "--no-progress",
    ],
    "default matrix, examples/textbook_cell.py:TextbookLSTMCell (Python cell), --tolerance": [
        "check",
        "examples/textbook_cell.py:TextbookLSTMCell",
        "--weights",
        "per-gate-t",
        "--tolerance",
        "--no-progress",
    ],
}


def run(args: list[str], load: str) -> dict[str, object]:
    """One run of ``lstm-replica ARGS``: wall and CPU seconds (the process and its children), exit, verdict."""
    exe = shutil.which("lstm-replica")
    command = [exe, *args] if exe else [sys.executable, "-m", "lstm_replica", *args]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    verdicts = [line for line in done.stdout.splitlines() if line.startswith("VERDICT")]
    return {
        "command": "lstm-replica " + " ".join(args),
        "seconds": seconds,
        "cpu_seconds": cpu,
        "load": load,
        "load_average": [load_before, os.getloadavg()[0]],
        "exit_status": done.returncode,
        "verdict": verdicts[-1] if verdicts else (done.stderr.strip().splitlines() or ["(no output)"])[-1],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--busy", type=int, default=0, metavar="N", help="run beside N busy processes")
    parser.add_argument("--update", action="store_true", help="add to the entries already in --out")
    parser.add_argument("--only", action="append", choices=sorted(RUNS), help="this run only (repeatable)")
    args = parser.parse_args()
    load = f"beside {args.busy} busy process{'es' if args.busy != 1 else ''}" if args.busy else "idle"
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    try:
        results = {
            (name if not args.busy else f"{name} [{load}]"): run(argv, load)
            for name, argv in RUNS.items()
            if not args.only or name in args.only
        }
    finally:
        for process in busy:
            process.kill()
            process.wait()
    if args.update and args.out.exists():
        results = {**json.loads(args.out.read_text()), **results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
