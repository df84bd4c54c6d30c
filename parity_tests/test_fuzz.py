"""Property-based fuzzing against ``nn.LSTM`` / ``nn.LSTMCell`` with hypothesis.

Valid configurations and shapes drawn at random give bitwise parity on the
native CPU path, forward and backward. Constructor arguments drawn from pools
of valid and invalid values, and calls with tensors of perturbed rank, sizes
and dtype, give the same outcome as ``torch.nn``: the same exception type, or,
when ``torch.nn`` accepts, acceptance with bitwise equal results.

Example counts come from the hypothesis profile loaded in ``conftest.py``
("ci": 60 examples, derandomized, so every run draws the same examples).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_sequence

from lstm_replica import LSTM, LSTMCell
from lstm_replica.parity.backends import Backend, flags
from parity_tests._support import Case, bitwise_differences, make_inputs, run

FIXTURE_OK = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


def outcome(call: object) -> tuple[str, object]:
    """("ok", result) or ("raised", exception type) for a zero-argument callable."""
    try:
        return "ok", call()  # type: ignore[operator]
    except Exception as error:  # noqa: BLE001 -- whatever torch.nn raises is the reference
        return "raised", type(error)


def tensors_of(result: object) -> list[Tensor]:
    leaves = torch.utils._pytree.tree_leaves(result)
    return [leaf.data if hasattr(leaf, "batch_sizes") else leaf for leaf in leaves if isinstance(leaf, Tensor)]


def assert_same_outcome(reference: object, replica: object, what: str) -> None:
    expected, got = outcome(reference), outcome(replica)
    if expected[0] == "raised":
        assert got == expected, f"{what}: Expected {expected[1].__name__} as torch.nn raises, got {got[0]} {got[1]!r}"
        return
    assert got[0] == "ok", f"{what}: torch.nn accepts this, the replica raised {got[1].__name__}"
    want, have = tensors_of(expected[1]), tensors_of(got[1])
    assert len(want) == len(have), f"{what}: Expected {len(want)} result tensors, got {len(have)}"
    for index, (a, b) in enumerate(zip(want, have, strict=True)):
        assert (a.shape, a.dtype) == (b.shape, b.dtype), (
            f"{what}: result {index}: expected {tuple(a.shape)} {a.dtype}, got {tuple(b.shape)} {b.dtype}"
        )
        assert torch.equal(a, b), f"{what}: result {index} differs in {int((a != b).sum())}/{a.numel()} elements"


# --- valid configurations: bitwise parity ---------------------------------------------------------------------------


@st.composite
def valid_cases(draw: st.DrawFn) -> Case:
    hidden_size = draw(st.integers(1, 6))
    input_kind = draw(st.sampled_from(["batched", "unbatched", "packed_sorted", "packed_unsorted"]))
    return Case(
        num_layers=draw(st.integers(1, 3)),
        bidirectional=draw(st.booleans()),
        proj_size=draw(st.integers(0, hidden_size - 1)),
        bias=draw(st.booleans()),
        batch_first=draw(st.booleans()),
        input_kind=input_kind,
        hx_given=draw(st.booleans()),
        dtype=draw(st.sampled_from([torch.float32, torch.float64])),
        steps=draw(st.integers(1, 9)),
        batch=draw(st.integers(0 if input_kind == "batched" else 1, 4)),
        input_size=draw(st.integers(1, 5)),
        hidden_size=hidden_size,
    )


@FIXTURE_OK
@given(case=valid_cases(), seed=st.integers(0, 2**16))
@pytest.mark.usefixtures("native_cpu")
def test_valid_lstm_is_bitwise(case: Case, seed: int) -> None:
    torch.manual_seed(seed)
    reference = nn.LSTM(**case.module_kwargs())
    replica = LSTM.from_torch(reference)
    inputs = make_inputs(case, torch.Generator().manual_seed(seed))
    problems = bitwise_differences(run(reference, case, inputs), run(replica, case, inputs))
    assert not problems, f"{case.id}: replica differs from nn.LSTM:\n" + "\n".join(problems)


@FIXTURE_OK
@given(
    input_size=st.integers(0, 5),
    hidden_size=st.integers(0, 6),
    batch=st.one_of(st.none(), st.integers(0, 4)),
    bias=st.booleans(),
    hx_given=st.booleans(),
    dtype=st.sampled_from([torch.float32, torch.float64]),
    seed=st.integers(0, 2**16),
)
@pytest.mark.usefixtures("native_cpu")
def test_valid_cell_is_bitwise(
    input_size: int, hidden_size: int, batch: int | None, bias: bool, hx_given: bool, dtype: torch.dtype, seed: int
) -> None:
    torch.manual_seed(seed)
    reference = nn.LSTMCell(input_size, hidden_size, bias, dtype=dtype)
    replica = LSTMCell.from_torch(reference)
    lead = () if batch is None else (batch,)
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn((*lead, input_size), dtype=dtype, generator=generator)
    hx = tuple(torch.randn((*lead, hidden_size), dtype=dtype, generator=generator) for _ in range(2))
    results = []
    for module in (reference, replica):
        x_ = x.clone().requires_grad_()
        hx_ = tuple(t.clone().requires_grad_() for t in hx) if hx_given else None
        h, c = module(x_, hx_)
        (h.sum() + (2 * c).sum()).backward()
        grads = [x_.grad, *(t.grad for t in hx_ or ()), *(p.grad for p in module.parameters())]
        results.append([h, c, *grads])
    for index, (a, b) in enumerate(zip(*results, strict=True)):
        assert torch.equal(a, b), f"tensor {index} (h, c, then gradients) differs from nn.LSTMCell"


# --- invalid constructions: the same outcome ----------------------------------------------------------------------

SIZES = [1, 2, 3, 0, -1, 2.0, "2", None, True]
DTYPES = [torch.float32, torch.float32, torch.float64]
LAYERS = [1, 2, 0, -1, 1.5, "1", None, True, np.int64(2)]
FLAGS = [True, False, 1, None, "no"]
DROPOUTS = [0.0, 0.5, 1, -0.1, 1.5, math.nan, "0.5", "half", None, True, 0.5j]
PROJ_SIZES = [0, 1, 2, -1, 1.5, True, "1", None, 0.0, 5]


@given(
    input_size=st.sampled_from(SIZES),
    hidden_size=st.sampled_from(SIZES),
    num_layers=st.sampled_from(LAYERS),
    bias=st.sampled_from(FLAGS),
    batch_first=st.sampled_from(FLAGS),
    dropout=st.sampled_from(DROPOUTS),
    bidirectional=st.sampled_from(FLAGS),
    proj_size=st.sampled_from(PROJ_SIZES),
)
def test_any_lstm_configuration_behaves_as_nn(**config: object) -> None:
    """Construction, then (when both accept) a forward call, as ``nn.LSTM`` does both."""

    def build(cls: type[nn.Module]) -> nn.Module:
        torch.manual_seed(0)
        return cls(**config)

    assert_same_outcome(lambda: build(nn.LSTM), lambda: build(LSTM), f"construction with {config}")
    kind, reference = outcome(lambda: build(nn.LSTM))
    if kind == "ok":
        replica = build(LSTM)
        x = torch.randn(3, 2, reference.input_size)
        with flags(Backend("cpu", "native")):
            assert_same_outcome(lambda: reference(x), lambda: replica(x), f"forward with {config}")


@given(
    input_size=st.sampled_from(SIZES),
    hidden_size=st.sampled_from(SIZES),
    bias=st.sampled_from(FLAGS),
)
def test_any_cell_configuration_behaves_as_nn(**config: object) -> None:
    def build(cls: type[nn.Module]) -> nn.Module:
        torch.manual_seed(0)
        return cls(**config)

    assert_same_outcome(lambda: build(nn.LSTMCell), lambda: build(LSTMCell), f"construction with {config}")


# --- calls with perturbed tensors: the same outcome ---------------------------------------------------------------


@st.composite
def perturbed(draw: st.DrawFn, shape: tuple[int, ...], first_free: int = 0, grow: bool = True) -> tuple[int, ...]:
    """``shape`` itself (half the time), or with one size off by one, or one dimension removed or added.

    Sizes before ``first_free`` are kept, and no dimension is added unless ``grow``.
    """
    change = draw(st.sampled_from(["none", "none", "size", "rank"]))
    if change == "none" or len(shape) <= first_free:
        return shape
    if change == "size":
        index = draw(st.integers(first_free, len(shape) - 1))
        return (*shape[:index], max(0, shape[index] + draw(st.sampled_from([-1, 1]))), *shape[index + 1 :])
    index = draw(st.integers(0, len(shape) - 1))
    if not grow or draw(st.booleans()):
        return shape[:index] + shape[index + 1 :]
    return (*shape[:index], 1, *shape[index:])


@FIXTURE_OK
@given(data=st.data())
@pytest.mark.usefixtures("native_cpu")
def test_lstm_call_with_perturbed_tensors_behaves_as_nn(data: st.DataObject) -> None:
    hidden_size = data.draw(st.integers(2, 4), "hidden_size")
    config = {
        "input_size": data.draw(st.integers(1, 3), "input_size"),
        "hidden_size": hidden_size,
        "num_layers": data.draw(st.integers(1, 2), "num_layers"),
        "bidirectional": data.draw(st.booleans(), "bidirectional"),
        "proj_size": data.draw(st.integers(0, hidden_size - 1), "proj_size"),
        "batch_first": data.draw(st.booleans(), "batch_first"),
    }
    torch.manual_seed(0)
    reference = nn.LSTM(**config)
    replica = LSTM.from_torch(reference)
    layers = config["num_layers"] * (2 if config["bidirectional"] else 1)
    h_out = config["proj_size"] or hidden_size
    batched = data.draw(st.booleans(), "batched")
    seq, batch = data.draw(st.integers(1, 4), "seq_len"), data.draw(st.integers(1, 3), "batch")
    x_shape = (batch, seq) if config["batch_first"] else (seq, batch)
    x_shape = (*(x_shape if batched else (seq,)), config["input_size"])
    lead = (layers, batch) if batched else (layers,)
    x = torch.randn(data.draw(perturbed(x_shape), "x shape"), dtype=data.draw(st.sampled_from(DTYPES), "x dtype"))
    hx = None
    if data.draw(st.booleans(), "hx given"):
        state_dtype = data.draw(st.sampled_from(DTYPES), "state dtype")  # one for both: see LOOPHOLES in test_errors
        h = torch.randn(data.draw(perturbed((*lead, h_out)), "h shape"), dtype=state_dtype)
        c = torch.randn(data.draw(perturbed((*lead, hidden_size)), "c shape"), dtype=state_dtype)
        hx = (h, c)
    assert_same_outcome(lambda: reference(x, hx), lambda: replica(x, hx), "forward")


@FIXTURE_OK
@given(data=st.data())
@pytest.mark.usefixtures("native_cpu")
def test_packed_call_with_perturbed_states_behaves_as_nn(data: st.DataObject) -> None:
    """Packed input with states of perturbed batch, width or rank, as far as ``nn.LSTM`` survives them.

    ``nn.LSTM`` leaves packed states unchecked: a wrong layer count or an added
    dimension can crash the process (see ``CRASHERS`` in ``test_errors.py``),
    so only batch and width sizes change here, or a dimension is dropped. The
    sequences are sorted (no permutation, which would cut extra rows unseen),
    and a c_0 of batch 1, which ``nn.LSTM`` broadcasts, is left to ``LOOPHOLES``.
    """
    torch.manual_seed(0)
    bidirectional = data.draw(st.booleans(), "bidirectional")
    reference = nn.LSTM(2, 3, num_layers=data.draw(st.integers(1, 2), "num_layers"), bidirectional=bidirectional)
    replica = LSTM.from_torch(reference)
    lengths = sorted(data.draw(st.lists(st.integers(1, 4), min_size=1, max_size=3), "lengths"), reverse=True)
    packed = pack_sequence([torch.randn(n, 2) for n in lengths])
    expected = (reference.num_layers * (2 if bidirectional else 1), len(lengths), 3)
    h = torch.randn(data.draw(perturbed(expected, first_free=1, grow=False), "h shape"))
    c = torch.randn(data.draw(perturbed(expected, first_free=1, grow=False), "c shape"))
    assume(not (c.dim() == 3 and c.size(1) == 1 < len(lengths)))
    assert_same_outcome(lambda: reference(packed, (h, c)), lambda: replica(packed, (h, c)), "packed forward")
