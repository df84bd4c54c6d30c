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
configurations a candidate runs is ``runner.configurations``, not this matrix.
"""

from __future__ import annotations

import math
import random
from collections.abc import Collection, Iterable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from itertools import combinations, product
from typing import Any, TypedDict, cast

import torch

SHORT_STEPS = 7
PROJ_SIZE = 2

Value = bool | int | float | str  # a factor's value
Assignment = dict[str, Value]  # factor -> value, for some or all factors

# the factors covered three at a time: every combination of three of their values that the constraints allow
STRUCTURE: dict[str, tuple[Value, ...]] = {
    "num_layers": (1, 2, 3),  # 3: three or more (drawn 3-5; the deep real-size configuration draws 5-8)
    "bidirectional": (False, True),
    "proj": (False, True),
    "input_kind": ("batched", "unbatched", "packed", "packed_equal"),  # packed: unequal, unsorted lengths
    "hx_given": (True, False),
    "bias": (True, False),
    "batch_first": (False, True),
    "dropout": (0.0, 0.25),
    "dtype": ("float64", "float32", "bfloat16", "float16"),
}
# the factors that shape the computation: --thorough runs every combination of their values
SHAPE = ("num_layers", "bidirectional", "proj", "input_kind", "hx_given")
# the size classes, covered two at a time (with each other and with every factor above)
OTHERS: dict[str, tuple[Value, ...]] = {
    "width": ("small", "medium", "large"),
    "batch_class": ("one", "few", "many"),
    "length": ("one", "short", "long"),
}
FACTORS: dict[str, tuple[Value, ...]] = {**STRUCTURE, **OTHERS}
DEEP_LAYERS = (3, 8)  # the range "three or more" layers is drawn from in the matrix (the budget sheds some)

# class -> the inclusive range a value is drawn from (log-uniformly, a third of the time a power of two or one
# either side of it: chunking and tiling bugs live there); the budgets below then shrink what is too costly
WIDTHS = {"small": (1, 16), "medium": (17, 99), "large": (100, 384)}
BATCHES = {"one": (1, 1), "few": (2, 7), "many": (8, 100)}
LENGTHS = {"one": (1, 1), "short": (2, 40), "long": (100, 700)}
COST_BUDGET = 20_000_000  # multiply-adds of one forward pass (see Config.cost)
PARAMETER_BUDGET = 600_000  # weight elements (see Config.parameter_count)
STEP_BUDGET = 1_000  # layers x directions x steps: each cell step is a few Python-level ops, however small
BOUNDARIES = tuple(sorted({2**k + d for k in range(1, 14) for d in (-1, 0, 1)}))  # 1, 2, 3, 4, 5, 7, 8, 9, ...

# features a candidate may declare unsupported -> the factor values they rule out
FEATURES: dict[str, tuple[str, Value]] = {
    "proj_size": ("proj", True),
    "bidirectional": ("bidirectional", True),
    "packed": ("input_kind", "packed"),  # and packed_equal: see _rules_out
    "unbatched": ("input_kind", "unbatched"),
    "batch_first": ("batch_first", True),
    "no_bias": ("bias", False),
    "dropout": ("dropout", 0.25),
    "float16": ("dtype", "float16"),
    "bfloat16": ("dtype", "bfloat16"),
    "float64": ("dtype", "float64"),
    "float32": ("dtype", "float32"),
    "multi_layer": ("num_layers", 2),  # and 3, 4: see _rules_out
}
# features that are not a factor value: a probe the candidate cannot take part in ("initialisation": its own
# initial weights are not drawn as nn.LSTM draws them, so neither they nor reset_parameters()' draws are judged;
# "torch_func": its forward leaves torch, so torch.func's transforms cannot trace it; "dtype_moves": it computes in
# the dtype it was built with, whatever .double() / .float() do to its parameters afterwards)
PROBE_FEATURES = ("double_backward", "initialisation", "torch_func", "dtype_moves")
# the command line's and torch's words for two Config fields: --seq-len / seq_len, --batch-size / batch_size
ALIASES = {"seq_len": "steps", "batch_size": "batch"}


class ConfigKeysError(TypeError):
    """A configuration given as a dict with a key that is neither a :class:`Config` field nor an alias of one."""


class Placement(TypedDict, total=False):
    """Where and in which dtype a module is built: the ``device`` and ``dtype`` factory keyword arguments."""

    device: str | torch.device
    dtype: torch.dtype


class ModuleKwargs(Placement, total=False):
    """``nn.LSTM``'s constructor keyword arguments (``nn.LSTMCell``'s are a subset)."""

    input_size: int
    hidden_size: int
    num_layers: int
    bias: bool
    batch_first: bool
    dropout: float
    bidirectional: bool
    proj_size: int


class ConfigFields(TypedDict, total=False):
    """The fields of a :class:`Config`, as a researcher may give them in a dict (``check(config={...})``).

    ``seq_len`` and ``batch_size`` (the command line's ``--seq-len`` / ``--batch-size``) name ``steps`` and ``batch``.
    """

    num_layers: int
    bidirectional: bool
    proj_size: int
    bias: bool
    batch_first: bool
    input_kind: str
    hx_given: bool
    dropout: float
    dtype: str
    batch: int
    steps: int
    input_size: int
    hidden_size: int
    label: str
    seq_len: int
    batch_size: int


@dataclass(frozen=True)
class Config:
    """One set-up: the module's constructor arguments plus how the input is shaped and fed."""

    num_layers: int = 1
    bidirectional: bool = False
    proj_size: int = 0
    bias: bool = True
    batch_first: bool = False
    input_kind: str = "batched"  # "batched" | "unbatched" | "packed" (unequal, unsorted lengths) | "packed_equal"
    hx_given: bool = True
    dropout: float = 0.0  # inter-layer (nn.LSTM ignores it with one layer); on in training, same generator state
    dtype: str = "float64"
    batch: int = 3
    steps: int = SHORT_STEPS
    input_size: int = 4
    hidden_size: int = 6
    label: str = ""
    scale: bool = False  # a real-size configuration: the reduced probe set (see REDUCED_PROBES)

    @classmethod
    def from_fields(cls, given: Mapping[str, object]) -> Config:
        """A configuration from its fields in a dict; ``seq_len`` and ``batch_size`` name ``steps`` and ``batch``."""
        known = [f.name for f in fields(cls)]
        unknown = [key for key in given if key not in known and key not in ALIASES]
        if unknown:
            msg = f"Expected Config keys from {', '.join([*known, *ALIASES])}, got {', '.join(map(str, unknown))}"
            raise ConfigKeysError(msg)
        twice = [f"{alias} and {field}" for alias, field in ALIASES.items() if alias in given and field in given]
        if twice:
            msg = f"Expected each Config field once, got both {', '.join(twice)}"
            raise ConfigKeysError(msg)
        return cls(**cast("dict[str, Any]", {ALIASES.get(key, key): value for key, value in given.items()}))

    @property
    def name(self) -> str:
        parts = [self.label] if self.label else []
        parts += [self.input_kind, f"l{self.num_layers}"]
        parts += ["bi"] if self.bidirectional else []
        parts += [f"p{self.proj_size}"] if self.proj_size else []
        parts += [] if self.bias else ["nobias"]
        parts += ["bf"] if self.batch_first else []
        parts += ["hx" if self.hx_given else "nohx"]
        parts += [f"drop{self.dropout:g}"] if self.dropout else []
        short = {"float64": "f64", "float32": "f32", "bfloat16": "bf16", "float16": "f16"}[self.dtype]
        parts += [short, f"n{self.batch}", f"t{self.steps}"]
        parts += [f"i{self.input_size}h{self.hidden_size}"]
        return "-".join(parts)

    @property
    def torch_dtype(self) -> torch.dtype:
        return getattr(torch, self.dtype)

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def out_size(self) -> int:
        """The width of h_t: proj_size if projected, else hidden_size."""
        return self.proj_size or self.hidden_size

    @property
    def cost(self) -> int:
        """Multiply-adds of one forward pass, roughly: what keeps a certificate inside its time budget."""
        per_step = 4 * self.hidden_size * (self.input_size + self.out_size) * self.batch
        return self.num_layers * self.directions * self.steps * per_step

    @property
    def parameter_count(self) -> int:
        """Elements of all weights, roughly (upper layers read both directions): what training and audits cost."""
        upper = self.directions * self.out_size
        per_direction = (
            4 * self.hidden_size * (self.input_size + upper * (self.num_layers - 1) + self.num_layers * self.out_size)
        )
        return self.directions * per_direction

    def module_kwargs(self) -> ModuleKwargs:
        """``nn.LSTM``'s constructor arguments, device and dtype aside, written out here (not read from a model)."""
        return {
            "input_size": self.input_size,
            "hidden_size": self.hidden_size,
            "num_layers": self.num_layers,
            "bias": self.bias,
            "batch_first": self.batch_first,
            "dropout": self.dropout,
            "bidirectional": self.bidirectional,
            "proj_size": self.proj_size,
        }

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, **asdict(self)}


