"""Global modes a training script sets, under which the candidate must compute what nn.LSTM computes.

Each is a probe of a configuration, run on both sides under the same mode, which is put back afterwards:

- **deterministic algorithms**: call 1 again under ``torch.use_deterministic_algorithms(True)`` (a candidate
  may switch to another path when it is on);
- **the default dtype**: float64 configurations only: both sides built again *without* a ``dtype`` argument
  under ``torch.set_default_dtype(torch.float64)``, as a script that sets the default dtype builds them, and
  called (a candidate that fixes float32 where no dtype is given computes in the wrong dtype, or raises).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from lstm_replica.parity.build import Candidate, build_pair
from lstm_replica.parity.calls import Call, run
from lstm_replica.parity.inputs import make_inputs
from lstm_replica.parity.probes.context import ProbeLog, Probing, catching, compare_calls, run_reference

DETERMINISTIC = "deterministic algorithms"
DEFAULT_DTYPE = "built without dtype, default dtype float64"


@contextmanager
def _deterministic() -> Iterator[None]:
    """torch.use_deterministic_algorithms(True), the caller's setting (and its warn_only) put back after."""
    was, warn_only = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was, warn_only=warn_only)


@contextmanager
def _default_dtype(dtype: torch.dtype) -> Iterator[None]:
    was = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(was)


def global_modes(ctx: Probing, log: ProbeLog, spec: Candidate, seed: int) -> None:
    """The probes of the module docstring, their differences (and skips) into ``log``."""
    pair, config, row = ctx.pair, ctx.config, ctx.row
    inputs = make_inputs(config, ctx.device, ctx.generator)
    with catching(log, DETERMINISTIC), _deterministic():
        ref = run_reference(pair.reference, config, inputs, Call())
        cand = run(pair.candidate, config, inputs, Call(), pair.pmap)
        log.differences += compare_calls(cand, ref, row, DETERMINISTIC)
        log.outcomes[DETERMINISTIC] = (cand, ref, config)
    if config.dtype != "float64":
        return
    with catching(log, DEFAULT_DTYPE):
        with _default_dtype(torch.float64):
            built = build_pair(spec, config, ctx.device, seed, dtype_given=False)
            built.sync()
            ref = run_reference(built.reference, config, inputs, Call())
            cand = run(built.candidate, config, inputs, Call(), built.pmap)
        log.differences += compare_calls(cand, ref, row, DEFAULT_DTYPE)
        log.outcomes[DEFAULT_DTYPE] = (cand, ref, config)
