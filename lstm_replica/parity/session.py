"""What one configuration puts a candidate through, after its first call: the probes of a certificate.

Every probe runs on the same candidate instance as the first call, so a
defect that needs state across calls shows up. In order:

- **initial weights**: built under the same seed as ``nn.LSTM``, the
  candidate's own initial weights must equal the reference's (under
  ``--tolerance``: follow its distribution, by a Kolmogorov-Smirnov test);
- **calls 2-4**: new inputs each (other lengths and batch sizes where the
  configuration allows), the state of call 1 carried into call 2 as
  truncated backpropagation does; inputs that do not require grad; losses
  from ``h_n`` only, ``output`` only and ``c_n`` only; non-contiguous inputs;
- **no_grad** and **inference_mode** forwards;
- **double backward**: a gradient penalty on the input gradient;
- **stressed**: saturating weights and inputs (see :mod:`.regimes`);
- **training**: three SGD-with-momentum steps, a train -> eval -> train
  switch, three Adam steps, dropout drawn from the same generator state on
  both sides, lengths and batch sizes varying from step to step, two steps
  accumulating gradients over two micro-batches, ``flatten_parameters()``
  before each step; after each step the outputs, every gradient, every
  parameter and the optimiser state;
- **trained**: a full call with the trained weights in eval mode;
- **module protocol**, **bad input** and **non-finite input**: see those functions.
- **training protocol**, after all of these (autocast, partial freezing, dtype moves and parametrizations,
  eval-mode caches, ``torch.func``, train mode without grad, inputs as users write them): see :mod:`.protocol`.

A probe in which the candidate raises where ``nn.LSTM`` does not is a
difference. Each difference carries its probe's name.
"""

from __future__ import annotations

import random
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import partial

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

from lstm_replica.cell import Hidden
from lstm_replica.parity.candidates import CheckError
from lstm_replica.parity.compare import Difference, Tolerance, compare, scaled
from lstm_replica.parity.configs import Config
from lstm_replica.parity.draws import DRAWS, Redraw, judge_blocks, narrower_dtype
from lstm_replica.parity.execution import (
    Call,
    Forward,
    Inputs,
    Outcome,
    Pair,
    Side,
    WrongResult,
    loss_of,
    make_inputs,
    run,
)
from lstm_replica.parity.noise import allowing_noise, as_float64, float64_reference, own_error
from lstm_replica.parity.parammap import ParamMap
from lstm_replica.parity.regimes import STRESS_TOLERANCE, stress_weights

FORWARD_NAMES = ("output", "h_n", "c_n")
DOUBLE_BACKWARD_MAX_COST = 2_000_000  # multiply-adds of one forward: the double-backward graph is several times that
TRAIN_STEPS = (("sgd", 3), ("adam", 3))
RESET_SEED = 7  # both sides reset their parameters from the same generator state
ADAM_LR, ADAM_EPS = 1e-2, 1e-3  # eps 1e-3: finite in float16, and a gradient difference d moves a weight <= lr*d/eps
STRESS_MAX_STEPS = 48  # under --tolerance: saturated gates amplify rounding over very long sequences
ACCUMULATING_STEPS, ACCUMULATE = (2, 5), 2  # these steps accumulate gradients over two micro-batches
TRAIN_MAX_STEPS = 48  # training on long sequences takes truncated-backpropagation chunks of at most this many steps


@dataclass(frozen=True)
class Probing:
    """What every probe works with: the pair, its configuration, device, tolerance row, generator and standard."""

    pair: Pair
    config: Config
    device: str
    row: Tolerance
    generator: torch.Generator
    tolerance: bool = False


