"""Are the candidate's initial weights nn.LSTM's? The judgement of its own draws.

nn.LSTM draws every parameter from U(-b, b), b = 1/sqrt(hidden_size). Under
the bitwise standard the candidate's own draws, built under the same seed,
must equal nn.LSTM's. Under ``--tolerance`` they need only follow the same
distribution, judged per gate block of every parameter (a forget-gate bias of
1 is one block) by two tests:

- **support** (exact, no false alarm): no value beyond ±b by more than its
  dtype's rounding. nn.LSTM never draws one; a forget bias of 1, Xavier's or
  a normal initialisation's wider values fail here with certainty.
- **range** (statistical, exact p-value): under U(-b, b) the largest of n
  magnitudes is below m·b with probability m^n, so a draw narrower than
  nn.LSTM's (a bound of 1/sqrt(H + 1), a scaled initialisation) cannot hide
  in a large pooled sample; rounding is allowed for as below.
- **distribution** (statistical): a one-sample Kolmogorov-Smirnov test of the
  block pooled over :data:`DRAWS` independent constructions (seeds derived
  from the configuration's), so a small block still gives a large sample. The
  statistic allows each value its dtype's rounding (a bfloat16 draw is U(-b, b)
  rounded), and the p-value is the Dvoretzky-Kiefer-Wolfowitz bound with
  Massart's constant, P(D_n >= d) <= 2 exp(-2 n d^2), which holds for every n:
  the test never rejects more often than its level says.

The level: a correct candidate is rejected by a draw test anywhere in one
certificate with probability at most :data:`CERTIFICATE_ALPHA` (1e-6). Each
test runs at ``CERTIFICATE_ALPHA / (MAX_CONFIGURATIONS * JUDGED_PROBES *
TESTS * blocks)`` (Bonferroni over both statistical tests of every block of every judged probe of every
configuration a certificate can hold), so the union bound gives that rate
whatever the seed. A rejection by this test alone says "statistical" in its note.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from lstm_replica.names import GATES

CERTIFICATE_ALPHA = 1e-6  # the probability that a correct candidate fails any draw test in one certificate
MAX_CONFIGURATIONS = 128  # no matrix holds more (--thorough: about 100, plus your own)
JUDGED_PROBES = 2  # the constructor's draws and reset_parameters()' draws
TESTS = 2  # statistical tests per block: range and Kolmogorov-Smirnov
DRAWS = 8  # independent constructions pooled per test under --tolerance
DISTRIBUTION = "U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))"


@dataclass(frozen=True)
class DrawTest:
    """One gate block of one parameter, pooled over the draws: what was compared, and the outcome."""

    block: str  # "l0.weight_ih (gate block o)"
    n: int  # values pooled (NaN, where the candidate holds no such element, left out)
    outside: int  # values beyond the support
    largest: float  # the largest magnitude drawn
    statistic: float  # the rounding-aware Kolmogorov-Smirnov D
    p_bound: float  # the DKW upper bound on the p-value
    level: float  # the per-test level
    range_p: float = 1.0  # P(the largest magnitude this small) under U(-b, b), rounding allowed

    @property
    def passed(self) -> bool:
        return self.outside == 0 and self.p_bound >= self.level and self.range_p >= self.level

    def note(self, bound: float, draws: int) -> str:
        """What was compared and how it came out, in words (the report's note for the parameter)."""
        if self.outside:
            return (
                f"not {DISTRIBUTION} (exact, not statistical): {self.outside} of {self.n} values of {self.block} "
                f"over {draws} draws lie beyond ±{bound:.4g} (largest magnitude {self.largest:.4g}); nn.LSTM "
                "never draws one (if your initialisation is meant to differ: --unsupported initialisation)"
            )
        if self.range_p < self.level:
            return (
                f"statistical: narrower than {DISTRIBUTION}: the largest magnitude of {self.block} over {draws} "
                f"independent draws (n = {self.n}) is {self.largest:.4g}, {self.largest / bound:.4f} of the bound "
                f"{bound:.4g}; under nn.LSTM's distribution that has probability {self.range_p:.3g} against the "
                f"level {self.level:.3g} per test (false-alarm rate <= {CERTIFICATE_ALPHA:g} per certificate)"
            )
        verdict = "same distribution" if self.passed else "not the same distribution"
        return (
            f"statistical: one-sample Kolmogorov-Smirnov test of {self.block} against {DISTRIBUTION}, "
            f"{draws} independent draws pooled (n = {self.n}): D = {self.statistic:.4g}, p <= {self.p_bound:.3g} "
            f"(DKW bound) against the level {self.level:.3g} per test (false-alarm rate <= {CERTIFICATE_ALPHA:g} "
            f"per certificate): {verdict}"
        )


def level(blocks: int) -> float:
    """The per-test level that keeps the whole certificate's false-alarm rate at :data:`CERTIFICATE_ALPHA`."""
    return CERTIFICATE_ALPHA / (MAX_CONFIGURATIONS * JUDGED_PROBES * TESTS * max(1, blocks))


def dkw_pvalue(n: int, statistic: float) -> float:
    """Upper bound on P(D_n >= statistic) under the null, for any n (Dvoretzky-Kiefer-Wolfowitz, Massart)."""
    if n == 0:
        return 1.0
    return min(1.0, 2.0 * math.exp(-2.0 * n * statistic * statistic))


def _rounding(sample: Tensor) -> Tensor:
    """How far each value may lie from the real number it rounds (one spacing of its dtype at that value)."""
    info = torch.finfo(sample.dtype)
    return sample.detach().to(torch.float64).abs() * info.eps + info.tiny


def ks_statistic(sample: Tensor, bound: float) -> float:
    """Kolmogorov-Smirnov D of ``sample`` against U(-bound, bound), each value allowed its dtype's rounding.

    A value ``x`` stands for some real number in ``[x - r, x + r]``: D is the smallest the empirical
    distribution's distance from the uniform's can be, so rounding alone never raises it.
    """
    if sample.numel() == 0:
        return 0.0
    x = sample.detach().to(torch.float64).flatten()
    slack = _rounding(sample.flatten())
    order = torch.argsort(x)
    x, slack = x[order], slack[order]
    n = x.numel()

    def cdf(v: Tensor) -> Tensor:
        return ((v + bound) / (2 * bound)).clamp(0, 1)

    ranks = torch.arange(1, n + 1, dtype=torch.float64)
    above = (ranks / n - cdf(x + slack)).max()
    below = (cdf(x - slack) - (ranks - 1) / n).max()
    return max(0.0, float(torch.maximum(above, below)))


def range_pvalue(sample: Tensor, bound: float) -> float:
    """P(max |x| <= observed) for n draws of U(-bound, bound), the observed maximum allowed its rounding: m^n."""
    if sample.numel() == 0:
        return 1.0
    x = sample.detach().to(torch.float64).flatten().abs()
    top = float((x + _rounding(sample.flatten())).max()) / bound
    if top >= 1.0:
        return 1.0
    return math.exp(sample.numel() * math.log(max(top, 1e-300)))


def outside_support(sample: Tensor, bound: float) -> int:
    """How many values lie beyond ±bound by more than their dtype's rounding (and so were not drawn U(-b, b))."""
    x = sample.detach().to(torch.float64).flatten()
    return int((x.abs() > bound + _rounding(sample.flatten())).sum())


def blocks_of(name: str, drawn: Tensor) -> list[tuple[str, Tensor]]:
    """The gate blocks of one parameter (rows in four blocks i, f, g, o), or the whole of it (a projection)."""
    if drawn.dim() >= 1 and drawn.size(0) % 4 == 0 and drawn.size(0) >= 4:
        return [(f"{name} (gate block {g})", block) for g, block in zip(GATES, drawn.chunk(4, 0), strict=True)]
    return [(name, drawn)]


def judge_blocks(draws: Sequence[dict[str, Tensor | None]], names: Sequence[str], bound: float) -> dict[str, DrawTest]:
    """Each parameter's least likely block, pooled over ``draws`` (each in nn.LSTM's names), by parameter name."""
    pooled: dict[str, dict[str, list[Tensor]]] = {name: {} for name in names}
    for draw in draws:
        for name in names:
            tensor = draw.get(name)
            if tensor is None:
                continue
            for block, values in blocks_of(name, tensor.detach().cpu()):
                values = values.flatten()
                pooled[name].setdefault(block, []).append(values[~values.isnan()])
    count = sum(len(blocks) for blocks in pooled.values())
    per_test = level(count)
    worst: dict[str, DrawTest] = {}
    for name, blocks in pooled.items():
        for block, parts in blocks.items():
            sample = torch.cat(parts)
            statistic = ks_statistic(sample, bound)
            found = DrawTest(
                block,
                sample.numel(),
                outside_support(sample, bound),
                float(sample.detach().to(torch.float64).abs().max()) if sample.numel() else 0.0,
                statistic,
                dkw_pvalue(sample.numel(), statistic),
                per_test,
                range_pvalue(sample, bound),
            )
            kept = worst.get(name)
            rank = (found.outside, not found.passed, -min(found.p_bound, found.range_p))
            if kept is None or rank > (kept.outside, not kept.passed, -min(kept.p_bound, kept.range_p)):
                worst[name] = found
    return worst


def narrower_dtype(own: Tensor, theirs: Tensor) -> torch.dtype | None:
    """The narrower dtype the candidate's draw was made in and then cast from, where the values say so.

    nn.LSTM draws in the requested dtype; a constructor that takes no ``dtype`` draws in the default
    dtype and is cast after construction: every value then fits the narrower dtype exactly, while
    nn.LSTM's draws do not.
    """
    narrower = torch.float32
    if own.dtype != torch.float64 or theirs.dtype != torch.float64 or own.numel() < 8:
        return None

    def fits(t: Tensor) -> bool:
        finite = t.detach()[t.detach().isfinite()]
        return finite.numel() > 0 and torch.equal(finite.to(narrower).to(t.dtype), finite)

    return narrower if fits(own) and not fits(theirs) else None


Redraw = Callable[[int], dict[str, Tensor | None]]  # draw number k (1, 2, ...) -> the candidate's draw, nn.LSTM's names
