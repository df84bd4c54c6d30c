"""The configuration matrix: which ``nn.LSTM`` set-ups a candidate is checked in.

The default matrix is a greedy covering array: every *triple* of values of the
structural factors (layers x bidirectional x proj x input kind x hx) appears
in some configuration, and every *pair* of values of any two factors (bias,
batch_first, dropout, dtype and the size classes included). Each size class
(hidden / input width, batch, length) is then drawn at random inside its range
from the run's seed, so the sizes are not multiples of a SIMD width by design
and another ``--seed`` explores other sizes; the seed is in the report.

A few extra configurations are added: the seed question's 5 -> 256 sizes, and
``input_size == hidden_size`` (a code path some implementations special-case).
``--thorough`` covers every combination of the structural factors, not only
triples. A researcher's own set-up (``--input-size 5 --hidden-size 256 ...``)
joins the matrix as a configuration labelled ``yours``.

Features a candidate declares unsupported (``unsupported={"proj_size", ...}``)
become constraints, and the covering is rebuilt among the remaining values, so
everything else is still exercised in combination. So do the features the
harness rules out itself (those the candidate refuses when tried, a weight
layout's, a cell's projection, the dtypes ``--dtype`` leaves out): which
configurations a candidate runs is ``selection.configurations``, not this matrix.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import replace
from itertools import combinations, product

from lstm_replica.parity.configs import (
    BATCHES,
    DEEP_LAYERS,
    FACTORS,
    FEATURES,
    LENGTHS,
    PROJ_SIZE,
    SHAPE,
    STRUCTURE,
    WIDTHS,
    Assignment,
    Config,
    Tuple,
    Value,
    allowed,
    assignment_of,
    check_features,
)
from lstm_replica.parity.sizes import draw_size, real_size_configs

COST_BUDGET = 20_000_000  # multiply-adds of one forward pass (see Config.cost)


PARAMETER_BUDGET = 600_000  # weight elements (see Config.parameter_count)


STEP_BUDGET = 1_000  # layers x directions x steps: each cell step is a few Python-level ops, however small


def _tuples(assignment: Assignment) -> set[Tuple]:
    """The structural triples and the pairs an assignment covers."""
    structural = [f for f in STRUCTURE if f in assignment]
    names = [f for f in FACTORS if f in assignment]
    triples = {tuple((f, assignment[f]) for f in fs) for fs in combinations(structural, 3)}
    return triples | {tuple((f, assignment[f]) for f in fs) for fs in combinations(names, 2)}


def covered_tuples(assignments: Iterable[Assignment]) -> set[Tuple]:
    """The triples and pairs some of ``assignments`` holds."""
    return set().union(*(_tuples(a) for a in assignments))


def required_tuples(unsupported: frozenset[str] = frozenset()) -> set[Tuple]:
    """Every structural triple and every pair of factor values that the constraints allow."""
    required: set[Tuple] = set()
    for fs in combinations(STRUCTURE, 3):
        for values in product(*(STRUCTURE[f] for f in fs)):
            if allowed(dict(zip(fs, values, strict=True)), unsupported):
                required.add(tuple(zip(fs, values, strict=True)))
    for pair in combinations(FACTORS, 2):
        for values in product(*(FACTORS[f] for f in pair)):
            if allowed(dict(zip(pair, values, strict=True)), unsupported):
                required.add(tuple(zip(pair, values, strict=True)))
    return required


def covering_rows(unsupported: frozenset[str] = frozenset(), thorough: bool = False) -> list[Assignment]:
    """A greedy covering array: each row fixes one uncovered tuple, then fills the other factors best-first.

    ``thorough`` starts from every allowed combination of the :data:`SHAPE` factors instead.
    """
    uncovered = required_tuples(unsupported)
    rows: list[Assignment] = []
    seeds: list[Assignment] = []
    if thorough:
        for values in product(*(STRUCTURE[f] for f in SHAPE)):
            start = dict(zip(SHAPE, values, strict=True))
            if allowed(start, unsupported):
                seeds.append(start)
    while uncovered or seeds:
        start = seeds.pop(0) if seeds else dict(min(uncovered, key=repr))
        row = _complete(start, uncovered, unsupported)
        if row is None:  # the constraints allow the tuple but no full configuration holds it (e.g. --dtype)
            uncovered -= _tuples(start)
            continue
        uncovered -= _tuples(row)
        rows.append(row)
    return rows


def _complete(start: Assignment, uncovered: set[Tuple], unsupported: frozenset[str]) -> Assignment | None:
    """Fill the other factors of ``start`` best-first (most uncovered tuples); None if some factor has no value."""
    row = dict(start)
    for factor, values in FACTORS.items():
        if factor in row:
            continue
        options = [v for v in values if allowed({**row, factor: v}, unsupported)]
        if not options:
            return None

        def newly_covered(v: Value, f: str = factor) -> int:
            return len(_tuples({**row, f: v}) & uncovered)

        row[factor] = max(options, key=newly_covered)
    return row


def _narrower(config: Config, floor: int) -> Config:
    """Hidden and input widths 7/8 as large (not below ``floor``), a projection kept smaller than the hidden size."""
    floor = max(floor, 2) if config.proj_size else floor
    hidden = max(floor, config.hidden_size * 7 // 8)
    proj = max(1, min(config.proj_size, hidden - 1)) if config.proj_size else 0
    return replace(config, hidden_size=hidden, input_size=max(floor, config.input_size * 7 // 8), proj_size=proj)


def _over_budget(config: Config) -> bool:
    cell_steps = config.num_layers * config.num_directions * config.steps
    return config.cost > COST_BUDGET or config.parameter_count > PARAMETER_BUDGET or cell_steps > STEP_BUDGET


def _within_budget(config: Config, row: Assignment) -> Config:
    """Shrink a drawn configuration toward its classes' lower bounds until it fits the budgets above."""
    steps_floor, batch_floor = LENGTHS[str(row["length"])][0], BATCHES[str(row["batch_class"])][0]
    width_floor = WIDTHS[str(row["width"])][0]
    while _over_budget(config):
        narrower = _narrower(config, width_floor)
        if config.parameter_count > PARAMETER_BUDGET and narrower != config:
            config = narrower
        elif config.num_layers > DEEP_LAYERS[0]:
            config = replace(config, num_layers=config.num_layers - 1)
        elif config.steps > steps_floor:
            config = replace(config, steps=max(steps_floor, config.steps * 3 // 4))
        elif config.batch > batch_floor:
            config = replace(config, batch=max(batch_floor, config.batch - 1))
        elif narrower != config:
            config = narrower
        else:
            break  # every size at its class's floor
    return config


def _from_row(row: Assignment, rng: random.Random) -> Config:
    hidden = draw_size(rng, WIDTHS[str(row["width"])])
    if row["proj"]:
        hidden = max(hidden, 2)  # proj_size must be smaller than hidden_size
    input_size = draw_size(rng, WIDTHS[str(row["width"])])
    while input_size == hidden and hidden > 1:
        input_size = draw_size(rng, WIDTHS[str(row["width"])])
    layers = int(row["num_layers"])
    drawn = Config(
        num_layers=rng.randint(*DEEP_LAYERS) if layers == STRUCTURE["num_layers"][-1] else layers,
        bidirectional=bool(row["bidirectional"]),
        proj_size=rng.randint(1, hidden - 1) if row["proj"] else 0,
        bias=bool(row["bias"]),
        batch_first=bool(row["batch_first"]),
        input_kind=str(row["input_kind"]),
        hx_given=bool(row["hx_given"]),
        dropout=float(row["dropout"]),
        dtype=str(row["dtype"]),
        batch=draw_size(rng, BATCHES[str(row["batch_class"])]),
        steps=draw_size(rng, LENGTHS[str(row["length"])]),
        input_size=input_size,
        hidden_size=hidden,
    )
    return _within_budget(drawn, row)


def extra_configs(unsupported: frozenset[str] = frozenset()) -> list[Config]:
    """The seed question's sizes (5 -> 256), input_size == hidden_size (which the draws avoid), a batch of 64
    (the draws' budget keeps most batches smaller) and a 512-step packed bidirectional sequence."""
    extras = [
        Config(label="seed", input_size=5, hidden_size=256, dtype="float32", batch=4, steps=16),
        Config(label="square", num_layers=2, dtype="float32", batch=9, steps=12, input_size=33, hidden_size=33),
        Config(label="batch64", dtype="float32", batch=64, steps=9, input_size=7, hidden_size=13),
        Config(
            label="long",
            input_kind="packed",
            bidirectional=True,
            batch_first=True,
            hx_given=False,
            dtype="float32",
            batch=3,
            steps=512,
            input_size=3,
            hidden_size=5,
        ),
    ]
    return [c for c in extras if allowed(assignment_of(c), unsupported)]


def default_matrix(
    seed: int = 0, unsupported: Iterable[str] = (), thorough: bool = False, yours: Config | None = None
) -> list[Config]:
    """The covering rows with sizes drawn from ``seed``, the extras, and the researcher's own set-up."""
    features = check_features(unsupported)
    rng = random.Random(f"lstm-replica matrix {seed}")
    configs = [_from_row(row, rng) for row in covering_rows(features, thorough)] + extra_configs(features)
    configs += real_size_configs(rng, features)
    if yours is not None:
        configs.append(replace(yours, label="yours"))
    unique: dict[str, Config] = {}
    for config in configs:
        unique.setdefault(config.name, config)
    return list(unique.values())


def quick_matrix() -> list[Config]:
    """A small screen that touches every feature once: for iteration, not a certificate."""
    return [
        Config(label="quick"),
        Config(
            label="quick",
            num_layers=2,
            bidirectional=True,
            proj_size=PROJ_SIZE,
            input_kind="packed",
            dropout=0.25,
            dtype="float32",
        ),
        Config(label="quick", num_layers=2, bias=False, batch_first=True, hx_given=False, dtype="float32"),
        Config(label="quick", input_kind="unbatched", bidirectional=True, batch=1, input_size=5, hidden_size=5),
        Config(label="quick", dtype="float32", batch=2, steps=200, input_size=3, hidden_size=4),
    ]


def select(
    names: list[str] | None,
    quick: bool,
    seed: int = 0,
    unsupported: Iterable[str] = (),
    thorough: bool = False,
    yours: Config | None = None,
    only_yours: bool = False,
) -> list[Config]:
    """The configurations to run: the named ones (from either matrix), else the quick or default matrix.

    ``unsupported``: every feature ruled out (declared, refused, a layout's, a cell's projection, other dtypes, a
    backend's); both matrices are chosen without them, and a name only the unrestricted matrices hold is refused
    as not applicable, with the features that rule it out.
    """
    if only_yours:
        if yours is None:
            msg = "Expected your configuration (--input-size, --hidden-size, ...) with --only-yours, got none"
            raise ValueError(msg)
        return [replace(yours, label="yours")]
    features = check_features(unsupported)
    own = [replace(yours, label="yours")] if yours is not None else []
    matrix = default_matrix(seed, features, thorough, yours)
    screen = [c for c in quick_matrix() if allowed(assignment_of(c), features)] + own
    if not names:
        return screen if quick else matrix
    known = {c.name: c for c in matrix + screen}
    unrestricted = {c.name for c in default_matrix(seed, (), thorough, yours) + quick_matrix()}
    missing = [n for n in names if n not in known and n not in unrestricted]
    inapplicable = [n for n in names if n not in known and n in unrestricted]
    got = [f"unknown {', '.join(missing)}"] if missing else []
    if inapplicable:
        without = ", ".join(sorted(f for f in features if f in FEATURES))
        got.append(f"not applicable {', '.join(inapplicable)} (this candidate's matrix is chosen without {without})")
    if got:
        msg = f"Expected configuration names from --list-configs (for this --seed), got {'; '.join(got)}"
        if inapplicable:
            msg += "; --list-configs with the same target and options, or configurations() in Python, lists them"
        raise ValueError(msg)
    return [known[n] for n in names]
