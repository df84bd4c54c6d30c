"""What a verdict covers, in numbers: the envelope of the configurations a check compared.

A verdict speaks of these configurations and nothing else. The envelope states, over the configurations that
were compared (not those left out, not applicable or that could not be checked):

- the range of each size: layer input width, hidden width, projection width, batch, layers, steps;
- the dtypes and the input kinds;
- how strongly the features were combined: of every triple of values of the factors in ``configs.STRUCTURE``
  (layers 1 / 2 / 3 or more, direction, projection, input kind, state given, bias, batch_first, dropout,
  dtype) and every pair of those with the size classes that the constraints allow, how many some compared
  configuration holds;
- the real-size configurations (the top of each size range, drawn every run) and their reduced probe set;
- the chance that a defect present only past some size is met by one run (see :func:`beyond`).

It goes into the text report (before the verdict), the JSON (``envelope``) and so into the pytest failure.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields

from lstm_replica.parity.configs import STRUCTURE, Config, Tuple, assignment_of
from lstm_replica.parity.matrix import covered_tuples, required_tuples
from lstm_replica.parity.sizes import TOP_BATCH, TOP_LAYERS, TOP_STEPS, TOP_STEPS_F64, TOP_WIDTH, real_size_configs

# what a configuration's size is called in the envelope -> its Config field
SIZES = {
    "input width": "input_size",
    "hidden width": "hidden_size",
    "projection": "proj_size",
    "batch": "batch",
    "layers": "num_layers",
    "steps": "steps",
}
# each size's top tier: what every run reaches (real_size_configs), for the statement of what is implied
TOPS = {
    "input width": TOP_WIDTH,
    "hidden width": TOP_WIDTH,
    "batch": TOP_BATCH,
    "layers": TOP_LAYERS,
    "steps": TOP_STEPS,
    "float64 steps": TOP_STEPS_F64,
}
MODES = (
    "every matrix configuration is called in eval mode (grad, no_grad, inference_mode), in train mode (grad while "
    "training, no_grad and inference_mode: Monte-Carlo dropout), under autocast (float32 configurations), with "
    "deterministic algorithms on, and with parameters partly frozen"
)
SHOWN_MISSING = 3  # uncovered tuples named in the text


@dataclass
class Envelope:
    """The envelope of one report (see the module docstring); JSON-ready."""

    configurations: int = 0  # compared
    sizes: dict[str, list[int]] = field(default_factory=dict)  # name -> [smallest, largest]
    dtypes: list[str] = field(default_factory=list)
    input_kinds: list[str] = field(default_factory=list)
    triples: list[int] = field(default_factory=list)  # [covered, required]
    pairs: list[int] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # the first few uncovered tuples
    real_sizes: list[str] = field(default_factory=list)  # real-size configurations compared (reduced probes)
    modes: str = MODES

    def lines(self) -> list[str]:
        """The envelope as the text report prints it."""
        if not self.configurations:
            return []
        sizes = ", ".join(f"{name} {lo}-{hi}" if lo != hi else f"{name} {lo}" for name, (lo, hi) in self.sizes.items())
        combined = ", ".join(STRUCTURE)
        head = f"ENVELOPE: what this verdict covers ({self.configurations} configurations compared)"
        lines = [
            f"{head}; nothing outside it is implied",
            f"  sizes: {sizes}",
            f"  dtypes: {', '.join(self.dtypes)}; input: {', '.join(self.input_kinds)}",
            (
                f"  combinations: {self.triples[0]} of {self.triples[1]} triples of values of {combined} "
                f"(layers 1 / 2 / 3+), and {self.pairs[0]} of {self.pairs[1]} pairs of values of those and the size "
                "classes (width, batch, length), of those the constraints allow"
            ),
        ]
        if self.missing:
            lines.append(f"  not reached: {'; '.join(self.missing)}")
        lines.append(f"  modes: {self.modes}")
        if self.real_sizes:
            lines.append(
                f"  real sizes ({len(self.real_sizes)} configurations, drawn every run at the top of each range; "
                "the reduced probe set): " + ", ".join(self.real_sizes)
            )
        lines.append(
            "  widen it: --seed random (other sizes and features), --thorough (every structural combination), "
            "--input-size/--hidden-size/--seq-len/... (your own set-up, any size)"
        )
        return lines


def _described(t: Tuple) -> str:
    return ", ".join(f"{factor} {value}" for factor, value in t)


def envelope(configs: Iterable[Mapping[str, object]], unsupported: frozenset[str] = frozenset()) -> Envelope:
    """The envelope of the configurations compared (their dicts, as a report holds them)."""
    known = {f.name for f in fields(Config)}
    compared = [Config(**{k: v for k, v in c.items() if k in known}) for c in configs]  # type: ignore[arg-type]
    if not compared:
        return Envelope()
    sizes = {}
    for name, attribute in SIZES.items():
        values = [getattr(c, attribute) for c in compared if getattr(c, attribute) or attribute != "proj_size"]
        if values:
            sizes[name] = [min(values), max(values)]
    required = required_tuples(unsupported)
    covered = covered_tuples(assignment_of(c) for c in compared) & required
    triples = [t for t in required if len(t) == 3]
    pairs = [t for t in required if len(t) == 2]
    missing = sorted(required - covered, key=lambda t: (-len(t), repr(t)))
    return Envelope(
        configurations=len(compared),
        sizes=sizes,
        dtypes=sorted({c.dtype for c in compared}, key=["float64", "float32", "bfloat16", "float16"].index),
        input_kinds=sorted({c.input_kind for c in compared}),
        triples=[sum(t in covered for t in triples), len(triples)],
        pairs=[sum(t in covered for t in pairs), len(pairs)],
        missing=[_described(t) for t in missing[:SHOWN_MISSING]]
        + ([f"and {len(missing) - SHOWN_MISSING} more"] if len(missing) > SHOWN_MISSING else []),
        real_sizes=[c.name for c in compared if c.scale],
    )


@functools.cache
def _draws(samples: int) -> tuple[list[Config], ...]:
    """``samples`` independent draws of the real-size configurations (the same ones for every call)."""
    return tuple(real_size_configs(random.Random(f"lstm-replica beyond {k}")) for k in range(samples))


def beyond(size: str, bound: int, samples: int = 4_000) -> float:
    """The chance that one default run compares a configuration whose ``size`` exceeds ``bound``, from the
    real-size draws alone (the matrix's smaller sizes only add to it): estimated from ``samples`` draws.

    ``size``: a name of :data:`TOPS`. A defect present at every size past ``bound`` is met with this chance by
    one run, and with ``1 - (1 - p)**k`` by k runs of ``--seed random``.
    """
    attribute = {"float64 steps": "steps"}.get(size, SIZES.get(size, ""))
    hits = 0
    for drawn in _draws(samples):
        if size == "float64 steps":
            drawn = [c for c in drawn if c.dtype == "float64"]
        hits += any(getattr(c, attribute) > bound for c in drawn)
    return hits / samples
