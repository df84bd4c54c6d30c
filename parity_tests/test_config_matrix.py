"""The configuration matrix: its constraints, budgets, size classes, covering property and documented sizes.

Every matrix here is built inside the test (never at import), and every expected value is written out by hand:
the counts of required tuples from the factor sizes, the budget shrinking step by step, the draws from a scripted
random source. README.md documents 35 configurations for seed 0, 100 with --thorough and 5 for --quick.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from torch import nn

from lstm_replica.parity.configs import (
    FACTORS,
    STRUCTURE,
    Config,
    _from_row,
    _narrower,
    _tuples,
    _within_budget,
    allowed,
    assignment_of,
    check_features,
    covering_rows,
    default_matrix,
    dtype_restriction,
    extra_configs,
    quick_matrix,
    required_tuples,
    select,
)

ALL_FEATURES = (
    "proj_size, bidirectional, packed, unbatched, batch_first, no_bias, dropout, float16, bfloat16, float64, "
    "float32, multi_layer, double_backward, initialisation"
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
        "input_size": 9, "hidden_size": 10, "label": "mine",
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
        ({"input_kind": "unbatched"}, {"packed"}, True),
        ({"dtype": "float64"}, {"float64", "float16"}, False),
        ({"dtype": "float32"}, {"float64", "float16"}, True),
        ({"num_layers": 2}, {"multi_layer"}, False),
        ({"num_layers": 4}, {"multi_layer"}, False),
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
    assignment = {"num_layers": 2, "bidirectional": True, "proj": False, "bias": False}
    assert _tuples(assignment) == {
        (("num_layers", 2), ("bidirectional", True), ("proj", False)),
        (("num_layers", 2), ("bidirectional", True)),
        (("num_layers", 2), ("proj", False)),
        (("num_layers", 2), ("bias", False)),
        (("bidirectional", True), ("proj", False)),
        (("bidirectional", True), ("bias", False)),
        (("proj", False), ("bias", False)),
    }, sorted(_tuples(assignment), key=repr)


def test_the_required_tuples_are_every_allowed_structural_triple_and_pair():
    # structural sizes 4, 2, 2, 3, 2: 164 triples. All twelve factors: 32 values, 92 = sum of squares, so
    # (32**2 - 92) / 2 = 466 pairs, of which 9 break a constraint: unbatched x (few, many), large x long,
    # large x many, long x many, (float16, bfloat16) x (large, long)
    assert len(required_tuples()) == 164 + 457
    # no projection: 44 triples and 30 pairs hold proj=True
    assert len(required_tuples(frozenset({"proj_size"}))) == 164 - 44 + 457 - 30
    # one layer only: 30 of the 120 triples with a layer count remain; 3 x 28 pairs hold 2, 3 or 4 layers
    assert len(required_tuples(frozenset({"multi_layer"}))) == 30 + 44 + 457 - 84
    required = required_tuples()
    assert (("num_layers", 4), ("input_kind", "packed"), ("hx_given", False)) in required
    assert (("input_kind", "unbatched"), ("batch_class", "few")) not in required
    assert all(len(t) == 2 or {f for f, _ in t} <= set(STRUCTURE) for t in required), "triples are structural"


def assert_covers(rows: list[dict[str, object]], unsupported: frozenset[str] = frozenset()) -> None:
    for row in rows:
        assert list(row) == list(FACTORS) or set(row) == set(FACTORS), f"a row sets every factor: {row}"
        assert allowed(row, unsupported), f"a row breaks a constraint: {row}"
    covered = set().union(*(_tuples(row) for row in rows))
    missing = required_tuples(unsupported) - covered
    assert not missing, f"not covered: {sorted(missing, key=repr)[:5]}"


def test_the_covering_rows_cover_every_required_tuple_within_the_constraints():
    rows = covering_rows()
    assert len(rows) == 31, "README.md: 35 configurations for seed 0, 4 of them the extras"
    assert_covers(rows)
    restricted = frozenset({"proj_size", "float16"})
    assert_covers(covering_rows(restricted), restricted)


def test_thorough_rows_hold_every_allowed_structural_combination():
    unsupported = frozenset({"bidirectional"})
    rows = covering_rows(unsupported, thorough=True)
    assert_covers(rows, unsupported)
    structures = {tuple(row[f] for f in STRUCTURE) for row in rows}
    assert len(structures) == 4 * 1 * 2 * 3 * 2, f"{len(structures)} structural combinations"


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
    assert len(default_matrix(0)) == 35, "README.md: the default matrix has 35 configurations for seed 0"
    assert len(default_matrix(0, thorough=True)) == 100, "README.md: --thorough runs 100 configurations"
    assert [c.name for c in quick_matrix()] == [
        "quick-batched-l1-hx-f64-n3-t7-i4h6",
        "quick-packed-l2-bi-p2-hx-drop0.25-f32-n3-t7-i4h6",
        "quick-batched-l2-nobias-bf-nohx-f32-n3-t7-i4h6",
        "quick-unbatched-l1-bi-hx-f64-n1-t7-i5h5",
        "quick-batched-l1-hx-f32-n2-t200-i3h4",
    ], "README.md: --quick runs these 5 small configurations (their names select them with --configs)"


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
        # steps and batch at their floors: narrower down to the width floor, then it stops (still 24M)
        (
            Config(hidden_size=120, input_size=120, batch=1, steps=300),
            {"width": "large", "batch_class": "one", "length": "long"},
            {"hidden_size": 100, "input_size": 100},
        ),
        # 8 x 520 cell steps > 1,000: steps down to the long floor (300), then every width down to 1
        (
            Config(num_layers=4, bidirectional=True, hidden_size=5, input_size=3, batch=1, steps=520),
            {"width": "small", "batch_class": "one", "length": "long"},
            {"steps": 300, "hidden_size": 1, "input_size": 1},
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
    """A random source that answers from a script and records each range it was asked for."""

    def __init__(self, answers: list[int]) -> None:
        self.answers = list(answers)
        self.asked: list[tuple[int, int]] = []

    def randint(self, low: int, high: int) -> int:
        self.asked.append((low, high))
        value = self.answers.pop(0)
        assert low <= value <= high, f"scripted {value} outside [{low}, {high}]"
        return value


def row_of(**factors: object) -> dict[str, object]:
    base = {
        "num_layers": 1, "bidirectional": False, "proj": False, "input_kind": "batched", "hx_given": True,
        "bias": True, "batch_first": False, "dropout": 0.0, "dtype": "float64", "width": "small",
        "batch_class": "few", "length": "short",
    }  # fmt: skip
    return {**base, **factors}


def test_sizes_are_drawn_from_their_classes_and_the_input_differs_from_the_hidden_size():
    row = row_of(
        num_layers=2, bidirectional=True, proj=True, input_kind="packed", hx_given=False, bias=False,
        batch_first=True, dropout=0.25, dtype="float32", width="medium", batch_class="many", length="short",
    )  # fmt: skip
    draws = ScriptedDraws([20, 20, 20, 33, 7, 9, 17])
    got = _from_row(row, draws)
    # hidden 20; input drawn 20 twice (equal to hidden: drawn again), then 33; proj from 1..19; batch, steps
    assert draws.asked == [(13, 90), (13, 90), (13, 90), (13, 90), (1, 19), (8, 64), (2, 40)], draws.asked
    assert got == Config(
        num_layers=2, bidirectional=True, proj_size=7, bias=False, batch_first=True, input_kind="packed",
        hx_given=False, dropout=0.25, dtype="float32", batch=9, steps=17, input_size=33, hidden_size=20,
    ), got  # fmt: skip


def test_a_projected_draw_of_hidden_size_one_is_raised_to_two():
    draws = ScriptedDraws([1, 2, 5, 1, 3, 9])
    got = _from_row(row_of(proj=True), draws)
    assert draws.asked == [(1, 12), (1, 12), (1, 12), (1, 1), (2, 7), (2, 40)], draws.asked
    assert (got.hidden_size, got.input_size, got.proj_size, got.batch, got.steps) == (2, 5, 1, 3, 9), got


def test_a_hidden_size_of_one_may_equal_the_input_size():
    draws = ScriptedDraws([1, 1, 1, 1])
    got = _from_row(row_of(batch_class="one", length="one"), draws)
    assert draws.asked == [(1, 12), (1, 12), (1, 1), (1, 1)], draws.asked
    assert (got.hidden_size, got.input_size, got.proj_size) == (1, 1, 0), got


def test_a_draw_over_budget_is_shrunk():
    # large widths, a long sequence: 4 * 250 * 550 weights x 300 steps = 165M multiply-adds; steps and batch are
    # at their floors, so the widths narrow by 7/8 (218/262, 190/229, ... 100/101) to the large floor, 100/100
    draws = ScriptedDraws([250, 300, 1, 300])
    got = _from_row(row_of(width="large", batch_class="one", length="long"), draws)
    assert draws.asked == [(100, 300), (100, 300), (1, 1), (300, 520)], draws.asked
    assert (got.hidden_size, got.input_size, got.steps, got.batch) == (100, 100, 300, 1), got


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
        (12, 1, 1, ("small", "one", "one")),
        (13, 2, 2, ("medium", "few", "short")),
        (90, 7, 40, ("medium", "few", "short")),
        (100, 8, 300, ("large", "many", "long")),
        (300, 64, 520, ("large", "many", "long")),
        (91, 65, 41, ("", "", "")),  # between or beyond the classes
        (1, 3, 521, ("small", "few", "")),
    ],
)
def test_sizes_are_read_back_into_their_classes(hidden, batch, steps, classes):
    config = Config(hidden_size=hidden, batch=batch, steps=steps, num_layers=3, proj_size=0, dropout=0.25)
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
    assert len(matrix) == 36, len(matrix)
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
    assert [c.label for c in first[-4:]] == ["seed", "square", "batch64", "long"]
    assert all(c.label == "" for c in first[:-4]), [c.label for c in first[:-4]]


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


def test_select_reads_thorough_seed_and_unsupported_into_the_matrix():
    assert len(select(None, quick=False, thorough=True)) == 100, "README.md: --thorough runs 100 configurations"
    assert len(select(None, quick=False)) == 35, "README.md: 35 configurations for seed 0"
    matrix = select(None, quick=False, unsupported=["proj_size"], seed=2)
    assert not any(c.proj_size for c in matrix), [c.name for c in matrix if c.proj_size]
    other = select(None, quick=False, unsupported=["proj_size"], seed=0)
    assert [c.name for c in matrix] != [c.name for c in other], "the seed must reach the draws"


def test_the_default_seed_is_zero():
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
