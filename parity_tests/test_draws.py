"""The judgement of a candidate's own initial weights (lstm_replica/parity/draws.py).

A correct cell in a researcher's own notation (examples/researcher_cell.py: ``w1..w8``, one bias per gate)
must not be rejected by chance at any seed; wrong initialisations (a forget bias of 1, Xavier, a normal
draw, constants) must be rejected; the notes say what was compared and whether it was statistical.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from lstm_replica.parity.draws import (
    CERTIFICATE_ALPHA,
    DRAWS,
    JUDGED_PROBES,
    MAX_CONFIGURATIONS,
    TESTS,
    dkw_pvalue,
    judge_blocks,
    ks_statistic,
    level,
    outside_support,
    range_pvalue,
)
from lstm_replica.parity.orchestrate import check

RESEARCHER = "examples/researcher_cell.py:ResearcherCell"
ADAPTER = "examples/researcher_cell.py:copy_weights"


def _uniform(n: int, bound: float, dtype: torch.dtype, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(n, generator=generator, dtype=torch.float64) * 2 - 1).mul(bound).to(dtype)


def test_the_level_bounds_the_certificate_false_alarm_rate() -> None:
    blocks = 160  # 4 bidirectional layers with projection: 40 parameters x 4 gate blocks
    worst_case = MAX_CONFIGURATIONS * JUDGED_PROBES * TESTS * blocks * level(blocks)
    assert worst_case == pytest.approx(CERTIFICATE_ALPHA), f"union bound {worst_case}, expected {CERTIFICATE_ALPHA}"
    from lstm_replica.parity.matrix import select

    thorough = select(None, False, 0, frozenset(), True, None, False)
    assert len(thorough) + 1 <= MAX_CONFIGURATIONS, f"Expected at most {MAX_CONFIGURATIONS}, got {len(thorough)}"


def test_dkw_bound_is_never_below_the_exact_tail() -> None:
    # Monte Carlo: the fraction of uniform samples with D >= d never exceeds the bound (a valid p-value)
    n, trials = 20, 4000
    generator = torch.Generator().manual_seed(1)
    stats = [ks_statistic(torch.rand(n, generator=generator, dtype=torch.float64) * 2 - 1, 1.0) for _ in range(trials)]
    for d in (0.2, 0.25, 0.3, 0.35):
        observed = sum(s >= d for s in stats) / trials
        assert observed <= dkw_pvalue(n, d), f"P(D >= {d}) = {observed} above the DKW bound {dkw_pvalue(n, d)}"


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16, torch.float16])
def test_rounding_alone_never_raises_the_statistic_or_leaves_the_support(dtype: torch.dtype) -> None:
    bound = 1 / math.sqrt(5)
    sample = _uniform(200_000, bound, dtype, seed=3)
    statistic = ks_statistic(sample, bound)
    # a continuous-uniform sample of this size has D ~ 1/sqrt(n); bfloat16's 8-bit grid alone would add ~4e-3
    assert statistic < 5 / math.sqrt(sample.numel()), f"D = {statistic} for a {dtype} uniform draw"
    assert outside_support(torch.full((4,), bound, dtype=dtype), bound) == 0, "b itself, rounded, is in the support"


def test_the_support_test_is_exact() -> None:
    bound = 0.5
    assert outside_support(torch.tensor([0.1, -0.5, 0.5]), bound) == 0
    assert outside_support(torch.tensor([0.1, 1.0, -0.51]), bound) == 2


@pytest.mark.parametrize(
    ("wrong", "why"),
    [
        (lambda n, b, g: torch.ones(n, dtype=torch.float64), "a forget bias of 1"),
        (lambda n, b, g: torch.zeros(n, dtype=torch.float64), "zeros"),
        (lambda n, b, g: torch.randn(n, generator=g, dtype=torch.float64) * b / math.sqrt(3), "normal, same variance"),
        (lambda n, b, g: (torch.rand(n, generator=g, dtype=torch.float64) * 2 - 1) * b * 1.2, "Xavier-wide"),
        (lambda n, b, g: torch.rand(n, generator=g, dtype=torch.float64) * b, "U(0, b)"),
    ],
)
def test_wrong_distributions_are_rejected_at_the_certificate_level(wrong, why) -> None:
    bound = 1 / math.sqrt(16)
    generator = torch.Generator().manual_seed(0)
    draws = [{"bias_ih": wrong(64, bound, generator)} for _ in range(DRAWS)]  # (4H,) with H = 16
    tests = judge_blocks(draws, ["bias_ih"], bound)
    assert not tests["bias_ih"].passed, f"{why}: {tests['bias_ih']}"


def test_correct_draws_pass_at_many_seeds() -> None:
    bound = 1 / math.sqrt(4)
    for seed in range(200):
        draws = [{"weight_ih": _uniform(12, bound, torch.float32, seed * DRAWS + k)} for k in range(DRAWS)]
        test = judge_blocks(draws, ["weight_ih"], bound)["weight_ih"]
        assert test.passed, f"seed {seed}: {test}"


def test_the_note_says_statistical_and_what_was_compared() -> None:
    bound = 0.5
    draws = [{"w": torch.rand(40, dtype=torch.float64) * bound} for _ in range(DRAWS)]
    test = judge_blocks(draws, ["w"], bound)["w"]
    note = test.note(bound, DRAWS)
    assert not test.passed
    assert note.startswith("statistical: one-sample Kolmogorov-Smirnov test of w (gate block"), note
    assert f"{DRAWS} independent draws pooled (n = {DRAWS * 10})" in note, note
    assert f"against the level {test.level:.3g} per test" in note, note
    assert "false-alarm rate <= 1e-06 per certificate" in note, note


@pytest.mark.certificate
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_researchers_cell_draws_are_judged_nn_lstm_s(seed: int) -> None:
    report = check(RESEARCHER, weights=ADAPTER, tolerance=True, quick=True, seed=seed, dtypes=["float64"])
    draws = [d for r in report.results for d in r.differences if d.probe in ("initial weights", "reset_parameters()")]
    assert draws, "the draws were judged"
    rejected = [f"{d.tensor}: {d.note}" for d in draws if not d.within_tolerance]
    assert not rejected, rejected
    assert all(d.note.startswith("statistical:") for d in draws if not d.bitwise), [d.note for d in draws]


class NoDtypeCell(nn.LSTMCell):
    """nn.LSTMCell whose constructor takes no device or dtype: it draws in float32 and is cast afterwards."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__(input_size, hidden_size, bias)


