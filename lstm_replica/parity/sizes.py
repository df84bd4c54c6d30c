"""What sizes a run draws: sizes inside a class, and the real model sizes at the top of each range.

:func:`draw_size` is log-uniform inside its range, a third of the time snapped to a boundary value (a power
of two or one either side of it: chunking and tiling bugs live there). :func:`real_size_configs` gives, every
run, one configuration per dimension at a real model's size with the others small; they run the reduced
probe set :data:`REDUCED_PROBES` (see :mod:`.judge`).
"""

from __future__ import annotations

import math
import random
from dataclasses import replace
from itertools import product
from typing import Any

from lstm_replica.parity.configs import Config, allowed, assignment_of

BOUNDARIES = tuple(sorted({2**k + d for k in range(1, 14) for d in (-1, 0, 1)}))  # 1, 2, 3, 4, 5, 7, 8, 9, ...


def draw_size(rng: random.Random, span: tuple[int, int]) -> int:
    """A size in ``span``: a third of the time a power of two or one either side of it, else log-uniform."""
    lo, hi = span
    edges = [b for b in BOUNDARIES if lo <= b <= hi]
    if edges and rng.random() < 1 / 3:
        return rng.choice(edges)
    return min(hi, int(math.exp(rng.uniform(math.log(lo), math.log(hi + 1)))))


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
            Config(label="real-input", input_size=_top(rng, TOP_WIDTH), hidden_size=draw_size(rng, small),
                   num_layers=rng.randint(1, 2), batch=draw_size(rng, (1, 6)), steps=draw_size(rng, (2, 8)),
                   dtype=dtype(), scale=True, **features)
        )  # fmt: skip
    for features in _grid_features(rng):
        drawn.append(
            Config(label="real-batch", input_size=draw_size(rng, small), hidden_size=draw_size(rng, small),
                   num_layers=rng.randint(1, 2), batch=_top(rng, TOP_BATCH), steps=draw_size(rng, (2, 12)),
                   dtype=dtype(), scale=True, **features)
        )  # fmt: skip
    for features in _grid_features(rng):
        width = draw_size(rng, small)
        with_projection = rng.random() < 0.5  # a projection (smaller than the hidden state) on every layer, or none
        drawn.append(
            Config(label="real-deep", input_size=draw_size(rng, small), hidden_size=width,
                   num_layers=rng.randint(*TOP_LAYERS), batch=draw_size(rng, (1, 5)), steps=draw_size(rng, (2, 12)),
                   proj_size=rng.randint(1, width - 1) if with_projection else 0, dtype=dtype(), scale=True, **features)
        )  # fmt: skip
    plain, projected = _pair_features(rng)
    hidden = _top(rng, TOP_WIDTH)
    drawn += [
        Config(label="real-hidden", input_size=draw_size(rng, small), hidden_size=_top(rng, TOP_WIDTH),
               batch=draw_size(rng, (1, 4)), steps=draw_size(rng, (2, 6)), dtype=dtype(), scale=True, **plain),
        Config(label="real-proj", input_size=draw_size(rng, small), hidden_size=hidden, num_layers=2,
               proj_size=draw_size(rng, (1, min(hidden - 1, 600))), batch=draw_size(rng, (1, 3)), steps=draw_size(rng, (2, 5)),
               dtype=dtype(), scale=True, **projected),
    ]  # fmt: skip
    single, double = _pair_features(rng)
    single["bidirectional"] = double["bidirectional"] = False  # one direction: the cost is the steps
    drawn += [
        Config(label="real-long", input_size=draw_size(rng, (1, 16)), hidden_size=draw_size(rng, (1, 16)),
               batch=draw_size(rng, (1, 3)), steps=_top(rng, TOP_STEPS), dtype="float32", scale=True, **single),
        Config(label="real-long-f64", input_size=draw_size(rng, (1, 16)), hidden_size=draw_size(rng, (1, 16)),
               batch=draw_size(rng, (1, 3)), steps=_top(rng, TOP_STEPS_F64), dtype="float64", scale=True, **double),
    ]  # fmt: skip
    half = _pair_features(rng)[0]
    half["bidirectional"] = False
    drawn.append(
        Config(label="real-long-half", input_size=draw_size(rng, (1, 16)), hidden_size=draw_size(rng, (1, 16)),
               batch=draw_size(rng, (1, 3)), steps=draw_size(rng, LONG_HALF_STEPS), dtype=rng.choice(("bfloat16", "float16")),
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
