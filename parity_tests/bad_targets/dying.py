"""Candidates that end or starve their own process on two layers, exact on one: no exception reaches the harness.

Each is exact on a one-layer configuration, so a run that carries on after the death shows a bitwise row there.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence

from lstm_replica import LSTM
from lstm_replica.cell import Hidden
from parity_tests.wrong_candidates.modules import OneUlp

CHUNK = 64 * 2**20  # bytes per allocation of AllocatesUntilRefused
HEADROOM = 512 * 2**20  # how far past its current address space AllocatesUntilRefused may grow


class _DiesOnTwoLayers(LSTM):
    def die(self) -> None:
        raise NotImplementedError

    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None):
        if self.num_layers == 2:
            self.die()
        return super().forward(input, hx)


class ExitsZero(_DiesOnTwoLayers):
    """``os._exit(0)``: the process ends with a success status and says nothing."""

    def die(self) -> None:
        os._exit(0)


class ExitsOne(_DiesOnTwoLayers):
    """``os._exit(1)``."""

    def die(self) -> None:
        os._exit(1)


class SysExitsZero(_DiesOnTwoLayers):
    """``sys.exit(0)``: a SystemExit the harness catches."""

    def die(self) -> None:
        sys.exit(0)


class ReadsAddressZero(_DiesOnTwoLayers):
    """A real segfault: ``ctypes.string_at(0)`` reads address 0, as a broken extension would."""

    def die(self) -> None:
        ctypes.string_at(0)


class KilledAsOutOfMemory(_DiesOnTwoLayers):
    """SIGKILL, what the kernel's out-of-memory killer sends."""

    def die(self) -> None:
        os.kill(os.getpid(), signal.SIGKILL)


class Freezes(_DiesOnTwoLayers):
    """SIGSTOP: the process stops, its alarm and watchdog thread with it; it neither dies nor answers."""

    def die(self) -> None:
        os.kill(os.getpid(), signal.SIGSTOP)


class RaisesMemoryError(_DiesOnTwoLayers):
    """Python's out-of-memory exception."""

    def die(self) -> None:
        raise MemoryError


class AllocatesUntilRefused(_DiesOnTwoLayers):
    """Allocates 64 MiB tensors until the allocator refuses (torch's "can't allocate memory" RuntimeError).

    The process's address space is capped at its current size plus 512 MiB for the allocation only
    (``RLIMIT_AS``), so the shared machine never gives it more than that; the cap is lifted again after.
    """

    def die(self) -> None:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        with open("/proc/self/statm") as statm:
            size = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        held = []
        resource.setrlimit(resource.RLIMIT_AS, (size + HEADROOM, hard))
        try:
            while True:
                held.append(torch.ones(CHUNK, dtype=torch.uint8))
        finally:
            held.clear()
            resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


class _ExitsInBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: Tensor) -> Tensor:
        return x.clone()

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: Tensor) -> Tensor:
        os._exit(0)


class ExitsZeroInBackward(LSTM):
    """Exact forward; on two layers its backward ends the process with ``os._exit(0)``."""

    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None):
        output, state = super().forward(input, hx)
        if self.num_layers == 2 and isinstance(output, Tensor) and output.requires_grad:
            output = _ExitsInBackward.apply(output)
        return output, state


class DiesInTheDiagnosis(OneUlp):
    """One ulp off (within tolerance in float32); a two-layer module built in float64, the diagnosis's rerun, exits
    0 when called (one moved to float64 by ``.double()``, a probe of the configuration itself, does not)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.built_in_float64 = kwargs.get("dtype") == torch.float64

    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None):
        if self.num_layers == 2 and self.built_in_float64:
            os._exit(0)
        return super().forward(input, hx)


class ExitsWhenBuilt(LSTM):
    """``os._exit(0)`` in the constructor: the harness's first small build, before any configuration, ends it."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, **kwargs) -> None:
        os._exit(0)
