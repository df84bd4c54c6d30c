"""The configuration matrix: its constraints, budgets, size classes, covering property and documented sizes.

Every matrix here is built inside the test (never at import), and every expected value is written out by hand:
the counts of required tuples from the factor sizes, the budget shrinking step by step, the draws from a scripted
random source. Only the greedy covering's row counts (54 rows for the default matrix, 98 with --thorough) are not
derived by hand: they are pinned as the greedy's result, with the matrix sizes docs/checking.md documents: 75
configurations (the 54 rows, 4 extras, 17 real-size ones) for seed 0, 119 with --thorough and 5 for --quick.
"""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from torch import nn

from lstm_replica.parity.configs import (
    FACTORS,
    SHAPE,
    STRUCTURE,
    Config,
    allowed,
    assignment_of,
    check_features,
    dtype_restriction,
)
from lstm_replica.parity.matrix import (
    _from_row,
    _narrower,
    _tuples,
    _within_budget,
    covered_tuples,
    covering_rows,
    default_matrix,
    extra_configs,
    quick_matrix,
    required_tuples,
    select,
)
from lstm_replica.parity.sizes import draw_size

ALL_FEATURES = (
    "proj_size, bidirectional, packed, unbatched, batch_first, no_bias, dropout, float16, bfloat16, float64, "
    "float32, multi_layer, double_backward, initialisation, torch_func, dtype_moves"
)


def test_a_config_writes_its_name_and_dict_from_its_fields():
    config = Config(
        num_layers=3, bidirectional=True, proj_size=2, bias=False, batch_first=True, input_kind="packed",
        hx_given=False, dropout=0.25, dtype="bfloat16", batch=5, steps=11, input_size=9, hidden_size=10, label="mine",
    )  # fmt: skip
    name = "mine-packed-l3-bi-p2-nobias-bf-nohx-drop0.25-bf16-n5-t11-i9h10"
    assert config.to_dict() == {
        "name": name, "num_layers": 3, "bidirectional": True, "proj_size": 2, "bias": False, "batch_first": True,
        "input_kind": "packed", "hx_given": False, "dropout": 0.25, "dtype": "bfloat16", "batch": 5, "steps": 11,
        "input_size": 9, "hidden_size": 10, "label": "mine", "scale": False,
    }, config.to_dict()  # fmt: skip
    assert config.module_kwargs() == {
        "input_size": 9, "hidden_size": 10, "num_layers": 3, "bias": False, "batch_first": True, "dropout": 0.25,
        "bidirectional": True, "proj_size": 2,
    }, config.module_kwargs()  # fmt: skip
    module = nn.LSTM(**config.module_kwargs())
    assert (module.hidden_size, module.proj_size, module.num_layers) == (10, 2, 3)


@pytest.mark.parametrize(
    ("assignment", "expected"),
    [
        ({}, True),
        ({"input_kind": "unbatched"}, True),  # a partial assignment: the batch class can still be "one"
        ({"input_kind": "unbatched", "batch_class": "one"}, True),
        ({"input_kind": "unbatched", "batch_class": "few"}, False),
        ({"input_kind": "unbatched", "batch_class": "many"}, False),
        ({"input_kind": "packed", "batch_class": "many"}, True),
        ({"width": "large", "length": "long"}, False),
        ({"width": "large", "batch_class": "many"}, False),
        ({"width": "large", "length": "short", "batch_class": "few"}, True),
        ({"width": "medium", "length": "long", "batch_class": "few"}, True),
        ({"length": "long", "batch_class": "many"}, False),
        ({"length": "short", "batch_class": "many"}, True),
        ({"dtype": "float16", "width": "large"}, False),
        ({"dtype": "bfloat16", "width": "large"}, False),
        ({"dtype": "float16", "length": "long"}, False),
        ({"dtype": "bfloat16", "length": "long"}, False),
        ({"dtype": "float16", "width": "medium", "length": "short"}, True),
        ({"dtype": "float32", "width": "large", "length": "short"}, True),
        ({"dtype": "float64", "width": "small", "length": "long"}, True),
    ],
)
def test_the_cost_and_shape_constraints_between_factors(assignment, expected):
    assert allowed(assignment) is expected, f"allowed({assignment}) should be {expected}"


