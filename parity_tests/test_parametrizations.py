"""Parametrized and pruned weights: the replica reads them as nn.LSTM does, so stateful ones stay in step.

nn.LSTM reads its weights through a list it refreshes when an attribute no longer holds the listed tensor;
a parametrized weight is a new tensor at every read, so ``spectral_norm`` in training runs its power
iteration as many times per forward as nn.LSTM reads the weight. Each test trains nn.LSTM and the replica
side by side for several SGD steps (float64, native path) and compares outputs, gradients, parameters and
the parametrizations' buffers bitwise.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrizations, prune

from lstm_replica import LSTM, LSTMCell
from lstm_replica.parity.backends import Backend, flags

F64 = torch.float64
NAMES = ("weight_ih_l0", "weight_hh_l0", "weight_ih_l1")


def _spectral(module: nn.Module, name: str) -> None:
    parametrizations.spectral_norm(module, name)


def _weight_norm(module: nn.Module, name: str) -> None:
    parametrizations.weight_norm(module, name)


def _pruned(module: nn.Module, name: str) -> None:
    prune.l1_unstructured(module, name, amount=0.3)


KINDS: dict[str, tuple[Callable[[nn.Module, str], None], bool]] = {
    "spectral_norm-train": (_spectral, True),
    "spectral_norm-eval": (_spectral, False),
    "weight_norm": (_weight_norm, True),
    "prune": (_pruned, True),
}


def _state(module: nn.Module) -> dict[str, torch.Tensor]:
    tensors = {f"param {n}": p.detach().clone() for n, p in module.named_parameters()}
    tensors |= {f"grad {n}": p.grad.clone() for n, p in module.named_parameters() if p.grad is not None}
    return tensors | {f"buffer {n}": b.clone() for n, b in module.named_buffers()}


def test_spectral_norm_steps_show_in_plain_use() -> None:
    torch.manual_seed(0)
    module = nn.LSTM(4, 5, dtype=F64)
    parametrizations.spectral_norm(module, "weight_hh_l0")
    u = module.parametrizations.weight_hh_l0[0]._u.clone()
    module(torch.randn(3, 2, 4, dtype=F64))
    assert not torch.equal(module.parametrizations.weight_hh_l0[0]._u, u), "a forward in training moves u"


@pytest.mark.parametrize("kind", KINDS)
def test_parametrized_training_is_bitwise(kind: str) -> None:
    apply, training = KINDS[kind]
    torch.manual_seed(0)
    reference = nn.LSTM(4, 5, num_layers=2, dtype=F64)
    replica = LSTM.from_torch(reference)
    for module in (reference, replica):
        torch.manual_seed(1)  # the parametrizations' own random start (spectral_norm's u) drawn alike
        for name in NAMES:
            apply(module, name)
        module.train(training)
    optimizers = [torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9) for m in (reference, replica)]
    generator = torch.Generator().manual_seed(2)
    with flags(Backend("cpu", "native")):
        for step in range(3):
            x = torch.randn(3, 2, 4, dtype=F64, generator=generator)
            results = []
            for module, optimizer in zip((reference, replica), optimizers, strict=True):
                optimizer.zero_grad()
                output, (h_n, c_n) = module(x)
                (output.sum() + h_n.sum() + c_n.sum()).backward()
                results.append({"output": output.detach(), **_state(module)})
                optimizer.step()
            expected, got = results
            assert expected.keys() == got.keys(), f"Expected {sorted(expected)}, got {sorted(got)}"
            for name, tensor in expected.items():
                assert torch.equal(got[name], tensor), f"{kind}, step {step + 1}: {name} differs from nn.LSTM"


def test_parametrized_cell_is_bitwise() -> None:
    torch.manual_seed(0)
    reference = nn.LSTMCell(4, 5, dtype=F64)
    replica = LSTMCell.from_torch(reference)
    for module in (reference, replica):
        torch.manual_seed(1)
        parametrizations.spectral_norm(module, "weight_hh")
    x = torch.randn(2, 4, dtype=F64, generator=torch.Generator().manual_seed(2))
    for step in range(3):
        expected, got = reference(x), replica(x)
        for name, a, b in zip("hc", got, expected, strict=True):
            assert torch.equal(a, b), f"step {step + 1}: {name} differs from nn.LSTMCell"
        u = (m.parametrizations.weight_hh[0]._u for m in (replica, reference))
        assert torch.equal(*u), f"step {step + 1}: spectral_norm's u differs from nn.LSTMCell's"
