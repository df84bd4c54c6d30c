"""``lstm-replica check TARGET``: the harness's command-line face.

Exit status: 0 the candidate is a replica under the requested standard,
1 it is not (the report says where), 2 it could not be checked.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from lstm_replica.parity.configs import default_matrix, quick_matrix
from lstm_replica.parity.runner import check

DEFAULT_TARGET = "lstm_replica:LSTM"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "check",
        help="certify a candidate LSTM or LSTM cell against torch.nn.LSTM",
        description="Check TARGET (module.path:attr or path/to/file.py:attr, an nn.LSTM- or nn.LSTMCell-like "
        "class or factory) against torch.nn.LSTM / nn.LSTMCell. Exit 0: replica; 1: not; 2: could not check.",
    )
    parser.add_argument("target", nargs="?", default=DEFAULT_TARGET, help=f"default: the built-in {DEFAULT_TARGET}")
    parser.add_argument("--tolerance", action="store_true", help="accept differences within the stated tolerances")
    parser.add_argument("--quick", action="store_true", help="a small set of configurations")
    parser.add_argument("--config", action="append", metavar="NAME", help="run only this configuration (repeatable)")
    parser.add_argument("--list-configs", action="store_true", help="print the configuration names and exit")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--backend", default="native", choices=("native", "onednn", "cudnn"))
    parser.add_argument("--tf32", default="off", choices=("on", "off"), help="CUDA only")
    parser.add_argument("--seed", type=int, default=0, help="replays a run: every random draw derives from it")
    parser.add_argument("--weights", metavar="MODULE:FN", help="adapter fn(candidate, reference) loading the weights")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the report as JSON")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    parser.add_argument("--verbose", action="store_true", help="every parameter row, and tracebacks")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.list_configs:
        matrix = quick_matrix() if args.quick else default_matrix()
        print("\n".join(c.name for c in matrix))
        return 0
    report = check(
        args.target,
        tolerance=args.tolerance,
        quick=args.quick,
        configs=args.config,
        device=args.device,
        backend=args.backend,
        tf32=args.tf32 == "on",
        seed=args.seed,
        weights=args.weights,
        progress=not args.no_progress,
    )
    print(report.text(verbose=args.verbose))
    if args.json is not None:
        args.json.write_text(json.dumps(report.to_json(), indent=1, default=str) + "\n")
    sys.stdout.flush()
    return report.exit_status