@pytest.mark.parametrize(
    ("assignment", "unsupported", "expected"),
    [
        ({"proj": True}, {"proj_size"}, False),
        ({"proj": False}, {"proj_size"}, True),
        ({"bidirectional": True}, {"proj_size"}, True),  # the factor is not in the assignment: still completable
        ({"input_kind": "packed"}, {"packed"}, False),
        ({"input_kind": "packed_equal"}, {"packed"}, False),  # "packed" rules out both packed kinds
        ({"input_kind": "unbatched"}, {"packed"}, True),
        ({"input_kind": "batched"}, {"packed"}, True),
        ({"dtype": "float64"}, {"float64", "float16"}, False),
        ({"dtype": "float32"}, {"float64", "float16"}, True),
        ({"num_layers": 2}, {"multi_layer"}, False),
        ({"num_layers": 3}, {"multi_layer"}, False),  # three or more
        ({"num_layers": 1}, {"multi_layer"}, True),
        ({"bias": False}, {"multi_layer"}, True),  # no num_layers yet: it can still be 1
        ({"bias": False}, {"no_bias"}, False),
        ({"dropout": 0.25}, {"dropout"}, False),
        ({"dropout": 0.0}, {"dropout"}, True),
        ({"num_layers": 3, "proj": True}, {"double_backward"}, True),  # a probe, not a factor value
    ],
)
def test_declared_unsupported_features_rule_out_their_values(assignment, unsupported, expected):
    assert allowed(assignment, frozenset(unsupported)) is expected, f"allowed({assignment}, {unsupported})"


def test_unknown_features_are_refused_with_the_known_ones_listed():
    assert check_features(["packed", "double_backward"]) == frozenset({"packed", "double_backward"})
    assert check_features([]) == frozenset()
    message = f"Expected unsupported features from {ALL_FEATURES}, got projection, zz_top"
    with pytest.raises(ValueError, match=f"^{message}$"):
        check_features(["zz_top", "packed", "projection"])


def test_a_dtype_restriction_rules_out_the_other_dtypes():
    assert dtype_restriction(None) == frozenset()
    assert dtype_restriction([]) == frozenset()
    assert dtype_restriction(["float32"]) == frozenset({"float64", "bfloat16", "float16"})
    assert dtype_restriction(["float16", "bfloat16"]) == frozenset({"float64", "float32"})
    with pytest.raises(
        ValueError, match=r"^Expected --dtype from float64, float32, bfloat16, float16, got int8, half$"
    ):
        dtype_restriction(["float32", "int8", "half"])


def test_an_assignment_covers_its_structural_triples_and_all_its_pairs():
    # bias is a structural factor (in a triple), width a size class (in pairs only): 1 triple and 4 * 3 / 2 pairs
    assignment = {"num_layers": 2, "bidirectional": True, "bias": False, "width": "large"}
    assert _tuples(assignment) == {
        (("num_layers", 2), ("bidirectional", True), ("bias", False)),
        (("num_layers", 2), ("bidirectional", True)),
        (("num_layers", 2), ("bias", False)),
        (("num_layers", 2), ("width", "large")),
        (("bidirectional", True), ("bias", False)),
        (("bidirectional", True), ("width", "large")),
        (("bias", False), ("width", "large")),
    }, sorted(_tuples(assignment), key=repr)
    # four structural factors: C(4, 3) = 4 triples and C(4, 2) = 6 pairs
    four = {"proj": True, "hx_given": False, "dropout": 0.25, "dtype": "float16"}
    assert len(_tuples(four)) == 4 + 6, sorted(_tuples(four), key=repr)
    assert covered_tuples([assignment, four]) == _tuples(assignment) | _tuples(four)
    assert covered_tuples([]) == set()


def test_the_required_tuples_are_every_allowed_structural_triple_and_pair():
    # the nine structural factors have 3 (layers), 4 (input kind), 4 (dtype) and six times 2 values; no constraint
    # holds between structural factors alone, so every triple of values is required. Triples of factors:
    #   three of the six 2s: C(6, 3) = 20 x 8 = 160      two 2s and a 4: 15 x 2 = 30 x 16 = 480
    #   two 2s and the 3: 15 x 12 = 180                  one 2 and both 4s: 6 x 32 = 192
    #   one 2, a 4 and the 3: 6 x 2 = 12 x 24 = 288      both 4s and the 3: 48
    # 160 + 480 + 180 + 192 + 288 + 48 = 1,348 triples.
    # All twelve factors: 23 + 9 = 32 values, sum of squares 65 + 27 = 92, so (32**2 - 92) / 2 = 466 pairs, of
    # which 9 break a constraint: unbatched x (few, many), large x long, large x many, long x many,
    # (float16, bfloat16) x (large, long)
    required = required_tuples()
    assert len([t for t in required if len(t) == 3]) == 1_348
    assert len([t for t in required if len(t) == 2]) == 457
    assert len(required) == 1_348 + 457
    # no projection: proj=True with two of the other eight factors (3, 2, 4, 2, 2, 2, 2, 4 values: 21 values,
    # squares 61, (21**2 - 61) / 2 = 190 pairs of values) is 190 triples; proj=True with one value of the other
    # eleven factors is 32 - 2 = 30 pairs
    assert len(required_tuples(frozenset({"proj_size"}))) == 1_348 - 190 + 457 - 30
    # one layer only: 2 or 3 layers with two of the other eight factors (2, 2, 4, 2, 2, 2, 2, 4: 20 values,
    # squares 56, (400 - 56) / 2 = 172) is 2 x 172 = 344 triples; 2 x (32 - 3) = 58 pairs
    assert len(required_tuples(frozenset({"multi_layer"}))) == 1_348 - 344 + 457 - 58
    # no packed input, of either kind: 2 kinds x (3, 2, 2, 2, 2, 2, 2, 4: 19 values, squares 49, (361 - 49) / 2
    # = 156) = 312 triples; 2 x (32 - 4) = 56 pairs
    assert len(required_tuples(frozenset({"packed"}))) == 1_348 - 312 + 457 - 56
    assert (("num_layers", 3), ("input_kind", "packed_equal"), ("dtype", "float16")) in required
    assert (("bias", False), ("dropout", 0.25), ("dtype", "bfloat16")) in required
    assert (("input_kind", "unbatched"), ("batch_class", "few")) not in required
    assert all(len(t) == 2 or {f for f, _ in t} <= set(STRUCTURE) for t in required), "triples are structural"


