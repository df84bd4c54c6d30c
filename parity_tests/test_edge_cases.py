"""Edge behaviour parity: zero batch, length 1, hidden_size 1, NaN, Inf and huge values.

On the native CPU path the replica must give ``nn.LSTM``'s result bit for bit,
forward and backward: NaN in exactly the same elements, and every other
element with the same bit pattern (so ``-0.0`` against ``0.0`` or a different
infinity counts as a difference). Zero-length sequences are an error in both;
that case is in ``test_errors.py``. Configurations ``nn.LSTM`` accepts although
they look invalid (``input_size=True``, ``proj_size=0.0``) must be accepted
alike and compute alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from lstm_replica import LSTM, LSTMCell
from parity_tests._support import Case, Inputs, make_inputs, run

BITS = {torch.float64: torch.int64, torch.float32: torch.int32}


def bitwise_with_nan(reference: Tensor, candidate: Tensor) -> str | None:
    """Why ``candidate`` is not ``reference`` bit for bit (any NaN payload counts as NaN), or None."""
    if reference.shape != candidate.shape or reference.dtype != candidate.dtype:
        return f"expected {tuple(reference.shape)} {reference.dtype}, got {tuple(candidate.shape)} {candidate.dtype}"
    ref_nan, got_nan = reference.isnan(), candidate.isnan()
    if not torch.equal(ref_nan, got_nan):
        where = tuple(int(i) for i in torch.nonzero(ref_nan != got_nan)[0])
        return f"NaN in {int(ref_nan.sum())} elements expected, got {int(got_nan.sum())}; first mismatch at {where}"
    ref_bits = reference.masked_fill(ref_nan, 0).view(BITS[reference.dtype])
    got_bits = candidate.masked_fill(got_nan, 0).view(BITS[candidate.dtype])
    if not torch.equal(ref_bits, got_bits):
        where = tuple(int(i) for i in torch.nonzero(ref_bits != got_bits)[0])
        return (
            f"{int((ref_bits != got_bits).sum())}/{reference.numel()} elements differ in their bits, first at {where}: "
            f"expected {reference[where].item()!r}, got {candidate[where].item()!r}"
        )
    return None


def assert_all_bitwise(reference: dict[str, Tensor], candidate: dict[str, Tensor]) -> None:
    assert reference.keys() == candidate.keys(), f"Expected tensors {sorted(reference)}, got {sorted(candidate)}"
    problems = [f"{name}: {why}" for name in reference if (why := bitwise_with_nan(reference[name], candidate[name]))]
    assert not problems, "replica differs from nn.LSTM:\n" + "\n".join(problems)


def at(tensor: Tensor, index: tuple[int, ...], value: float) -> None:
    tensor[index] = value


@dataclass(frozen=True)
class Edge:
    id: str
    case: Case
    alter: Callable[[Inputs], None] = lambda inputs: None

    def inputs(self) -> Inputs:
        inputs = make_inputs(self.case, torch.Generator().manual_seed(11))
        self.alter(inputs)
        return inputs


F32 = torch.float32
EDGES = [
    Edge("batch0", Case(batch=0)),
    Edge("batch0_no_hx", Case(batch=0, hx_given=False, dtype=F32)),
    Edge("batch0_batch_first_bidir_proj", Case(batch=0, batch_first=True, bidirectional=True, proj_size=2)),
    Edge("batch0_two_layers", Case(batch=0, num_layers=2, dtype=F32)),
    Edge("length1", Case(steps=1)),
    Edge("length1_unbatched", Case(steps=1, input_kind="unbatched", dtype=F32)),
    Edge("length1_packed", Case(steps=1, input_kind="packed_unsorted")),
    Edge("length1_bidir_two_layers", Case(steps=1, bidirectional=True, num_layers=2, dtype=F32)),
    Edge("batch1_length1", Case(steps=1, batch=1, dtype=F32)),
    Edge("hidden1", Case(input_size=1, hidden_size=1)),
    Edge("hidden1_bidir_two_layers_packed", Case(input_size=1, hidden_size=1, bidirectional=True, num_layers=2,
                                                 input_kind="packed_sorted", dtype=F32)),
    Edge("hidden2_proj1", Case(hidden_size=2, proj_size=1, dtype=F32)),
    Edge("nan_in_input", Case(dtype=F32), lambda i: at(i.x, (2, 1, 0), float("nan"))),
    Edge("nan_in_input_bidir", Case(bidirectional=True), lambda i: at(i.x, (3, 0, 1), float("nan"))),
    Edge("nan_in_input_packed", Case(input_kind="packed_unsorted", dtype=F32), lambda i: at(i.x, (0, 2, 3), float("nan"))),
    Edge("nan_in_input_unbatched", Case(input_kind="unbatched"), lambda i: at(i.x, (4, 2), float("nan"))),
    Edge("nan_in_h0", Case(dtype=F32), lambda i: at(i.h0, (0, 1, 2), float("nan"))),
    Edge("nan_in_c0_two_layers", Case(num_layers=2), lambda i: at(i.c0, (1, 0, 4), float("nan"))),
    Edge("nan_everywhere_in_input", Case(dtype=F32), lambda i: i.x.fill_(float("nan"))),
    Edge("inf_in_input", Case(dtype=F32), lambda i: at(i.x, (1, 1, 1), float("inf"))),
    Edge("minus_inf_in_input", Case(), lambda i: at(i.x, (5, 2, 0), float("-inf"))),
    Edge("inf_in_h0", Case(dtype=F32), lambda i: at(i.h0, (0, 0, 0), float("inf"))),
    Edge("inf_in_c0", Case(), lambda i: at(i.c0, (0, 2, 3), float("inf"))),
    Edge("minus_inf_in_c0_proj", Case(proj_size=3, dtype=F32), lambda i: at(i.c0, (0, 1, 1), float("-inf"))),
    Edge("huge_input_float32", Case(dtype=F32), lambda i: i.x.mul_(1e30)),
    Edge("near_max_input_float32", Case(dtype=F32), lambda i: i.x.sign_().mul_(3.0e38)),
    Edge("huge_input_float64", Case(), lambda i: i.x.mul_(1e300)),
    Edge("huge_states", Case(dtype=F32), lambda i: (i.h0.mul_(1e30), i.c0.mul_(1e30))),
    Edge("tiny_subnormal_input", Case(dtype=F32), lambda i: i.x.mul_(1e-42)),
    Edge("negative_zero_everywhere", Case(), lambda i: (i.x.fill_(-0.0), i.h0.fill_(-0.0), i.c0.fill_(-0.0))),
]  # fmt: skip


@pytest.mark.parametrize("edge", EDGES, ids=lambda e: e.id)
@pytest.mark.usefixtures("native_cpu")
def test_lstm_edge(edge: Edge) -> None:
    torch.manual_seed(3)
    reference = nn.LSTM(**edge.case.module_kwargs())
    replica = LSTM.from_torch(reference)
    inputs = edge.inputs()
    assert_all_bitwise(run(reference, edge.case, inputs), run(replica, edge.case, inputs))


CELL_EDGES = [
    ("batch0", lambda: (torch.randn(0, 3), (torch.randn(0, 4), torch.randn(0, 4)))),
    ("unbatched_hidden_given", lambda: (torch.randn(3), (torch.randn(4), torch.randn(4)))),
    ("nan_in_input", lambda: (torch.tensor([[float("nan"), 0.5, -1.0]]), (torch.randn(1, 4), torch.randn(1, 4)))),
    ("inf_in_c", lambda: (torch.randn(2, 3), (torch.randn(2, 4), torch.tensor([[float("inf"), 0, 0, 1.0]] * 2)))),
    ("huge_input", lambda: (torch.randn(2, 3) * 1e30, None)),
]


@pytest.mark.parametrize(("name", "args"), CELL_EDGES, ids=[name for name, _ in CELL_EDGES])
@pytest.mark.usefixtures("native_cpu")
def test_cell_edge(name: str, args: Callable[[], tuple[Tensor, tuple[Tensor, Tensor] | None]]) -> None:
    reference = nn.LSTMCell(3, 4)
    replica = LSTMCell.from_torch(reference)
    results = []
    for module in (reference, replica):
        torch.manual_seed(5)
        x, hx = args()
        x.requires_grad_()
        h, c = module(x, hx)
        (h.sum() + 2 * c.sum()).backward()
        results.append(
            {"h": h.detach(), "c": c.detach(), "grad_input": x.grad, "grad_weight_ih": module.weight_ih.grad}
        )
    assert_all_bitwise(*results)


ODD_BUT_ACCEPTED = [
    ("input_size_true", {"input_size": True}),  # bool is an int: one input feature
    ("hidden_size_true", {"hidden_size": True}),
    ("num_layers_numpy_int", {"num_layers": np.int64(2)}),
    ("proj_size_float_zero", {"proj_size": 0.0}),
    ("dropout_int_zero", {"dropout": 0}),
]


@pytest.mark.parametrize(("name", "kwargs"), ODD_BUT_ACCEPTED, ids=[name for name, _ in ODD_BUT_ACCEPTED])
@pytest.mark.usefixtures("native_cpu")
def test_odd_configuration_accepted_alike(name: str, kwargs: dict[str, object]) -> None:
    config = {"input_size": 2, "hidden_size": 3, **kwargs}
    torch.manual_seed(9)
    reference = nn.LSTM(**config)
    torch.manual_seed(9)
    replica = LSTM(**config)
    assert str(replica) == str(reference), f"Expected the repr {reference}, got {replica}"
    x = torch.randn(4, 2, reference.input_size)
    expected, got = reference(x), replica(x)
    assert_all_bitwise(
        {"output": expected[0], "h_n": expected[1][0], "c_n": expected[1][1]},
        {"output": got[0], "h_n": got[1][0], "c_n": got[1][1]},
    )
