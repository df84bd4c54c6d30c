"""How long nn.LSTM itself takes on a configuration: the CPU seconds a configuration's default time limit
scales with (see :mod:`.deadline`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch import nn

from lstm_replica.parity import backends
from lstm_replica.parity.backends import Backend
from lstm_replica.parity.build import (
    Candidate,
    build_pair,
)
from lstm_replica.parity.calls import run
from lstm_replica.parity.candidates import (
    Factory,
)
from lstm_replica.parity.configs import Config
from lstm_replica.parity.globalstate import global_state
from lstm_replica.parity.inputs import make_inputs
from lstm_replica.parity.results import Kind
from lstm_replica.parity.seeds import config_seed, seeded


def told_where(on_stuck: Callable[[str], None], where: str) -> Callable[[str], None]:
    """``on_stuck`` told where: the watchdog's message (how long, what limit) followed by ``where``."""
    return lambda message: on_stuck(f"{message} {where}")


def reference_seconds(kind: Kind, config: Config, setup: Backend, seed: int) -> float | None:
    """CPU seconds of one forward and backward of the reference on ``config`` (None: it could not run there).

    The reference is nn.LSTM, or for a cell nn.LSTMCell in the harness's layer loop, built and fed as
    :func:`check` does; only the call is timed, in this thread's CPU time (torch runs on it: one intra-op
    thread). It is what a configuration's default time limit scales with.
    """
    factory: Factory = nn.LSTM if kind == "module" else nn.LSTMCell
    try:
        with backends.flags(setup), seeded(config_seed(seed, config), setup.device), global_state():
            pair = build_pair(Candidate(factory, kind), config, setup.device, seed)
            inputs = make_inputs(config, setup.device, torch.Generator().manual_seed(seed))
            start = time.thread_time()  # not process_time: a running ITIMER_PROF makes it count in ticks
            run(pair.reference, config, inputs, with_grad=True)
            if setup.device == "cuda":
                torch.cuda.synchronize()
            return time.thread_time() - start
    except Exception:  # noqa: BLE001 - e.g. a projection for a cell: no reference time, the floor applies
        return None