def assert_covers(rows: list[dict[str, object]], unsupported: frozenset[str] = frozenset()) -> None:
    for row in rows:
        assert list(row) == list(FACTORS) or set(row) == set(FACTORS), f"a row sets every factor: {row}"
        assert allowed(row, unsupported), f"a row breaks a constraint: {row}"
    missing = required_tuples(unsupported) - covered_tuples(rows)
    assert not missing, f"not covered: {sorted(missing, key=repr)[:5]}"


def test_the_covering_rows_cover_every_required_tuple_within_the_constraints():
    rows = covering_rows()
    # the greedy's result, not derived by hand (a lower bound: 4 x 4 x 3 = 48 rows for the triples of input kind,
    # dtype and layers alone); docs/checking.md: 75 configurations for seed 0, 54 rows + 4 extras + 17 real-size ones
    assert len(rows) == 54, len(rows)
    assert_covers(rows)
    restricted = frozenset({"proj_size", "float16"})
    assert_covers(covering_rows(restricted), restricted)


def test_thorough_rows_hold_every_allowed_structural_combination():
    unsupported = frozenset({"bidirectional"})
    rows = covering_rows(unsupported, thorough=True)
    assert_covers(rows, unsupported)
    assert SHAPE == ("num_layers", "bidirectional", "proj", "input_kind", "hx_given")
    # layers 3 x one direction x proj 2 x input kinds 4 x hx 2
    structures = {tuple(row[f] for f in SHAPE) for row in rows}
    assert len(structures) == 3 * 1 * 2 * 4 * 2, f"{len(structures)} structural combinations"
    # unrestricted: 3 x 2 x 2 x 4 x 2 = 96 combinations, then the greedy covers what they leave (its result: 98)
    assert len(covering_rows(thorough=True)) == 98


def test_tuples_that_no_full_configuration_holds_are_dropped_not_looped_on():
    # half precision only: no row can be large or long, though pairs such as (large, bias) are allowed alone
    unsupported = frozenset({"float64", "float32"})
    rows = covering_rows(unsupported)
    assert rows, "the matrix must not be empty"
    assert not any(row["width"] == "large" or row["length"] == "long" for row in rows), rows
    impossible = {("width", "large"), ("length", "long")}
    needed = {t for t in required_tuples(unsupported) if not impossible & set(t)}
    covered = set().union(*(_tuples(row) for row in rows))
    assert not needed - covered, sorted(needed - covered, key=repr)[:5]


def test_the_documented_matrix_sizes():
    # the greedy's 54 rows (98 with --thorough, each a distinct name), the 4 extras and the 16 real-size ones
    # (real-input, real-batch and real-deep four times each; real-hidden, real-proj, real-long, real-long-f64)
    assert len(default_matrix(0)) == 54 + 4 + 17, "docs/checking.md: the default matrix has 75 for seed 0"
    assert len(default_matrix(0, thorough=True)) == 98 + 4 + 17, "docs/checking.md: --thorough runs 119 configurations"
    assert [c.name for c in quick_matrix()] == [
        "quick-batched-l1-hx-f64-n3-t7-i4h6",
        "quick-packed-l2-bi-p2-hx-drop0.25-f32-n3-t7-i4h6",
        "quick-batched-l2-nobias-bf-nohx-f32-n3-t7-i4h6",
        "quick-unbatched-l1-bi-hx-f64-n1-t7-i5h5",
        "quick-batched-l1-hx-f32-n2-t200-i3h4",
    ], "docs/checking.md: --quick runs these 5 small configurations (their names select them with --configs)"


