"""What every probe works with: the pair, its configuration and standard (:class:`Probing`), and where it
writes what it found (:class:`ProbeLog`); the helpers probes share to call both sides and compare them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import Tensor

from lstm_replica.parity.build import Candidate, Pair, Side, WrongResult
from lstm_replica.parity.calls import Call, Outcome, run
from lstm_replica.parity.candidates import CheckError
from lstm_replica.parity.compare import Difference, Tolerance, compare
from lstm_replica.parity.configs import Config
from lstm_replica.parity.inputs import Inputs

FORWARD_NAMES = ("output", "h_n", "c_n")


@dataclass(frozen=True)
class Probing:
    """What every probe works with: the pair, its configuration, device, tolerance row, generator and standard."""

    pair: Pair
    config: Config
    device: str
    row: Tolerance
    generator: torch.Generator
    tolerance: bool = False
    spec: Candidate | None = None  # how the candidate is built: the probes that build it again need it
    seed: int = 0  # the configuration's seed
    unsupported: frozenset[str] = frozenset()  # features the candidate declared or refused
    backend: str = "native"
    first: Outcome | None = None  # the reference's call 1


@dataclass
class ProbeLog:
    """The differences found by the probes, the calls kept for locating, and probes left out (with why)."""

    differences: list[Difference] = field(default_factory=list)
    outcomes: dict[str, tuple[Outcome, Outcome, Config]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    parameters_changed: list[str] = field(default_factory=list)
    aliased: list[str] = field(default_factory=list)
    returned: list[tuple[str, str, Tensor, Tensor]] = field(default_factory=list)  # probe, name, tensor, copy

    def keep(self, probe: str, outcome: Outcome) -> None:
        """Remember what a call returned, to see at the end that no later call overwrote it."""
        for name in FORWARD_NAMES:
            tensor = outcome.tensors.get(name)
            if tensor is not None:
                self.returned.append((probe, name, tensor, tensor.detach().clone()))

    def overwritten(self) -> list[str]:
        """Returned tensors whose values changed after they were returned."""
        return [
            f"{name} returned by {probe or 'call 1'}"
            for probe, name, tensor, copy in self.returned
            if not torch.equal(tensor.detach(), copy)
        ]


def compare_calls(
    cand: Outcome, ref: Outcome, row: Tolerance, probe: str, names: tuple[str, ...] | None = None
) -> list[Difference]:
    names = tuple(ref.tensors) if names is None else names
    return [compare(name, cand.tensors.get(name), ref.tensors.get(name), row, probe) for name in names]


def raised(probe: str, exc: Exception) -> Difference:
    """The candidate raised where nn.LSTM did not: a proven difference."""
    return Difference.apart("raises", f"{exc}; nn.LSTM does not raise here", probe)


@contextmanager
def catching(log: ProbeLog, probe: str) -> Iterator[None]:
    try:
        yield
    except ReferenceRaised as exc:
        log.skipped[probe] = f"nn.LSTM itself raises here ({exc})"
    except (CheckError, WrongResult) as exc:
        log.differences.append(raised(probe, exc))


class ReferenceRaised(Exception):
    """nn.LSTM itself raised on a probe's valid input (cuDNN refuses non-contiguous states, say)."""


def run_reference(side: Side, config: Config, inputs: Inputs, call: Call) -> Outcome:
    """The reference's run of a probe; its refusal is the probe's to skip, never the candidate's fault."""
    try:
        return run(side, config, inputs, call)
    except (CheckError, WrongResult) as exc:
        raise ReferenceRaised(str(exc)) from exc
