"""``lstm_replica.LSTM`` behaves as an ``nn.LSTM`` under what people do to modules.

Same parameter names, shapes, order and initial values; ``.to()``, deepcopy,
pickling, parametrizations, weight tying and gradcheck; and it never calls any
of torch's fused LSTM kernels.
"""

from __future__ import annotations

import copy
import io
import pickle

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrizations

from lstm_replica import LSTM, LSTMCell
from parity_tests._support import Case, bitwise_differences, make_inputs, run

CONFIGS = [
    {"num_layers": 1},
    {"num_layers": 2, "bias": False},
    {"num_layers": 3, "bidirectional": True},
    {"num_layers": 2, "bidirectional": True, "proj_size": 3},
    {"num_layers": 1, "proj_size": 2, "bias": False, "batch_first": True},
]
CONFIG_IDS = ["-".join(f"{k}={v}" for k, v in c.items()) for c in CONFIGS]


@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
def test_parameters_match_names_shapes_order_and_initial_values(config: dict[str, object]) -> None:
    torch.manual_seed(42)
    reference = nn.LSTM(5, 8, **config)
    torch.manual_seed(42)
    replica = LSTM(5, 8, **config)
    expected = reference.state_dict()
    actual = replica.state_dict()
    assert list(actual) == list(expected), f"Expected state_dict keys {list(expected)}, got {list(actual)}"
    for name, tensor in expected.items():
        assert actual[name].shape == tensor.shape, f"{name}: expected {tuple(tensor.shape)}, got {actual[name].shape}"
        assert torch.equal(actual[name], tensor), f"{name}: the same seed should draw the same initial values"
    assert [n for n, _ in replica.named_parameters()] == [n for n, _ in reference.named_parameters()]
    assert [[t.shape for t in g] for g in replica.all_weights] == [[t.shape for t in g] for g in reference.all_weights]
    assert repr(replica).removeprefix("LSTM") == repr(reference).removeprefix("LSTM")


@pytest.mark.usefixtures("native_cpu")
def test_to_double_and_deepcopy_and_pickle_keep_parity() -> None:
    case = Case(num_layers=2, bidirectional=True, dtype=torch.float64)
    reference = nn.LSTM(**(case.module_kwargs() | {"dtype": torch.float32}))
    replica = LSTM.from_torch(reference).double()
    reference = reference.double()
    inputs = make_inputs(case, torch.Generator().manual_seed(1))
    expected = run(reference, case, inputs)
    for label, module in {
        "to(float64)": replica,
        "deepcopy": copy.deepcopy(replica),
        "pickle": pickle.loads(pickle.dumps(replica)),
    }.items():
        problems = bitwise_differences(expected, run(module, case, inputs))
        assert not problems, f"after {label}:\n" + "\n".join(problems)


@pytest.mark.usefixtures("native_cpu")
def test_torch_save_and_load_state_dict_round_trip() -> None:
    replica = LSTM(4, 6, num_layers=2, proj_size=3)
    buffer = io.BytesIO()
    torch.save(replica.state_dict(), buffer)
    buffer.seek(0)
    restored = LSTM(4, 6, num_layers=2, proj_size=3)
    restored.load_state_dict(torch.load(buffer, weights_only=True))
    for name, tensor in replica.state_dict().items():
        assert torch.equal(restored.state_dict()[name], tensor), f"{name} changed through save/load"


@pytest.mark.usefixtures("native_cpu")
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
def test_weight_norm_parametrization_keeps_parity(dtype: torch.dtype) -> None:
    case = Case(num_layers=2, dtype=dtype)
    reference = nn.LSTM(**case.module_kwargs())
    replica = LSTM.from_torch(reference)
    for module in (reference, replica):
        parametrizations.weight_norm(module, "weight_hh_l0")
        parametrizations.weight_norm(module, "weight_ih_l1")
    inputs = make_inputs(case, torch.Generator().manual_seed(1))
    problems = bitwise_differences(run(reference, case, inputs), run(replica, case, inputs))
    assert not problems, "with weight norm:\n" + "\n".join(problems)


@pytest.mark.usefixtures("native_cpu")
def test_weight_tying_keeps_parity_and_reads_weights_every_call() -> None:
    case = Case(num_layers=2, input_size=5, hidden_size=5)
    reference = nn.LSTM(**case.module_kwargs())
    replica = LSTM.from_torch(reference)
    for module in (reference, replica):
        module.weight_hh_l1 = module.weight_hh_l0
    inputs = make_inputs(case, torch.Generator().manual_seed(1))
    problems = bitwise_differences(run(reference, case, inputs), run(replica, case, inputs))
    assert not problems, "with tied weight_hh:\n" + "\n".join(problems)
    before = replica(inputs.x)[0]
    with torch.no_grad():
        replica.weight_hh_l0.add_(0.5)
    assert not torch.equal(replica(inputs.x)[0], before), "Expected an in-place weight change to change the output"