@pytest.mark.certificate
def test_a_constructor_without_dtype_is_named_as_the_cause() -> None:
    torch.manual_seed(0)
    cast = NoDtypeCell(3, 4).double()
    torch.manual_seed(0)
    drawn = nn.LSTMCell(3, 4, dtype=torch.float64)
    assert not torch.equal(cast.weight_ih, drawn.weight_ih), "the same seed gives other float64 weights"
    report = check(NoDtypeCell, quick=True, dtypes=["float64"], configs=None)
    drawn_weights = [d for r in report.results for d in r.differences if d.tensor != "global generator"]
    notes = [d.note for d in drawn_weights if d.probe == "initial weights" and not d.bitwise]
    assert notes, "its float64 draws differ from nn.LSTMCell's"
    assert all("drawn in float32 and cast to float64: the constructor takes no dtype" in n for n in notes), notes


def test_the_range_p_value_is_exact_under_nn_lstm_s_distribution() -> None:
    # P(range_p <= a) = a for the continuous uniform: Monte Carlo within its error, never far above
    n, trials = 30, 4000
    generator = torch.Generator().manual_seed(2)
    ps = [range_pvalue(torch.rand(n, generator=generator, dtype=torch.float64) * 2 - 1, 1.0) for _ in range(trials)]
    for a in (0.01, 0.05, 0.2):
        observed = sum(p <= a for p in ps) / trials
        assert observed <= a + 3 * math.sqrt(a / trials), f"P(range p <= {a}) = {observed}"


def test_a_slightly_narrower_uniform_is_rejected_as_narrower() -> None:
    hidden = 20
    bound, narrow = 1 / math.sqrt(hidden), 1 / math.sqrt(hidden + 1)  # 2.4 % narrower: the KS test cannot see it
    draws = [{"weight_hh": _uniform(4 * hidden * hidden, narrow, torch.float32, seed=k)} for k in range(DRAWS)]
    test = judge_blocks(draws, ["weight_hh"], bound)["weight_hh"]
    assert test.p_bound >= test.level, "the KS test alone would pass it"
    assert not test.passed, test
    assert test.note(bound, DRAWS).startswith("statistical: narrower than U("), test.note(bound, DRAWS)
