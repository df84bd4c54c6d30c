"""The dtype-move and parametrization probes: ``.double()`` / ``.float()`` after construction, new weights
loaded afterwards, and ``register_parametrization`` on a weight after use (see :mod:`.protocol`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from lstm_replica.parity.calls import Call
from lstm_replica.parity.candidates import CheckError
from lstm_replica.parity.compare import TOLERANCES, Tolerance
from lstm_replica.parity.inputs import make_inputs
from lstm_replica.parity.probes.context import ProbeLog, Probing, catching
from lstm_replica.parity.probes.module import restore
from lstm_replica.parity.probes.protocol_calls import compared, forward_in_mode


def _row_for(ctx: Probing, dtype: torch.dtype) -> Tolerance:
    """The tolerance row of ``dtype`` on this configuration's backend (found from its own row)."""
    for (backend, of), row in TOLERANCES.items():
        if of == ctx.config.torch_dtype and row == ctx.row:
            return TOLERANCES.get((backend, dtype), ctx.row)
    return ctx.row


@contextmanager
def _moved(modules: list[nn.Module], dtype: torch.dtype, back: torch.dtype) -> Iterator[None]:
    try:
        for module in modules:
            module.to(dtype)
        yield
    finally:
        for module in modules:
            module.to(back)


def construction_capture(ctx: Probing, log: ProbeLog, unsupported: frozenset[str] = frozenset()) -> None:
    """A dtype move after construction, new weights loaded after it, and a parametrization registered after use."""
    pair, config = ctx.pair, ctx.config
    if pair.candidate.prefixes != ("",):
        log.skipped["dtype moves and parametrizations"] = "a cell candidate: the layer machinery holds its dtype"
        return
    target = torch.float32 if config.dtype == "float64" else torch.float64
    move = "after .float()" if target is torch.float32 else "after .double()"
    moved = replace(config, dtype=str(target).removeprefix("torch."))
    row = _row_for(ctx, target)
    if moved.dtype in unsupported or "dtype_moves" in unsupported:
        why = "declared unsupported by the candidate" if "dtype_moves" in unsupported else "not supported"
        log.skipped[move] = f"{why}: {moved.dtype if why == 'not supported' else 'dtype moves'}"
        _parametrized(ctx, log)
        return
    try:
        with catching(log, move), _moved([pair.reference.modules[0]], target, config.torch_dtype):
            try:
                pair.candidate.modules[0].to(target)
            except Exception as exc:
                msg = f"{move} raised {type(exc).__name__}: {exc}"
                raise CheckError(msg) from exc
            try:
                compared(ctx, log, move, make_inputs(moved, ctx.device, ctx.generator), Call(), config=moved, row=row)
                with torch.no_grad():
                    for p in pair.reference.parameters.values():
                        p.copy_(torch.rand(p.shape, generator=ctx.generator, dtype=torch.float64).sub_(0.5))
                pair.sync()
                probe = f"{move}, new weights loaded"
                inputs = make_inputs(moved, ctx.device, ctx.generator)
                compared(ctx, log, probe, inputs, Call(mode="no_grad"), config=moved, row=row, keep=False)
            finally:
                pair.candidate.modules[0].to(config.torch_dtype)
    finally:
        restore(pair)
    _parametrized(ctx, log)


class _Halved(nn.Module):
    """A parametrization: the weight read as half its stored value."""

    def forward(self, weight: Tensor) -> Tensor:
        return weight * 0.5


def _parametrized(ctx: Probing, log: ProbeLog) -> None:
    pair, probe = ctx.pair, "parametrization registered"
    if set(pair.candidate.parameters) != set(pair.reference.parameters) or pair.pmap.offsets:
        log.skipped[probe] = "needs nn.LSTM's parameter names on the candidate"
        return
    name = "weight_hh_l0"
    modules = [pair.reference.modules[0], pair.candidate.modules[0]]
    registered: list[nn.Module] = []
    inputs = make_inputs(ctx.config, ctx.device, ctx.generator)
    try:
        with catching(log, probe):
            for side in (pair.reference, pair.candidate):  # used, then parametrized: as a script adds weight norm
                forward_in_mode(side, ctx.config, inputs, "no_grad", side is pair.reference)
            for module in modules:
                try:
                    parametrize.register_parametrization(module, name, _Halved())
                except Exception as exc:
                    msg = f"register_parametrization raised {type(exc).__name__}: {exc}"
                    raise CheckError(msg) from exc
                registered.append(module)
            compared(ctx, log, probe, inputs, Call(), keep=False)
    finally:
        for module in registered:
            parametrize.remove_parametrizations(module, name, leave_parametrized=False)
