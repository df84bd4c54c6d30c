"""What experiments do to modules besides calling them, on every model kind, against PyTorch's own first.

Frozen weights, a dtype move after construction, ``load_state_dict`` after use, ``deepcopy`` and pickling of a
used module, and ``functional_call``: the replica, the cell and the classifier bitwise (float64, native
path), FastLSTM within its float64 tolerance.
"""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable

import pytest
import torch
from torch import Tensor, nn

from lstm_replica import LSTM, LSTMCell, LSTMClassifier
from lstm_replica.fast import FastLSTM
from lstm_replica.parity.backends import Backend, flags
from lstm_replica.parity.compare import tolerance_for
from parity_tests._support import TorchClassifier


def _lstm() -> tuple[nn.Module, nn.Module]:
    reference = nn.LSTM(3, 4, num_layers=2)
    return reference, LSTM.from_torch(reference)


def _fast() -> tuple[nn.Module, nn.Module]:
    reference = nn.LSTM(3, 4, num_layers=2)
    return reference, FastLSTM.from_torch(reference)


def _cell() -> tuple[nn.Module, nn.Module]:
    reference = nn.LSTMCell(3, 4)
    return reference, LSTMCell.from_torch(reference)


def _classifier() -> tuple[nn.Module, nn.Module]:
    reference = TorchClassifier(nn.LSTM(3, 4, num_layers=2), nn.Linear(4, 5))
    return reference, LSTMClassifier.from_torch(reference.lstm, reference.head)


KINDS: dict[str, tuple[Callable[[], tuple[nn.Module, nn.Module]], tuple[int, ...]]] = {
    "lstm": (_lstm, (5, 2, 3)),
    "fast": (_fast, (5, 2, 3)),
    "cell": (_cell, (2, 3)),
    "classifier": (_classifier, (5, 2, 3)),
}


def _double_pair(kind: str) -> tuple[nn.Module, nn.Module, Tensor]:
    """PyTorch's module and the candidate from the same weights, in float64, and an input for them."""
    make, shape = KINDS[kind]
    torch.manual_seed(0)
    reference, candidate = (m.double() for m in make())
    return reference, candidate, torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))


def _loss(output: object) -> Tensor:
    tensors = [output] if isinstance(output, Tensor) else list(torch.utils._pytree.tree_leaves(output))
    return sum(t.sum() for t in tensors)


def _outcome(module: nn.Module, x: Tensor, params: dict[str, Tensor] | None = None) -> dict[str, Tensor]:
    module.zero_grad(set_to_none=True)
    output = module(x) if params is None else torch.func.functional_call(module, params, (x,))
    _loss(output).backward()
    leaves = [output] if isinstance(output, Tensor) else list(torch.utils._pytree.tree_leaves(output))
    found = {f"output {k}": t.detach() for k, t in enumerate(leaves)}
    return found | {f"grad {n}": p.grad for n, p in module.named_parameters() if p.grad is not None}


def _same(kind: str, got: dict[str, Tensor], expected: dict[str, Tensor], what: str) -> None:
    assert got.keys() == expected.keys(), f"{what}: Expected {sorted(expected)}, got {sorted(got)}"
    for name, tensor in expected.items():
        if kind == "fast":
            row = tolerance_for("native", torch.float64)
            torch.testing.assert_close(got[name], tensor, rtol=row.rtol, atol=row.atol, msg=f"{what}: {name}")
        else:
            assert torch.equal(got[name], tensor), f"{what}: {name} differs from PyTorch's module"


@pytest.fixture(autouse=True)
def _native() -> None:
    with flags(Backend("cpu", "native")):
        yield


@pytest.mark.parametrize("kind", KINDS)
def test_frozen_weights_after_a_dtype_move(kind: str) -> None:
    make, shape = KINDS[kind]
    torch.manual_seed(0)
    reference, candidate = make()
    for module in (reference, candidate):
        module.double()
        for name, p in module.named_parameters():
            if "weight_hh" in name:
                p.requires_grad_(False)
    x = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    _same(kind, _outcome(candidate, x), _outcome(reference, x), "frozen recurrent weights")


@pytest.mark.parametrize("kind", KINDS)
def test_load_state_dict_deepcopy_and_pickle_after_use(kind: str) -> None:
    reference, candidate, x = _double_pair(kind)
    for module in (reference, candidate):
        _outcome(module, x)
        with torch.no_grad():
            for p in module.parameters():
                p.mul_(0.5)
    torch.manual_seed(2)
    fresh_reference, _ = (m.double() for m in KINDS[kind][0]())
    for module in (reference, candidate):
        module.load_state_dict(fresh_reference.state_dict())
    expected = _outcome(reference, x)
    _same(kind, _outcome(candidate, x), expected, "after load_state_dict")
    _same(kind, _outcome(copy.deepcopy(candidate), x), expected, "a deepcopy after use")
    _same(kind, _outcome(pickle.loads(pickle.dumps(candidate)), x), expected, "pickled after use")


@pytest.mark.parametrize("kind", KINDS)
def test_functional_call_with_substituted_weights(kind: str) -> None:
    reference, candidate, x = _double_pair(kind)

    def substituted(module: nn.Module) -> dict[str, Tensor]:
        return {n: (p.detach() * 1.5).requires_grad_() for n, p in module.named_parameters()}

    expected = _outcome(reference, x, substituted(reference))
    _same(kind, _outcome(candidate, x, substituted(candidate)), expected, "functional_call")
    _same(kind, _outcome(candidate, x), _outcome(reference, x), "the own weights again, after functional_call")


@pytest.mark.parametrize("kind", ["lstm", "fast"])
def test_vmap_is_refused_as_nn_lstm_refuses_it(kind: str) -> None:
    """nn.LSTM has no batching rule (aten::lstm): under torch.func.vmap it raises RuntimeError, and so do these."""
    reference, candidate, x = _double_pair(kind)
    xs = torch.stack([x, 2 * x, 3 * x])  # three independent inputs
    with pytest.raises(RuntimeError, match="Batching rule not implemented for aten::lstm"):
        torch.vmap(lambda x: reference(x)[0])(xs)
    with pytest.raises(RuntimeError):
        torch.vmap(lambda x: candidate(x)[0])(xs)