@pytest.mark.parametrize(
    ("config", "floor", "hidden", "input_size", "proj"),
    [
        (Config(hidden_size=80, input_size=40), 13, 70, 35, 0),
        (Config(hidden_size=14, input_size=13), 13, 13, 13, 0),  # 14 * 7 // 8 = 12 is below the floor
        (Config(hidden_size=8, input_size=3, proj_size=7), 1, 7, 2, 6),  # the projection stays below the hidden size
        (Config(hidden_size=2, input_size=1, proj_size=1), 1, 2, 2, 1),  # with a projection the floor is 2
        (Config(hidden_size=16, input_size=9, proj_size=3), 1, 14, 7, 3),
    ],
)
def test_narrowing_takes_seven_eighths_down_to_the_floor(config, floor, hidden, input_size, proj):
    got = _narrower(config, floor)
    assert (got.hidden_size, got.input_size, got.proj_size) == (hidden, input_size, proj), got


ROW = {"width": "large", "batch_class": "one", "length": "short"}


@pytest.mark.parametrize(
    ("config", "row", "expected"),
    [
        # 4 * 300 * 600 = 720,000 weights: over the 600,000 budget; one narrowing (262) fits
        (Config(hidden_size=300, input_size=300, batch=2, steps=5), ROW, {"hidden_size": 262, "input_size": 262}),
        # 80,000 multiply-adds a step and sequence, 8 x 41 of them: 26.2M > 20M; 41 * 3 // 4 = 30 steps fit
        (
            Config(hidden_size=100, input_size=100, batch=8, steps=41),
            {"width": "large", "batch_class": "many", "length": "short"},
            {"steps": 30},
        ),
        # steps at their floor (1): the batch shrinks by one until 320,000 x batch fits (62)
        (
            Config(hidden_size=200, input_size=200, batch=63, steps=1),
            {"width": "large", "batch_class": "many", "length": "one"},
            {"batch": 62},
        ),
        # 4 * 120 * 240 = 115,200 multiply-adds a step: 300 steps are 34.6M; 3/4 of them (225) 25.9M, 168 19.4M
        (
            Config(hidden_size=120, input_size=120, batch=1, steps=300),
            {"width": "large", "batch_class": "one", "length": "long"},
            {"steps": 168},
        ),
        # 2 * 4 * 120 * (120 + 2 * 240 + 3 * 120) = 921,600 weights: narrower (105, 705,600 weights), then the large
        # floor (100: 640,000, still over); three layers are kept, steps (100) and batch (1) are at their floors:
        # it stops there, still 48M multiply-adds
        (
            Config(num_layers=3, bidirectional=True, hidden_size=120, input_size=120, batch=1, steps=100),
            {"width": "large", "batch_class": "one", "length": "long"},
            {"hidden_size": 100, "input_size": 100},
        ),
        # 4 x 2 x 520 = 4,160 cell steps > 1,000: the fourth layer goes first (3,120), then the steps by 3/4:
        # 390 (2,340), 292 (1,752), 219 (1,314), 164 (984)
        (
            Config(num_layers=4, bidirectional=True, hidden_size=5, input_size=3, batch=1, steps=520),
            {"width": "small", "batch_class": "one", "length": "long"},
            {"num_layers": 3, "steps": 164},
        ),
        # 5 x 2 x 101 = 1,010 cell steps: one layer less (808) fits, the steps are kept
        (
            Config(num_layers=5, bidirectional=True, hidden_size=5, input_size=3, batch=1, steps=101),
            {"width": "small", "batch_class": "one", "length": "long"},
            {"num_layers": 4},
        ),
        # exactly 5 x 2 x 100 = 1,000 cell steps: five layers are kept
        (
            Config(num_layers=5, bidirectional=True, hidden_size=5, input_size=3, batch=1, steps=100),
            {"width": "small", "batch_class": "one", "length": "long"},
            {},
        ),
        # exactly at every budget: 2 x 250 x 2 = 1,000 cell steps; left alone
        (
            Config(num_layers=2, bidirectional=True, hidden_size=3, input_size=2, batch=1, steps=250),
            {"width": "small", "batch_class": "one", "length": "short"},
            {},
        ),
        # exactly 20,000,000 multiply-adds: 4 * 10 * 25 per step and sequence, 20 x 1,000
        (
            Config(hidden_size=10, input_size=15, batch=20, steps=1000),
            {"width": "small", "batch_class": "few", "length": "short"},
            {},
        ),
        # exactly 600,000 weights: 4 * 100 * (1,400 + 100)
        (Config(hidden_size=100, input_size=1400, batch=1, steps=1), {**ROW, "length": "one"}, {}),
        # exactly 600,000 weights (not over) but 24M multiply-adds: the steps shrink, not the widths
        (Config(hidden_size=100, input_size=1400, batch=1, steps=40), ROW, {"steps": 30}),
    ],
)
def test_a_drawn_configuration_shrinks_into_its_budgets_in_order(config, row, expected):
    assert _within_budget(config, row) == replace(config, **expected)


