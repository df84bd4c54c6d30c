"""Error parity: what ``nn.LSTM`` / ``nn.LSTMCell`` reject, the replica rejects the same way.

Every bad construction or call below is first run through ``torch.nn`` itself:
the exception type it raises is the one the replica must raise (exactly that
type, not a subclass or parent), and the replica's message must name what was
expected and what came. Forward calls run on both CPU paths (native kernels
and oneDNN), since ``nn.LSTM`` reaches different kernels on each.

A few inputs ``nn.LSTM`` lets through by accident (it skips its own checks on
some paths and silently broadcasts, cuts or promotes) are listed apart: the
replica refuses them with the type ``nn.LSTM`` raises for the same fault on its
checked path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_sequence

from lstm_replica import LSTM, LSTMCell
from lstm_replica.parity.backends import Backend, flags


def raised(call: Callable[[], object]) -> Exception | None:
    """The exception ``call`` raises, or None when it returns."""
    try:
        call()
    except Exception as error:  # noqa: BLE001 -- whatever torch.nn raises is the reference
        return error
    return None


def assert_same_failure(reference: Callable[[], object], replica: Callable[[], object], says: tuple[str, ...]) -> None:
    expected = raised(reference)
    assert expected is not None, "torch.nn accepted this input, so it is not a bad input for this test"
    got = raised(replica)
    assert got is not None, f"Expected the replica to raise {type(expected).__name__} ({expected}), it returned"
    assert type(got) is type(expected), (
        f"Expected {type(expected).__name__} as torch.nn raises ({expected}), got {type(got).__name__}: {got}"
    )
    missing = [text for text in says if text not in str(got)]
    assert not missing, f"Expected the replica's message to name {missing}, got {str(got)!r}"


@pytest.fixture(params=[False, True], ids=["native", "onednn"])
def cpu_path(request: pytest.FixtureRequest) -> Iterator[None]:
    with flags(Backend("cpu", "onednn" if request.param else "native")):
        yield


# --- construction -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    id: str
    kwargs: dict[str, object]
    says: tuple[str, ...]


LSTM_CONFIGS = [
    Config("input_size_zero", {"input_size": 0}, ("greater than zero", "got 0")),
    Config("input_size_negative", {"input_size": -2}, ("greater than zero", "got -2")),
    Config("hidden_size_zero", {"hidden_size": 0}, ("greater than zero", "got 0")),
    Config("hidden_size_negative", {"hidden_size": -1}, ("greater than zero", "got -1")),
    Config("input_size_float", {"input_size": 2.0}, ("type int", "float")),
    Config("input_size_none", {"input_size": None}, ("type int", "NoneType")),
    Config("hidden_size_str", {"hidden_size": "3"}, ("type int", "str")),
    Config("num_layers_zero", {"num_layers": 0}, ("greater than zero", "got 0")),
    Config("num_layers_negative", {"num_layers": -1}, ("greater than zero", "got -1")),
    Config("num_layers_float", {"num_layers": 2.0}, ("type int", "float")),
    Config("num_layers_str", {"num_layers": "2"}, ("type int", "str")),
    Config("num_layers_none", {"num_layers": None}, ("type int", "NoneType")),
    Config("proj_size_negative", {"proj_size": -1}, ("positive integer or zero", "got -1")),
    Config("proj_size_equal_hidden", {"proj_size": 3}, ("smaller than hidden_size", "proj_size=3", "hidden_size=3")),
    Config("proj_size_above_hidden", {"proj_size": 4}, ("smaller than hidden_size", "proj_size=4")),
    Config("proj_size_float", {"proj_size": 1.5}, ("type int", "float")),
    Config("proj_size_bool", {"proj_size": True}, ("type int", "bool")),
    Config("proj_size_str", {"proj_size": "1"}, ("type int", "str")),
    Config("proj_size_none", {"proj_size": None}, ("type int", "NoneType")),
    Config("dropout_negative", {"dropout": -0.1}, ("[0, 1]", "-0.1")),
    Config("dropout_above_one", {"dropout": 1.5}, ("[0, 1]", "1.5")),
    Config("dropout_nan", {"dropout": float("nan")}, ("[0, 1]", "nan")),
    Config("dropout_bool", {"dropout": True}, ("[0, 1]", "bool")),
    Config("dropout_numeric_str", {"dropout": "0.5"}, ("[0, 1]", "str")),
    Config("dropout_word", {"dropout": "half"}, ("[0, 1]", "'half'")),
    Config("dropout_none", {"dropout": None}, ("[0, 1]", "NoneType")),
    Config("dropout_complex", {"dropout": 0.5j}, ("[0, 1]", "complex")),
    Config("dropout_tensor", {"dropout": torch.tensor(0.5), "num_layers": 2}, ("[0, 1]", "Tensor")),
    Config("bias_int", {"bias": 1}, ("type bool", "int")),
    Config("batch_first_str", {"batch_first": "yes"}, ("type bool", "str")),
    Config("dtype_integer", {"dtype": torch.int64}, ("floating point", "torch.int64")),
]


@pytest.mark.parametrize("config", LSTM_CONFIGS, ids=lambda c: c.id)
def test_lstm_construction(config: Config) -> None:
    kwargs = {"input_size": 2, "hidden_size": 3, **config.kwargs}
    assert_same_failure(lambda: nn.LSTM(**kwargs), lambda: LSTM(**kwargs), config.says)


CELL_CONFIGS = [
    Config("input_size_negative", {"input_size": -1}, ("non-negative ints", "input_size=-1")),
    Config("hidden_size_negative", {"hidden_size": -2}, ("non-negative ints", "hidden_size=-2")),
    Config("input_size_float", {"input_size": 2.5}, ("non-negative ints", "input_size=2.5")),
    Config("hidden_size_float", {"hidden_size": 4.0}, ("non-negative ints", "hidden_size=4.0")),
    Config("input_size_str", {"input_size": "2"}, ("non-negative ints", "input_size='2'")),
    Config("hidden_size_none", {"hidden_size": None}, ("non-negative ints", "hidden_size=None")),
    Config("dtype_integer", {"dtype": torch.int32}, ("floating point", "torch.int32")),
]


@pytest.mark.parametrize("config", CELL_CONFIGS, ids=lambda c: c.id)
def test_cell_construction(config: Config) -> None:
    kwargs = {"input_size": 2, "hidden_size": 4, **config.kwargs}
    assert_same_failure(lambda: nn.LSTMCell(**kwargs), lambda: LSTMCell(**kwargs), config.says)


# --- forward ------------------------------------------------------------------------------------------------------


def z(*shape: int, **kwargs: object) -> Tensor:
    return torch.zeros(shape, **kwargs)


def x(*shape: int, **kwargs: object) -> Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(7), **kwargs)


def sorted_pack(**kwargs: object) -> PackedSequence:
    """Three sequences of lengths 4, 3, 2 with 2 features, already in decreasing order (no permutation)."""
    return pack_sequence([x(4, 2, **kwargs), x(3, 2, **kwargs), x(2, 2, **kwargs)])


def unsorted_pack() -> PackedSequence:
    """Three sequences of lengths 2, 4, 3: ``nn.LSTM`` permutes hx into the packed order first."""
    return pack_sequence([x(2, 2), x(4, 2), x(3, 2)], enforce_sorted=False)


@dataclass(frozen=True)
class Call:
    id: str
    args: Callable[[], tuple[object, ...]]
    says: tuple[str, ...]
    kwargs: dict[str, object] = field(default_factory=dict)


H = (z(1, 3, 4), z(1, 3, 4))  # a valid (h_0, c_0) for batch 3 of the default module LSTM(2, 4)

LSTM_CALLS = [
    Call("input_1d", lambda: (x(2),), ("2D or 3D", "got 1D")),
    Call("input_4d", lambda: (x(1, 5, 3, 2),), ("2D or 3D", "got 4D")),
    Call("input_list", lambda: ([[1.0, 2.0]],), ("Tensor or a PackedSequence", "got list")),
    Call("input_size_mismatch", lambda: (x(5, 3, 7),), ("Expected 2", "got 7")),
    Call("input_float64", lambda: (x(5, 3, 2, dtype=torch.float64),), ("torch.float32", "torch.float64")),
    Call("input_int64", lambda: (torch.ones(5, 3, 2, dtype=torch.int64),), ("torch.float32", "torch.int64")),
    Call("h_batch", lambda: (x(5, 3, 2), (z(1, 2, 4), z(1, 3, 4))), ("(1, 3, 4)", "[1, 2, 4]")),
    Call("c_batch", lambda: (x(5, 3, 2), (z(1, 3, 4), z(1, 2, 4))), ("(1, 3, 4)", "[1, 2, 4]")),
    Call("h_layers", lambda: (x(5, 3, 2), (z(1, 3, 4), z(2, 3, 4))), ("(2, 3, 4)", "[1, 3, 4]"), {"num_layers": 2}),
    Call("h_directions", lambda: (x(5, 3, 2), H), ("(2, 3, 4)", "[1, 3, 4]"), {"bidirectional": True}),
    Call("h_width_proj", lambda: (x(5, 3, 2), H), ("(1, 3, 2)", "[1, 3, 4]"), {"proj_size": 2}),
    Call("c_width_proj", lambda: (x(5, 3, 2), (z(1, 3, 2), z(1, 3, 2))), ("(1, 3, 4)", "[1, 3, 2]"), {"proj_size": 2}),
    Call("h_2d_for_batched", lambda: (x(5, 3, 2), (z(3, 4), z(1, 3, 4))), ("should also be 3-D", "(2-D, 3-D)")),
    Call("c_4d_for_batched", lambda: (x(5, 3, 2), (z(1, 3, 4), z(1, 1, 3, 4))), ("should also be 3-D", "(3-D, 4-D)")),
    Call("hx_3d_for_unbatched", lambda: (x(5, 2), H), ("should also be 2-D", "(3-D, 3-D)")),
    Call("h_width_unbatched", lambda: (x(5, 2), (z(1, 5), z(1, 4))), ("(1, 1, 4)", "[1, 1, 5]")),
    Call("batch_first_h_batch", lambda: (x(5, 3, 2), H), ("(1, 5, 4)", "[1, 3, 4]"), {"batch_first": True}),
    Call("hx_single_tensor", lambda: (x(5, 3, 2), z(1, 3, 4)), ("tuple (h_0, c_0)", "Tensor of shape [1, 3, 4]")),
    Call(
        "hx_stacked_tensor", lambda: (x(5, 3, 2), z(2, 1, 3, 4)), ("tuple (h_0, c_0)", "Tensor of shape [2, 1, 3, 4]")
    ),
    Call("hx_three_states", lambda: (x(5, 3, 2), (*H, z(1, 3, 4))), ("two states", "got 3")),
    Call("hx_one_state", lambda: (x(5, 3, 2), (z(1, 3, 4),)), ("tuple (h_0, c_0)", "tuple of 1 elements")),
    Call("hx_empty_tuple", lambda: (x(5, 3, 2), ()), ("tuple (h_0, c_0)", "tuple of 0 elements")),
    Call("hx_int", lambda: (x(5, 3, 2), 0), ("tuple (h_0, c_0)", "a int")),
    Call("h_none", lambda: (x(5, 3, 2), (None, z(1, 3, 4))), ("hx[0] to be a Tensor", "NoneType")),
    Call("c_list", lambda: (x(5, 3, 2), (z(1, 3, 4), [[0.0] * 4] * 3)), ("hx[1] to be a Tensor", "list")),
    Call("h_float64", lambda: (x(5, 3, 2), (z(1, 3, 4, dtype=torch.float64), z(1, 3, 4))), ("float32", "float64")),
    Call("c_float64", lambda: (x(5, 3, 2), (z(1, 3, 4), z(1, 3, 4, dtype=torch.float64))), ("float32", "float64")),
    Call("h_float16", lambda: (x(5, 3, 2), (z(1, 3, 4, dtype=torch.float16), z(1, 3, 4))), ("float32", "float16")),
    Call("input_on_meta", lambda: (x(5, 3, 2).to("meta"),), ("parameter tensor at cpu", "input tensor at meta")),
    Call("h_on_meta", lambda: (x(5, 3, 2), (z(1, 3, 4, device="meta"), z(1, 3, 4))), ("input tensor at cpu", "meta")),
    Call(
        "bidirectional_str",
        lambda: (x(5, 3, 2),),
        ("bidirectional to be a bool", "str ('no')"),
        {"bidirectional": "no"},
    ),
    Call("bidirectional_int", lambda: (x(5, 3, 2),), ("bidirectional to be a bool", "int (1)"), {"bidirectional": 1}),
    Call(
        "bidirectional_none_packed",
        lambda: (sorted_pack(),),
        ("bidirectional to be a bool", "NoneType"),
        {"bidirectional": None},
    ),
    Call("num_layers_bool", lambda: (x(5, 3, 2),), ("num_layers to be an int", "bool"), {"num_layers": True}),
    Call("zero_length", lambda: (x(0, 3, 2),), ("larger than 0", "[0, 3, 2]")),
    Call("zero_length_bidirectional", lambda: (x(0, 3, 2),), ("larger than 0", "[0, 3, 2]"), {"bidirectional": True}),
    Call("zero_length_batch_first", lambda: (x(3, 0, 2),), ("larger than 0", "[3, 0, 2]"), {"batch_first": True}),
    Call("zero_length_unbatched", lambda: (x(0, 2),), ("larger than 0", "[0, 1, 2]")),
    Call("packed_h_batch", lambda: (sorted_pack(), (z(1, 2, 4), z(1, 3, 4))), ("(1, 3, 4)", "[1, 2, 4]")),
    Call("packed_c_batch", lambda: (sorted_pack(), (z(1, 3, 4), z(1, 2, 4))), ("(1, 3, 4)", "[1, 2, 4]")),
    Call("packed_h_2d", lambda: (sorted_pack(), (z(3, 4), z(3, 4))), ("3-D", "2-D")),
    Call("packed_h_layers", lambda: (sorted_pack(), (z(2, 3, 4), z(2, 3, 4))), ("(1, 3, 4)", "[2, 3, 4]")),
    Call("packed_h_width", lambda: (sorted_pack(), (z(1, 3, 5), z(1, 3, 4))), ("(1, 3, 4)", "[1, 3, 5]")),
    Call("packed_c_width", lambda: (sorted_pack(), (z(1, 3, 4), z(1, 3, 5))), ("(1, 3, 4)", "[1, 3, 5]")),
    Call("packed_float64", lambda: (sorted_pack(dtype=torch.float64),), ("torch.float32", "torch.float64")),
    Call("packed_h_float64", lambda: (sorted_pack(), (z(1, 3, 4, dtype=torch.float64), z(1, 3, 4))), ("float64",)),
    Call("packed_h_on_meta", lambda: (sorted_pack(), (z(1, 3, 4, device="meta"), z(1, 3, 4))), ("cpu", "meta")),
    Call("packed_hx_stacked_tensor", lambda: (sorted_pack(), z(2, 1, 3, 4)), ("tuple (h_0, c_0)", "Tensor of shape")),
    Call("packed_hx_three_states", lambda: (sorted_pack(), (*H, z(1, 3, 4))), ("two states", "got 3")),
    Call("unsorted_hx_one_state", lambda: (unsorted_pack(), (z(1, 3, 4),)), ("tuple (h_0, c_0)", "tuple of 1")),
    Call("unsorted_h_1d", lambda: (unsorted_pack(), (z(4), z(1, 3, 4))), ("3-D", "1-D")),
    Call("unsorted_h_batch_small", lambda: (unsorted_pack(), (z(1, 2, 4), z(1, 3, 4))), ("== 3", "got 2")),
    Call("unsorted_h_2d_wide", lambda: (unsorted_pack(), (z(3, 4), z(1, 3, 4))), ("3-D", "2-D")),
    Call("unsorted_c_2d_wide", lambda: (unsorted_pack(), (z(1, 3, 4), z(4, 3))), ("3-D", "2-D")),
    Call("unsorted_h_2d_narrow", lambda: (unsorted_pack(), (z(4, 2), z(1, 3, 4))), ("== 3", "got 2")),
]


@pytest.mark.parametrize("call", LSTM_CALLS, ids=lambda c: c.id)
@pytest.mark.usefixtures("cpu_path")
def test_lstm_forward(call: Call) -> None:
    reference = nn.LSTM(2, 4, **call.kwargs)
    replica = LSTM.from_torch(reference)
    assert_same_failure(lambda: reference(*call.args()), lambda: replica(*call.args()), call.says)


CELL_CALLS = [
    Call("input_0d", lambda: (torch.tensor(1.0),), ("1D or 2D", "got 0D")),
    Call("input_3d", lambda: (x(1, 3, 2),), ("1D or 2D", "got 3D")),
    Call("input_list", lambda: ([1.0, 2.0],), ("Tensor", "got list")),
    Call("input_size_mismatch", lambda: (x(3, 5),), ("got 5", "expected 2")),
    Call("input_size_mismatch_unbatched", lambda: (x(5),), ("got 5", "expected 2")),
    Call("h_3d", lambda: (x(3, 2), (z(1, 3, 4), z(3, 4))), ("hx[0] to be 1D or 2D", "got 3D")),
    Call("c_0d", lambda: (x(3, 2), (z(3, 4), torch.tensor(0.0))), ("hx[1] to be 1D or 2D", "got 0D")),
    Call("h_batch", lambda: (x(3, 2), (z(2, 4), z(3, 4))), ("Input batch size 3", "hidden0 batch size 2")),
    Call("c_batch", lambda: (x(3, 2), (z(3, 4), z(2, 4))), ("Input batch size 3", "hidden1 batch size 2")),
    Call("h_width", lambda: (x(3, 2), (z(3, 5), z(3, 4))), ("got 5", "expected 4")),
    Call("c_width", lambda: (x(3, 2), (z(3, 4), z(3, 5))), ("got 5", "expected 4")),
    Call("unbatched_input_2d_hx", lambda: (x(2), (z(1, 4), z(1, 4))), ("got 1", "expected 4")),
    Call("batched_input_1d_hx", lambda: (x(3, 2), (z(4), z(4))), ("Input batch size 3", "batch size 4")),
    Call("hx_single_tensor", lambda: (x(3, 2), z(3, 4)), ("tuple (h_0, c_0)", "Tensor of shape [3, 4]")),
    Call("hx_stacked_tensor", lambda: (x(3, 2), z(2, 3, 4)), ("tuple (h_0, c_0)", "Tensor of shape [2, 3, 4]")),
    Call("hx_three_states", lambda: (x(3, 2), (z(3, 4), z(3, 4), z(3, 4))), ("two states", "got 3")),
    Call("hx_one_state", lambda: (x(3, 2), (z(3, 4),)), ("two states", "got 1")),
    Call("hx_one_state_unbatched", lambda: (x(2), (z(4),)), ("tuple (h_0, c_0)", "tuple of 1 elements")),
    Call("hx_int", lambda: (x(3, 2), 0), ("tuple (h, c)", "a int")),
    Call("h_none", lambda: (x(3, 2), (None, z(3, 4))), ("hx[0] to be a Tensor", "NoneType")),
    Call("input_float64", lambda: (x(3, 2, dtype=torch.float64),), ("torch.float32", "torch.float64")),
    Call("input_int64", lambda: (torch.ones(3, 2, dtype=torch.int64),), ("torch.float32", "torch.int64")),
    Call("h_float64", lambda: (x(3, 2), (z(3, 4, dtype=torch.float64), z(3, 4))), ("torch.float32", "torch.float64")),
    Call("input_on_meta", lambda: (x(3, 2).to("meta"),), ("on cpu", "got meta")),
    Call("h_on_meta", lambda: (x(3, 2), (z(3, 4, device="meta"), z(3, 4))), ("on cpu", "got meta")),
]


@pytest.mark.parametrize("call", CELL_CALLS, ids=lambda c: c.id)
@pytest.mark.usefixtures("cpu_path")
def test_cell_forward(call: Call) -> None:
    reference = nn.LSTMCell(2, 4)
    replica = LSTMCell.from_torch(reference)
    assert_same_failure(lambda: reference(*call.args()), lambda: replica(*call.args()), call.says)


# --- what nn.LSTM lets through by accident ------------------------------------------------------------------------


@dataclass(frozen=True)
class Loophole:
    id: str
    module: Callable[[], nn.Module]
    args: Callable[[], tuple[object, ...]]
    refused_with: type[Exception]
    says: tuple[str, ...]


LOOPHOLES = [
    # nn.LSTM rebuilds hx from hx[0] and hx[1] for unbatched input, dropping the rest unseen.
    Loophole("unbatched_three_states", lambda: nn.LSTM(2, 4), lambda: (x(5, 2), (z(1, 4),) * 3), RuntimeError,
             ("two states", "got 3")),
    Loophole("unbatched_stacked_tensor", lambda: nn.LSTM(2, 4), lambda: (x(5, 2), z(2, 1, 4)), TypeError,
             ("tuple (h_0, c_0)", "Tensor of shape [2, 1, 4]")),
    # permute_hidden index_selects the packed batch out of hx: extra rows and extra states vanish.
    Loophole("unsorted_h_batch_large", lambda: nn.LSTM(2, 4), lambda: (unsorted_pack(), (z(1, 5, 4), z(1, 5, 4))),
             RuntimeError, ("== 3", "got 5")),
    Loophole("unsorted_three_states", lambda: nn.LSTM(2, 4), lambda: (unsorted_pack(), (*H, z(1, 3, 4))),
             RuntimeError, ("two states", "got 3")),
    # On the oneDNN path nn.LSTM runs packed data of the wrong width or rank and returns garbage.
    Loophole("packed_input_size", lambda: nn.LSTM(2, 4), lambda: (pack_sequence([x(4, 5)]),), RuntimeError,
             ("Expected 2", "got 5")),
    Loophole("packed_3d_data", lambda: nn.LSTM(2, 4), lambda: (PackedSequence(x(4, 1, 2), torch.tensor([1] * 4)),),
             RuntimeError, ("2 dimensions", "got 3")),
    # Packed input skips check_forward_args; ATen then broadcasts a c_0 of batch 1.
    Loophole("packed_c_batch_one", lambda: nn.LSTM(2, 4), lambda: (sorted_pack(), (z(1, 3, 4), z(1, 1, 4))),
             RuntimeError, ("(1, 3, 4)", "[1, 1, 4]")),
    # Packed states are not checked; ATen zips the layers' states and ignores c_0's extra layers.
    Loophole("packed_c_extra_layers", lambda: nn.LSTM(2, 4), lambda: (sorted_pack(), (z(1, 3, 4), z(2, 3, 4))),
             RuntimeError, ("(1, 3, 4)", "[2, 3, 4]")),
    # c_0 only meets element-wise products in one step: float64 silently promotes the outputs.
    Loophole("c_float64_one_step", lambda: nn.LSTM(2, 4), lambda: (x(1, 3, 2), (z(1, 3, 4), z(1, 3, 4).double())),
             RuntimeError, ("float32", "float64")),
    Loophole("cell_c_float64", lambda: nn.LSTMCell(2, 4), lambda: (x(3, 2), (z(3, 4), z(3, 4).double())),
             RuntimeError, ("float32", "float64")),
    Loophole("cell_unbatched_three_states", lambda: nn.LSTMCell(2, 4), lambda: (x(2), (z(4),) * 3), RuntimeError,
             ("two states", "got 3")),
]  # fmt: skip


@pytest.mark.parametrize("case", LOOPHOLES, ids=lambda c: c.id)
@pytest.mark.usefixtures("cpu_path")
def test_refused_where_nn_lets_through(case: Loophole) -> None:
    reference = case.module()
    replica = (LSTM if isinstance(reference, nn.LSTM) else LSTMCell).from_torch(reference)
    from_nn = raised(lambda: reference(*case.args()))
    assert from_nn is None or type(from_nn) is case.refused_with, (
        f"Expected torch.nn to accept this or raise {case.refused_with.__name__}, got {from_nn!r}"
    )
    got = raised(lambda: replica(*case.args()))
    assert type(got) is case.refused_with, f"Expected {case.refused_with.__name__}, got {got!r}"
    missing = [text for text in case.says if text not in str(got)]
    assert not missing, f"Expected the replica's message to name {missing}, got {str(got)!r}"


# --- what crashes nn.LSTM -----------------------------------------------------------------------------------------

# Packed states with a layer count ATen does not expect, or an added leading dimension, make
# nn.LSTM read past its list of states on the native path: the process dies (SIGSEGV), so
# nn.LSTM is not run here. The replica raises the RuntimeError nn.LSTM raises for the same
# states with padded input.
CRASHERS = [
    Call("packed_c_fewer_layers", lambda: (sorted_pack(), (z(2, 3, 4), z(1, 3, 4))), ("(2, 3, 4)", "[1, 3, 4]"),
         {"num_layers": 2}),
    Call("packed_c_zero_layers", lambda: (sorted_pack(), (z(1, 3, 4), z(0, 3, 4))), ("(1, 3, 4)", "[0, 3, 4]")),
    Call("packed_h_extra_layers", lambda: (sorted_pack(), (z(3, 3, 4), z(2, 3, 4))), ("(2, 3, 4)", "[3, 3, 4]"),
         {"num_layers": 2}),
    Call("packed_bidirectional_c_one_direction", lambda: (sorted_pack(), (z(2, 3, 4), z(1, 3, 4))),
         ("(2, 3, 4)", "[1, 3, 4]"), {"bidirectional": True}),
    Call("packed_h_added_leading_dim", lambda: (sorted_pack(), (z(1, 1, 3, 4), z(1, 3, 4))), ("(1, 3, 4)", "[1, 1, 3, 4]")),
]  # fmt: skip


@pytest.mark.parametrize("call", CRASHERS, ids=lambda c: c.id)
@pytest.mark.usefixtures("cpu_path")
def test_refused_where_nn_crashes(call: Call) -> None:
    replica = LSTM(2, 4, **call.kwargs)
    got = raised(lambda: replica(*call.args()))
    assert type(got) is RuntimeError, f"Expected RuntimeError, got {got!r}"
    missing = [text for text in call.says if text not in str(got)]
    assert not missing, f"Expected the replica's message to name {missing}, got {str(got)!r}"


@pytest.mark.parametrize("input_dtype", [torch.float32, torch.float64], ids=["float32-input", "float64-input"])
@pytest.mark.parametrize("swapped", ["weight_ih_l0", "weight_hh_l0"])
def test_the_first_weight_s_dtype_decides_the_input_check(swapped: str, input_dtype: torch.dtype) -> None:
    """One weight made float64 in a float32 module: nn.LSTM checks the input against its first weight's dtype."""
    modules = []
    for cls in (nn.LSTM, LSTM):
        torch.manual_seed(0)
        module = cls(3, 4)
        setattr(module, swapped, nn.Parameter(getattr(module, swapped).detach().double()))
        modules.append(module)
    says = ("does not match weight dtype",) if (swapped == "weight_ih_l0") == (input_dtype == torch.float32) else ()
    fed = torch.randn(5, 2, 3, dtype=input_dtype)
    with flags(Backend("cpu", "native")):
        assert_same_failure(lambda: modules[0](fed), lambda: modules[1](fed), says)


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("weight_ih_l0", {}),
        ("weight_hh_l0", {}),
        ("bias_ih_l0", {}),
        ("bias_hh_l0", {}),
        ("weight_hr_l0", {"proj_size": 2}),
        ("bias_hh_l1_reverse", {"num_layers": 2, "bidirectional": True}),
    ],
)
def test_a_weight_set_to_none_is_refused_as_nn_lstm_refuses_it(name: str, kwargs: dict[str, object]) -> None:
    """Never computed without it (a bias left out would be silent wrong output): nn.LSTM's exception type."""
    modules = []
    for cls in (nn.LSTM, LSTM):
        module = cls(3, 4, **kwargs)  # type: ignore[arg-type]
        setattr(module, name, None)
        modules.append(module)
    fed = torch.zeros(2, 1, 3)
    assert_same_failure(lambda: modules[0](fed), lambda: modules[1](fed), (f"Expected a tensor for {name}, got None",))
