"""Bitwise parity of ``lstm_replica.LSTM`` with ``torch.nn.LSTM`` on the native CPU path.

Every combination of the module's options and input forms is run forward and
backward on both modules with identical weights and inputs; the outputs, final
states and gradients with respect to input, h_0, c_0 and every parameter must
be ``torch.equal``. With oneDNN on (the default for float32), ``nn.LSTM`` runs
other kernels, and the agreement is ``assert_close``'s default float32 tolerance.
"""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from lstm_replica import LSTM
from lstm_replica.parity.backends import Backend, flags
from parity_tests._support import Case, bitwise_differences, make_inputs, run

MATRIX = [
    Case(
        num_layers=layers,
        bidirectional=bidirectional,
        proj_size=proj_size,
        bias=bias,
        batch_first=batch_first,
        input_kind=input_kind,
        hx_given=hx_given,
        dtype=dtype,
    )
    for layers, bidirectional, proj_size, bias, batch_first, input_kind, hx_given, dtype in itertools.product(
        (1, 2, 3),
        (False, True),
        (0, 3),
        (True, False),
        (False, True),
        ("batched", "unbatched", "packed_sorted", "packed_unsorted"),
        (True, False),
        (torch.float64, torch.float32),
    )
]


def assert_bitwise(case: Case, *, train: bool = False, forward_seed: int | None = None) -> None:
    reference = nn.LSTM(**case.module_kwargs())
    replica = LSTM.from_torch(reference)
    reference.train(train)
    replica.train(train)
    inputs = make_inputs(case, torch.Generator().manual_seed(7))
    results = []
    for module in (reference, replica):
        if forward_seed is not None:
            torch.manual_seed(forward_seed)
        results.append(run(module, case, inputs))
    problems = bitwise_differences(*results)
    assert not problems, f"{case.id} differs from nn.LSTM:\n" + "\n".join(problems)


@pytest.mark.usefixtures("native_cpu")
@pytest.mark.parametrize("case", MATRIX, ids=[c.id for c in MATRIX])
def test_matrix_is_bitwise(case: Case) -> None:
    assert_bitwise(case)


LENGTHS = [
    Case(steps=seq_len, num_layers=2, bidirectional=True, dtype=dtype, batch=2, input_kind=kind)
    for seq_len in (1, 2, 64, 500)
    for dtype in (torch.float64, torch.float32)
    for kind in ("batched", "packed_unsorted")
]


@pytest.mark.usefixtures("native_cpu")
@pytest.mark.parametrize("case", LENGTHS, ids=[c.id for c in LENGTHS])
def test_sequence_lengths_are_bitwise(case: Case) -> None:
    assert_bitwise(case)


@pytest.mark.slow
@pytest.mark.usefixtures("native_cpu")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
def test_seed_sizes_long_sequence_are_bitwise(dtype: torch.dtype) -> None:
    """The seed's sizes (input 5, hidden 256) over 600 steps."""
    assert_bitwise(Case(input_size=5, hidden_size=256, steps=600, batch=4, dtype=dtype))


DROPOUT = [
    Case(num_layers=3, dropout=0.4, bidirectional=bidirectional, proj_size=proj, input_kind=kind, dtype=dtype)
    for bidirectional in (False, True)
    for proj in (0, 2)
    for kind in ("batched", "packed_unsorted")
    for dtype in (torch.float64, torch.float32)
]


@pytest.mark.usefixtures("native_cpu")
@pytest.mark.parametrize("case", DROPOUT, ids=[c.id for c in DROPOUT])
def test_dropout_in_eval_mode_is_bitwise(case: Case) -> None:
    assert_bitwise(case, train=False)


@pytest.mark.usefixtures("native_cpu")
@pytest.mark.parametrize("case", DROPOUT, ids=[c.id for c in DROPOUT])
def test_dropout_in_training_mode_draws_the_same_masks(case: Case) -> None:
    """Both call ``at::dropout`` on the same layer outputs in the same order, so one seed gives one mask."""
    assert_bitwise(case, train=True, forward_seed=2024)


def test_dropout_in_training_mode_really_drops() -> None:
    """Guards the test above: with p=0.4 in training mode some layer outputs are zeroed."""
    case = Case(num_layers=2, dropout=0.4, hidden_size=16, steps=20)
    replica = LSTM(**case.module_kwargs()).train()
    inputs = make_inputs(case, torch.Generator().manual_seed(7))
    torch.manual_seed(1)
    first = run(replica, case, inputs)["output"]
    torch.manual_seed(2)
    second = run(replica, case, inputs)["output"]
    assert not torch.equal(first, second), "Expected different dropout masks for different seeds, got equal outputs"


DEFAULT_FLAGS = [
    Case(num_layers=layers, bidirectional=bidirectional, bias=bias, input_kind=kind, dtype=torch.float32, steps=30)
    for layers in (1, 2)
    for bidirectional in (False, True)
    for bias in (True, False)
    for kind in ("batched", "unbatched", "packed_unsorted")
]


@pytest.mark.parametrize("case", DEFAULT_FLAGS, ids=[c.id for c in DEFAULT_FLAGS])
def test_default_flags_agree_within_float32_tolerance(case: Case) -> None:
    """oneDNN's fused LSTM sums in another order: agreement within assert_close's float32 default.

    assert_close's float32 default (rtol 1.3e-6, atol 1e-5) is the tolerance
    PyTorch itself uses for float32 kernels that reorder a reduction.
    """
    with flags(Backend("cpu", "onednn")):
        reference = nn.LSTM(**case.module_kwargs())
        replica = LSTM.from_torch(reference)
        inputs = make_inputs(case, torch.Generator().manual_seed(7))
        expected, actual = run(reference, case, inputs), run(replica, case, inputs)
    for name, tensor in expected.items():
        torch.testing.assert_close(actual[name], tensor, msg=lambda m, name=name: f"{case.id} {name}: {m}")