class ScriptedDraws:
    """A random source that answers from a script and records each question it was asked.

    ``draw_size`` asks ``random()`` (below 1/3: a boundary value follows, by ``choice``), then ``choice(edges)`` or
    ``uniform(log lo, log(hi + 1))`` (a log-uniform size, ``int(e**u)``); the layer count and the projection are
    ``randint``.
    """

    def __init__(self, answers: list[float]) -> None:
        self.answers = list(answers)
        self.asked: list[tuple[object, ...]] = []

    def random(self) -> float:
        self.asked.append(("random",))
        return self.answers.pop(0)

    def choice(self, among: list[int]) -> int:
        self.asked.append(("choice", tuple(among)))
        value = int(self.answers.pop(0))
        assert value in among, f"scripted {value} not among {among}"
        return value

    def uniform(self, low: float, high: float) -> float:
        self.asked.append(("uniform", low, high))
        value = self.answers.pop(0)
        assert low <= value <= high, f"scripted {value} outside [{low}, {high}]"
        return value

    def randint(self, low: int, high: int) -> int:
        self.asked.append(("randint", low, high))
        value = int(self.answers.pop(0))
        assert low <= value <= high, f"scripted {value} outside [{low}, {high}]"
        return value


def drawn(size: int) -> list[float]:
    """The script of a log-uniform draw of ``size``: not a boundary draw (0.5), then e**u = size + 0.5."""
    return [0.5, math.log(size + 0.5)]


def edge(size: int) -> list[float]:
    """The script of a boundary draw of ``size``: random() below 1/3, then the choice."""
    return [0.0, size]


def asks_log(low: int, high: int) -> list[tuple[object, ...]]:
    return [("random",), ("uniform", math.log(low), math.log(high + 1))]


def asks_edge(edges: tuple[int, ...]) -> list[tuple[object, ...]]:
    return [("random",), ("choice", edges)]


# the boundary values (2**k and one either side) inside each class's range
SMALL_EDGES = (1, 2, 3, 4, 5, 7, 8, 9, 15, 16)  # widths 1-16
MEDIUM_EDGES = (17, 31, 32, 33, 63, 64, 65)  # widths 17-99
LARGE_EDGES = (127, 128, 129, 255, 256, 257)  # widths 100-384
SHORT_EDGES = (2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33)  # steps 2-40
LONG_EDGES = (127, 128, 129, 255, 256, 257, 511, 512, 513)  # steps 100-700


def row_of(**factors: object) -> dict[str, object]:
    base = {
        "num_layers": 1, "bidirectional": False, "proj": False, "input_kind": "batched", "hx_given": True,
        "bias": True, "batch_first": False, "dropout": 0.0, "dtype": "float64", "width": "small",
        "batch_class": "few", "length": "short",
    }  # fmt: skip
    return {**base, **factors}


@pytest.mark.parametrize(
    ("span", "script", "asked", "expected"),
    [
        # a boundary draw: random() below 1/3, then one of 2**k and its neighbours inside the span
        ((17, 99), edge(64), asks_edge(MEDIUM_EDGES), 64),
        ((100, 700), [0.33, 513], asks_edge(LONG_EDGES), 513),  # 0.33 < 1/3
        # else log-uniform: e**u for u uniform in [log lo, log(hi + 1)), rounded down
        ((17, 99), drawn(40), asks_log(17, 99), 40),
        ((100, 700), [1 / 3, math.log(100.5)], asks_log(100, 700), 100),  # 1/3 is not below 1/3
        # u at the very top: e**u is hi + 1 (up to rounding), and the draw is kept at hi
        ((2, 7), [0.9, math.log(8)], asks_log(2, 7), 7),
        # a span with no boundary value inside (9 < 10, 15 > 14): no random() at all, straight to log-uniform
        ((10, 14), [math.log(12.5)], [("uniform", math.log(10), math.log(15))], 12),
        # a span of one value: still asks random(); either way it is that value
        ((1, 1), edge(1), asks_edge((1,)), 1),
        ((1, 1), drawn(1), asks_log(1, 1), 1),
    ],
)
def test_a_size_is_a_boundary_value_a_third_of_the_time_else_log_uniform(span, script, asked, expected):
    draws = ScriptedDraws(script)
    assert draw_size(draws, span) == expected
    assert draws.asked == asked, draws.asked
    assert not draws.answers, f"unused script {draws.answers}"


