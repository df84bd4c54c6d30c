"""Candidates that are broken rather than inexact: wrong kind of object, signature, structure, shape, dtype, NaN, hangs.

Load and structure faults leave nothing to compare: "could not be checked" (exit 2). Wrong shapes, dtypes and NaN
are proven differences: "not a replica" (exit 1).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from lstm_replica import LSTM, LSTMCell
from lstm_replica.cell import Hidden
from parity_tests.wrong_candidates.modules import OneUlp

NOT_A_CLASS = 42


class SizeOnly(nn.Module):
    """A constructor that does not take nn.LSTM's parameter names."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size


class NeedsActivation(LSTM):
    """nn.LSTM's parameter names plus a required one nn.LSTM does not have."""

    def __init__(self, input_size: int, hidden_size: int, activation: str, num_layers: int = 1, **kwargs) -> None:
        super().__init__(input_size, hidden_size, num_layers, **kwargs)
        self.activation = activation


class ForwardRaises(LSTM):
    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None):
        msg = "boom"
        raise RuntimeError(msg)


class ForwardExits(LSTM):
    """Calls sys.exit(0) from forward: must not pass for a replica."""

    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None):
        sys.exit(0)


class ReturnsOutputOnly(LSTM):
    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None):
        return super().forward(input, hx)[0]


class ReturnsFlatTriple(LSTM):
    """(output, h_n, c_n) instead of (output, (h_n, c_n))."""

    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None):
        output, (h_n, c_n) = super().forward(input, hx)
        return output, h_n, c_n


class CellReturnsH(LSTMCell):
    """A cell returning h alone instead of (h, c)."""

    def forward(self, input: Tensor, hx: Hidden | None = None):
        return super().forward(input, hx)[0]


class AlwaysBatchFirst(LSTM):
    """Returns batch-major output whatever batch_first says: (N, L, H) where nn.LSTM gives (L, N, H)."""

    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None):
        output, state = super().forward(input, hx)
        return output.transpose(0, 1), state


class AlwaysFloat32(LSTM):
    """Hands back float32 whatever the module's dtype."""

    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None):
        output, (h_n, c_n) = super().forward(input, hx)
        return output.float(), (h_n.float(), c_n.float())


class CellWidensC(LSTMCell):
    """A cell whose c comes back with a doubled feature dimension."""

    def forward(self, input: Tensor, hx: Hidden | None = None):
        h, c = super().forward(input, hx)
        return h, torch.cat([c, c], -1)


class NaNFromStep3(LSTM):
    """NaN in the output from time step 3 on (a log of a negative number, say)."""

    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None):
        output, state = super().forward(input, hx)
        if isinstance(output, Tensor) and output.dim() == 3 and not self.batch_first:
            output = torch.cat([output[:3], output[3:] * float("nan")])  # (L, N, D*H_out)
        return output, state


class Hangs(LSTM):
    """Never returns from forward (a Python loop that does not end), and swallows Exception on the way."""

    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None):
        while True:
            with contextlib.suppress(Exception):  # a candidate may: the time-out must still get through
                time.sleep(0.01)


class HangsIgnoringAlarm(LSTM):
    """Hangs where the time-out's alarm cannot reach it (as code stuck in C would): only the watchdog can end it."""

    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None):
        signal.signal(signal.SIGALRM, signal.SIG_IGN)
        while True:
            time.sleep(0.05)


class MixedFaults(OneUlp):
    """One ulp off where it runs, and raising for bidirectional modules: differs in one place, unchecked in another."""

    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None):
        if self.bidirectional:
            msg = "bidirectional is not implemented"
            raise NotImplementedError(msg)
        return super().forward(input, hx)


class SegfaultsOnTwoLayers(LSTM):
    """Exact, except that a two-layer forward kills its own process with SIGSEGV (as a broken extension would)."""

    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None):
        if self.num_layers == 2:
            os.kill(os.getpid(), signal.SIGSEGV)
        return super().forward(input, hx)


class ExitsOnTwoLayers(LSTM):
    """Exact, except that a two-layer forward ends the process with os._exit(0): no exception, no report."""

    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None):
        if self.num_layers == 2:
            os._exit(0)
        return super().forward(input, hx)
