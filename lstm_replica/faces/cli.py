"""The ``lstm-replica`` command line: one subcommand per face of the project.

Each subcommand's module exposes ``register(subparsers)``, which adds its
parser and sets ``func`` (``args -> exit status``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from lstm_replica.faces import check, explain


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lstm-replica",
        description="A hand-written LSTM that is bitwise identical to torch.nn.LSTM, and the harness that proves it.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for face in (explain, check):
        face.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
