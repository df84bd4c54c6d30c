"""A cell candidate's single steps: every step replayed teacher-forced, and the cell called without a state.

Run on call 1's inputs and weights, right after call 1. Teacher forcing feeds the candidate's cell the
reference's previous state at every step, so a single-step error is told apart from an error accumulated
over the sequence (the report's cell-error line, per-step series for ``--plot``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from lstm_replica.cell import Hidden
from lstm_replica.parity.build import (
    Pair,
    Side,
    WrongResult,
)
from lstm_replica.parity.candidates import (
    CheckError,
)
from lstm_replica.parity.compare import Difference, Tolerance, compare, per_step
from lstm_replica.parity.configs import Config
from lstm_replica.parity.inputs import Inputs
from lstm_replica.parity.locate import time_major
from lstm_replica.parity.probes.context import raised

CellStep = Callable[[Tensor, Hidden], Hidden]  # a cell called as cell(x_t, (h, c)) -> (h, c)


@dataclass
class SingleSteps:
    """A cell's single-step comparisons (a module candidate's: none), made on the weights of call 1.

    ``candidate`` / ``reference``: the teacher-forced states by name, for locating a difference.
    """

    differences: list[Difference] = field(default_factory=list)
    steps: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # series -> max_abs / max_ulps per step
    cell_errors: dict[str, float] = field(default_factory=dict)
    candidate: dict[str, Tensor] = field(default_factory=dict)
    reference: dict[str, Tensor] = field(default_factory=dict)


def single_steps(pair: Pair, config: Config, inputs: Inputs, row: Tolerance) -> SingleSteps:
    """The teacher-forced replay and the stateless calls of a cell, on call 1's inputs and weights.

    Run right after call 1, before any probe moves the weights (bitwise, the training steps run free, and
    move a folded bias twice as far as nn.LSTMCell's pair): the single steps compare the very weights the
    whole sequences were compared with, under either standard and whatever the layout or adapter.
    """
    single = SingleSteps()
    _teacher_forced(pair.candidate, pair.reference, config, inputs, row, single)
    single.differences += _cell_without_state(pair, config, inputs, row)
    return single


def _cell_without_state(pair: Pair, config: Config, inputs: Inputs, row: Tolerance) -> list[Difference]:
    """The cell called as ``cell(x)``, hx=None, batched and 1-D, against nn.LSTMCell called the same way.

    ``x``: call 1's first time step, ``(N, H_in)``.
    """
    reference_cell, candidate_cell = pair.reference.raw_cell, pair.candidate.raw_cell
    if reference_cell is None or candidate_cell is None:  # module candidates: no cell to call
        return []
    x = time_major(inputs.x, config, None)[0]  # (N, H_in)
    found = []
    for probe, given in (("cell(x), hx=None", x), ("cell(x) 1-D, hx=None", x[0])):
        with torch.no_grad():
            expected = reference_cell(given)
        try:
            with torch.no_grad():
                got = candidate_cell(given)
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - the candidate may raise anything: a difference
            found.append(raised(probe, CheckError(f"{type(exc).__name__}: {exc}")))
            continue
        if not (isinstance(got, (tuple, list)) and len(got) == 2):
            got = (None, None)
        found += [
            compare(name, mine, theirs, row, probe) for name, mine, theirs in zip("hc", got, expected, strict=True)
        ]
    return found


def _replay(
    step: Callable[[CellStep, Tensor, Hidden], Hidden],
    cand_cell: CellStep,
    ref_cell: CellStep,
    x: Tensor,
    start: Hidden,
) -> tuple[list[Hidden], list[Hidden], list[Hidden]]:
    """Reference states, free-running candidate states and teacher-forced candidate states, per step."""
    ref_states: list[Hidden] = []
    free: list[Hidden] = []
    forced: list[Hidden] = []
    ref_state, cand_state = start, start
    with torch.no_grad():
        for x_t in x.unbind(0):
            forced.append(step(cand_cell, x_t, ref_state))
            ref_state = step(ref_cell, x_t, ref_state)
            cand_state = step(cand_cell, x_t, cand_state)
            ref_states.append(ref_state)
            free.append(cand_state)
    return ref_states, free, forced


def _teacher_forced(cand: Side, ref: Side, config: Config, inputs: Inputs, row: Tolerance, single: SingleSteps) -> None:
    """Layer 0's forward cell over the whole padded input, free-running and teacher-forced.

    Adds to ``single`` the teacher-forced comparisons, the per-step series, the cell errors and the
    teacher-forced tensors of candidate and reference by name.
    """
    if cand.cell is None or ref.cell is None:  # module candidates: no cell to replay
        return
    x = time_major(inputs.x, config, None)  # (L, N, H_in)
    n, h = x.size(1), config.hidden_size
    given = inputs.hx
    if given is None:
        start = (x.new_zeros(n, h), x.new_zeros(n, h))
    else:
        start = (given[0][0].reshape(n, h), given[1][0].reshape(n, h))  # layer 0 forward: (N, H)
    unbatched = config.input_kind == "unbatched"

    def step(cell: CellStep, x_t: Tensor, state: Hidden) -> Hidden:
        if not unbatched:
            return cell(x_t, state)
        h_t, c_t = cell(x_t[0], (state[0][0], state[1][0]))  # 1-D, as the layer machinery never feeds it
        return h_t.unsqueeze(0), c_t.unsqueeze(0)  # (1, H) each

    try:
        ref_states, free, forced = _replay(step, cand.cell, ref.cell, x, start)
    except WrongResult as exc:  # the candidate's cell is checked: a state shaped or typed unlike the one it was given
        note = f"{exc} for {'1-D' if unbatched else '2-D'} input"
        single.differences.append(Difference.apart("step h (teacher-forced)", note))
        return

    series = single.steps
    for index, label in enumerate("hc"):
        reference = torch.stack([s[index] for s in ref_states])  # (L, N, H)
        teacher = torch.stack([s[index] for s in forced])  # (L, N, H)
        accumulated = torch.stack([s[index] for s in free])  # (L, N, H)
        name = f"step {label} (teacher-forced)"
        single.differences.append(compare(name, teacher, reference, row))
        single.candidate[name], single.reference[name] = teacher, reference
        for kind, candidate in (("teacher-forced", teacher), ("accumulated", accumulated)):
            abs_steps, ulp_steps = per_step(candidate, reference)
            series[f"{label} {kind}"] = {"max_abs": abs_steps, "max_ulps": ulp_steps}
    for kind, key in (("teacher-forced", "single_step"), ("accumulated", "accumulated")):
        single.cell_errors[f"{key}_max_abs"] = max(max(series[f"{s} {kind}"]["max_abs"]) for s in "hc")
        single.cell_errors[f"{key}_max_ulps"] = max(max(series[f"{s} {kind}"]["max_ulps"]) for s in "hc")
