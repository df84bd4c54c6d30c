"""``lstm-replica explain``: every tensor of an LSTM classifier, named, with its formula and shape.

Builds an :class:`~lstm_replica.LSTMClassifier` of the given configuration,
traces one real forward pass of it (:mod:`.trace`) and prints the tensors in
computation order with the gate rows, the parameter total and the plain answer
to "is the state update addition or concatenation?" (:mod:`.render`).
Exit status: 0 printed, 2 bad arguments (checked by ``nn.LSTM`` itself, so the message is its own).
"""

from __future__ import annotations

import argparse
import sys

import torch
from torch import nn

from lstm_replica.classifier import LSTMClassifier
from lstm_replica.faces.explain.render import render_json, render_text
from lstm_replica.faces.explain.trace import Explanation, Row, Section, trace_classifier

__all__ = ["Explanation", "Row", "Section", "register", "run", "trace_classifier"]


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        msg = f"expected a positive integer, got {value}"
        raise argparse.ArgumentTypeError(msg)
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``explain`` subcommand."""
    parser = subparsers.add_parser(
        "explain",
        help="name every tensor of an LSTM classifier, with its formula and shape",
        description=(
            "Trace one forward pass of an LSTM + Linear classifier and print, in the order of computation, "
            "every tensor's name, formula and shape, the parameter counts and the gate order."
        ),
    )
    parser.add_argument("--input-size", type=int, default=5, help="features per time step (default: 5)")
    parser.add_argument("--hidden-size", type=int, default=256, help="width of every gate and of c_t (default: 256)")
    parser.add_argument("--num-classes", type=int, default=10, help="outputs of the Linear head (default: 10)")
    parser.add_argument("--num-layers", type=int, default=1, help="stacked LSTM layers (default: 1)")
    parser.add_argument("--bidirectional", action="store_true", help="run a reverse direction in every layer")
    parser.add_argument("--proj-size", type=int, default=0, help="width of h_t when > 0 (default: 0, no projection)")
    parser.add_argument("--batch-first", action="store_true", help="input as (N, L, H_in) instead of (L, N, H_in)")
    parser.add_argument(
        "--seq-len", type=_positive_int, default=7, help="time steps L of the traced input (default: 7)"
    )
    parser.add_argument("--batch-size", type=_positive_int, default=3, help="sequences N in the batch (default: 3)")
    parser.add_argument("--json", action="store_true", help="print the same content as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the explanation for the configuration in ``args``; 2 when ``nn.LSTM`` rejects it."""
    lstm_kwargs = {
        "num_layers": args.num_layers,
        "bidirectional": args.bidirectional,
        "proj_size": args.proj_size,
        "batch_first": args.batch_first,
    }
    try:
        nn.LSTM(args.input_size, args.hidden_size, **lstm_kwargs, device="meta")  # nn.LSTM's own checks and messages
        model = LSTMClassifier(args.input_size, args.hidden_size, args.num_classes, **lstm_kwargs)
    except (TypeError, ValueError) as error:
        print(f"lstm-replica explain: error: {error}", file=sys.stderr)
        return 2
    generator = torch.Generator().manual_seed(0)
    steps_and_batch = (args.batch_size, args.seq_len) if args.batch_first else (args.seq_len, args.batch_size)
    input = torch.randn(*steps_and_batch, args.input_size, generator=generator)  # (L, N, H_in) or (N, L, H_in)
    target = torch.arange(args.batch_size) % args.num_classes  # (N,)
    explanation = trace_classifier(model, input, target)
    print(render_json(explanation) if args.json else render_text(explanation), end="")
    return 0