@pytest.mark.parametrize(
    "config",
    [{"num_layers": 2, "bidirectional": True}, {"proj_size": 2}, {"bias": False, "batch_first": True}],
    ids=["layers2-bidir", "proj2", "nobias-batch_first"],
)
def test_gradcheck_and_gradgradcheck(config: dict[str, object]) -> None:
    replica = LSTM(2, 3, dtype=torch.float64, **config)
    d = 2 if replica.bidirectional else 1
    shape = (2, 3, 2) if replica.batch_first else (3, 2, 2)
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(d * replica.num_layers, 2, replica.proj_size or 3, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(d * replica.num_layers, 2, 3, dtype=torch.float64, requires_grad=True)
    params = tuple(replica.parameters())

    def fn(x: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor, *weights: torch.Tensor) -> tuple[torch.Tensor, ...]:
        named = dict(zip([n for n, _ in replica.named_parameters()], weights, strict=True))
        out, (h, c) = torch.func.functional_call(replica, named, (x, (h0, c0)))
        return out, h, c

    assert torch.autograd.gradcheck(fn, (x, h0, c0, *params))
    assert torch.autograd.gradgradcheck(fn, (x, h0, c0, *params))


def test_cell_gradcheck_and_gradgradcheck() -> None:
    cell = LSTMCell(3, 4, dtype=torch.float64)
    x = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    h = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    c = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, h, c: cell(x, (h, c)), (x, h, c))
    assert torch.autograd.gradgradcheck(lambda x, h, c: cell(x, (h, c)), (x, h, c))


FUSED = ["lstm", "lstm_cell", "_thnn_fused_lstm_cell"]


def test_replica_never_calls_a_fused_lstm_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    """Poison torch's LSTM entry points; the replica must still run forward and backward."""

    def refuse(*_args: object, **_kwargs: object) -> None:
        msg = "Expected the replica to compute the LSTM from tensor ops, got a call to a fused LSTM kernel"
        raise AssertionError(msg)

    for name in FUSED:
        monkeypatch.setattr(torch, name, refuse, raising=False)
        monkeypatch.setattr(torch._VF, name, refuse, raising=False)
    monkeypatch.setattr(nn.LSTM, "forward", refuse)
    monkeypatch.setattr(nn.LSTMCell, "forward", refuse)
    replica = LSTM(3, 4, num_layers=2, bidirectional=True)
    out, (h, c) = replica(torch.randn(5, 2, 3))
    (out.sum() + h.sum() + c.sum()).backward()
    cell = LSTMCell(3, 4)
    sum(cell(torch.randn(2, 3))).sum().backward()
    for name in FUSED:  # the poison really is in place where a call would go
        with pytest.raises(AssertionError, match="fused LSTM kernel"):
            getattr(torch._VF, name)()
        with pytest.raises(AssertionError, match="fused LSTM kernel"):
            getattr(torch, name)()
    with pytest.raises(AssertionError, match="fused LSTM kernel"):
        nn.LSTM(3, 4)(torch.randn(5, 2, 3))


@pytest.mark.parametrize("cls", [nn.LSTM, LSTM], ids=["nn.LSTM", "replica"])
def test_a_weight_set_to_none_moved_and_given_back_survives_deepcopy(cls: type[nn.LSTM]) -> None:
    """The flat-weight list remembered while a weight was None, then the weight given back: a copy still runs."""
    torch.manual_seed(0)
    module = cls(3, 4)
    weight = module.weight_ih_l0.detach().double()
    module.weight_ih_l0 = None
    module.double()  # rebuilds the flat-weight list with the None in it
    module.weight_ih_l0 = nn.Parameter(weight)
    copied = copy.deepcopy(module)
    x = torch.randn(2, 1, 3, dtype=torch.float64)
    torch.testing.assert_close(copied(x)[0], module(x)[0], rtol=0, atol=0, msg="the copy computes otherwise")


@pytest.mark.parametrize("cls", [nn.LSTM, LSTM], ids=["nn.LSTM", "replica"])
def test_a_deleted_weight_still_moves_and_copies(cls: type[nn.LSTM]) -> None:
    """``del module.weight_hh_l0``: the flat-weight list holds None for it; moving and copying still work."""
    module = cls(3, 4)
    del module.weight_hh_l0
    module.double()  # rebuilds the flat-weight list
    copied = copy.deepcopy(module)
    assert [w is None for w in copied._flat_weights] == [False, True, False, False], copied._flat_weights_names
