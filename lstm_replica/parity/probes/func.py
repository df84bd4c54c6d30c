"""The ``torch.func`` probe: gradients through ``torch.func.vjp`` over ``functional_call``, and ``vmap``,
which nn.LSTM refuses (the candidate must refuse it too, or give nn.LSTM's result per input).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence

from lstm_replica.parity.build import Side
from lstm_replica.parity.calls import _unpack, loss_of
from lstm_replica.parity.candidates import CheckError
from lstm_replica.parity.compare import Difference, compare
from lstm_replica.parity.configs import Config
from lstm_replica.parity.inputs import Inputs, make_inputs, packed
from lstm_replica.parity.probes.context import ProbeLog, Probing, raised
from lstm_replica.parity.results import grad_key, gradient_of


def _fed(config: Config, inputs: Inputs, x: Tensor) -> Tensor | PackedSequence:
    if inputs.lengths is None:
        return x
    return packed(x, inputs.lengths, config)


def _func_grads(side: Side, config: Config, inputs: Inputs, module: bool) -> dict[str, Tensor]:
    """Gradients through ``torch.func.vjp`` (what ``grad`` and ``jacrev`` are built on): of the parameters (through
    functional_call) and the input."""

    def loss(output: Tensor | PackedSequence, h_n: Tensor, c_n: Tensor) -> Tensor:
        data = output.data if isinstance(output, PackedSequence) else output  # (T, D*H_out) when packed
        return loss_of((data, h_n, c_n), inputs, "all")

    if not module:
        value, pullback, *_ = torch.func.vjp(
            lambda x: loss(*_unpack(side.forward(_fed(config, inputs, x), inputs.hx))), inputs.x
        )
        (grad_x,) = pullback(torch.ones_like(value))
        return {grad_key("input"): grad_x}
    target = side.modules[0]
    params = {n: p.detach() for n, p in side.parameters.items()}

    def f(weights: dict[str, Tensor], x: Tensor) -> Tensor:
        result = torch.func.functional_call(target, weights, (_fed(config, inputs, x), inputs.hx), strict=False)
        return loss(*_unpack(result))

    value, pullback, *_ = torch.func.vjp(f, params, inputs.x)  # torch.func.grad's own path, without dynamo
    grads, grad_x = pullback(torch.ones_like(value))
    return {grad_key("input"): grad_x} | {grad_key(n): g for n, g in grads.items()}


def func_transforms(ctx: Probing, log: ProbeLog) -> None:
    """``torch.func.vjp`` on both sides; ``torch.func.vmap`` refused as nn.LSTM refuses it (module candidates)."""
    pair, config = ctx.pair, ctx.config
    module = pair.candidate.prefixes == ("",)
    probe = "torch.func.vjp"
    inputs = make_inputs(config, ctx.device, ctx.generator)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "RNN module weights are not part of single contiguous", UserWarning)
        try:
            theirs = _func_grads(pair.reference, config, inputs, module)
        except Exception as exc:  # noqa: BLE001 - nn.LSTM's refusal: the probe does not apply
            log.skipped[probe] = f"nn.LSTM itself raises under it here ({type(exc).__name__})"
        else:
            try:
                mine = _func_grads(pair.candidate, config, inputs, module)
            except (Exception, SystemExit) as exc:  # noqa: BLE001 - the candidate may raise anything: a difference
                log.differences.append(raised(probe, CheckError(f"{type(exc).__name__}: {exc}")))
            else:
                params = {gradient_of(n) or n: g for n, g in mine.items() if n != grad_key("input")}
                mapped = pair.pmap.grads_to_reference(params) if params else {}
                found = {grad_key("input"): mine[grad_key("input")]} | {grad_key(n): g for n, g in mapped.items()}
                log.differences += [compare(n, found.get(n), t, ctx.row, probe) for n, t in theirs.items()]
    if not module or inputs.lengths is not None:
        return  # vmap: a module's own forward on padded input
    _vmap(ctx, log, inputs)


def _vmap(ctx: Probing, log: ProbeLog, inputs: Inputs) -> None:
    """Two inputs under ``torch.func.vmap``. Where nn.LSTM refuses (no batching rule for ``aten::lstm``), the
    candidate must raise its exception type, or return exactly what nn.LSTM returns for each input on its own (a
    pure-tensor-op rewrite batches correctly: not a difference; a result that is not nn.LSTM's is)."""
    pair, probe = ctx.pair, "torch.func.vmap"
    xs = torch.stack([inputs.x, inputs.x * 0.5])  # two independent inputs

    def attempt(side: Side) -> tuple[Tensor | None, BaseException | None]:
        try:
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore", UserWarning)
                forward: Callable[..., Any] = side.forward
                output = torch.func.vmap(lambda x: _unpack(forward(x, inputs.hx))[0])(xs)
            return (output if isinstance(output, Tensor) else None), None
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - what is raised is what is compared
            return None, exc

    expected, refused = attempt(pair.reference)
    got, error = attempt(pair.candidate)
    if error is not None and (refused is None or not isinstance(error, type(refused))):
        if refused is None:
            log.differences.append(raised(probe, CheckError(f"{type(error).__name__}: {error}")))
            return
        note = f"Expected {type(refused).__name__} as nn.LSTM raises ({refused}), got {type(error).__name__}: {error}"
        log.differences.append(Difference.apart("refuses", note, probe))
        return
    if error is not None:
        note = f"refused with {type(error).__name__}, as nn.LSTM refuses it"
        log.differences.append(Difference("refuses", True, True, 0.0, 0.0, 0.0, note, probe))
        return
    if refused is not None:  # the candidate batched what nn.LSTM cannot: its answer must be nn.LSTM's per input
        try:
            with torch.no_grad():
                each = [_unpack(pair.reference.forward(x, inputs.hx))[0] for x in xs.unbind(0)]
                expected = torch.stack([t for t in each if isinstance(t, Tensor)])  # padded input: tensors
        except Exception as exc:  # noqa: BLE001 - nn.LSTM itself raising: nothing to compare with
            log.skipped[probe] = f"nn.LSTM itself raises here ({type(exc).__name__})"
            return
    log.differences.append(compare("output", got, expected, ctx.row, probe))
