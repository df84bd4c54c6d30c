"""The training probe: SGD-with-momentum and Adam steps on both sides from the same weights.

Three SGD steps, a train -> eval -> train switch, three Adam steps, dropout drawn from the same generator
state, lengths and batch sizes varying from step to step, two steps accumulating gradients over two
micro-batches, ``flatten_parameters()`` before each; after each step the outputs, every gradient, every
parameter and the optimiser state are compared. Then a full call with the trained weights in eval mode.
"""

from __future__ import annotations

import random
from dataclasses import replace

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence

from lstm_replica.parity.build import Pair, Side
from lstm_replica.parity.calls import Call, loss_of, run
from lstm_replica.parity.candidates import CheckError
from lstm_replica.parity.compare import compare, scaled
from lstm_replica.parity.configs import Config
from lstm_replica.parity.inputs import Inputs, make_inputs, packed
from lstm_replica.parity.parammap import ParamMap
from lstm_replica.parity.probes.calls import vary
from lstm_replica.parity.probes.context import ProbeLog, Probing, catching, compare_calls, raised, run_reference
from lstm_replica.parity.results import grad_key

ADAM_LR, ADAM_EPS = 1e-2, 1e-3  # eps 1e-3: finite in float16, and a gradient difference d moves a weight <= lr*d/eps
ACCUMULATING_STEPS, ACCUMULATE = (2, 5), 2  # these steps accumulate gradients over two micro-batches
TRAIN_STEPS = (("sgd", 3), ("adam", 3))


TRAIN_MAX_STEPS = 48  # training on long sequences takes truncated-backpropagation chunks of at most this many steps


def _optimiser(kind: str, params: list[Tensor]) -> torch.optim.Optimizer:
    if kind == "sgd":
        return torch.optim.SGD(params, lr=0.05, momentum=0.9, weight_decay=1e-3)
    return torch.optim.Adam(params, lr=ADAM_LR, eps=ADAM_EPS)


def _train_step(
    side: Side,
    optimiser: torch.optim.Optimizer,
    config: Config,
    batches: list[Inputs],
    dropout_seed: int,
    pmap: ParamMap | None,
) -> dict[str, Tensor | None]:
    """One optimiser step as a training loop takes it: zero_grad, then forward and backward for each micro-batch
    (gradients accumulate in ``.grad``), then step. ``flatten_parameters()`` first where the module has it, as
    DataParallel-style code calls it before every forward."""
    optimiser.zero_grad(set_to_none=True)
    for module in side.modules:
        flatten = getattr(module, "flatten_parameters", None)
        if callable(flatten):
            flatten()
    tensors: dict[str, Tensor | None] = {}
    for index, inputs in enumerate(batches):
        torch.manual_seed(dropout_seed + index)  # the same dropout masks on both sides if drawn the same way
        fed: Tensor | PackedSequence = inputs.x
        if inputs.lengths is not None:
            fed = packed(inputs.x, inputs.lengths, config)
        output, (h_n, c_n) = side.forward(fed, inputs.hx)
        if isinstance(output, PackedSequence):
            output = output.data  # (T, D*H_out)
        tensors = {"output": output.detach(), "h_n": h_n.detach(), "c_n": c_n.detach()}
        loss_of((output, h_n, c_n), inputs, "all").backward()
    replaced = [name for name, p in side.live().items() if side.parameters.get(name) is not p]
    if replaced:
        msg = f"parameters {', '.join(replaced)} were replaced by other tensors: an optimiser built before no longer trains them"
        raise RuntimeError(msg)
    grads = {name: p.grad for name, p in side.parameters.items()}
    tensors |= {grad_key(n): g for n, g in (grads if pmap is None else pmap.grads_to_reference(grads)).items()}
    optimiser.step()
    return tensors


def _state(side: Side, optimiser: torch.optim.Optimizer, pmap: ParamMap | None) -> dict[str, Tensor | None]:
    """Parameters and per-parameter optimiser state, in the reference's names and layout."""
    folded = set(pmap.folded) if pmap is not None else set()  # not nn.LSTM's pair of biases after a step (FOLDED)
    params = {name: p.detach() for name, p in side.parameters.items()}
    found = {n: t for n, t in (params if pmap is None else pmap.to_reference(params)).items() if n not in folded}
    keys = sorted({k for p in side.parameters.values() for k, v in optimiser.state[p].items() if v.dim() > 0})
    for key in keys:
        state = {n: optimiser.state[p].get(key) for n, p in side.parameters.items()}
        mapped = state if pmap is None else pmap.to_reference(state)
        found |= {f"{key} {n}": t for n, t in mapped.items() if n not in folded}
    return found


