"""What a check found, as data: the words of its verdicts and one configuration's result.

Nothing here runs a candidate: loading a report (:mod:`.report`, a plot) imports this module, the
comparison rules and the envelope, not the harness that runs candidates. The vocabularies a report is
written in are ``Literal`` types, checked by mypy wherever they are assigned or compared:
:data:`Status` (a configuration's result), :data:`Kind` (module or cell candidate), :data:`Stop` (why a
run ended early). The JSON report writes them as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from lstm_replica.parity.compare import Difference

Status = Literal["bitwise", "within tolerance", "different", "not applicable", "error", ""]  # "": not judged yet
Kind = Literal["module", "cell"]
Stop = Literal["", "after the time-out", "after the first difference (--fail-fast)"]
TIMED_OUT: Stop = "after the time-out"
FAILED_FAST: Stop = "after the first difference (--fail-fast)"
COMPARED: tuple[Status, ...] = ("bitwise", "within tolerance", "different")  # a result with comparisons
# a message of a check: (kind, payload); check()'s on_result hears the first three, an isolated check's parent
# every one its child sends (see .isolation)
Message = Literal[
    "started", "limit", "result", "ready", "accepted", "report", "unsendable", "raised", "stuck", "died", "gone",
    "unstarted", "silent",
]  # fmt: skip
GRADIENT = "grad "  # a gradient's key: this, then what it is the gradient of (see grad_key)
LEAF_GRADS = ("grad input", "grad h_0", "grad c_0")  # the gradients of the inputs, not of a parameter


def grad_key(name: str) -> str:
    """The key of the gradient of ``name`` (``input``, ``h_0``, ``c_0`` or a parameter) in a call's tensors, a
    difference's ``tensor`` and the report: ``grad weight_ih_l0``. Built here and read back by
    :func:`gradient_of` only."""
    return GRADIENT + name


def gradient_of(key: str) -> str | None:
    """What the gradient ``key`` is of (``grad weight_ih_l0`` -> ``weight_ih_l0``); None for a forward tensor."""
    return key[len(GRADIENT) :] if key.startswith(GRADIENT) else None


FOLDED_PROBE = "initial and trained bias values"  # skipped where the candidate folds b_ih + b_hh into one bias


@dataclass
class ConfigResult:
    config: dict[str, object]
    status: Status
    reason: str = ""
    differences: list[Difference] = field(default_factory=list)
    checks: dict[str, bool] = field(default_factory=dict)
    location: Location | None = None
    steps: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # series -> max_abs / max_ulps per step
    cell_errors: dict[str, float] = field(default_factory=dict)  # teacher-forced vs accumulated, cells only
    audit: list[str] = field(default_factory=list)  # parameters that are not what they seem, named
    skipped: dict[str, str] = field(default_factory=dict)  # probe -> why it did not run
    repeatability: float = 0.0  # max abs difference between two identical calls of the candidate

    @property
    def name(self) -> str:
        return str(self.config["name"])


@dataclass(frozen=True)
class Location:
    tensor: str
    time_step: int | str | None = None
    layer: int | None = None
    direction: str | None = None
    batch_index: int | None = None
    gate: str | None = None
    note: str = ""
    cause: str = ""  # the likely cause, where the evidence leaves no doubt (see probe_cause)

    def describe(self) -> str:
        parts = [self.tensor]
        for label, value in (
            ("time step", self.time_step),
            ("layer", self.layer),
            ("direction", self.direction),
            ("batch index", self.batch_index),
        ):
            if value is not None:
                parts.append(f"{label} {value}")
        parts.append(
            ("all gates" if self.gate == "all gates" else f"gate {self.gate}") if self.gate else "gate not isolable"
        )
        notes = [self.note, f"likely cause: {self.cause}" if self.cause else ""]
        said = "; ".join(n for n in notes if n)
        return ", ".join(parts) + (f" ({said})" if said else "")
