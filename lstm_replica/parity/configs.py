"""The configuration matrix: which ``nn.LSTM`` set-ups a candidate is checked in.

The default matrix covers every pair of feature values (pairwise covering,
built greedily and deterministically from :data:`FACTORS`), so features are
exercised in combination rather than one at a time; a few long sequences
(>= 200 steps) and the seed example's sizes (input 5, hidden 256) are added.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from itertools import combinations

import torch

from lstm_replica.lstm import lstm_config

SHORT_STEPS = 7
PROJ_SIZE = 2


@dataclass(frozen=True)
class Config:
    """One set-up: the module's constructor arguments plus how the input is shaped and fed."""

    num_layers: int = 1
    bidirectional: bool = False
    proj_size: int = 0
    bias: bool = True
    batch_first: bool = False
    input_kind: str = "batched"  # "batched" | "unbatched" | "packed" (unsorted lengths)
    hx_given: bool = True
    dropout: float = 0.0  # always checked in eval mode
    dtype: str = "float64"
    batch: int = 3
    steps: int = SHORT_STEPS
    input_size: int = 4
    hidden_size: int = 6
    label: str = ""

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
        parts += ["f64" if self.dtype == "float64" else "f32", f"n{self.batch}", f"t{self.steps}"]
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

    def module_kwargs(self) -> dict[str, object]:
        """``nn.LSTM``'s constructor arguments, device and dtype aside."""
        return lstm_config(self)

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, **asdict(self)}


# factor -> the values it takes; "sizes" is (input_size, hidden_size): different, then equal
FACTORS: dict[str, tuple[object, ...]] = {
    "num_layers": (1, 2, 3),
    "bidirectional": (False, True),
    "proj_size": (0, PROJ_SIZE),
    "bias": (True, False),
    "batch_first": (False, True),
    "input_kind": ("batched", "unbatched", "packed"),
    "hx_given": (True, False),
    "dropout": (0.0, 0.25),
    "dtype": ("float64", "float32"),
    "batch": (1, 3),
    "sizes": ((4, 6), (5, 5)),
}


def allowed(assignment: dict[str, object]) -> bool:
    """Constraints between factors: inter-layer dropout needs 2+ layers; unbatched input is batch 1."""
    if assignment.get("dropout", 0.0) and assignment.get("num_layers", 2) == 1:
        return False
    return not (assignment.get("input_kind") == "unbatched" and assignment.get("batch", 1) != 1)


def required_pairs() -> set[tuple[tuple[str, object], tuple[str, object]]]:
    """Every pair of values of two different factors that the constraints allow."""
    pairs = set()
    for f1, f2 in combinations(FACTORS, 2):
        for v1 in FACTORS[f1]:
            for v2 in FACTORS[f2]:
                if allowed({f1: v1, f2: v2}):
                    pairs.add(((f1, v1), (f2, v2)))
    return pairs


def covered_pairs(assignment: dict[str, object]) -> set[tuple[tuple[str, object], tuple[str, object]]]:
    names = [f for f in FACTORS if f in assignment]
    return {((f1, assignment[f1]), (f2, assignment[f2])) for f1, f2 in combinations(names, 2)}


def pairwise_rows() -> list[dict[str, object]]:
    """A greedy covering array: each row fixes one uncovered pair, then fills the other factors best-first."""
    uncovered = required_pairs()
    rows = []
    while uncovered:
        (f1, v1), (f2, v2) = min(uncovered, key=repr)
        row: dict[str, object] = {f1: v1, f2: v2}
        for factor, values in FACTORS.items():
            if factor in row:
                continue
            options = [v for v in values if allowed({**row, factor: v})]
            row[factor] = max(options, key=lambda v, f=factor: len(covered_pairs({**row, f: v}) & uncovered))
        uncovered -= covered_pairs(row)
        rows.append(row)
    return rows


def _from_row(row: dict[str, object]) -> Config:
    fields = {k: v for k, v in row.items() if k != "sizes"}
    input_size, hidden_size = row["sizes"]
    return Config(**fields, input_size=input_size, hidden_size=hidden_size)


def extra_configs() -> list[Config]:
    """The seed example's sizes and long sequences, which the pairwise rows keep short."""
    return [
        Config(label="seed", input_size=5, hidden_size=256, dtype="float32", batch=4, steps=16),
        Config(label="long", num_layers=2, dtype="float32", batch=3, steps=200, input_size=3, hidden_size=5),
        Config(
            label="long",
            input_kind="packed",
            bidirectional=True,
            proj_size=PROJ_SIZE,
            batch_first=True,
            hx_given=False,
            batch=3,
            steps=210,
            input_size=3,
            hidden_size=4,
        ),
    ]


def default_matrix() -> list[Config]:
    """The pairwise-covering rows plus :func:`extra_configs`."""
    return [_from_row(row) for row in pairwise_rows()] + extra_configs()


def quick_matrix() -> list[Config]:
    """A small set that still touches every feature once, for tests and fast iteration."""
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


def select(names: list[str] | None, quick: bool) -> list[Config]:
    """The configurations to run: the named ones (from either matrix), else the quick or default matrix."""
    matrix = quick_matrix() if quick else default_matrix()
    if not names:
        return matrix
    known = {c.name: c for c in default_matrix() + quick_matrix()}
    missing = [n for n in names if n not in known]
    if missing:
        msg = f"Expected configuration names from --list-configs, got unknown {', '.join(missing)}"
        raise ValueError(msg)
    return [known[n] for n in names]
