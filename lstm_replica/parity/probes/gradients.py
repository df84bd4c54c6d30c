"""The double-backward probe: a gradient penalty on the input gradient, backpropagated (a second-order
derivative through the whole recurrence).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence

from lstm_replica.parity.build import Side
from lstm_replica.parity.calls import loss_of
from lstm_replica.parity.candidates import CheckError
from lstm_replica.parity.compare import compare
from lstm_replica.parity.configs import Config
from lstm_replica.parity.inputs import Inputs, make_inputs, packed
from lstm_replica.parity.parammap import ParamMap
from lstm_replica.parity.probes.context import ProbeLog, Probing, raised
from lstm_replica.parity.results import grad_key

DOUBLE_BACKWARD_MAX_COST = 2_000_000  # multiply-adds of one forward: the double-backward graph is several times that


def _penalty_grads(side: Side, config: Config, inputs: Inputs, pmap: ParamMap | None) -> dict[str, Tensor | None]:
    """Gradients of a gradient penalty ||d loss / d input||^2 with respect to the parameters (double backward)."""
    x = inputs.x.clone().requires_grad_(True)
    fed: Tensor | PackedSequence = x
    if inputs.lengths is not None:
        fed = packed(x, inputs.lengths, config)
    output, (h_n, c_n) = side.forward(fed, inputs.hx)
    if isinstance(output, PackedSequence):
        output = output.data  # (T, D*H_out)
    (grad_x,) = torch.autograd.grad(loss_of((output, h_n, c_n), inputs, "all"), [x], create_graph=True)
    params = dict(side.parameters)
    grads = torch.autograd.grad((grad_x * grad_x).sum(), list(params.values()), allow_unused=True)
    named: dict[str, Tensor | None] = dict(zip(params, grads, strict=True))  # None: unused (allow_unused)
    return named if pmap is None else pmap.grads_to_reference(named)


def double_backward(ctx: Probing, log: ProbeLog) -> None:
    """Gradients of a gradient penalty, where the configuration is small enough for a second-order graph."""
    pair, config, device, row, generator = ctx.pair, ctx.config, ctx.device, ctx.row, ctx.generator
    probe = "double backward"
    if config.cost > DOUBLE_BACKWARD_MAX_COST:
        log.skipped[probe] = "configuration too large for a second-order graph in the time budget"
        return
    inputs = make_inputs(config, device, generator)
    try:
        reference = _penalty_grads(pair.reference, config, inputs, None)
    except RuntimeError as exc:
        log.skipped[probe] = f"nn.LSTM itself does not support it here ({exc})"
        return
    try:
        candidate = _penalty_grads(pair.candidate, config, inputs, pair.pmap)
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - the candidate may raise anything: a difference
        log.differences.append(raised(probe, CheckError(f"{type(exc).__name__}: {exc}")))
        return
    log.differences += [compare(grad_key(n), candidate.get(n), g, row, probe) for n, g in reference.items()]