def test_sizes_are_drawn_from_their_classes_and_the_input_differs_from_the_hidden_size():
    row = row_of(
        num_layers=2, bidirectional=True, proj=True, input_kind="packed", hx_given=False, bias=False,
        batch_first=True, dropout=0.25, dtype="float32", width="medium", batch_class="many", length="short",
    )  # fmt: skip
    draws = ScriptedDraws([*drawn(20), *drawn(20), *edge(33), 7, *drawn(9), *edge(17)])
    got = _from_row(row, draws)
    # hidden 20; input drawn 20 (equal to hidden: drawn again), then the boundary value 33; two layers are not
    # drawn; proj from 1..19; batch from the many class (8-100), steps from short (2-40)
    assert draws.asked == [
        *asks_log(17, 99), *asks_log(17, 99), *asks_edge(MEDIUM_EDGES), ("randint", 1, 19), *asks_log(8, 100),
        *asks_edge(SHORT_EDGES),
    ], draws.asked  # fmt: skip
    assert got == Config(
        num_layers=2, bidirectional=True, proj_size=7, bias=False, batch_first=True, input_kind="packed",
        hx_given=False, dropout=0.25, dtype="float32", batch=9, steps=17, input_size=33, hidden_size=20,
    ), got  # fmt: skip
    assert not draws.answers, f"unused script {draws.answers}"


def test_three_or_more_layers_are_drawn_from_three_to_eight_and_shed_first_when_over_budget():
    row = row_of(num_layers=3, bidirectional=True, width="small", batch_class="few", length="long")
    draws = ScriptedDraws([*edge(16), *drawn(3), 5, *drawn(4), *edge(513)])
    got = _from_row(row, draws)
    assert draws.asked == [
        *asks_edge(SMALL_EDGES), *asks_log(1, 16), ("randint", 3, 8), *asks_log(2, 7), *asks_edge(LONG_EDGES),
    ], draws.asked  # fmt: skip
    # 5 x 2 x 513 = 5,130 cell steps (and 25M multiply-adds): layers 5 -> 4 (4,104) -> 3 (3,078), three is kept;
    # then the steps by 3/4: 384 (2,304), 288 (1,728), 216 (1,296), 162 (972 cell steps, 4.7M multiply-adds)
    assert got == Config(
        num_layers=3, bidirectional=True, batch=4, steps=162, input_size=3, hidden_size=16
    ), got  # fmt: skip
    assert assignment_of(got)["num_layers"] == 3


def test_a_projected_draw_of_hidden_size_one_is_raised_to_two():
    draws = ScriptedDraws([*edge(1), *drawn(5), 1, *drawn(3), *drawn(9)])
    got = _from_row(row_of(proj=True), draws)
    assert draws.asked == [
        *asks_edge(SMALL_EDGES), *asks_log(1, 16), ("randint", 1, 1), *asks_log(2, 7), *asks_log(2, 40),
    ], draws.asked  # fmt: skip
    assert (got.hidden_size, got.input_size, got.proj_size, got.batch, got.steps) == (2, 5, 1, 3, 9), got


def test_a_hidden_size_of_one_may_equal_the_input_size():
    draws = ScriptedDraws([*edge(1), *drawn(1), *edge(1), *drawn(1)])
    got = _from_row(row_of(batch_class="one", length="one"), draws)
    assert draws.asked == [*asks_edge(SMALL_EDGES), *asks_log(1, 16), *asks_edge((1,)), *asks_log(1, 1)]
    assert (got.hidden_size, got.input_size, got.proj_size, got.batch, got.steps) == (1, 1, 0, 1, 1), got


def test_a_draw_over_budget_is_shrunk():
    # large widths, a long sequence: 4 * 250 * 507 = 507,000 weights fit, but 300 steps of them are 152M
    # multiply-adds; the steps shrink by 3/4 (225, 168, 126) to the long floor, 100 (50.7M), the batch is at its
    # floor, so the widths narrow by 7/8: 218/224 (38.5M), 190/196 (29.3M), 166/171 (22.4M), 145/149 (17.0M)
    draws = ScriptedDraws([*drawn(250), *edge(257), *drawn(1), *drawn(300)])
    got = _from_row(row_of(width="large", batch_class="one", length="long"), draws)
    assert draws.asked == [*asks_log(100, 384), *asks_edge(LARGE_EDGES), *asks_log(1, 1), *asks_log(100, 700)]
    assert (got.hidden_size, got.input_size, got.steps, got.batch) == (145, 149, 100, 1), got


