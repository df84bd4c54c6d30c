"""The fast mode (``lstm_replica.fast.FastLSTM``) agrees with ``nn.LSTM`` within the harness's tolerances.

FastLSTM is not bitwise (it folds the two biases and sums the recurrent weight
gradient in one GEMM), so the standard here is the parity harness's stated
tolerance for the native path and the dtype (``lstm_replica.parity.compare``),
applied to the output, h_n, c_n and every gradient (input, h_0, c_0, each
parameter). Packed input takes the exact replica's path, so there it must be
bitwise. The harness itself certifies FastLSTM (``check(..., tolerance=True)``).
The CUDA tests (eager and CUDA-graph fast path vs cuDNN) skip without a GPU.
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from lstm_replica import LSTM
from lstm_replica.fast import FastLSTM, cuda_graphed
from lstm_replica.parity import check
from lstm_replica.parity.backends import Backend, flags
from lstm_replica.parity.compare import tolerance_for
from parity_tests._support import Case, bitwise_differences, make_inputs, run

DENSE_CASES = [
    Case(),
    Case(dtype=torch.float32),
    Case(num_layers=2, bidirectional=True),
    Case(num_layers=3, bidirectional=True, proj_size=3, dtype=torch.float32),
    Case(num_layers=2, proj_size=2, bias=False, batch_first=True),
    Case(bidirectional=True, batch_first=True, hx_given=False, dtype=torch.float32),
    Case(num_layers=2, bidirectional=True, proj_size=2, input_kind="unbatched"),
    Case(num_layers=2, dropout=0.5, dtype=torch.float32),  # dropout inactive in eval mode
    Case(steps=1, batch=1),
    Case(steps=200, num_layers=2, bidirectional=True, dtype=torch.float32, input_size=16, hidden_size=32),
]
PACKED_CASES = [
    Case(input_kind="packed_unsorted", num_layers=2, bidirectional=True),
    Case(input_kind="packed_sorted", proj_size=2, batch_first=True, dtype=torch.float32),
]


def assert_within_tolerance(reference: dict[str, Tensor], candidate: dict[str, Tensor], dtype: torch.dtype) -> None:
    tol = tolerance_for("native", dtype)
    assert reference.keys() == candidate.keys(), f"tensors differ: {sorted(reference)} vs {sorted(candidate)}"
    for name, ref in reference.items():
        torch.testing.assert_close(
            candidate[name], ref, rtol=tol.rtol, atol=tol.atol, msg=lambda m, name=name: f"{name}: {m}"
        )


def fast_and_reference(case: Case) -> tuple[FastLSTM, nn.LSTM]:
    reference = nn.LSTM(**case.module_kwargs()).eval()
    return FastLSTM.from_torch(reference), reference


@pytest.mark.usefixtures("native_cpu")
@pytest.mark.parametrize("case", DENSE_CASES, ids=lambda c: c.id)
def test_forward_and_gradients_within_tolerance(case: Case) -> None:
    fast, reference = fast_and_reference(case)
    inputs = make_inputs(case, torch.Generator().manual_seed(7))
    assert_within_tolerance(run(reference, case, inputs), run(fast, case, inputs), case.dtype)


@pytest.mark.usefixtures("native_cpu")
@pytest.mark.parametrize("case", PACKED_CASES, ids=lambda c: c.id)
def test_packed_input_falls_back_to_the_exact_path_bitwise(case: Case) -> None:
    fast, reference = fast_and_reference(case)
    inputs = make_inputs(case, torch.Generator().manual_seed(7))
    assert bitwise_differences(run(reference, case, inputs), run(fast, case, inputs)) == []


@pytest.mark.usefixtures("native_cpu")
def test_training_dropout_draws_the_same_masks_as_nn_lstm() -> None:
    case = Case(num_layers=3, dropout=0.5, dtype=torch.float64)
    fast, reference = fast_and_reference(case)
    fast.train()
    reference.train()
    inputs = make_inputs(case, torch.Generator().manual_seed(7))
    torch.manual_seed(3)
    expected = run(reference, case, inputs)
    torch.manual_seed(3)
    assert_within_tolerance(expected, run(fast, case, inputs), case.dtype)


def test_weights_and_state_dict_are_nn_lstm_s() -> None:
    """Same keys, shapes, order and, under one seed, the same initial values as nn.LSTM."""
    torch.manual_seed(21)
    reference = nn.LSTM(4, 6, num_layers=2, bidirectional=True, proj_size=3)
    torch.manual_seed(21)
    fast = FastLSTM(4, 6, num_layers=2, bidirectional=True, proj_size=3)
    expected, actual = reference.state_dict(), fast.state_dict()
    assert list(actual) == list(expected), f"Expected keys {list(expected)}, got {list(actual)}"
    for name, tensor in expected.items():
        assert torch.equal(actual[name], tensor), f"{name}: the same seed should draw the same initial values"


@pytest.mark.parametrize(
    ("make_input", "error", "message"),
    [
        (lambda: torch.randn(5, 3, 7), RuntimeError, "input.size(-1) must be equal to input_size"),
        (lambda: torch.randn(5, 3, 4, 1), ValueError, "Expected input to be 2D or 3D"),
        (lambda: torch.randn(0, 3, 4), RuntimeError, "Expected sequence length to be larger than 0"),
    ],
)
def test_bad_input_is_refused_as_the_replica_refuses_it(make_input: object, error: type, message: str) -> None:
    x = make_input()
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        LSTM(4, 6)(x)
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        FastLSTM(4, 6)(x)


@pytest.mark.certificate
def test_harness_certifies_fast_mode_within_tolerance_except_double_backward() -> None:
    """FastLSTM's hand-written backward is once_differentiable: the certificate is scoped, and says so."""
    report = check(FastLSTM, tolerance=True, unsupported=["double_backward"])
    assert report.exit_status == 0, report.text()
    assert report.verdict.endswith("not supported by the candidate: double_backward"), report.verdict
    undeclared = check(FastLSTM, tolerance=True, quick=True)
    assert undeclared.exit_status == 1, "double backward raises in FastLSTM: undeclared, that is a difference"
    assert "double backward" in undeclared.verdict, undeclared.verdict


