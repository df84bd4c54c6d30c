"""The replica on CUDA against ``nn.LSTM`` on CUDA: cuDNN, cuDNN off, TF32 on and off.

No CUDA path is bitwise: cuDNN runs its own fused RNN kernels, and with cuDNN off
``nn.LSTM`` multiplies the input one step at a time and uses a fused cell kernel,
where the replica hoists the input projection as the CPU path does. Each check
therefore uses the harness's tolerance table (``lstm_replica.parity.compare``),
where every tolerance states why it is that size. Skipped without a GPU.
"""

from __future__ import annotations

import contextlib

import pytest
import torch
from torch import nn

from lstm_replica import LSTM
from lstm_replica.parity.backends import Backend, flags
from lstm_replica.parity.compare import tolerance_for
from parity_tests._support import Case, make_inputs, run

pytestmark = pytest.mark.cuda

CASES = [
    Case(num_layers=2, bidirectional=True, dtype=torch.float32, steps=50, batch=8, hidden_size=32),
    Case(num_layers=2, proj_size=8, dtype=torch.float32, steps=50, batch=8, hidden_size=32),
    Case(num_layers=1, input_kind="packed_unsorted", dtype=torch.float32, steps=40, batch=6, hidden_size=16),
    Case(num_layers=3, bidirectional=True, bias=False, batch_first=True, dtype=torch.float64, steps=30),
    Case(input_size=5, hidden_size=256, steps=50, batch=32, dtype=torch.float32),
]
BACKENDS = ["cudnn", "cudnn_off", "tf32"]


def backend_flags(backend: str) -> contextlib.AbstractContextManager[None]:
    """cuDNN on (TF32 off or on) or off, through the harness's own flag setter."""
    return flags(Backend("cuda", "native" if backend == "cudnn_off" else "cudnn", tf32=backend == "tf32"))


def _to(inputs: object, device: torch.device) -> object:
    for name in ("x", "h0", "c0"):
        setattr(inputs, name, getattr(inputs, name).to(device))
    return inputs


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_replica_on_cuda_matches_nn_lstm_within_stated_tolerance(
    case: Case, backend: str, cuda_device: torch.device
) -> None:
    if backend == "tf32" and case.dtype != torch.float32:
        pytest.skip("TF32 applies to float32 only")
    tolerance = tolerance_for("tf32" if backend == "tf32" else "cudnn", case.dtype)
    reference = nn.LSTM(**case.module_kwargs()).to(cuda_device)
    replica = LSTM.from_torch(reference)
    inputs = _to(make_inputs(case, torch.Generator().manual_seed(3)), cuda_device)
    with backend_flags(backend):
        expected = run(reference, case, inputs)
        actual = run(replica, case, inputs)
    for name, tensor in expected.items():
        assert actual[name].device == tensor.device, f"{name}: expected {tensor.device}, got {actual[name].device}"
        torch.testing.assert_close(
            actual[name],
            tensor,
            rtol=tolerance.rtol,
            atol=tolerance.atol,
            msg=lambda m, name=name: f"{case.id} on {backend} ({tolerance.why}) {name}: {m}",
        )


def test_transfer_keeps_the_cuda_device(cuda_device: torch.device) -> None:
    reference = nn.LSTM(5, 8, num_layers=2).to(cuda_device)
    replica = LSTM.from_torch(reference)
    assert replica.weight_hh_l1.device == cuda_device, f"Expected {cuda_device}, got {replica.weight_hh_l1.device}"
    assert replica.to_torch().weight_hh_l1.device == cuda_device, "to_torch moved the weights off the GPU"