def test_the_extras_and_the_features_that_rule_them_out():
    seed = Config(label="seed", input_size=5, hidden_size=256, dtype="float32", batch=4, steps=16)
    square = Config(label="square", num_layers=2, dtype="float32", batch=9, steps=12, input_size=33, hidden_size=33)
    batch64 = Config(label="batch64", dtype="float32", batch=64, steps=9, input_size=7, hidden_size=13)
    long = Config(
        label="long", input_kind="packed", bidirectional=True, batch_first=True, hx_given=False, dtype="float32",
        batch=3, steps=512, input_size=3, hidden_size=5,
    )  # fmt: skip
    assert extra_configs() == [seed, square, batch64, long]
    assert extra_configs(frozenset({"packed"})) == [seed, square, batch64]
    assert extra_configs(frozenset({"multi_layer"})) == [seed, batch64, long]
    assert extra_configs(frozenset({"float32"})) == []


@pytest.mark.parametrize(
    ("hidden", "batch", "steps", "classes"),
    [
        # widths 1-16 / 17-99 / 100-384, batches 1 / 2-7 / 8-100, steps 1 / 2-40 / 100-700
        (16, 1, 1, ("small", "one", "one")),
        (17, 2, 2, ("medium", "few", "short")),
        (99, 7, 40, ("medium", "few", "short")),
        (100, 8, 100, ("large", "many", "long")),
        (384, 100, 700, ("large", "many", "long")),
        (385, 101, 41, ("", "", "")),  # between or beyond the classes
        (1, 3, 99, ("small", "few", "")),
        (1024, 320, 5000, ("", "", "")),  # real sizes lie above every class
    ],
)
def test_sizes_are_read_back_into_their_classes(hidden, batch, steps, classes):
    # five layers read back as 3, "three or more"
    config = Config(hidden_size=hidden, batch=batch, steps=steps, num_layers=5, proj_size=0, dropout=0.25)
    got = assignment_of(config)
    assert (got["width"], got["batch_class"], got["length"]) == classes, got
    assert {k: got[k] for k in ("num_layers", "proj", "dropout", "dtype", "input_kind")} == {
        "num_layers": 3, "proj": False, "dropout": 0.25, "dtype": "float64", "input_kind": "batched",
    }, got  # fmt: skip
    assert assignment_of(replace(config, proj_size=1, hx_given=False, bias=False, batch_first=True)) == {
        **got, "proj": True, "hx_given": False, "bias": False, "batch_first": True,
    }  # fmt: skip


def test_your_configuration_joins_the_matrix_last_and_alone_with_only_yours():
    yours = Config(input_size=5, hidden_size=7, steps=3)
    matrix = default_matrix(0, yours=yours)
    assert len(matrix) == 75 + 1, len(matrix)
    assert matrix[-1] == replace(yours, label="yours"), matrix[-1]
    assert select(None, quick=False, yours=yours, only_yours=True) == [replace(yours, label="yours")]
    with pytest.raises(ValueError, match=r"^Expected your configuration \(--input-size, --hidden-size, \.\.\.\) with --only-yours, got none$"):  # fmt: skip
        select(None, quick=False, only_yours=True)


def test_the_matrix_refuses_unknown_features():
    with pytest.raises(ValueError, match=r"^Expected unsupported features from"):
        default_matrix(0, unsupported=["sparse"])
    with pytest.raises(ValueError, match=r"^Expected unsupported features from"):
        select(None, quick=True, unsupported=["sparse"])


def test_the_same_seed_replays_the_matrix_and_another_draws_other_sizes():
    first, again, other = default_matrix(3), default_matrix(3), default_matrix(4)
    assert first == again, "the same seed must give the same configurations"
    assert [c.name for c in first] != [c.name for c in other], "another seed must draw other sizes"
    real = ["real-input"] * 4 + ["real-batch"] * 4 + ["real-deep"] * 4
    real += ["real-hidden", "real-proj", "real-long", "real-long-f64", "real-long-half"]
    assert [c.label for c in first[-21:]] == ["seed", "square", "batch64", "long", *real], [
        c.label for c in first[-21:]
    ]
    assert all(c.label == "" for c in first[:-21]), [c.label for c in first[:-21]]
    assert [c.scale for c in first] == [False] * (len(first) - 17) + [True] * 17, "the real-size ones, last"
    assert [c.name for c in first[-17:]] != [c.name for c in other[-17:]], "another seed draws other real sizes"


def test_select_returns_the_quick_matrix_within_the_declared_features():
    quick = select(None, quick=True)
    assert [c.name for c in quick] == [c.name for c in quick_matrix()]
    without_packed = select(None, quick=True, unsupported=["packed", "bidirectional"])
    assert [c.name for c in without_packed] == [
        "quick-batched-l1-hx-f64-n3-t7-i4h6",
        "quick-batched-l2-nobias-bf-nohx-f32-n3-t7-i4h6",
        "quick-batched-l1-hx-f32-n2-t200-i3h4",
    ]
    yours = Config(input_size=5, hidden_size=7)
    assert select(None, quick=True, yours=yours)[-1] == replace(yours, label="yours")


