"""The module-protocol probe: what research code does to a module besides calling it.

``reset_parameters()`` (its draws judged as the initial weights are), frozen weights (``requires_grad``
off), and ``torch.func.functional_call`` with substituted weights. The reference's weights are put back
afterwards.
"""

from __future__ import annotations

import warnings
from functools import partial

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence

from lstm_replica.parity.build import Pair
from lstm_replica.parity.calls import Call, loss_of, run
from lstm_replica.parity.candidates import CheckError
from lstm_replica.parity.compare import compare
from lstm_replica.parity.inputs import Inputs, make_inputs, packed
from lstm_replica.parity.probes.context import ProbeLog, Probing, catching, compare_calls, raised, run_reference
from lstm_replica.parity.probes.initial import judge_draws
from lstm_replica.parity.results import grad_key

RESET_SEED = 7  # both sides reset their parameters from the same generator state


def module_protocol(ctx: Probing, log: ProbeLog, draws: bool = True) -> None:
    """What research code does to a module besides calling it: ``reset_parameters()``, frozen weights,
    ``torch.func.functional_call`` with substituted weights. The reference's weights are restored afterwards.

    ``draws``: judge ``reset_parameters()``' draws (False where the candidate declared its initialisation its own:
    it is still called, and every probe after it runs on the reset module with the reference's weights restored).
    """
    pair, config, row = ctx.pair, ctx.config, ctx.row
    if all(callable(getattr(m, "reset_parameters", None)) for m in pair.candidate.modules):
        probe = "reset_parameters()"
        with catching(log, probe), torch.random.fork_rng(devices=[]):
            for side in (pair.reference, pair.candidate):
                torch.manual_seed(RESET_SEED)
                for module in side.modules:
                    _call_method(module.reset_parameters)
            if draws:
                mine = pair.pmap.to_reference({n: p.detach().clone() for n, p in pair.candidate.parameters.items()})
                theirs = {n: p.detach() for n, p in pair.reference.parameters.items()}
                redraw = partial(_reset_again, pair)
                log.differences += judge_draws(mine, theirs, pair, config, ctx.tolerance, row, probe, redraw)
            else:
                log.skipped["reset_parameters() draws"] = (
                    "declared unsupported by the candidate (its own initialisation)"
                )
    restore(pair)
    probe = "frozen weights"
    inputs = make_inputs(config, ctx.device, ctx.generator)
    every = [*pair.candidate.parameters.values(), *pair.reference.parameters.values()]
    try:
        for p in every:
            p.requires_grad_(False)
        with catching(log, probe):
            ref = run_reference(pair.reference, config, inputs, Call())
            cand = run(pair.candidate, config, inputs, Call(), pair.pmap)
            log.differences += compare_calls(cand, ref, row, probe)
    finally:
        for p in every:
            p.requires_grad_(True)
    if pair.candidate.prefixes == ("",):  # a module candidate: its forward is the module's own
        _functional_call(ctx, log, inputs)


def _reset_again(pair: Pair, k: int) -> dict[str, Tensor | None]:
    """The candidate's ``reset_parameters()`` draws under the k-th seed after ``RESET_SEED``, in nn.LSTM's names."""
    torch.manual_seed(RESET_SEED + k)
    for module in pair.candidate.modules:
        _call_method(module.reset_parameters)
    return pair.pmap.to_reference({n: p.detach().clone() for n, p in pair.candidate.parameters.items()})


def _call_method(method: object) -> None:
    try:
        if not callable(method):  # the TypeError that calling it would raise
            msg = f"{type(method).__name__!r} object is not callable"
            raise TypeError(msg)
        method()
    except Exception as exc:
        msg = f"{type(exc).__name__}: {exc}"
        raise CheckError(msg) from exc


def restore(pair: Pair) -> None:
    """The reference's initial weights back in place, and in the candidate."""
    with torch.no_grad():
        for name, p in pair.reference_parameters.items():
            p.copy_(pair.reference_initial[name])
    pair.sync()


def _functional_call(ctx: Probing, log: ProbeLog, inputs: Inputs) -> None:
    """``torch.func.functional_call`` with every weight substituted (x 1.5 + 0.01): the module must read them."""
    pair, config, row = ctx.pair, ctx.config, ctx.row
    probe = "functional_call"
    substitutes = {n: (p.detach() * 1.5 + 0.01).requires_grad_() for n, p in pair.reference.parameters.items()}
    theirs_like = {n: p.detach() for n, p in pair.candidate.parameters.items()}
    mine = {n: t.requires_grad_() for n, t in pair.pmap.from_reference(substitutes, theirs_like).items()}
    fed: Tensor | PackedSequence = inputs.x
    if inputs.lengths is not None:
        fed = packed(inputs.x, inputs.lengths, config)
    hx = inputs.hx
    results = []
    try:
        for module, weights in ((pair.reference.modules[0], substitutes), (pair.candidate.modules[0], mine)):
            with warnings.catch_warnings():
                # nn.LSTM on cuDNN advises compacting weights that are not its own flat buffer: true here, and moot
                warnings.filterwarnings("ignore", "RNN module weights are not part of single contiguous", UserWarning)
                output, (h_n, c_n) = torch.func.functional_call(module, weights, (fed, hx), strict=False)
            if isinstance(output, PackedSequence):
                output = output.data  # (T, D*H_out)
            loss = loss_of((output, h_n, c_n), inputs, "all")
            grads = torch.autograd.grad(loss, list(weights.values()), allow_unused=True)
            results.append(({"output": output, "h_n": h_n, "c_n": c_n}, dict(zip(weights, grads, strict=True))))
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - the candidate may raise anything: a difference
        if len(results) == 1:
            log.differences.append(raised(probe, CheckError(f"{type(exc).__name__}: {exc}")))
        else:
            log.skipped[probe] = f"nn.LSTM itself raises under it here ({type(exc).__name__})"
        return
    (ref_out, ref_grads), (cand_out, cand_grads) = results
    mapped = pair.pmap.grads_to_reference(cand_grads)
    log.differences += [compare(n, cand_out[n], t, row, probe) for n, t in ref_out.items()]
    log.differences += [compare(grad_key(n), mapped.get(n), g, row, probe) for n, g in ref_grads.items()]
