"""Shared fixtures: the native CPU reference path, seeded RNG, CUDA availability."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import torch
from hypothesis import settings

from lstm_replica.parity.backends import Backend, flags

settings.register_profile("ci", max_examples=60, deadline=None, derandomize=True, print_blob=True)
settings.register_profile("dev", max_examples=300, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def native_cpu() -> Iterator[None]:
    """Run ``nn.LSTM`` on ATen's native CPU kernels (oneDNN off): the bitwise reference path."""
    with flags(Backend("cpu", "native")):
        yield


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture
def cuda_device() -> torch.device:
    """The first CUDA device; the test is skipped with a reason when there is none."""
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU: torch.cuda.is_available() is False on this machine")
    return torch.device("cuda", 0)
