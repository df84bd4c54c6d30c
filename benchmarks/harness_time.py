"""Wall time of the parity harness's default matrix, and the fast mode's certification, as JSON.

Runs, each in a fresh process:
* ``lstm-replica check`` (the built-in replica, default matrix, bitwise) — the
  time recorded in RESULTS.md so that the harness cannot silently slow down;
* ``lstm-replica check --thorough`` — every structural combination;
* ``lstm-replica check lstm_replica.fast:FastLSTM --tolerance --unsupported double_backward`` —
  the fast mode certified within the stated tolerances, scoped (its backward is once_differentiable).

Usage: ``python benchmarks/harness_time.py --out FILE.json``.
"""

from __future__ import annotations

import argparse
import json
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
}


def run(args: list[str]) -> dict[str, object]:
    exe = shutil.which("lstm-replica")
    command = [exe, *args] if exe else [sys.executable, "-m", "lstm_replica", *args]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    verdicts = [line for line in done.stdout.splitlines() if line.startswith("VERDICT")]
    return {
        "command": "lstm-replica " + " ".join(args),
        "seconds": seconds,
        "exit_status": done.returncode,
        "verdict": verdicts[-1] if verdicts else (done.stderr.strip().splitlines() or ["(no output)"])[-1],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    results = {name: run(argv) for name, argv in RUNS.items()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