@dataclass
class ProbeLog:
    """The differences found by the probes, the calls kept for locating, and probes left out (with why)."""

    differences: list[Difference] = field(default_factory=list)
    outcomes: dict[str, tuple[Outcome, Outcome, Config]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    parameters_changed: list[str] = field(default_factory=list)
    aliased: list[str] = field(default_factory=list)
    returned: list[tuple[str, str, Tensor, Tensor]] = field(default_factory=list)  # probe, name, tensor, copy

    def keep(self, probe: str, outcome: Outcome) -> None:
        """Remember what a call returned, to see at the end that no later call overwrote it."""
        for name in FORWARD_NAMES:
            tensor = outcome.tensors.get(name)
            if tensor is not None:
                self.returned.append((probe, name, tensor, tensor.detach().clone()))

    def overwritten(self) -> list[str]:
        """Returned tensors whose values changed after they were returned."""
        return [
            f"{name} returned by {probe or 'call 1'}"
            for probe, name, tensor, copy in self.returned
            if not torch.equal(tensor.detach(), copy)
        ]


def initial_weights(
    pair: Pair, config: Config, tolerance: bool, row: Tolerance, redraw: Redraw, hint: str = ""
) -> list[Difference]:
    """The candidate's own initial weights against nn.LSTM's for the same seed (see :func:`judge_draws`).

    ``redraw(k)``: the candidate built once more under the k-th derived seed, its weights in nn.LSTM's names.
    ``hint``: why the draws may differ, known from the constructor (it takes no ``dtype``), added to the notes.
    """
    found = judge_draws(
        pair.initial, pair.reference_initial, pair, config, tolerance, row, "initial weights", redraw, hint
    )
    if not tolerance and not pair.same_generator:
        inf = float("inf")
        note = (
            "Expected torch's global generator where nn.LSTM's construction leaves it (it draws each parameter "
            "from it with uniform_, in order), got another state: the candidate drew other numbers, more, fewer, "
            "or none (a private generator), so every draw a script makes after building it changes"
        )
        found.append(Difference("global generator", False, False, inf, inf, inf, note, "initial weights"))
    return found


def judge_draws(
    own: dict[str, Tensor | None],
    theirs: dict[str, Tensor],
    pair: Pair,
    config: Config,
    tolerance: bool,
    row: Tolerance,
    probe: str,
    redraw: Redraw,
    hint: str = "",
) -> list[Difference]:
    """Weights the candidate drew (``own``, in nn.LSTM's names) against nn.LSTM's draws under the same seed.

    Bitwise: equal, or a difference (with the cause where the values show it: drawn in float32 and cast).
    Under ``--tolerance``, weights that are not bitwise nn.LSTM's must pass :mod:`.draws`' support and
    Kolmogorov-Smirnov tests, pooled over ``own`` and ``DRAWS - 1`` more draws from ``redraw``. Folded biases
    are not judged (see FOLDED).
    """
    folded = set(pair.pmap.folded)
    found = [compare(n, own.get(n), t, row, probe=probe) for n, t in theirs.items() if n not in folded]
    if all(d.bitwise for d in found):
        return [replace(d, within_tolerance=True) for d in found]
    if not tolerance:
        return [replace(d, within_tolerance=d.bitwise, note=_draw_cause(d, own, theirs, hint)) for d in found]
    names = [d.tensor for d in found if not d.bitwise]
    draws = [own] + [redraw(k) for k in range(1, DRAWS)]
    bound = 1 / config.hidden_size**0.5  # nn.LSTM's U(-bound, bound)
    tests = judge_blocks(draws, names, bound)
    judged = []
    for d in found:
        test = tests.get(d.tensor)
        if d.bitwise or test is None:
            judged.append(replace(d, within_tolerance=d.bitwise))
            continue
        judged.append(replace(d, within_tolerance=test.passed, note=test.note(bound, DRAWS)))
    return judged


def _draw_cause(d: Difference, own: dict[str, Tensor | None], theirs: dict[str, Tensor], hint: str) -> str:
    """The note of an initial weight that is not bitwise nn.LSTM's: the cause, where the constructor or values show it."""
    if d.bitwise or hint:
        return d.note if d.bitwise else hint
    mine = own.get(d.tensor)
    narrower = None if mine is None else narrower_dtype(mine, theirs[d.tensor])
    if narrower is not None:
        return (
            f"drawn in {str(narrower).removeprefix('torch.')} and cast: every value fits "
            f"{str(narrower).removeprefix('torch.')} exactly; nn.LSTM draws in "
            f"{str(theirs[d.tensor].dtype).removeprefix('torch.')} (create the parameters with the dtype passed "
            "to the constructor)"
        )
    return d.note


def _vary(config: Config, rng: random.Random) -> tuple[int, int]:
    """Another length and batch size for a later call: as many steps as allowed, unbatched input keeps N = 1."""
    steps = config.steps if config.steps == 1 else rng.randint(max(1, config.steps // 2), config.steps)
    batch = config.batch if config.input_kind == "unbatched" or config.batch == 1 else rng.randint(1, config.batch)
    return steps, batch


def _carried(inputs: Inputs, outcome: Outcome) -> Inputs:
    """The next chunk of a truncated-backpropagation run: the previous call's final state, detached, as hx."""
    h_n, c_n = outcome.tensors["h_n"], outcome.tensors["c_n"]
    if inputs.h0 is None or h_n is None or c_n is None or h_n.shape != inputs.h0.shape:
        return inputs
    return replace(inputs, h0=h_n.detach().clone(), c0=c_n.detach().clone())


def compare_calls(
    cand: Outcome, ref: Outcome, row: Tolerance, probe: str, names: tuple[str, ...] | None = None
) -> list[Difference]:
    names = tuple(ref.tensors) if names is None else names
    return [compare(name, cand.tensors.get(name), ref.tensors.get(name), row, probe) for name in names]


def raised(probe: str, exc: Exception) -> Difference:
    """The candidate raised where nn.LSTM did not: a proven difference."""
    inf = float("inf")
    return Difference("raises", False, False, inf, inf, inf, f"{exc}; nn.LSTM does not raise here", probe)


@contextmanager
def _catching(log: ProbeLog, probe: str) -> Iterator[None]:
    try:
        yield
    except ReferenceRaised as exc:
        log.skipped[probe] = f"nn.LSTM itself raises here ({exc})"
    except (CheckError, WrongResult) as exc:
        log.differences.append(raised(probe, exc))


class ReferenceRaised(Exception):
    """nn.LSTM itself raised on a probe's valid input (cuDNN refuses non-contiguous states, say)."""


def _run_reference(side: Side, config: Config, inputs: Inputs, call: Call) -> Outcome:
    """The reference's run of a probe; its refusal is the probe's to skip, never the candidate's fault."""
    try:
        return run(side, config, inputs, call)
    except (CheckError, WrongResult) as exc:
        raise ReferenceRaised(str(exc)) from exc


def later_calls(ctx: Probing, first: Outcome, log: ProbeLog) -> None:
    """Calls 2-5, no_grad and inference_mode, on new inputs each (call 5: ``forward(x, hx=[h_0, c_0])``)."""
    pair, config, device, row, generator = ctx.pair, ctx.config, ctx.device, ctx.row, ctx.generator
    rng = random.Random(int(torch.randint(0, 2**31, (1,), generator=generator)))
    calls = (
        (
            "call 2: input without grad, state carried and computed, loss h_n",
            Call(input_grad=False, state_grad=True, computed_state=True, loss="h_n"),
            True,
        ),
        ("call 3: non-contiguous input, loss output", Call(strided=True, loss="output"), False),
        ("call 4: loss c_n, packed sorted (enforce_sorted=True)", Call(loss="c_n", sorted_packing=True), False),
        ("call 5: hx by keyword, as a list", Call(hx_keyword_list=True), False),
        ("no_grad", Call(mode="no_grad"), False),
        ("inference_mode", Call(mode="inference"), False),
    )
    for probe, call, carried in calls:
        steps, batch = (config.steps, config.batch) if carried else _vary(config, rng)
        inputs = make_inputs(config, device, generator, steps=steps, batch=batch)
        if carried:
            inputs = _carried(inputs, first)
        with _catching(log, probe):
            ref = _run_reference(pair.reference, config, inputs, call)
            cand = run(pair.candidate, config, inputs, call, pair.pmap)
            log.differences += compare_calls(cand, ref, row, probe)
            log.outcomes[probe] = (cand, ref, replace(config, steps=steps, batch=batch))
            log.parameters_changed += cand.parameters_changed
            log.aliased += cand.aliased
            log.keep(probe, cand)


def _penalty_grads(side: Side, config: Config, inputs: Inputs, pmap: ParamMap | None) -> dict[str, Tensor | None]:
    """Gradients of a gradient penalty ||d loss / d input||^2 with respect to the parameters (double backward)."""
    x = inputs.x.clone().requires_grad_(True)
    fed: Tensor | PackedSequence = x
    if inputs.lengths is not None:
        fed = pack_padded_sequence(x, inputs.lengths, batch_first=config.batch_first, enforce_sorted=False)
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
    log.differences += [compare(f"grad {n}", candidate.get(n), g, row, probe) for n, g in reference.items()]


def _finite_pattern(probe: str, cand: Outcome, ref: Outcome) -> list[Difference]:
    """Under --tolerance with extreme inputs: the candidate finite exactly where nn.LSTM is (overflow shows here)."""
    found = []
    for name, theirs in ref.tensors.items():
        mine = cand.tensors.get(name)
        if theirs is None or mine is None or mine.shape != theirs.shape:
            found.append(compare(name, mine, theirs, Tolerance(0, 0, ""), probe))
            continue
        wrong = int((mine.detach().isfinite() != theirs.detach().isfinite()).sum())
        note = f"non-finite in {wrong} elements where nn.LSTM is finite, or the reverse" if wrong else ""
        found.append(Difference(name, wrong == 0, wrong == 0, 0.0, 0.0, 0.0, note, probe, wrong, mine.numel()))
    return found


def stressed(ctx: Probing, log: ProbeLog) -> None:
    """Saturating weights and inputs, then extreme values; the reference's default weights are put back afterwards.

    Under ``--tolerance``, below float64, each tensor of the saturating probe may also differ by
    :data:`.noise.NOISE_FACTOR` x nn.LSTM's own error against a float64 run (see :mod:`.noise`).
    """
    pair, config, device, row, generator, tolerance = (
        ctx.pair, ctx.config, ctx.device, ctx.row, ctx.generator, ctx.tolerance
    )  # fmt: skip
    stress_weights(pair.reference_parameters, config.hidden_size, generator)
    loose = scaled(row, STRESS_TOLERANCE, "saturating weights and inputs make every gate sum ~30x larger")
    for probe, extremes in (("stressed", False), ("extreme values", True)):
        with _catching(log, probe):
            pair.sync()
            steps = min(config.steps, STRESS_MAX_STEPS) if tolerance else config.steps
            inputs = make_inputs(config, device, generator, steps=steps, stressed=True, extremes=extremes)
            ref = _run_reference(pair.reference, config, inputs, Call())
            cand = run(pair.candidate, config, inputs, Call(), pair.pmap)
            if tolerance and extremes:
                found = _finite_pattern(probe, cand, ref)
                exact = compare_calls(cand, ref, row, probe)
                found = [replace(d, bitwise=e.bitwise, max_abs=e.max_abs) for d, e in zip(found, exact, strict=True)]
            elif tolerance and config.dtype != "float64":
                truth = run(float64_reference(pair, config, device), config, as_float64(inputs), Call())
                errors = own_error(ref, truth)
                found = [
                    compare(n, cand.tensors.get(n), t, allowing_noise(loose, errors.get(n, 0.0)), probe)
                    for n, t in ref.tensors.items()
                ]
            else:
                found = compare_calls(cand, ref, loose, probe)
            log.differences += found
            log.outcomes[probe] = (cand, ref, replace(config, steps=steps))
            log.parameters_changed += cand.parameters_changed
    _restore(pair)


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
            fed = pack_padded_sequence(inputs.x, inputs.lengths, batch_first=config.batch_first, enforce_sorted=False)
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
    tensors |= {f"grad {n}": g for n, g in (grads if pmap is None else pmap.grads_to_reference(grads)).items()}
    optimiser.step()
    return tensors


def _state(side: Side, optimiser: torch.optim.Optimizer, pmap: ParamMap | None) -> dict[str, Tensor | None]:
    """Parameters and per-parameter optimiser state, in the reference's names and layout."""
    params = {name: p.detach() for name, p in side.parameters.items()}
    found = dict(params if pmap is None else pmap.to_reference(params))
    keys = sorted({k for p in side.parameters.values() for k, v in optimiser.state[p].items() if v.dim() > 0})
    for key in keys:
        state = {n: optimiser.state[p].get(key) for n, p in side.parameters.items()}
        mapped = state if pmap is None else pmap.to_reference(state)
        found |= {f"{key} {n}": t for n, t in mapped.items()}
    if pmap is not None and pmap.folded:  # a folded bias is not nn.LSTM's pair of biases after a step (FOLDED)
        folded = set(pmap.folded)
        found = {k: t for k, t in found.items() if k.rpartition(" ")[2] not in folded}
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
                    steps, batch = _vary(replace(config, steps=min(config.steps, TRAIN_MAX_STEPS)), rng)
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
            with _catching(log, probe):
                cand_out = run(pair.candidate, config, inputs, Call(mode="no_grad"), pair.pmap)
                ref_out = _run_reference(pair.reference, config, inputs, Call(mode="no_grad"))
                log.differences += compare_calls(cand_out, ref_out, row, probe)
    finally:
        pair.train(False)
    probe = "trained"
    steps = min(config.steps, TRAIN_MAX_STEPS) if tolerance else config.steps
    inputs = make_inputs(config, device, generator, steps=steps)
    with _catching(log, probe):
        ref_out = _run_reference(pair.reference, config, inputs, Call())
        cand_out = run(pair.candidate, config, inputs, Call(), pair.pmap)
        log.differences += compare_calls(cand_out, ref_out, row, probe)
        log.outcomes[probe] = (cand_out, ref_out, replace(config, steps=steps))


def module_protocol(ctx: Probing, log: ProbeLog, draws: bool = True) -> None:
    """What research code does to a module besides calling it: ``reset_parameters()``, frozen weights,
    ``torch.func.functional_call`` with substituted weights. The reference's weights are restored afterwards.

    ``draws``: judge ``reset_parameters()``' draws (False where the candidate declared its initialisation its own:
    it is still called, and every probe after it runs on the reset module with the reference's weights restored).
    """
    pair, config, row = ctx.pair, ctx.config, ctx.row
    if all(callable(getattr(m, "reset_parameters", None)) for m in pair.candidate.modules):
        probe = "reset_parameters()"
        with _catching(log, probe), torch.random.fork_rng(devices=[]):
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
    _restore(pair)
    probe = "frozen weights"
    inputs = make_inputs(config, ctx.device, ctx.generator)
    every = [*pair.candidate.parameters.values(), *pair.reference.parameters.values()]
    try:
        for p in every:
            p.requires_grad_(False)
        with _catching(log, probe):
            ref = _run_reference(pair.reference, config, inputs, Call())
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


def _restore(pair: Pair) -> None:
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
        fed = pack_padded_sequence(inputs.x, inputs.lengths, batch_first=config.batch_first, enforce_sorted=False)
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
    log.differences += [compare(f"grad {n}", mapped.get(n), g, row, probe) for n, g in ref_grads.items()]


def bad_input(ctx: Probing, log: ProbeLog) -> None:
    """Calls nn.LSTM refuses (a wrong feature size; an input in another dtype than the module's; an hx for one
    sequence given with a batch of several): the candidate must refuse them too, with nn.LSTM's exception type
    (for the dtype: with any exception, as plain tensor ops do), rather than return something."""
    pair, config = ctx.pair, ctx.config
    inputs = make_inputs(config, ctx.device, ctx.generator)
    given = inputs.hx
    other = torch.float32 if inputs.x.dtype == torch.float64 else torch.float64
    cases = [
        ("input with one feature too many", _widened(inputs), given),
        (f"input in {str(other).removeprefix('torch.')}, the module in {config.dtype}", inputs.x.to(other), given),
    ]
    any_error = {cases[1][0]}  # a dtype mismatch: plain tensor ops raise RuntimeError where nn.LSTM's check raises
    if given is not None and given[0].dim() == 3 and given[0].size(1) > 1 and inputs.lengths is None:
        cases.append(("hx for a batch of 1, input a batch of several", inputs.x, (given[0][:, :1], given[1][:, :1])))
    for what, x, hx in cases:
        probe = f"bad input: {what}"
        fed = (
            x
            if inputs.lengths is None
            else pack_padded_sequence(x, inputs.lengths, batch_first=config.batch_first, enforce_sorted=False)
        )
        expected = _raises(pair.reference.forward, fed, hx)
        if expected is None:
            continue
        got = _raises(pair.candidate.forward, fed, hx)
        if got is None or not (isinstance(got, type(expected)) or (what in any_error and isinstance(got, Exception))):
            said = "returned a result" if got is None else f"raised {type(got).__name__}: {got}"
            note = f"Expected {type(expected).__name__} as nn.LSTM raises ({expected}), got: {said}"
            inf = float("inf")
            log.differences.append(Difference("refuses", False, False, inf, inf, inf, note, probe))


def _widened(inputs: Inputs) -> Tensor:
    extra = torch.zeros(*inputs.x.shape[:-1], 1, dtype=inputs.x.dtype, device=inputs.x.device)
    return torch.cat([inputs.x, extra], -1)  # (..., H_in + 1)


def _raises(forward: Forward, fed: Tensor | PackedSequence, hx: Hidden | None) -> BaseException | None:
    try:
        with torch.no_grad():
            forward(fed, hx)
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - what is raised is what is compared
        return exc.__cause__ if isinstance(exc, CheckError) and exc.__cause__ is not None else exc
    return None


def non_finite(ctx: Probing, log: ProbeLog) -> None:
    """A NaN in the first sequence's first step and +inf in the last sequence's: nn.LSTM propagates them, and a
    candidate must too (a guard that turns them into numbers hides a diverging run)."""
    pair, config = ctx.pair, ctx.config
    probe = "non-finite input"
    inputs = make_inputs(config, ctx.device, ctx.generator)
    x = inputs.x.clone()
    if x.dim() == 3:
        x[0, 0, 0] = float("nan")  # first step of the first sequence, batch_first or not
        last = (-1, 0, 0) if config.batch_first else (0, -1, 0)
        if x.size(0 if config.batch_first else 1) > 1:
            x[last] = float("inf")
    else:
        x[0, 0] = float("nan")  # (L, H_in)
    inputs = replace(inputs, x=x)
    with _catching(log, probe):
        ref = _run_reference(pair.reference, config, inputs, Call())
        cand = run(pair.candidate, config, inputs, Call(), pair.pmap)
        log.differences += compare_calls(cand, ref, ctx.row, probe)