def _resync(pair: Pair, optimisers: list[torch.optim.Optimizer]) -> None:
    """The reference's weights and optimiser state into the candidate: each step's error measured on its own."""
    pair.sync()
    cand, ref = (dict(side.parameters) for side in (pair.candidate, pair.reference))
    ref_state = optimisers[1].state
    keys = {k for p in ref.values() for k, v in ref_state[p].items() if v.dim() > 0}
    for key in keys:
        mine = {n: optimisers[0].state[p][key] for n, p in cand.items() if key in optimisers[0].state[p]}
        theirs = {n: ref_state[p][key] for n, p in ref.items()}
        for name, value in pair.pmap.from_reference(theirs, mine, fold="first").items():
            optimisers[0].state[cand[name]][key] = value


FOLDED = (
    "one bias per gate holds nn.LSTM's b_ih + b_hh (folded): forward and every gradient are compared, "
    "but its initial value is a sum of two of nn.LSTM's draws, and an optimiser step (weight decay, momentum) "
    "moves nn.LSTM's two biases each, so their sum twice as far as the one: values and optimiser state of "
    "these biases are not compared"
)


def training(ctx: Probing, log: ProbeLog) -> None:
    """Both sides trained side by side from the same weights; compared after every step.

    Bitwise: free-running, so every step must stay bitwise. ``tolerance``: after each step the candidate is
    given the reference's weights and optimiser state again (as a teacher-forced step), so rounding cannot
    compound through the optimiser; an Adam step turns a gradient difference d into up to lr*d/eps of weight,
    so weights and state after Adam steps are judged with the tolerance x lr/eps.
    """
    pair, config, device, row, generator, tolerance = (
        ctx.pair, ctx.config, ctx.device, ctx.row, ctx.generator, ctx.tolerance
    )  # fmt: skip
    rng = random.Random(int(torch.randint(0, 2**31, (1,), generator=generator)))
    sides = (pair.candidate, pair.reference)
    adam_row = scaled(row, ADAM_LR / ADAM_EPS, "an Adam step moves a weight by up to lr/eps times a gradient error")
    step = 0
    try:
        for kind, count in TRAIN_STEPS:
            optimisers = [_optimiser(kind, list(side.parameters.values())) for side in sides]
            pair.train(True)
            for _ in range(count):
                step += 1
                probe = f"training step {step} ({kind})"
                batches = []
                for _ in range(ACCUMULATE if step in ACCUMULATING_STEPS else 1):
                    steps, batch = vary(replace(config, steps=min(config.steps, TRAIN_MAX_STEPS)), rng)
                    batches.append(make_inputs(config, device, generator, steps=steps, batch=batch))
                seed = rng.randrange(2**31)
                try:
                    cand = _train_step(sides[0], optimisers[0], config, batches, seed, pair.pmap)
                except (Exception, SystemExit) as exc:  # noqa: BLE001 - the candidate may raise anything
                    log.differences.append(raised(probe, CheckError(f"{type(exc).__name__}: {exc}")))
                    return
                ref = _train_step(sides[1], optimisers[1], config, batches, seed, None)
                log.differences += [compare(n, cand.get(n), t, row, probe) for n, t in ref.items()]
                after_c, after_r = _state(sides[0], optimisers[0], pair.pmap), _state(sides[1], optimisers[1], None)
                after = adam_row if kind == "adam" else row
                log.differences += [
                    compare(n, after_c.get(n), t, after, probe) for n, t in after_r.items() if n in after_c
                ]
                if tolerance:
                    _resync(pair, optimisers)
            pair.train(False)
            probe = f"eval after step {step}"
            inputs = make_inputs(config, device, generator)
            with catching(log, probe):
                cand_out = run(pair.candidate, config, inputs, Call(mode="no_grad"), pair.pmap)
                ref_out = run_reference(pair.reference, config, inputs, Call(mode="no_grad"))
                log.differences += compare_calls(cand_out, ref_out, row, probe)
    finally:
        pair.train(False)
    probe = "trained"
    steps = min(config.steps, TRAIN_MAX_STEPS) if tolerance else config.steps
    inputs = make_inputs(config, device, generator, steps=steps)
    with catching(log, probe):
        ref_out = run_reference(pair.reference, config, inputs, Call())
        cand_out = run(pair.candidate, config, inputs, Call(), pair.pmap)
        log.differences += compare_calls(cand_out, ref_out, row, probe)
        log.outcomes[probe] = (cand_out, ref_out, replace(config, steps=steps))