def _rules_out(feature: str, assignment: Assignment) -> bool:
    factor, value = FEATURES[feature]
    if feature == "multi_layer":
        return assignment.get("num_layers", 1) != 1
    if feature == "packed":
        return assignment.get("input_kind") in ("packed", "packed_equal")
    return factor in assignment and assignment[factor] == value


def check_features(features: Iterable[str]) -> frozenset[str]:
    """The declared unsupported features, refused with the known names if one is misspelt."""
    features = frozenset(features)
    unknown = sorted(features - set(FEATURES) - set(PROBE_FEATURES))
    if unknown:
        known = ", ".join([*FEATURES, *PROBE_FEATURES])
        msg = f"Expected unsupported features from {known}, got {', '.join(unknown)}"
        raise ValueError(msg)
    return features


def dtype_restriction(dtypes: Collection[str] | None) -> frozenset[str]:
    """``--dtype``: the other dtypes, ruled out the way unsupported features are."""
    if not dtypes:
        return frozenset()
    known = FACTORS["dtype"]
    unknown = [d for d in dtypes if d not in known]
    if unknown:
        msg = f"Expected --dtype from {', '.join(map(str, known))}, got {', '.join(unknown)}"
        raise ValueError(msg)
    return frozenset(str(d) for d in known if d not in dtypes)