def test_select_finds_named_configurations_in_either_matrix_in_the_order_asked():
    names = ["quick-batched-l1-hx-f32-n2-t200-i3h4", "seed-batched-l1-hx-f32-n4-t16-i5h256"]
    got = select(names, quick=False)
    assert [c.name for c in got] == names
    assert got[1] == Config(label="seed", input_size=5, hidden_size=256, dtype="float32", batch=4, steps=16)
    drawn = default_matrix(7)[0].name
    assert [c.name for c in select([drawn], quick=True, seed=7)] == [drawn], "named configurations of seed 7"
    message = r"^Expected configuration names from --list-configs \(for this --seed\), got unknown nope-1, nope-2$"
    with pytest.raises(ValueError, match=message):
        select(["nope-1", names[0], "nope-2"], quick=False)


def test_a_name_only_the_unrestricted_matrix_holds_is_refused_as_not_applicable():
    # the restricted matrix (no projection, one direction) of a seed lacks names the unrestricted one of the same
    # seed, thorough or with your own configuration holds: those are "not applicable", others "unknown"
    yours = Config(input_size=3, proj_size=1, label="yours")
    for seed, thorough, own in ((5, False, None), (6, True, None), (7, False, yours)):
        full = default_matrix(seed, (), thorough, own)
        projected = [c.name for c in full if c.proj_size and c.label != "yours"][:1]  # yours runs in any case
        two_way = next(c.name for c in full if c.bidirectional and not c.proj_size)
        names = [*projected, two_way]
        message = (
            rf"^Expected configuration names from --list-configs \(for this --seed\), got unknown nope; "
            rf"not applicable {', '.join(names)} \(this candidate's matrix is chosen without bidirectional, "
            r"proj_size\); --list-configs with the same target and options, or configurations\(\) in Python, lists them$"
        )
        unsupported = ["proj_size", "bidirectional"]
        with pytest.raises(ValueError, match=message):
            select(["nope", *names], quick=False, seed=seed, unsupported=unsupported, thorough=thorough, yours=own)
    unknown = next(c.name for c in default_matrix(8) if c.proj_size)
    with pytest.raises(ValueError, match=rf"got unknown {unknown}$"):
        select([unknown], quick=False, seed=9, unsupported=["proj_size"])  # another seed's name: unknown here


def test_select_reads_thorough_seed_and_unsupported_into_the_matrix():
    assert len(select(None, quick=False, thorough=True)) == 119, "docs/checking.md: --thorough runs 119 configurations"
    assert len(select(None, quick=False)) == 75, "docs/checking.md: 75 configurations for seed 0"
    matrix = select(None, quick=False, unsupported=["proj_size"], seed=2)
    assert not any(c.proj_size for c in matrix), [c.name for c in matrix if c.proj_size]
    other = select(None, quick=False, unsupported=["proj_size"], seed=0)
    assert [c.name for c in matrix] != [c.name for c in other], "the seed must reach the draws"


def test_the_matrix_functions_default_to_seed_zero():
    # check() and the CLI default to a seed derived from the candidate (test_envelope_and_seeds.py); the matrix
    # functions themselves, given no seed, draw from 0
    names = [c.name for c in default_matrix(seed=0)]
    assert [c.name for c in default_matrix()] == names, "default_matrix() must draw from seed 0"
    assert [c.name for c in select(None, quick=False)] == names, "select() must draw from seed 0"
    assert [c.name for c in default_matrix(seed=1)] != names


@pytest.mark.parametrize("matrix", [quick_matrix, extra_configs, default_matrix])
def test_every_field_of_a_listed_configuration_has_its_declared_type(matrix):
    defaults = Config()
    for config in matrix():
        wrong = {
            name: value
            for name, value in config.to_dict().items()
            if name != "name" and type(value) is not type(getattr(defaults, name))
        }
        assert not wrong, f"{config.name}: fields of the wrong type {wrong}"


def test_select_adds_your_configuration_and_finds_it_and_thorough_ones_by_name():
    yours = Config(input_size=5, hidden_size=7, steps=3)
    mine = replace(yours, label="yours")
    assert select(None, quick=False, yours=yours)[-1] == mine
    assert select([mine.name], quick=False, yours=yours) == [mine]
    default = {c.name for c in default_matrix(0)}
    thorough_only = next(c for c in default_matrix(0, thorough=True) if c.name not in default)
    assert select([thorough_only.name], quick=False, thorough=True) == [thorough_only]