def test_cuda_graphed_refuses_a_cpu_input() -> None:
    with pytest.raises(ValueError, match="Expected a CUDA example input"):
        cuda_graphed(FastLSTM(4, 6), torch.randn(5, 3, 4))


def _cuda_run(module: nn.Module, x: Tensor) -> dict[str, Tensor]:
    module.zero_grad(set_to_none=True)
    output, (h_n, c_n) = module(x)
    (output.sum() + h_n.sum() + c_n.sum()).backward()
    result = {"output": output, "h_n": h_n, "c_n": c_n}
    result |= {f"grad_{n}": p.grad for n, p in module.named_parameters()}
    return {k: v.detach().clone() for k, v in result.items()}


@pytest.mark.cuda
@pytest.mark.parametrize("graphed", [False, True], ids=["eager", "cuda_graphs"])
def test_cuda_fast_path_within_cudnn_tolerance(cuda_device: torch.device, graphed: bool) -> None:
    reference = nn.LSTM(32, 64, num_layers=2, bidirectional=True, device=cuda_device)
    fast = FastLSTM.from_torch(reference)
    x = torch.randn(50, 8, 32, device=cuda_device)
    tol = tolerance_for("cudnn", torch.float32)
    with flags(Backend("cuda", "cudnn", tf32=False)):
        expected = _cuda_run(reference, x)
        candidate: nn.Module = cuda_graphed(fast, x) if graphed else fast
        for _ in range(2):  # a graph replays: the second call must be right too
            got = _cuda_run(candidate, x)
    for name, ref in expected.items():
        torch.testing.assert_close(got[name], ref, rtol=tol.rtol, atol=tol.atol, msg=lambda m, n=name: f"{n}: {m}")


def test_fast_path_runs_under_torch_func_grad_as_nn_lstm_does() -> None:
    """torch.func transforms need the autograd Function's context set up apart from its forward."""
    torch.manual_seed(0)
    reference = nn.LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2)
    fast = FastLSTM.from_torch(reference)
    x = torch.randn(5, 2, 3, generator=torch.Generator().manual_seed(1))

    def grads(module: nn.Module) -> dict[str, Tensor]:
        def loss(params: dict[str, Tensor]) -> Tensor:
            output, (h_n, c_n) = torch.func.functional_call(module, params, (x,))
            return output.sum() + h_n.sum() + c_n.sum()

        return torch.func.grad(loss)({n: p.detach() for n, p in module.named_parameters()})

    with flags(Backend("cpu", "native")):
        expected, got = grads(reference), grads(fast)
    tol = tolerance_for("native", torch.float32)
    for name, tensor in expected.items():
        torch.testing.assert_close(got[name], tensor, rtol=tol.rtol, atol=tol.atol, msg=lambda m, n=name: f"{n}: {m}")