def allowed(assignment: Assignment, unsupported: frozenset[str] = frozenset()) -> bool:
    """Constraints between factors (a partial assignment passes if it can still be completed)."""
    get = assignment.get
    if get("input_kind") == "unbatched" and get("batch_class", "one") != "one":
        return False  # unbatched input is one sequence
    if get("width") == "large" and (get("length") == "long" or get("batch_class") == "many"):
        return False  # cost: wide layers get short sequences and small batches
    if get("length") == "long" and get("batch_class") == "many":
        return False  # cost
    if get("dtype") in ("float16", "bfloat16") and (get("width") == "large" or get("length") == "long"):
        # half-precision matmuls are slow on the CPU (medium widths still cross every tile size), and hundreds of
        # steps of half-precision sums drift past any tolerance that still means something: up to 40 steps
        return False
    return not any(_rules_out(feature, assignment) for feature in unsupported if feature in FEATURES)


Tuple = tuple[tuple[str, Value], ...]


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


def _draw(rng: random.Random, span: tuple[int, int]) -> int:
    """A size in ``span``: a third of the time a power of two or one either side of it, else log-uniform."""
    lo, hi = span
    edges = [b for b in BOUNDARIES if lo <= b <= hi]
    if edges and rng.random() < 1 / 3:
        return rng.choice(edges)
    return min(hi, int(math.exp(rng.uniform(math.log(lo), math.log(hi + 1)))))


