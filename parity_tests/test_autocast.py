"""The replica under autocast: nn.LSTM's output dtypes, and its values (bitwise on the native path).

Under CPU autocast, nn.LSTM's native path casts its matmuls (``linear``) to the autocast dtype and runs its
element-wise ops in whatever dtype they meet; with oneDNN on (padded input, no projection) autocast casts
oneDNN's whole layer op, so output, h_n and c_n come back in the autocast dtype. Each test runs nn.LSTM first
under the condition, then the replica from the same weights.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

from lstm_replica import LSTM, LSTMCell
from lstm_replica.fast import FastLSTM
from lstm_replica.parity.backends import Backend, flags
from lstm_replica.parity.compare import tolerance_for

CASES = [
    {"num_layers": 2},
    {"num_layers": 2, "bidirectional": True},
    {"proj_size": 3},
    {"batch_first": True},
    {"packed": True},
    {"unbatched": True},
    {"num_layers": 2, "hx": True},  # given states: cast to the autocast dtype with the input
]


def _run(module: nn.Module, x: Tensor, case: dict[str, object], low: torch.dtype) -> dict[str, Tensor]:
    x = x.clone().requires_grad_()
    fed: Tensor | PackedSequence = x[:, 0] if case.get("unbatched") else x
    if case.get("batch_first"):
        fed = x.transpose(0, 1)
    if case.get("packed"):
        fed = pack_padded_sequence(x, torch.tensor([4, 2]), enforce_sorted=False)
    generator = torch.Generator().manual_seed(2)
    states = [torch.randn(2, 2, 6, generator=generator).requires_grad_() for _ in range(2)] if case.get("hx") else []
    with torch.autocast("cpu", dtype=low), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # nn.LSTM: "LSTM with projections is not supported with oneDNN"
        output, (h_n, c_n) = module(fed, (states[0], states[1]) if states else None)
    out = output.data if isinstance(output, PackedSequence) else output
    loss = out.float().sum() + h_n.float().sum() + c_n.float().sum()
    grads = torch.autograd.grad(loss, [x, *states, *module.parameters()])
    forward = {"output": out.detach(), "h_n": h_n.detach(), "c_n": c_n.detach(), "grad input": grads[0]}
    forward |= dict(zip(("grad h_0", "grad c_0")[: len(states)], grads[1 : 1 + len(states)], strict=True))
    named = zip(module.named_parameters(), grads[1 + len(states) :], strict=True)
    return forward | {f"grad {n}": g for (n, _), g in named}


def _pair(case: dict[str, object], cls: type[LSTM] = LSTM) -> tuple[nn.LSTM, LSTM]:
    torch.manual_seed(0)
    kwargs = {k: v for k, v in case.items() if k not in ("packed", "unbatched", "hx")}
    reference = nn.LSTM(5, 6, **kwargs)
    return reference, cls.from_torch(reference)


@pytest.mark.parametrize("low", [torch.bfloat16, torch.float16], ids=["bfloat16", "float16"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(c) or "plain")
def test_native_path_is_bitwise_under_autocast(case: dict[str, object], low: torch.dtype) -> None:
    reference, replica = _pair(case)
    x = torch.randn(4, 2, 5, generator=torch.Generator().manual_seed(1))
    with flags(Backend("cpu", "native")):
        expected, got = _run(reference, x, case, low), _run(replica, x, case, low)
    for name, tensor in expected.items():
        assert got[name].dtype == tensor.dtype, f"{name}: Expected dtype {tensor.dtype}, got {got[name].dtype}"
        assert torch.equal(got[name], tensor), f"{name} differs from nn.LSTM under {low} autocast (native path)"


@pytest.mark.parametrize("cls", [LSTM, FastLSTM], ids=["replica", "fast"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(c) or "plain")
def test_onednn_path_has_nn_lstms_dtypes_and_half_precision_values(case: dict[str, object], cls: type[LSTM]) -> None:
    """FastLSTM too: under autocast it steps as the replica (its fused loop's in-place products take one dtype)."""
    reference, replica = _pair(case, cls)
    x = torch.randn(4, 2, 5, generator=torch.Generator().manual_seed(1))
    row = tolerance_for("onednn", torch.bfloat16)
    with flags(Backend("cpu", "onednn")):
        expected, got = _run(reference, x, case, torch.bfloat16), _run(replica, x, case, torch.bfloat16)
    for name, tensor in expected.items():
        assert got[name].dtype == tensor.dtype, f"{name}: Expected dtype {tensor.dtype}, got {got[name].dtype}"
        scale = max(1.0, float(tensor.float().abs().max()))
        torch.testing.assert_close(
            got[name].float(),
            tensor.float(),
            rtol=row.rtol,
            atol=row.atol * scale,
            msg=lambda m, name=name: f"{name} under bfloat16 autocast, oneDNN on ({row.why}): {m}",
        )


def test_onednn_dtype_change_shows_in_plain_use() -> None:
    reference = nn.LSTM(5, 6)
    with flags(Backend("cpu", "onednn")), torch.autocast("cpu", dtype=torch.bfloat16):
        output, (h_n, c_n) = reference(torch.randn(4, 2, 5))
    assert {output.dtype, h_n.dtype, c_n.dtype} == {torch.bfloat16}, "nn.LSTM's oneDNN layer op is autocast"


@pytest.mark.parametrize("low", [torch.bfloat16, torch.float16], ids=["bfloat16", "float16"])
def test_cell_is_bitwise_under_autocast(low: torch.dtype) -> None:
    torch.manual_seed(0)
    reference = nn.LSTMCell(5, 6)
    replica = LSTMCell.from_torch(reference)
    x, h, c = (torch.randn(2, n, generator=torch.Generator().manual_seed(n)) for n in (5, 6, 6))
    with torch.autocast("cpu", dtype=low):
        expected, got = reference(x, (h, c)), replica(x, (h, c))
    for name, a, b in zip("hc", got, expected, strict=True):
        assert a.dtype == b.dtype, f"{name}: Expected dtype {b.dtype}, got {a.dtype}"
        assert torch.equal(a, b), f"{name} differs from nn.LSTMCell under {low} autocast"


@pytest.mark.cuda
@pytest.mark.parametrize("packed", [False, True], ids=["padded", "packed"])
@pytest.mark.parametrize("low", [torch.bfloat16, torch.float16], ids=["bfloat16", "float16"])
def test_cuda_autocast_has_nn_lstms_dtypes_and_half_precision_values(
    cuda_device: torch.device, low: torch.dtype, packed: bool
) -> None:
    torch.manual_seed(0)
    reference = nn.LSTM(5, 6, num_layers=2).to(cuda_device)
    replica = LSTM.from_torch(reference)
    x = torch.randn(4, 2, 5, device=cuda_device)
    fed: Tensor | PackedSequence = x
    if packed:  # cuDNN takes packed input too: the replica casts the packed data, as for padded input
        fed = pack_padded_sequence(x, torch.tensor([4, 3]), enforce_sorted=False)
    row = tolerance_for("cudnn", low)
    with flags(Backend("cuda", "cudnn")), torch.autocast("cuda", dtype=low):
        expected, got = reference(fed), replica(fed)
    outputs = [r[0].data if isinstance(r[0], PackedSequence) else r[0] for r in (got, expected)]
    for name, a, b in zip(("output", "h_n", "c_n"), (outputs[0], *got[1]), (outputs[1], *expected[1]), strict=True):
        assert a.dtype == b.dtype, f"{name}: Expected dtype {b.dtype}, got {a.dtype}"
        torch.testing.assert_close(
            a.float(), b.float(), rtol=row.rtol, atol=row.atol, msg=lambda m, n=name: f"{n}: {m}"
        )


@pytest.mark.parametrize(
    ("dtype", "shape"),
    [(torch.float64, (4, 2, 5)), (torch.float32, (1, 1, 1))],
    ids=["float64-input-is-not-cast", "one-element-batch-is-cast"],
)
def test_onednn_autocast_casts_what_nn_lstm_casts(dtype: torch.dtype, shape: tuple[int, ...]) -> None:
    """float64 stays float64 (oneDNN's autocast cast is for float32); a single-element input is cast all the same."""
    torch.manual_seed(0)
    reference = nn.LSTM(shape[-1], 6, dtype=dtype)
    replica = LSTM.from_torch(reference)
    x = torch.randn(*shape, dtype=dtype, generator=torch.Generator().manual_seed(1))  # (L, N, H_in)
    with flags(Backend("cpu", "onednn")), torch.autocast("cpu", dtype=torch.bfloat16):
        expected, got = reference(x), replica(x)
    for name, a, b in zip(("output", "h_n", "c_n"), (got[0], *got[1]), (expected[0], *expected[1]), strict=True):
        assert a.dtype == b.dtype, f"{name}: Expected dtype {b.dtype}, got {a.dtype}"
        row = tolerance_for("onednn", b.dtype)
        torch.testing.assert_close(a, b, rtol=row.rtol, atol=row.atol, msg=lambda m, n=name: f"{n}: {m}")
