"""Long sequences: 20,000 time steps, bitwise with ``nn.LSTM`` on the native path, in linear time.

The layer loops walk the steps iteratively and the backward is autograd's
(C++, no Python recursion), so both run under a Python recursion limit only
100 frames above the test's own depth. Runtime is kept small with one input
feature, hidden_size 2 and batch 2. Time must grow linearly with the length:
indexing ``x[t]`` instead of ``unbind`` would make the backward quadratic,
which the 2,000 / 20,000-step comparison catches (10x expected, 100x if quadratic).
"""

from __future__ import annotations

import inspect
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_sequence

from lstm_replica import LSTM
from parity_tests._support import Case, bitwise_differences, make_inputs, run

STEPS = 20_000


@contextmanager
def recursion_headroom(frames: int = 100) -> Iterator[None]:
    """Python's recursion limit set to ``frames`` above the current depth, restored after."""
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack(0)) + frames)
    try:
        yield
    finally:
        sys.setrecursionlimit(previous)


def timed_run(module: nn.Module, case: Case) -> tuple[dict[str, torch.Tensor], float]:
    inputs = make_inputs(case, torch.Generator().manual_seed(case.steps))
    start = time.process_time()
    with recursion_headroom():
        result = run(module, case, inputs)
    return result, time.process_time() - start


@pytest.mark.slow
@pytest.mark.usefixtures("native_cpu")
def test_20000_steps_forward_backward_bitwise_in_linear_time() -> None:
    case = Case(input_size=1, hidden_size=2, batch=2, steps=STEPS, dtype=torch.float32)
    reference = nn.LSTM(**case.module_kwargs())
    replica = LSTM.from_torch(reference)
    expected, _ = timed_run(reference, case)
    got, long_seconds = timed_run(replica, case)
    problems = bitwise_differences(expected, got)
    assert not problems, f"after {STEPS} steps the replica differs from nn.LSTM:\n" + "\n".join(problems)
    for name, tensor in got.items():
        assert tensor.isfinite().all(), f"{name} is not finite after {STEPS} steps"

    short = Case(input_size=1, hidden_size=2, batch=2, steps=STEPS // 10, dtype=torch.float32)
    short_seconds = min(timed_run(replica, short)[1] for _ in range(2))
    ratio = long_seconds / short_seconds
    assert ratio < 30, (
        f"Expected about 10x the time for 10x the steps, got {ratio:.1f}x "
        f"({short_seconds:.2f} s for {short.steps} steps, {long_seconds:.2f} s for {STEPS})"
    )


@pytest.mark.slow
@pytest.mark.usefixtures("native_cpu")
def test_20000_steps_packed_bidirectional_forward_bitwise() -> None:
    reference = nn.LSTM(1, 2, bidirectional=True)
    replica = LSTM.from_torch(reference)
    generator = torch.Generator().manual_seed(1)
    packed = pack_sequence(
        [torch.randn(STEPS, 1, generator=generator), torch.randn(STEPS - 3_333, 1, generator=generator)]
    )
    with torch.no_grad(), recursion_headroom():
        expected_output, (expected_h, expected_c) = reference(packed)
        output, (h_n, c_n) = replica(packed)
    for name, want, got in (
        ("output", expected_output.data, output.data),
        ("h_n", expected_h, h_n),
        ("c_n", expected_c, c_n),
    ):
        assert torch.equal(want, got), (
            f"{name} differs after {STEPS} packed steps: "
            f"{int((want != got).sum())}/{want.numel()} elements, max abs diff {(want - got).abs().max().item():.3e}"
        )