def _narrower(config: Config, floor: int) -> Config:
    """Hidden and input widths 7/8 as large (not below ``floor``), a projection kept smaller than the hidden size."""
    floor = max(floor, 2) if config.proj_size else floor
    hidden = max(floor, config.hidden_size * 7 // 8)
    proj = max(1, min(config.proj_size, hidden - 1)) if config.proj_size else 0
    return replace(config, hidden_size=hidden, input_size=max(floor, config.input_size * 7 // 8), proj_size=proj)


def _over_budget(config: Config) -> bool:
    cell_steps = config.num_layers * config.directions * config.steps
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
    hidden = _draw(rng, WIDTHS[str(row["width"])])
    if row["proj"]:
        hidden = max(hidden, 2)  # proj_size must be smaller than hidden_size
    input_size = _draw(rng, WIDTHS[str(row["width"])])
    while input_size == hidden and hidden > 1:
        input_size = _draw(rng, WIDTHS[str(row["width"])])
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
        batch=_draw(rng, BATCHES[str(row["batch_class"])]),
        steps=_draw(rng, LENGTHS[str(row["length"])]),
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


# real model sizes: one configuration per dimension at the top of its range (the others small), drawn each run
TOP_WIDTH = (500, 1100)  # layer input and hidden widths (GloVe 300 and BERT 768 inputs, hidden 512 / 1024 lie below)
TOP_BATCH = (128, 320)
TOP_LAYERS = (5, 8)
TOP_STEPS = (2_000, 5_000)  # float32; float64 sequences: TOP_STEPS_F64
TOP_STEPS_F64 = (1_001, 2_500)
LONG_HALF_STEPS = (65, 1_000)  # float16 / bfloat16: the matrix stops at 40 steps (its probes' tolerances)
REDUCED_PROBES = (
    "real model sizes: call 1 only (a forward without grad, then two with grad: outputs, states, every gradient, "
    "inputs unmodified, the same result twice), call 1 again on 2 threads where the products are wide or the "
    "batch large, in train mode where there is dropout, and for cells every step "
    "teacher-forced; every other probe runs in the matrix's configurations, whose sizes keep it within the time "
    "budget"
)


def _top(rng: random.Random, span: tuple[int, int]) -> int:
    """A size near the top of what a certificate can afford: boundary values (2^k and one either side) or uniform."""
    lo, hi = span
    edges = [b for b in BOUNDARIES if lo <= b <= hi]
    return rng.choice(edges) if edges and rng.random() < 1 / 3 else rng.randint(lo, hi)


def _grid_features(rng: random.Random) -> list[dict[str, Any]]:
    """Four feature sets for one real size: padded and packed input each with and without a given state (the
    code paths that chunking and tiling bugs take), the direction balanced against both, the rest drawn."""
    flip = rng.random() < 0.5
    rows = []
    for padded, hx in product((True, False), (True, False)):
        rows.append(
            {
                "input_kind": "batched" if padded else rng.choice(("packed", "packed_equal")),
                "hx_given": hx,
                "bidirectional": (padded != hx) != flip,
                "batch_first": rng.random() < 0.5,
                "bias": rng.random() < 0.75,
                "dropout": 0.25 if (padded == hx) != flip else 0.0,  # between layers: each input kind has it once
            }
        )
    return rows


def _pair_features(rng: random.Random) -> list[dict[str, Any]]:
    """Two feature sets for one costly real size: padded input with the rest drawn, then packed input with
    every binary feature the other way, so each value of each feature meets the size once."""
    first = {
        "input_kind": "batched",
        "hx_given": rng.random() < 0.5,
        "bidirectional": rng.random() < 0.5,
        "batch_first": rng.random() < 0.5,
        "bias": rng.random() < 0.5,
    }
    second = {k: not v for k, v in first.items() if k != "input_kind"}
    return [first, {**second, "input_kind": rng.choice(("packed", "packed_equal"))}]


def real_size_configs(rng: random.Random, unsupported: frozenset[str] = frozenset()) -> list[Config]:
    """Real model sizes, each at the top of its range with the other sizes small, every run.

    A wide layer input, a large batch and a deep stack (cheap) four times each: padded and packed input, with
    and without a given state (:func:`_grid_features`); a wide hidden state without and with a projection, and
    long float32 and float64 sequences (costly) as two pairs whose features are each other's opposite
    (:func:`_pair_features`). A feature the candidate lacks falls back to nn.LSTM's default; a configuration
    that cannot do without one (a projection, several layers, its dtype) is left out.
    """
    small = (2, 48)

    def dtype() -> str:
        return rng.choice(("float64", "float32"))

    drawn: list[Config] = []
    for features in _grid_features(rng):
        drawn.append(
            Config(label="real-input", input_size=_top(rng, TOP_WIDTH), hidden_size=_draw(rng, small),
                   num_layers=rng.randint(1, 2), batch=_draw(rng, (1, 6)), steps=_draw(rng, (2, 8)),
                   dtype=dtype(), scale=True, **features)
        )  # fmt: skip
    for features in _grid_features(rng):
        drawn.append(
            Config(label="real-batch", input_size=_draw(rng, small), hidden_size=_draw(rng, small),
                   num_layers=rng.randint(1, 2), batch=_top(rng, TOP_BATCH), steps=_draw(rng, (2, 12)),
                   dtype=dtype(), scale=True, **features)
        )  # fmt: skip
    for features in _grid_features(rng):
        width = _draw(rng, small)
        with_projection = rng.random() < 0.5  # a projection (smaller than the hidden state) on every layer, or none
        drawn.append(
            Config(label="real-deep", input_size=_draw(rng, small), hidden_size=width,
                   num_layers=rng.randint(*TOP_LAYERS), batch=_draw(rng, (1, 5)), steps=_draw(rng, (2, 12)),
                   proj_size=rng.randint(1, width - 1) if with_projection else 0, dtype=dtype(), scale=True, **features)
        )  # fmt: skip
    plain, projected = _pair_features(rng)
    hidden = _top(rng, TOP_WIDTH)
    drawn += [
        Config(label="real-hidden", input_size=_draw(rng, small), hidden_size=_top(rng, TOP_WIDTH),
               batch=_draw(rng, (1, 4)), steps=_draw(rng, (2, 6)), dtype=dtype(), scale=True, **plain),
        Config(label="real-proj", input_size=_draw(rng, small), hidden_size=hidden, num_layers=2,
               proj_size=_draw(rng, (1, min(hidden - 1, 600))), batch=_draw(rng, (1, 3)), steps=_draw(rng, (2, 5)),
               dtype=dtype(), scale=True, **projected),
    ]  # fmt: skip
    single, double = _pair_features(rng)
    single["bidirectional"] = double["bidirectional"] = False  # one direction: the cost is the steps
    drawn += [
        Config(label="real-long", input_size=_draw(rng, (1, 16)), hidden_size=_draw(rng, (1, 16)),
               batch=_draw(rng, (1, 3)), steps=_top(rng, TOP_STEPS), dtype="float32", scale=True, **single),
        Config(label="real-long-f64", input_size=_draw(rng, (1, 16)), hidden_size=_draw(rng, (1, 16)),
               batch=_draw(rng, (1, 3)), steps=_top(rng, TOP_STEPS_F64), dtype="float64", scale=True, **double),
    ]  # fmt: skip
    half = _pair_features(rng)[0]
    half["bidirectional"] = False
    drawn.append(
        Config(label="real-long-half", input_size=_draw(rng, (1, 16)), hidden_size=_draw(rng, (1, 16)),
               batch=_draw(rng, (1, 3)), steps=_draw(rng, LONG_HALF_STEPS), dtype=rng.choice(("bfloat16", "float16")),
               scale=True, **half)
    )  # fmt: skip
    return [c for c in (_fallback(c, unsupported) for c in drawn) if c is not None]


def _fallback(config: Config, unsupported: frozenset[str]) -> Config | None:
    """``config`` with each feature the candidate lacks set back to nn.LSTM's default (one layer for a stack, the
    other of float64 / float32 for a dtype, no projection where the size is not the projection's own); None if
    that is not enough (a projection the configuration is about, no full-precision dtype)."""
    defaults = Config()
    for name in ("bidirectional", "batch_first", "input_kind", "hx_given", "bias"):
        if not allowed(assignment_of(config), unsupported):
            config = replace(config, **{name: getattr(defaults, name)})
    if "multi_layer" in unsupported and config.label != "real-deep":
        config = replace(config, num_layers=1)
    if "proj_size" in unsupported and config.label != "real-proj":
        config = replace(config, proj_size=0)
    if config.dtype in unsupported and not config.label.startswith("real-long"):  # a long one is its dtype's
        other = {"float64": "float32", "float32": "float64"}.get(config.dtype, config.dtype)
        config = replace(config, dtype=other)
    return config if allowed(assignment_of(config), unsupported) else None


def assignment_of(config: Config) -> Assignment:
    """The factor values a configuration takes (sizes read back into their classes; a real-size configuration's
    sizes are in none: the cost constraints between classes are the matrix's, not theirs)."""

    def klass(value: int, classes: dict[str, tuple[int, int]]) -> str:
        return "" if config.scale else next((k for k, (lo, hi) in classes.items() if lo <= value <= hi), "")

    return {
        "num_layers": min(config.num_layers, int(STRUCTURE["num_layers"][-1])),
        "bidirectional": config.bidirectional,
        "proj": bool(config.proj_size),
        "input_kind": config.input_kind,
        "hx_given": config.hx_given,
        "bias": config.bias,
        "batch_first": config.batch_first,
        "dropout": config.dropout,
        "dtype": config.dtype,
        "width": klass(config.hidden_size, WIDTHS),
        "batch_class": klass(config.batch, BATCHES),
        "length": klass(config.steps, LENGTHS),
    }


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
