"""``lstm-replica check TARGET``: the harness's command-line face.

Exit status: 0 the candidate is a replica under the requested standard,
1 it is not (the report says where), 2 it could not be checked (or the
requested plot could not be drawn). The report goes to stdout; when the
candidate could not be checked, a one-line reason also goes to stderr, as do
tracebacks (``--verbose`` only).

A configuration past its time limit ends the run with exit status 2. The limit
is CPU time, so a loaded machine does not shorten it: by default a multiple of
nn.LSTM's own time on that configuration (with a floor), with ``--timeout S``
S CPU-seconds (0: none), and a wall-clock backstop for a candidate that waits.
If the candidate does not give control back even then (stuck outside Python), a
watchdog prints the reason to stderr and ends the process with exit status 2
(see :mod:`lstm_replica.parity.deadline`).

The candidate runs in a child process (see :mod:`lstm_replica.parity.isolation`):
a segfault, ``os._exit`` or out-of-memory kill there costs the configuration it
happened in (exit status 1), never the report. ``--no-isolate`` runs it in this
process, for a debugger; there, a stuck candidate is ended by the watchdog above.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from lstm_replica.parity.candidates import CheckError
from lstm_replica.parity.configs import DTYPES, FEATURES, INPUT_KINDS, PROBE_FEATURES, Config, command_line_fields
from lstm_replica.parity.deadline import FLOOR_S, MAX_TIMEOUT_S, MULTIPLE, WALL_FACTOR
from lstm_replica.parity.frameworks import FRAMEWORKS
from lstm_replica.parity.isolation import check
from lstm_replica.parity.layouts import LAYOUTS
from lstm_replica.parity.orchestrate import DEFAULT_TIMEOUT_S, configurations
from lstm_replica.parity.report import Report
from lstm_replica.parity.seeds import RANDOM

DEFAULT_TARGET = "lstm_replica:LSTM"
PREFIX = "lstm-replica check"


def _seconds(text: str) -> float:
    value = float(text)
    if not 0 <= value <= MAX_TIMEOUT_S:
        msg = f"Expected a number of seconds from 0 (no limit) to {MAX_TIMEOUT_S:g}, got {text}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _seed(text: str) -> int | str:
    if text == RANDOM:
        return text
    if not text.isdigit():
        msg = f"Expected a non-negative integer or 'random', got {text}"
        raise argparse.ArgumentTypeError(msg)
    return int(text)


def register(subparsers: argparse._SubParsersAction) -> None:
    """The ``check`` subcommand and its options."""
    parser = subparsers.add_parser(
        "check",
        help="certify a candidate LSTM or LSTM cell against torch.nn.LSTM",
        description="Check TARGET (module.path:attr or path/to/file.py:attr, an nn.LSTM- or nn.LSTMCell-like "
        "class or factory, or a framework's own LSTM: " + ", ".join(FRAMEWORKS) + ") against torch.nn.LSTM / "
        "nn.LSTMCell. Exit 0: replica; 1: not; 2: could not check.",
    )
    parser.add_argument(
        "target",
        nargs="?",
        default=DEFAULT_TARGET,
        help=f"default: the built-in {DEFAULT_TARGET}; {', '.join(FRAMEWORKS)}: that framework's own LSTM "
        "(pip install 'lstm-replica[interop]'), with its weight layout and what it lacks declared",
    )
    parser.add_argument("--tolerance", action="store_true", help="accept differences within the stated tolerances")
    parser.add_argument(
        "--quick", action="store_true", help="a 5-configuration screen for iteration: its verdict is not a certificate"
    )
    parser.add_argument(
        "--thorough",
        action="store_true",
        help="every combination of layers, direction, projection, input kind and hx (about 100 configurations)",
    )
    parser.add_argument("--config", action="append", metavar="NAME", help="run only this configuration (repeatable)")
    parser.add_argument(
        "--list-configs",
        action="store_true",
        help="print the names of the configurations this check would run (for TARGET and these options) and exit",
    )
    _matrix_options(parser)
    _run_options(parser)
    parser.set_defaults(func=run)


def _matrix_options(parser: argparse.ArgumentParser) -> None:
    """Where and in which configurations the check runs: device, backend, seed, dtypes, features, your set-up."""
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--backend", default="native", choices=("native", "onednn", "cudnn"))
    parser.add_argument("--tf32", default="off", choices=("on", "off"), help="CUDA only")
    parser.add_argument(
        "--seed",
        type=_seed,
        default=None,
        metavar="N|random",
        help="sizes and every random draw derive from it; default: derived from the candidate's source (printed "
        "in the report: --seed N replays it); 'random': a fresh one (nightly runs)",
    )
    parser.add_argument(
        "--dtype",
        action="append",
        choices=("float64", "float32", "bfloat16", "float16"),
        help="run the matrix in this dtype only (repeatable); default: all four",
    )
    parser.add_argument(
        "--unsupported",
        metavar="FEATURES",
        help="comma-separated features the candidate lacks (" + ", ".join([*FEATURES, *PROBE_FEATURES]) + "): "
        "the matrix is re-covered without them and the verdict names them",
    )
    yours = parser.add_argument_group(
        "your own set-up", "added to the matrix as a configuration labelled 'yours' (or run alone: --only-yours)"
    )
    _own_setup(yours)
    yours.add_argument("--only-yours", action="store_true", help="run your configuration alone")


def _run_options(parser: argparse.ArgumentParser) -> None:
    """How the candidate's weights are read, what is written, and how the run behaves (time, isolation)."""
    parser.add_argument(
        "--weights",
        metavar="LAYOUT|MODULE:FN",
        help="a ready-made layout (" + ", ".join(LAYOUTS) + ": see docs/checking.md) or an "
        "adapter fn(candidate, reference) that copies nn.LSTM's (a cell: nn.LSTMCell's) weights into your "
        "differently named parameters in place under torch.no_grad() (return value ignored); the harness learns "
        "the element map from it, so gradients, training and the parameter audit still compare every nn.LSTM "
        "parameter",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the report as JSON")
    parser.add_argument(
        "--plot",
        type=Path,
        metavar="FILE.png",
        help="draw the error per time step of the first configuration that is not bitwise identical "
        "(needs matplotlib: pip install 'lstm-replica[plot]')",
    )
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=DEFAULT_TIMEOUT_S,
        metavar="SECONDS",
        help="CPU seconds per configuration; past them the candidate could not be checked (0: no limit; default: "
        f"{MULTIPLE:g} x nn.LSTM's own CPU time on the configuration, at least {FLOOR_S:g} s); a wall-clock backstop "
        f"of {WALL_FACTOR:g} x the limit stops a candidate that waits",
    )
    parser.add_argument(
        "-x", "--fail-fast", action="store_true", help="stop at the first configuration that is not a replica"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    parser.add_argument("--verbose", action="store_true", help="every parameter row, and tracebacks (on stderr)")
    parser.add_argument(
        "--no-isolate",
        dest="isolate",
        action="store_false",
        default=True,
        help="run the candidate in this process (for a debugger or a profiler): a segfault, os._exit or an "
        "out-of-memory kill in it then ends the run with no report. By default it runs in a child process (a "
        "second or two to start, importing torch): a death there costs the configuration it happened in (a "
        "difference, exit 1) and a fresh child carries on with the rest",
    )
    parser.add_argument(
        "--isolate", dest="isolate", action="store_true", default=True, help="the default (kept for compatibility)"
    )


def _give_up(message: str) -> None:
    """The watchdog's last word: the candidate is stuck where the time-out cannot reach it."""
    sys.stderr.write(
        f"{PREFIX}: could not be checked: {message}; the candidate did not give control back, so the run was ended\n"
    )
    sys.stderr.flush()
    os._exit(2)


def _plot(report: Report, path: Path) -> int:
    from lstm_replica.faces import plot

    try:
        name = plot.save(report, path)
    except OSError as exc:
        print(f"{PREFIX}: Expected to write the plot to {path}, got {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    if name is None:
        print(f"{PREFIX}: no plot written: no configuration has per-step errors to draw", file=sys.stderr)
    else:
        print(f"{PREFIX}: plot of {name} written to {path}", file=sys.stderr)
    return 0


def _own_setup(group: argparse._ArgumentGroup) -> None:
    """The flags of your own configuration, one per :class:`Config` field (``configs.command_line_fields``)."""
    for spec in command_line_fields():
        flags = spec.metadata["flags"] or (f"--{spec.name.replace('_', '-')}",)
        default = spec.default if spec.metadata["default"] is None else spec.metadata["default"]
        default = None if spec.metadata["sizes_yours"] else default  # not given: no configuration of yours
        if spec.type == "bool" and default:  # on unless switched off: --no-bias, --no-hx
            negated = [f"--no-{flag.removeprefix('--')}" for flag in flags]
            group.add_argument(*negated, dest=_dest(spec.name), action="store_false", help=spec.metadata["help"])
        elif spec.type == "bool":
            group.add_argument(*flags, dest=_dest(spec.name), action="store_true", help=spec.metadata["help"])
        else:
            choices = {"input_kind": INPUT_KINDS, "dtype": DTYPES}.get(spec.name)
            kind = {"int": int, "float": float}.get(str(spec.type), str)
            help_text = spec.metadata["help"]
            group.add_argument(
                *flags,
                dest=_dest(spec.name),
                type=kind,
                default=default,
                choices=choices,
                help=help_text,
                metavar=None if choices else spec.name.upper(),
            )
    group.add_argument(
        "--packed",
        dest=_dest("input_kind"),
        action="store_const",
        const="packed",
        help="feed it as a PackedSequence of unsorted lengths (--input-kind packed)",
    )


def _dest(name: str) -> str:
    """Where argparse keeps your configuration's ``name`` (apart from the check's own options: ``--dtype``)."""
    return f"yours_{name}"


def _yours(args: argparse.Namespace) -> Config | None:
    """The researcher's own configuration from the command line, or None when no size was given."""
    given = {spec.name: getattr(args, _dest(spec.name)) for spec in command_line_fields()}
    sizes = [given[spec.name] for spec in command_line_fields() if spec.metadata["sizes_yours"]]
    if all(size is None for size in sizes):
        return None
    if any(size is None for size in sizes):
        msg = "Expected both --input-size and --hidden-size for your own configuration, got one of them"
        raise ValueError(msg)
    return Config(**given)


def _list_configs(target: str, options: dict[str, Any]) -> int:
    """``--list-configs``: the names of the configurations ``check`` runs with these options, found as it does."""
    try:
        names = [c.name for c in configurations(target, on_stuck=_give_up, **options)]
    except (CheckError, ValueError) as exc:
        print(f"{PREFIX}: could not be checked: {exc}", file=sys.stderr)
        return 2
    print("\n".join(names))
    return 0


def run(args: argparse.Namespace) -> int:
    unsupported = [f.strip() for f in (args.unsupported or "").split(",") if f.strip()]
    try:
        yours = _yours(args)
    except ValueError as exc:
        print(f"{PREFIX}: {exc}", file=sys.stderr)
        return 2
    if args.plot is not None:
        from lstm_replica.faces.plot import PlotUnavailable, require_matplotlib

        try:
            require_matplotlib()
        except PlotUnavailable as exc:
            print(f"{PREFIX}: {exc}", file=sys.stderr)
            return 2
    options = {
        "tolerance": args.tolerance,
        "quick": args.quick,
        "configs": args.config,
        "device": args.device,
        "backend": args.backend,
        "tf32": args.tf32 == "on",
        "seed": args.seed,
        "weights": args.weights,
        "progress": not args.no_progress,
        "timeout": args.timeout,
        "fail_fast": args.fail_fast,
        "config": yours,
        "only_config": args.only_yours,
        "thorough": args.thorough,
        "unsupported": unsupported,
        "dtypes": args.dtype,
    }
    if args.list_configs:
        return _list_configs(args.target, options)
    report = check(args.target, isolate=args.isolate, on_stuck=_give_up, **options)
    print(report.text(verbose=args.verbose))
    if args.json is not None:
        try:
            args.json.write_text(json.dumps(report.to_json(), indent=1, default=str) + "\n")
        except OSError as exc:
            print(
                f"{PREFIX}: Expected to write the JSON report to {args.json}, got {type(exc).__name__}: {exc}",
                file=sys.stderr,
            )
            return 2
    sys.stdout.flush()
    plotted = _plot(report, args.plot) if args.plot is not None else 0
    if args.verbose and report.traceback:
        print(report.traceback.rstrip(), file=sys.stderr)
    if report.exit_status == 2:
        print(f"{PREFIX}: could not be checked: {report.unchecked_reason}", file=sys.stderr)
    return report.exit_status or plotted
