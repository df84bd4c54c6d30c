"""Shared by the interop tests: configurations, inputs, the nn.LSTM oracle and the one tolerance table.

Each framework's LSTM, given weights converted from an ``nn.LSTM``, is compared with that ``nn.LSTM`` on the same
input and initial state. The comparisons are not bitwise (each framework sums the gate pre-activations in its own
order, and one-bias layouts fold ``b_ih + b_hh``), so each dtype has a tolerance here, with the largest difference
measured on this machine (torch 2.13.0 CPU, keras 3.15.1 on torch, jax / flax 0.10.2 / 0.12.8, onnxruntime 1.32.0,
tensorflow-cpu 2.21.0) beside it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from types import ModuleType

import pytest
import torch
from torch import Tensor, nn

INPUT_SIZE, HIDDEN_SIZE, SEQ_LEN, BATCH_SIZE = 5, 7, 6, 3

# rtol / atol of torch.testing.assert_close for a framework's outputs against nn.LSTM's, per dtype.
TOLERANCES: dict[torch.dtype, dict[str, float]] = {
    # float32: the frameworks' matmuls and gate sums round in other orders (one bias folded, too); over 6 steps
    # and 2 layers the largest difference measured, any framework, either direction, is 6.6e-07 (a few ulps of
    # values below 1; TensorFlow from weights of N(0, 0.5²)), each test module states its own.
    torch.float32: {"rtol": 1e-5, "atol": 1e-6},
    # float64: the same reorderings, 2**29 times finer: largest measured 5.0e-16 (Flax).
    torch.float64: {"rtol": 1e-12, "atol": 1e-14},
}


@dataclass(frozen=True)
class Setup:
    """An nn.LSTM configuration the converters support (no projection)."""

    num_layers: int = 1
    bidirectional: bool = False
    bias: bool = True

    @property
    def id(self) -> str:
        parts = [f"layers{self.num_layers}", "bidir" if self.bidirectional else "unidir"]
        return "-".join([*parts, "bias" if self.bias else "nobias"])

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def lstm(self, dtype: torch.dtype = torch.float32, *, batch_first: bool = False, seed: int = 0) -> nn.LSTM:
        """A seeded nn.LSTM with non-zero, distinct ``b_ih`` and ``b_hh`` (nn.LSTM's own initialisation)."""
        torch.manual_seed(seed)
        return nn.LSTM(
            INPUT_SIZE,
            HIDDEN_SIZE,
            num_layers=self.num_layers,
            bidirectional=self.bidirectional,
            bias=self.bias,
            batch_first=batch_first,
            dtype=dtype,
        ).eval()

    def inputs(self, dtype: torch.dtype, *, batch_first: bool = False, seed: int = 1) -> tuple[Tensor, Tensor, Tensor]:
        """``x`` ``(L, N, H_in)`` (``(N, L, H_in)`` batch first) and random non-zero ``h_0 != c_0``."""
        generator = torch.Generator().manual_seed(seed)
        shape = (BATCH_SIZE, SEQ_LEN, INPUT_SIZE) if batch_first else (SEQ_LEN, BATCH_SIZE, INPUT_SIZE)
        x = torch.randn(shape, generator=generator, dtype=dtype)
        state = (self.num_layers * self.num_directions, BATCH_SIZE, HIDDEN_SIZE)
        return (
            x,
            torch.randn(state, generator=generator, dtype=dtype),
            torch.randn(state, generator=generator, dtype=dtype),
        )


SETUPS = [Setup(), Setup(num_layers=2, bidirectional=True), Setup(bias=False)]
SETUP_IDS = [setup.id for setup in SETUPS]
DTYPES = [torch.float32, torch.float64]
DTYPE_IDS = ["float32", "float64"]


def run_reference(lstm: nn.LSTM, x: Tensor, h_0: Tensor, c_0: Tensor) -> dict[str, Tensor]:
    """``nn.LSTM``'s output, h_n and c_n: the oracle every framework is compared with."""
    with torch.no_grad():
        output, (h_n, c_n) = lstm(x, (h_0, c_0))
    return {"output": output, "h_n": h_n, "c_n": c_n}


def assert_matches(actual: dict[str, Tensor], expected: dict[str, Tensor], framework: str, config: str) -> float:
    """Each tensor of ``actual`` against nn.LSTM's within the dtype's tolerance; returns the largest difference.

    A failure names the framework, the configuration and the tensor, then assert_close's own report (mismatched
    elements, greatest absolute and relative difference and where).
    """
    largest = 0.0
    for name, reference in expected.items():
        value = torch.as_tensor(actual[name]).to(reference.dtype)
        torch.testing.assert_close(
            value,
            reference,
            **TOLERANCES[reference.dtype],
            msg=lambda report, name=name: f"{framework} {name} differs from nn.LSTM's in {config}:\n{report}",
        )
        largest = max(largest, (value - reference).abs().max().item())
    return largest


def keras_on_torch() -> ModuleType:
    """Keras 3 on its torch backend, or the calling test module skipped with the reason."""
    os.environ["KERAS_BACKEND"] = "torch"  # before keras is imported: Keras 3 reads its backend once, at import
    keras = pytest.importorskip(
        "keras", minversion="3", reason="Keras 3 is not installed (pip install -e '.[interop]')"
    )
    if keras.backend.backend() != "torch":
        pytest.skip(
            f"Keras was imported on the {keras.backend.backend()} backend before this module set torch",
            allow_module_level=True,
        )
    return keras
