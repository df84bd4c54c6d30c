"""The replica's error messages, word for word: each names what was expected and what came.

``test_errors.py`` holds the replica to ``torch.nn``'s exception types. This file is the
specification of the replica's own wording, written out by hand: the owner (``LSTM:`` /
``LSTMCell:``), the expectation and the value that came, so a user can act on the message
alone. Where ``nn.LSTM``'s own message is the clearer one it is kept.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_sequence

from lstm_replica import LSTM, LSTMCell
from lstm_replica.functional import NativeRecurrence

X = torch.zeros(5, 2, 3)  # (L, N, H_in) for LSTM(3, 4)
H = torch.zeros(1, 2, 4)  # (D*num_layers, N, H_out)


def _lstm(**changes: object) -> LSTM:
    module = LSTM(3, 4)
    for name, value in changes.items():
        object.__setattr__(module, name, value)  # a configuration the constructor would refuse, set afterwards
    return module


def _cell_with(name: str, shape: tuple[int, ...]) -> LSTMCell:
    cell = LSTMCell(3, 4)
    setattr(cell, name, nn.Parameter(torch.zeros(shape)))
    return cell


def _packed(dtype: torch.dtype = torch.float32, features: int = 3, *, sort: bool = True) -> object:
    lengths = (3, 2) if sort else (2, 3)
    return pack_sequence([torch.zeros(n, features, dtype=dtype) for n in lengths], enforce_sorted=sort)


CONSTRUCTION: list[tuple[str, Callable[[], object], type[Exception], str]] = [
    ("dropout_str", lambda: LSTM(3, 4, dropout="a"), ValueError,
     "dropout should be a number in range [0, 1], got 'a' (str)"),
    ("dropout_above_1", lambda: LSTM(3, 4, dropout=1.5), ValueError,
     ("dropout should be a number in range [0, 1] representing the probability of an element being zeroed, "
      "got 1.5 (float)")),
    ("bias_int", lambda: LSTM(3, 4, bias=1), TypeError, "bias should be of type bool, got: int"),
    ("batch_first_str", lambda: LSTM(3, 4, batch_first="no"), TypeError,
     "batch_first should be of type bool, got: str"),
    ("input_size_float", lambda: LSTM(2.0, 4), TypeError, "input_size should be of type int, got: float"),
    ("hidden_size_zero", lambda: LSTM(3, 0), ValueError, "hidden_size must be greater than zero, got 0"),
    ("num_layers_str", lambda: LSTM(3, 4, num_layers="2"), TypeError, "num_layers should be of type int, got: str"),
    ("num_layers_zero", lambda: LSTM(3, 4, num_layers=0), ValueError, "num_layers must be greater than zero, got 0"),
    ("num_layers_float", lambda: LSTM(3, 4, num_layers=2.5), TypeError,
     "num_layers should be of type int, got: float (2.5)"),
    ("proj_size_str", lambda: LSTM(3, 4, proj_size="1"), TypeError, "proj_size should be of type int, got: str"),
    ("proj_size_negative", lambda: LSTM(3, 4, proj_size=-1), ValueError,
     "proj_size should be a positive integer or zero to disable projections, got -1"),
    ("proj_size_hidden", lambda: LSTM(3, 4, proj_size=4), ValueError,
     "proj_size has to be smaller than hidden_size, got proj_size=4 and hidden_size=4"),
    ("proj_size_float", lambda: LSTM(3, 4, proj_size=1.5), TypeError,
     "proj_size should be of type int, got: float (1.5)"),
    ("lstm_int_dtype", lambda: LSTM(3, 4, dtype=torch.int64), RuntimeError,
     "LSTM: Expected a floating point or complex dtype for the parameters, got torch.int64"),
    ("cell_negative", lambda: LSTMCell(3, -1), RuntimeError,
     ("LSTMCell: Expected input_size and hidden_size to be non-negative ints, "
      "got input_size=3 (int), hidden_size=-1 (int)")),
    ("cell_float", lambda: LSTMCell(3.0, 4), TypeError,
     ("LSTMCell: Expected input_size and hidden_size to be non-negative ints, "
      "got input_size=3.0 (float), hidden_size=4 (int)")),
    ("cell_int_dtype", lambda: LSTMCell(3, 4, dtype=torch.int32), RuntimeError,
     "LSTMCell: Expected a floating point or complex dtype for the parameters, got torch.int32"),
]  # fmt: skip


def _forward_with_first_weight_removed() -> object:
    """``forward_with`` (custom recurrences) on a module whose first weight was set to None."""
    module, donor = LSTM(3, 4), LSTM(3, 4)
    module.weight_ih_l0 = None
    return module.forward_with([NativeRecurrence(w) for w in donor.cell_weights()], torch.zeros(2, 1, 3))


def _call_without(name: str) -> object:
    """A module called after one of its weights was set to None."""
    module = LSTM(3, 4)
    setattr(module, name, None)
    return module(torch.zeros(2, 1, 3))


LSTM_CALLS: list[tuple[str, Callable[[], object], type[Exception], str]] = [
    ("weight_ih_none", lambda: _call_without("weight_ih_l0"), AttributeError,
     "Expected a tensor for weight_ih_l0, got None"),
    ("weight_hh_none", lambda: _call_without("weight_hh_l0"), TypeError,
     "Expected a tensor for weight_hh_l0, got None"),
    ("bias_hh_none", lambda: _call_without("bias_hh_l0"), TypeError, "Expected a tensor for bias_hh_l0, got None"),
    ("first_weight_none", _forward_with_first_weight_removed, AttributeError,
     "Expected a tensor for weight_ih_l0, got None"),
    ("input_list", lambda: LSTM(3, 4)([1, 2]), AttributeError,
     "LSTM: Expected input to be a Tensor or a PackedSequence, got list"),
    ("input_1d", lambda: LSTM(3, 4)(torch.zeros(3)), ValueError, "LSTM: Expected input to be 2D or 3D, got 1D instead"),
    ("hx_2d_for_3d", lambda: LSTM(3, 4)(X, (H[0], H[0])), RuntimeError,
     "For batched 3-D input, hx and cx should also be 3-D but got (2-D, 2-D) tensors"),
    ("hx_3d_for_2d", lambda: LSTM(3, 4)(X[:, 0], (H, H)), RuntimeError,
     "For unbatched 2-D input, hx and cx should also be 2-D but got (3-D, 3-D) tensors"),
    ("hx_int", lambda: LSTM(3, 4)(X, 5), TypeError, "LSTM: Expected hx to be a tuple (h_0, c_0) of Tensors, got a int"),
    ("hx_one", lambda: LSTM(3, 4)(X, (H,)), IndexError,
     "LSTM: Expected hx to be a tuple (h_0, c_0) of Tensors, got a tuple of 1 elements (Tensor)"),
    ("c_str", lambda: LSTM(3, 4)(X, (H, "c")), AttributeError, "LSTM: Expected hx[1] to be a Tensor, got str"),
    ("hx_three", lambda: LSTM(3, 4)(X, (H, H, H)), RuntimeError,
     "LSTM: Expected hx to hold two states (h_0, c_0), got 3"),
    ("hx_list_of_str", lambda: LSTM(3, 4)(X[:, 0], [H[:, 0], H[:, 0], "x"]), TypeError,
     "LSTM: Expected hx to be a tuple (h_0, c_0) of Tensors, got a list of 3 elements (Tensor, Tensor, str)"),
    ("input_float64", lambda: LSTM(3, 4)(X.double()), ValueError,
     ("RNN input dtype (torch.float64) does not match weight dtype (torch.float32). "
      "Convert input: input.to(torch.float32), or convert model: model.to(torch.float64)")),
    ("input_features", lambda: LSTM(3, 4)(torch.zeros(5, 2, 7)), RuntimeError,
     "input.size(-1) must be equal to input_size. Expected 3, got 7"),
    ("h_batch", lambda: LSTM(3, 4)(X, (torch.zeros(1, 3, 4), H)), RuntimeError,
     "Expected hidden[0] size (1, 2, 4), got [1, 3, 4]"),
    ("c_width", lambda: LSTM(3, 4)(X, (H, torch.zeros(1, 2, 5))), RuntimeError,
     "Expected hidden[1] size (1, 2, 4), got [1, 2, 5]"),
    ("bidirectional_str", lambda: _lstm(bidirectional="yes")(X), TypeError,
     "LSTM: Expected bidirectional to be a bool, got str ('yes')"),
    ("num_layers_bool", lambda: _lstm(num_layers=True)(X), TypeError,
     "LSTM: Expected num_layers to be an int, got bool (True)"),
    ("no_steps", lambda: LSTM(3, 4)(torch.zeros(0, 2, 3)), RuntimeError,
     "Expected sequence length to be larger than 0 in RNN, got input of shape [0, 2, 3]"),
    ("h_float64", lambda: LSTM(3, 4)(X, (H.double(), H)), RuntimeError,
     "LSTM: Expected hx[0] (h_0) of dtype torch.float32, the weights' dtype, got torch.float64"),
    ("c_float64", lambda: LSTM(3, 4)(X, (H, H.double())), RuntimeError,
     "LSTM: Expected hx[1] (c_0) of dtype torch.float32, the weights' dtype, got torch.float64"),
    ("input_on_meta", lambda: LSTM(3, 4)(X.to("meta")), RuntimeError,
     "Input and parameter tensors are not at the same device, found input tensor at meta and parameter tensor at cpu"),
    ("c_on_meta", lambda: LSTM(3, 4)(X, (H, H.to("meta"))), RuntimeError,
     "Input and hidden tensors are not at the same device, found input tensor at cpu and hidden tensor at meta"),
    ("packed_float64", lambda: LSTM(3, 4)(_packed(torch.float64)), RuntimeError,
     ("RNN input dtype (torch.float64) does not match weight dtype (torch.float32). "
      "Convert input: input.to(torch.float32), or convert model: model.to(torch.float64)")),
    ("packed_features", lambda: LSTM(3, 4)(_packed(features=5)), RuntimeError,
     "input.size(-1) must be equal to input_size. Expected 3, got 5"),
    ("packed_c_2d", lambda: LSTM(3, 4)(_packed(), (H, H[0])), IndexError,
     "For packed input, expected hx[1] (c_0) to be 3-D, got a 2-D tensor"),
    ("packed_c_batch", lambda: LSTM(3, 4)(_packed(), (H, torch.zeros(1, 3, 4))), RuntimeError,
     "Expected hidden[1] size (1, 2, 4), got [1, 3, 4]"),
    ("packed_three_states", lambda: LSTM(3, 4)(_packed(), (H, H, H)), RuntimeError,
     "LSTM: Expected hx to hold two states (h_0, c_0), got 3"),
    ("unsorted_h_1d", lambda: LSTM(3, 4)(_packed(sort=False), (torch.zeros(4), H)), IndexError,
     "For packed input, expected hx[0] to be 3-D, got a 1-D tensor"),
    ("packed_c_str", lambda: LSTM(3, 4)(_packed(), (H, "c")), TypeError,
     "LSTM: Expected hx to be a tuple (h_0, c_0) of Tensors, got a tuple of 2 elements (Tensor, str)"),
    ("packed_c_float64", lambda: LSTM(3, 4)(_packed(), (H, H.double())), RuntimeError,
     "LSTM: Expected hx[1] (c_0) of dtype torch.float32, the weights' dtype, got torch.float64"),
    ("unsorted_hx_int", lambda: LSTM(3, 4)(_packed(sort=False), 5), TypeError,
     "LSTM: Expected hx to be a tuple (h_0, c_0) of Tensors, got a int"),
    ("unsorted_h_str", lambda: LSTM(3, 4)(_packed(sort=False), ("h", H)), AttributeError,
     "LSTM: Expected hx[0] to be a Tensor, got str"),
    ("unsorted_c_str", lambda: LSTM(3, 4)(_packed(sort=False), (H, "c")), AttributeError,
     "LSTM: Expected hx[1] to be a Tensor, got str"),
    ("unsorted_three_states", lambda: LSTM(3, 4)(_packed(sort=False), (H, H, H)), RuntimeError,
     "LSTM: Expected hx to hold two states (h_0, c_0), got 3"),
    ("unsorted_h_2d", lambda: LSTM(3, 4)(_packed(sort=False), (H[0], H)), IndexError,
     "For packed input, expected hx[0] (h_0) to be 3-D, got a 2-D tensor"),
    ("unsorted_c_batch", lambda: LSTM(3, 4)(_packed(sort=False), (H, torch.zeros(1, 3, 4))), RuntimeError,
     "For packed input of batch 2, expected hx[1].size(1) == 2, got 3"),
]  # fmt: skip

X1 = torch.zeros(2, 3)  # (N, H_in) for LSTMCell(3, 4)
S1 = torch.zeros(2, 4)  # (N, H)

CELL_CALLS: list[tuple[str, Callable[[], object], type[Exception], str]] = [
    ("input_str", lambda: LSTMCell(3, 4)("x"), AttributeError, "LSTMCell: Expected input to be a Tensor, got str"),
    ("input_3d", lambda: LSTMCell(3, 4)(torch.zeros(2, 3, 3)), ValueError,
     "LSTMCell: Expected input to be 1D or 2D, got 3D instead"),
    ("hx_int", lambda: LSTMCell(3, 4)(X1, 5), TypeError,
     "LSTMCell: Expected hx to be a tuple (h, c) of Tensors, got a int"),
    ("c_int", lambda: LSTMCell(3, 4)(X1, (S1, 3)), AttributeError, "LSTMCell: Expected hx[1] to be a Tensor, got int"),
    ("h_3d", lambda: LSTMCell(3, 4)(X1, (torch.zeros(1, 2, 4), S1)), ValueError,
     "LSTMCell: Expected hx[0] to be 1D or 2D, got 3D instead"),
    ("hx_one_batched", lambda: LSTMCell(3, 4)(X1, (S1,)), RuntimeError,
     "LSTMCell: Expected hx to hold two states (h_0, c_0), got 1"),
    ("hx_one_unbatched", lambda: LSTMCell(3, 4)(X1[0], (S1[0],)), IndexError,
     "LSTMCell: Expected hx to be a tuple (h_0, c_0) of Tensors, got a tuple of 1 elements (Tensor)"),
    ("hx_empty_unbatched", lambda: LSTMCell(3, 4)(X1[0], ()), IndexError,
     "LSTMCell: Expected hx to be a tuple (h_0, c_0) of Tensors, got a tuple of 0 elements ()"),
    ("hx_three_unbatched", lambda: LSTMCell(3, 4)(X1[0], (S1[0], S1[0], S1[0])), RuntimeError,
     "LSTMCell: Expected hx to hold two states (h_0, c_0), got 3"),
    ("input_features", lambda: LSTMCell(3, 4)(torch.zeros(2, 5)), RuntimeError,
     "input has inconsistent input_size: got 5 expected 3"),
    ("weight_ih_rows", lambda: _cell_with("weight_ih", (12, 3))(X1), RuntimeError,
     "weight_ih first dim must be 4 * hidden_size = 16, but got 12"),
    ("weight_hh_rows", lambda: _cell_with("weight_hh", (12, 4))(X1), RuntimeError,
     "weight_hh first dim must be 4 * hidden_size = 16, but got 12"),
    ("h_batch", lambda: LSTMCell(3, 4)(X1, (torch.zeros(3, 4), S1)), RuntimeError,
     "Input batch size 2 doesn't match hidden0 batch size 3"),
    ("c_width", lambda: LSTMCell(3, 4)(X1, (S1, torch.zeros(2, 5))), RuntimeError,
     "hidden1 has inconsistent hidden_size: got 5, expected 4"),
    ("input_float64", lambda: LSTMCell(3, 4)(X1.double()), RuntimeError,
     "LSTMCell: Expected input of dtype torch.float32, the weights' dtype, got torch.float64"),
    ("h_float64", lambda: LSTMCell(3, 4)(X1, (S1.double(), S1)), RuntimeError,
     "LSTMCell: Expected hx[0] (h_0) of dtype torch.float32, the weights' dtype, got torch.float64"),
    ("input_on_meta", lambda: LSTMCell(3, 4)(X1.to("meta")), RuntimeError,
     "LSTMCell: Expected input on cpu, the weights' device, got meta"),
    ("h_on_meta", lambda: LSTMCell(3, 4)(X1, (S1.to("meta"), S1)), RuntimeError,
     "LSTMCell: Expected hx[0] on cpu, the weights' device, got meta"),
    ("c_on_meta", lambda: LSTMCell(3, 4)(X1, (S1, S1.to("meta"))), RuntimeError,
     "LSTMCell: Expected hx[1] on cpu, the weights' device, got meta"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [case[1:] for case in CONSTRUCTION + LSTM_CALLS + CELL_CALLS],
    ids=[f"{group}-{case[0]}" for group, cases in (("new", CONSTRUCTION), ("lstm", LSTM_CALLS), ("cell", CELL_CALLS))
         for case in cases],
)  # fmt: skip
def test_the_message_names_what_was_expected_and_what_came(
    call: Callable[[], object], error: type[Exception], message: str
) -> None:
    with pytest.raises(Exception) as caught:  # noqa: PT011 -- the exact type is asserted below
        call()
    assert type(caught.value) is error, f"Expected {error.__name__}, got {type(caught.value).__name__}: {caught.value}"
    assert str(caught.value) == message, f"Expected the message {message!r}, got {str(caught.value)!r}"


@pytest.mark.parametrize("module", [LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2), LSTMCell(3, 4)])
def test_zero_states_are_made_where_the_input_is(module: nn.Module) -> None:
    """With ``hx`` None the zero states take the input's device: on the meta device nothing else would pass."""
    meta = module.to("meta")
    x = torch.zeros(5, 2, 3, device="meta") if isinstance(module, LSTM) else torch.zeros(2, 3, device="meta")
    out = meta(x)
    states = out[1] if isinstance(module, LSTM) else out
    assert all(t.device.type == "meta" for t in states), f"Expected meta states, got {[t.device for t in states]}"


def test_the_dropout_advisory_is_nn_lstm_s_and_points_at_the_caller() -> None:
    with pytest.warns(UserWarning, match="dropout option adds dropout") as expected:
        nn.LSTM(3, 4, dropout=0.5)
    with pytest.warns(UserWarning, match="dropout option adds dropout") as got:
        LSTM(3, 4, dropout=0.5)
    assert [str(w.message) for w in got] == [str(w.message) for w in expected], "the advisory's words differ"
    assert got[0].filename == __file__, f"Expected the warning to point at the caller's line, got {got[0].filename}"
