"""Feature discovery: what the candidate supports, learnt by building and calling it.

Each feature (a dtype, no bias, several layers, bidirectional, a projection, batch_first, dropout; packed
and unbatched input) is tried alone on a small CPU configuration; a constructor that refuses it (``Refused``,
see :func:`.build.construct_candidate`) or a forward that refuses the input with NotImplementedError or
ValueError rules the feature out, with the candidate's words in the report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from lstm_replica.parity.backends import Backend
from lstm_replica.parity.build import (
    CandidateRaised,
    Refused,
    cell_units,
    construct_candidate,
)
from lstm_replica.parity.candidates import (
    CheckError,
    Factory,
)
from lstm_replica.parity.configs import Config
from lstm_replica.parity.deadline import TimedOut, deadline, limit_for
from lstm_replica.parity.globalstate import global_state
from lstm_replica.parity.results import Kind
from lstm_replica.parity.timing import reference_seconds, told_where

PROBED = Config(input_size=3, hidden_size=4)  # the small configuration features are tried on


def probed_features(
    factory: Factory,
    kind: Kind,
    declared: frozenset[str],
    timeout: float | None,
    on_stuck: Callable[[str], None] | None,
) -> dict[str, str]:
    """:func:`refused_features` under the time limit; a candidate that hangs there shows it in the configurations.

    The limit is a configuration's, measured on the probes' small configuration.
    """
    what = "while trying the candidate's features (a small build and call)"
    stuck = None if on_stuck is None else told_where(on_stuck, what)
    try:
        with deadline(limit_for(None, timeout), stuck) as running:
            if running is not None:
                took = reference_seconds(kind, PROBED, Backend(), 0)
                running.set(limit_for(took, timeout, "the probes' small configuration"))
            return refused_features(factory, kind, declared)
    except TimedOut:
        return {}


def refused_features(factory: Factory, kind: Kind, declared: frozenset[str]) -> dict[str, str]:
    """Features the candidate refuses when built for them (see :func:`construct_candidate`), with its words.

    Each feature is tried alone on a small CPU configuration; what the caller already declared is not tried.
    """
    base = PROBED
    trials = {
        "float64": base,
        "float32": replace(base, dtype="float32"),
        "float16": replace(base, dtype="float16"),
        "bfloat16": replace(base, dtype="bfloat16"),
        "no_bias": replace(base, bias=False),
    }
    if kind == "module":
        trials |= {
            "multi_layer": replace(base, num_layers=2),
            "bidirectional": replace(base, bidirectional=True),
            "proj_size": replace(base, proj_size=2),
            "batch_first": replace(base, batch_first=True),
            "dropout": replace(base, num_layers=2, dropout=0.25),
        }
    refused: dict[str, str] = {}
    failures: list[CandidateRaised] = []
    plain: tuple[nn.Module, torch.dtype] | None = None  # the first float64 / float32 build: for the input probes
    for feature, config in trials.items():
        if feature in declared:
            continue
        kwargs = config.module_kwargs() if kind == "module" else cell_units(config)[0][1]
        try:
            with torch.random.fork_rng(devices=[]), global_state():
                built = construct_candidate(factory, {**kwargs, "device": "cpu", "dtype": config.torch_dtype})
        except Refused as exc:
            refused[feature] = str(exc)
        except CandidateRaised as exc:
            failures.append(exc)
        except (Exception, SystemExit):  # noqa: BLE001, S110 - other failures show in the configurations themselves
            pass
        else:
            if plain is None and feature in ("float64", "float32"):
                plain = built, config.torch_dtype
    if failures and len(failures) == len([f for f in trials if f not in declared]):
        # no configuration builds, nn.LSTM's plainest included: a signature mismatch, nothing can be compared
        raise CheckError(str(failures[0])) from failures[0]
    if kind == "module" and plain is not None:
        refused |= _refused_inputs(*plain, base.input_size, declared)
    return refused


def _refused_inputs(module: nn.Module, dtype: torch.dtype, input_size: int, declared: frozenset[str]) -> dict[str, str]:
    """Packed and unbatched input refused by the forward with NotImplementedError or ValueError.

    ``module``: the candidate built in ``dtype``, one it accepts (float64, else float32).
    """
    x = torch.zeros(2, 2, input_size, dtype=dtype)  # (L, N, H_in)
    inputs = {
        "unbatched": x[:, 0],  # (L, H_in)
        "packed": pack_padded_sequence(x, torch.tensor([2, 1]), enforce_sorted=False),
    }
    refused = {}
    for feature, fed in inputs.items():
        if feature in declared:
            continue
        try:
            with torch.no_grad(), torch.random.fork_rng(devices=[]), global_state():
                module(fed)
        except (NotImplementedError, ValueError) as exc:
            refused[feature] = f"the forward refused {feature} input: {type(exc).__name__}: {exc}"
        except (Exception, SystemExit):  # noqa: BLE001, S110 - the configurations will show it
            pass
    return refused
