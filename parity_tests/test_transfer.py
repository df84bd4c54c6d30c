"""Weight transfer between ``nn.LSTM`` / ``nn.LSTMCell`` and the replicas: copies, bitwise, both ways."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from lstm_replica import LSTM, LSTMCell
from lstm_replica.transfer import copy_parameters

CONFIGS = [
    {"num_layers": 1},
    {"num_layers": 3, "bidirectional": True, "bias": False},
    {"num_layers": 2, "proj_size": 3, "batch_first": True, "dropout": 0.2},
]
IDS = ["layers1", "layers3-bidir-nobias", "layers2-proj3-batch_first-dropout"]


def _assert_copied(source: nn.Module, target: nn.Module) -> None:
    src, dst = source.state_dict(), target.state_dict()
    assert list(dst) == list(src), f"Expected keys {list(src)}, got {list(dst)}"
    for name in src:
        assert torch.equal(dst[name], src[name]), f"{name} is not a bitwise copy"
        assert dst[name].dtype == src[name].dtype, f"{name}: expected {src[name].dtype}, got {dst[name].dtype}"
        assert dst[name].device == src[name].device, f"{name}: expected {src[name].device}, got {dst[name].device}"
        assert dst[name].data_ptr() != src[name].data_ptr(), f"{name} shares storage with the source"


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
def test_from_torch_and_back_is_a_bitwise_copy(config: dict[str, object], dtype: torch.dtype) -> None:
    reference = nn.LSTM(6, 7, dtype=dtype, **config).eval()
    replica = LSTM.from_torch(reference)
    _assert_copied(reference, replica)
    assert not replica.training, "Expected from_torch to carry over eval mode"
    for key in ("num_layers", "bidirectional", "batch_first", "proj_size", "bias", "dropout"):
        assert getattr(replica, key) == getattr(reference, key), f"{key} differs"
    back = replica.to_torch()
    assert type(back) is nn.LSTM, f"Expected nn.LSTM, got {type(back).__name__}"
    _assert_copied(replica, back)
    _assert_copied(reference, back)


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_load_state_dict_works_in_both_directions(config: dict[str, object]) -> None:
    reference = nn.LSTM(6, 7, **config)
    replica = LSTM(6, 7, **config)
    replica.load_state_dict(reference.state_dict())
    _assert_copied(reference, replica)
    fresh = nn.LSTM(6, 7, **config)
    fresh.load_state_dict(replica.state_dict())
    _assert_copied(replica, fresh)


def test_copies_do_not_share_storage_with_the_source() -> None:
    reference = nn.LSTM(3, 4)
    replica = LSTM.from_torch(reference)
    with torch.no_grad():
        reference.weight_ih_l0.fill_(1.0)
    assert not torch.equal(replica.weight_ih_l0, reference.weight_ih_l0), "Expected a copy, got shared storage"


def test_from_torch_draws_no_random_numbers() -> None:
    """Transfers build on the meta device: a seeded experiment draws the same numbers with or without them."""
    reference, reference_cell = nn.LSTM(3, 4, num_layers=2), nn.LSTMCell(3, 4)
    torch.manual_seed(9)
    expected = torch.rand(3)
    torch.manual_seed(9)
    LSTM.from_torch(reference).to_torch()
    LSTMCell.from_torch(reference_cell).to_torch()
    assert torch.equal(torch.rand(3), expected), "Expected transfers to leave the global RNG untouched"


def test_frozen_weights_stay_frozen_both_ways() -> None:
    reference = nn.LSTM(3, 4, num_layers=2)
    reference.weight_hh_l1.requires_grad_(False)
    replica = LSTM.from_torch(reference)
    assert not replica.weight_hh_l1.requires_grad, "Expected a frozen weight_hh_l1 to stay frozen in from_torch"
    assert replica.weight_ih_l1.requires_grad, "Expected a trainable weight to stay trainable"
    assert not replica.to_torch().weight_hh_l1.requires_grad, "Expected a frozen weight to stay frozen in to_torch"


def test_parametrized_source_is_copied_as_its_computed_weight() -> None:
    reference = nn.LSTM(3, 4)
    torch.nn.utils.parametrizations.weight_norm(reference, "weight_hh_l0")
    replica = LSTM.from_torch(reference)
    assert torch.equal(replica.weight_hh_l0, reference.weight_hh_l0), "Expected the parametrized weight's value"


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_cell_transfer_round_trip(bias: bool) -> None:
    reference = nn.LSTMCell(5, 6, bias=bias, dtype=torch.float64)
    replica = LSTMCell.from_torch(reference)
    _assert_copied(reference, replica)
    back = replica.to_torch()
    assert type(back) is nn.LSTMCell, f"Expected nn.LSTMCell, got {type(back).__name__}"
    _assert_copied(replica, back)


@pytest.mark.parametrize(
    ("make", "source"),
    [
        (LSTM.from_torch, nn.GRU(3, 4)),
        (LSTM.from_torch, nn.LSTMCell(3, 4)),
        (LSTM.from_torch, LSTM(3, 4)),
        (LSTMCell.from_torch, nn.LSTM(3, 4)),
        (LSTMCell.from_torch, nn.Linear(3, 4)),
    ],
    ids=["lstm<-gru", "lstm<-lstmcell", "lstm<-replica", "cell<-lstm", "cell<-linear"],
)
def test_wrong_kind_of_module_is_refused(make: object, source: nn.Module) -> None:
    with pytest.raises(TypeError, match=r"Expected a torch\.nn\.modules\.rnn\.LSTM"):
        make(source)


def test_wrong_shape_is_refused() -> None:
    reference = nn.LSTM(3, 4)
    reference.weight_hh_l0 = nn.Parameter(torch.zeros(16, 5))
    with pytest.raises(RuntimeError, match=r"Expected weight_hh_l0 of shape \(16, 4\), got \(16, 5\)"):
        LSTM.from_torch(reference)
    with pytest.raises(RuntimeError, match="size mismatch"):
        LSTM(3, 5).load_state_dict(nn.LSTM(3, 4).state_dict())


def test_a_missing_or_empty_source_parameter_is_named() -> None:
    with pytest.raises(RuntimeError) as caught:
        copy_parameters(nn.LSTM(3, 4, bias=False), LSTM(3, 4))
    expected = "Expected the source module to have a parameter 'bias_ih_l0', got none"
    assert str(caught.value) == expected, f"Expected {expected!r}, got {str(caught.value)!r}"
    emptied = nn.LSTM(3, 4)
    emptied.bias_hh_l0 = None
    with pytest.raises(RuntimeError) as caught:
        LSTM.from_torch(emptied)
    assert str(caught.value) == "Expected bias_hh_l0 of shape (16,), got None", f"got {str(caught.value)!r}"


def test_copy_parameters_copies_exactly_the_accepted_names() -> None:
    source, target = nn.LSTM(3, 4, num_layers=2), LSTM(3, 4, num_layers=2)
    before = target.weight_ih_l0.detach().clone()
    copy_parameters(source, target, lambda name: name != "weight_ih_l0")
    assert torch.equal(target.weight_ih_l0, before), "weight_ih_l0 was copied although it was left out"
    for name, tensor in source.state_dict().items():
        if name != "weight_ih_l0":
            assert torch.equal(target.state_dict()[name], tensor), f"{name} was not copied"


def test_to_torch_does_not_repeat_the_dropout_advisory() -> None:
    with pytest.warns(UserWarning, match="dropout option adds dropout"):
        model = LSTM(3, 4, dropout=0.5)  # nn.LSTM's advisory, said once at construction
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert model.to_torch().dropout == 0.5, "Expected the dropout carried over"


def test_a_parametrized_replica_moves_with_its_parametrizations() -> None:
    """``.double()`` reaches the parametrization's own tensors (a submodule): the computed weight is float64."""
    model = LSTM(3, 4)
    torch.nn.utils.parametrizations.weight_norm(model, "weight_hh_l0")
    model.double()
    dtypes = {name: p.dtype for name, p in model.named_parameters()}
    assert set(dtypes.values()) == {torch.float64}, f"Expected every parameter float64, got {dtypes}"
    assert model(torch.zeros(2, 1, 3, dtype=torch.float64))[0].dtype == torch.float64, "Expected a float64 output"
