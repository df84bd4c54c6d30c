"""``LSTMClassifier`` against the same model built from ``nn.LSTM`` + ``nn.Linear``.

The seed's model: input 5, hidden 256, 10 classes. Logits, cross-entropy loss and
every gradient are bitwise equal, and the weights stay bitwise equal through 20
SGD and Adam steps.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from lstm_replica import LSTMClassifier
from parity_tests._support import TorchClassifier

CONFIGS = [
    {},
    {"num_layers": 2, "bidirectional": True},
    {"num_layers": 3, "bidirectional": True},  # h_n[-2] is the top forward state only from 3 layers on
    {"num_layers": 2, "proj_size": 64, "batch_first": True},
]
IDS = ["seed", "layers2-bidir", "layers3-bidir", "layers2-proj64-batch_first"]


def _batch(config: dict[str, object], packed: bool) -> tuple[Tensor | PackedSequence, Tensor]:
    gen = torch.Generator().manual_seed(5)
    batch_first = bool(config.get("batch_first", False))
    x = torch.randn((8, 12, 5) if batch_first else (12, 8, 5), generator=gen)
    targets = torch.randint(0, 10, (8,), generator=gen)
    if packed:
        lengths = torch.randint(1, 13, (8,), generator=gen)
        lengths[0] = 12
        return pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=False), targets
    return x, targets


def _pair(config: dict[str, object]) -> tuple[LSTMClassifier, TorchClassifier]:
    replica = LSTMClassifier(5, 256, 10, **config)
    lstm, head = replica.to_torch()
    return replica, TorchClassifier(lstm, head)


def test_seed_model_shapes() -> None:
    model = LSTMClassifier(5, 256, 10)
    assert model.head.in_features == 256, f"Expected a head from 256 features, got {model.head.in_features}"
    assert model.head.out_features == 10, f"Expected 10 classes, got {model.head.out_features}"
    assert model.lstm.weight_ih_l0.shape == (4 * 256, 5), "Expected the 4 gates x 256 rows by 5 inputs"
    logits = model(torch.randn(50, 32, 5))
    assert logits.shape == (32, 10), f"Expected logits (32, 10), got {tuple(logits.shape)}"
    assert model(torch.randn(50, 5)).shape == (10,), "Expected (10,) logits for an unbatched sequence"
    assert [k.split(".")[0] for k in model.state_dict()] == ["lstm"] * 4 + ["head"] * 2


@pytest.mark.usefixtures("native_cpu")
@pytest.mark.parametrize("packed", [False, True], ids=["padded", "packed"])
@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_logits_loss_and_gradients_are_bitwise(config: dict[str, object], packed: bool) -> None:
    replica, reference = _pair(config)
    x, targets = _batch(config, packed)
    results = []
    for model in (reference, replica):
        loss = F.cross_entropy(model(x), targets)
        loss.backward()
        grads = {n: p.grad for n, p in model.named_parameters()}
        results.append((model(x), loss, grads))
    (ref_logits, ref_loss, ref_grads), (logits, loss, grads) = results
    assert torch.equal(logits, ref_logits), "logits differ from nn.LSTM + nn.Linear"
    assert torch.equal(loss, ref_loss), f"cross-entropy differs: {loss.item()!r} vs {ref_loss.item()!r}"
    assert list(grads) == list(ref_grads), f"Expected parameters {list(ref_grads)}, got {list(grads)}"
    different = [n for n in grads if not torch.equal(grads[n], ref_grads[n])]
    assert not different, f"gradients differ for {different}"


@pytest.mark.usefixtures("native_cpu")
@pytest.mark.parametrize(
    "optimizer",
    [lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9), lambda p: torch.optim.Adam(p, lr=1e-3)],
    ids=["sgd-momentum", "adam"],
)
def test_weights_stay_bitwise_through_20_optimiser_steps(optimizer: object) -> None:
    replica, reference = _pair({"num_layers": 2})
    x, targets = _batch({}, packed=False)
    optimizers = [optimizer(reference.parameters()), optimizer(replica.parameters())]
    for step in range(20):
        for model, opt in zip((reference, replica), optimizers, strict=True):
            opt.zero_grad()
            F.cross_entropy(model(x), targets).backward()
            opt.step()
        for (name, ref), (_, ours) in zip(reference.named_parameters(), replica.named_parameters(), strict=True):
            assert torch.equal(ref, ours), f"{name} diverged from nn.LSTM + nn.Linear at step {step + 1}"


def test_packed_input_uses_each_sequences_true_last_step() -> None:
    model = LSTMClassifier(5, 16, 3, num_layers=2)
    x, _ = _batch({}, packed=True)
    output, _ = model.lstm(x)
    padded, lengths = pad_packed_sequence(output)  # (L, N, H)
    last = padded[lengths - 1, torch.arange(len(lengths))]  # (N, H)
    torch.testing.assert_close(model(x), model.head(last), rtol=0, atol=0)


@pytest.mark.parametrize("packed", [False, True], ids=["padded", "packed"])
def test_per_step_logits(packed: bool) -> None:
    model = LSTMClassifier(5, 16, 3, per_step=True, bidirectional=True)
    x, _ = _batch({}, packed=packed)
    logits = model(x)
    output, _ = model.lstm(x)
    if packed:
        assert isinstance(logits, PackedSequence), f"Expected a PackedSequence, got {type(logits).__name__}"
        torch.testing.assert_close(logits.data, model.head(output.data), rtol=0, atol=0)
        assert torch.equal(logits.batch_sizes, output.batch_sizes), "batch_sizes changed"
    else:
        assert logits.shape == (12, 8, 3), f"Expected (12, 8, 3), got {tuple(logits.shape)}"
        oracle = nn.Linear(32, 3)  # the head's weights in PyTorch's own module, applied step by step
        oracle.load_state_dict(model.head.state_dict())
        for t in range(output.size(0)):
            torch.testing.assert_close(
                logits[t], oracle(output[t]), rtol=0, atol=0, msg=lambda m, t=t: f"per-step logits at step {t}: {m}"
            )


def test_transfer_from_a_torch_pair_and_back() -> None:
    lstm, head = nn.LSTM(5, 8, bidirectional=True), nn.Linear(16, 4)
    model = LSTMClassifier.from_torch(lstm, head)
    for name, tensor in (lstm.state_dict() | head.state_dict()).items():
        ours = model.lstm.state_dict().get(name, model.head.state_dict().get(name))
        assert torch.equal(ours, tensor), f"{name} was not copied"
    lstm_back, head_back = model.to_torch()
    assert torch.equal(head_back.weight, head.weight), "head weight lost in the round trip"
    assert torch.equal(lstm_back.weight_hh_l0_reverse, lstm.weight_hh_l0_reverse), "reverse weights lost"
    with pytest.raises(ValueError, match="Expected a head with in_features=16"):
        LSTMClassifier.from_torch(lstm, nn.Linear(8, 4))
    with pytest.raises(TypeError, match=r"Expected a torch\.nn\.modules\.linear\.Linear"):
        LSTMClassifier.from_torch(lstm, nn.Conv1d(16, 4, 1))


@pytest.mark.parametrize(
    ("num_classes", "error"), [(0, ValueError), (-3, ValueError), (2.5, TypeError), (True, TypeError)]
)
def test_bad_num_classes_is_refused(num_classes: object, error: type[Exception]) -> None:
    expected = (
        f"Expected num_classes greater than zero, got {num_classes}"
        if error is ValueError
        else f"Expected num_classes to be an int, got {type(num_classes).__name__}"
    )
    with pytest.raises(error) as caught:
        LSTMClassifier(5, 8, num_classes)
    assert str(caught.value) == expected, f"Expected the message {expected!r}, got {str(caught.value)!r}"


@pytest.mark.usefixtures("native_cpu")
@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_unbatched_input_and_given_states_reach_the_lstm(config: dict[str, object]) -> None:
    replica, reference = _pair(config)
    gen = torch.Generator().manual_seed(9)
    x = torch.randn(12, 5, generator=gen)  # one unbatched sequence (L, H_in)
    layers = int(config.get("num_layers", 1)) * (2 if config.get("bidirectional") else 1)
    width = int(config.get("proj_size", 0)) or 256
    hx = (torch.randn(layers, width, generator=gen), torch.randn(layers, 256, generator=gen))
    torch.testing.assert_close(replica(x, hx), reference(x, hx), rtol=0, atol=0, msg="unbatched logits with hx")
    assert not torch.equal(replica(x, hx), replica(x)), "Expected the given states to change the logits"


def test_one_class_and_the_requested_dtype_and_device() -> None:
    model = LSTMClassifier(5, 8, 1, dtype=torch.float64, device="meta")
    assert model.head.out_features == 1, f"Expected one class, got {model.head.out_features}"
    found = {(p.dtype, p.device.type) for p in model.parameters()}
    assert found == {(torch.float64, "meta")}, f"Expected every parameter float64 on meta, got {found}"
