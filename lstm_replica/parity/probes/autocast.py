"""The autocast probe (float32 configurations): a call with grad under ``torch.autocast`` in bfloat16 and
float16, against nn.LSTM under the same autocast (see :mod:`.protocol`).
"""

from __future__ import annotations

import warnings

import torch

from lstm_replica.parity.calls import Call, run
from lstm_replica.parity.compare import HALF
from lstm_replica.parity.diagnose import whole_tensors
from lstm_replica.parity.inputs import make_inputs
from lstm_replica.parity.probes.context import ProbeLog, Probing, catching, compare_calls, run_reference
from lstm_replica.parity.results import LEAF_GRADS, gradient_of


def autocast(ctx: Probing, log: ProbeLog, heavy: bool, unsupported: frozenset[str] = frozenset()) -> None:
    """A call with grad under ``torch.autocast`` in each half dtype, against nn.LSTM under the same autocast."""
    config = ctx.config
    if config.dtype != "float32":
        log.skipped["autocast"] = "autocast changes float32 computations only (run in the float32 configurations)"
        return
    device_type = torch.device(ctx.device).type
    lows = (torch.bfloat16,) if heavy else (torch.bfloat16, torch.float16)
    if heavy:
        log.skipped["autocast float16"] = "a large configuration: autocast bfloat16 only"
    whole = whole_tensors(ctx.pair.pmap)
    if not whole:
        log.skipped["autocast: parameter gradients"] = AUTOCAST_PER_CALL_WEIGHTS
    for low in lows:
        probe = f"autocast {str(low).removeprefix('torch.')}"
        if str(low).removeprefix("torch.") in unsupported:
            log.skipped[probe] = "the candidate does not support that dtype"
            continue
        inputs = make_inputs(config, ctx.device, ctx.generator)
        with catching(log, probe), warnings.catch_warnings(), torch.autocast(device_type, dtype=low):
            warnings.simplefilter("ignore", UserWarning)  # nn.LSTM: projections are not supported with oneDNN
            ref = run_reference(ctx.pair.reference, config, inputs, Call())
            cand = run(ctx.pair.candidate, config, inputs, Call(), ctx.pair.pmap)
            names = [n for n in ref.tensors if whole or gradient_of(n) is None or n in LEAF_GRADS]
            log.differences += compare_calls(cand, ref, HALF[low], probe, tuple(names))


AUTOCAST_PER_CALL_WEIGHTS = (
    "the candidate's parameters are not nn.LSTM's whole tensors: under autocast a weight built per call (per-gate "
    "tensors stacked) is cast at every call and its gradient summed in float32, where autocast casts nn.LSTM's "
    "leaf weights once and sums their gradient in the autocast dtype; forward dtypes and values and the input "
    "and state gradients are compared"
)
