"""Models describe themselves: ``config()`` rebuilds them, names parse back, one transfer helper serves all three.

The oracles are ``torch.nn``'s own modules: the parameter names ``nn.LSTM`` registers, the shapes of
``nn.LSTM`` / ``nn.LSTMCell`` / ``nn.Linear`` built from the same arguments.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lstm_replica import LSTM, LSTMCell, LSTMClassifier
from lstm_replica.functional import NativeRecurrence, layer_stack
from lstm_replica.lstm import lstm_config
from lstm_replica.names import ParameterName, is_lstm_parameter, parse_parameter_name

LSTM_CONFIGS = [
    {"input_size": 3, "hidden_size": 5},
    {"input_size": 2, "hidden_size": 6, "num_layers": 3, "bias": False, "batch_first": True},
    {"input_size": 4, "hidden_size": 7, "num_layers": 2, "dropout": 0.25, "bidirectional": True, "proj_size": 3},
]


@pytest.mark.parametrize("config", LSTM_CONFIGS)
def test_lstm_config_is_nn_lstms_constructor_arguments(config: dict[str, object]) -> None:
    reference = nn.LSTM(**config)
    replica = LSTM(**config)
    assert replica.config() == lstm_config(reference), "LSTM.config() differs from nn.LSTM's arguments"
    rebuilt = nn.LSTM(**replica.config())
    shapes = {k: tuple(v.shape) for k, v in rebuilt.state_dict().items()}
    assert shapes == {k: tuple(v.shape) for k, v in replica.state_dict().items()}, "nn.LSTM(**config()) differs"
    assert tuple(replica.config()) == LSTM.CONFIG_KEYS, f"Expected the keys {LSTM.CONFIG_KEYS}"


@pytest.mark.parametrize("bias", [True, False])
def test_lstm_cell_config_rebuilds_nn_lstm_cell(bias: bool) -> None:
    replica = LSTMCell(3, 8, bias=bias)
    assert replica.config() == {"input_size": 3, "hidden_size": 8, "bias": bias}
    rebuilt = nn.LSTMCell(**replica.config())
    assert list(rebuilt.state_dict()) == list(replica.state_dict()), "nn.LSTMCell(**config()) has other keys"


@pytest.mark.parametrize("head_bias", [True, False])
@pytest.mark.parametrize("config", LSTM_CONFIGS)
def test_classifier_config_round_trips(config: dict[str, object], head_bias: bool) -> None:
    model = LSTMClassifier(**config, num_classes=4, head_bias=head_bias, per_step=True)
    described = model.config()
    assert tuple(described) == LSTMClassifier.CONFIG_KEYS, f"Expected the keys {LSTMClassifier.CONFIG_KEYS}"
    assert described["num_classes"] == 4, f"Expected num_classes 4, got {described['num_classes']}"
    assert described["head_bias"] is head_bias, f"Expected head_bias {head_bias}, got {described['head_bias']}"
    assert described["per_step"] is True, f"Expected per_step True, got {described['per_step']}"
    rebuilt = LSTMClassifier(**described)
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {
        k: v.shape for k, v in model.state_dict().items()
    }, "LSTMClassifier(**config()) built other parameters"
    width = (2 if config.get("bidirectional") else 1) * (config.get("proj_size") or config["hidden_size"])
    assert (model.head.in_features, model.head.out_features) == (width, 4), "Expected a head Linear(D*H_out, C)"


@pytest.mark.usefixtures("native_cpu")
def test_classifier_from_a_torch_pair_without_head_bias_round_trips_bitwise() -> None:
    lstm, head = nn.LSTM(5, 8, num_layers=2, proj_size=3), nn.Linear(3, 4, bias=False)
    lstm.eval()
    model = LSTMClassifier.from_torch(lstm, head, per_step=True)
    assert model.head.bias is None, "Expected a head without bias, as the source's"
    assert not model.training, "Expected the classifier in the source LSTM's eval mode"
    assert model.per_step, "Expected per_step passed through"
    lstm_back, head_back = model.to_torch()
    for name, tensor in lstm.state_dict().items():
        assert torch.equal(lstm_back.state_dict()[name], tensor), f"{name} changed in the round trip"
    assert torch.equal(head_back.weight, head.weight), "head weight changed in the round trip"
    assert head_back.bias is None, "Expected the head to come back without a bias"
    x = torch.randn(6, 2, 5)
    torch.testing.assert_close(model(x), head(lstm(x)[0]), rtol=0, atol=0)


def test_classifier_refuses_a_head_of_another_dtype() -> None:
    with pytest.raises(ValueError, match=r"Expected the head's weights in the LSTM's dtype and device \(torch.float32"):
        LSTMClassifier.from_torch(nn.LSTM(5, 8), nn.Linear(8, 4, dtype=torch.float64))


def test_classifier_refuses_a_non_lstm() -> None:
    with pytest.raises(TypeError, match=r"Expected a torch\.nn\.modules\.rnn\.LSTM, got GRU"):
        LSTMClassifier.from_torch(nn.GRU(5, 8), nn.Linear(8, 4))  # type: ignore[arg-type]


@pytest.mark.parametrize("module", [nn.LSTM(3, 4, num_layers=3, bidirectional=True, proj_size=2), nn.LSTMCell(3, 4)])
def test_every_torch_parameter_name_parses_and_prints_back(module: nn.Module) -> None:
    for name, _ in module.named_parameters():
        parsed = parse_parameter_name(name)
        assert str(parsed) == name, f"Expected {name!r} back from {parsed!r}, got {str(parsed)!r}"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("weight_ih_l0", ParameterName("weight_ih", 0, False)),
        ("bias_hh_l12_reverse", ParameterName("bias_hh", 12, True)),
        ("weight_hr_l1", ParameterName("weight_hr", 1, False)),
        ("lstm.weight_hh_l2_reverse", ParameterName("weight_hh", 2, True)),
        ("bias_ih", ParameterName("bias_ih", None, False)),
        ("l3.weight_ih", ParameterName("weight_ih", 3, False)),
        ("l1_reverse.bias_hh", ParameterName("bias_hh", 1, True)),
    ],
)
def test_parameter_names_take_apart(name: str, expected: ParameterName) -> None:
    assert parse_parameter_name(name) == expected, f"{name!r} parsed as {parse_parameter_name(name)!r}"


@pytest.mark.parametrize("name", ["weight", "head.weight", "weight_ih_l", "weight_ih_lx", "weight_ih_l0_rev", "peep"])
def test_other_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match=rf"Expected an LSTM parameter name .*, got '{name}'"):
        parse_parameter_name(name)


def test_layer_stack_takes_options_by_keyword_and_counts_its_recurrences() -> None:
    module = LSTM(3, 4, num_layers=2, bidirectional=True)
    recurrences = [NativeRecurrence(w) for w in module.cell_weights()]
    x, hidden = torch.randn(5, 2, 3), (torch.zeros(4, 2, 4), torch.zeros(4, 2, 4))
    with pytest.raises(TypeError):
        layer_stack(x, hidden, recurrences, True)  # type: ignore[misc]
    with pytest.raises(ValueError, match=r"Expected one recurrence per layer and direction \(4 states"):
        layer_stack(x, hidden, recurrences[:3], bidirectional=True)
    with pytest.raises(
        ValueError, match=r"Expected one recurrence per layer and direction \(3 states, 2 per layer\), got 3"
    ):
        layer_stack(x, (hidden[0][:3], hidden[1][:3]), recurrences[:3], bidirectional=True)
    with pytest.raises(ValueError, match=r"zip\(\) argument 2 is longer than argument 1"):
        layer_stack(x, (hidden[0], torch.zeros(5, 2, 4)), recurrences, bidirectional=True)  # one c_0 row too many
    output, (h_n, c_n) = layer_stack(x, hidden, recurrences, bidirectional=True)
    expected, (h_ref, c_ref) = module(x, hidden)
    torch.testing.assert_close(output, expected, rtol=0, atol=0)
    torch.testing.assert_close((h_n, c_n), (h_ref, c_ref), rtol=0, atol=0)


def test_dropout_of_one_between_layers_zeroes_as_nn_lstm_does() -> None:
    torch.manual_seed(0)
    reference = nn.LSTM(3, 4, num_layers=2, dropout=1.0, dtype=torch.float64).train()  # float64: no oneDNN
    replica = LSTM.from_torch(reference).train()
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    expected, (h_ref, c_ref) = reference(x)
    output, (h_n, c_n) = replica(x)
    torch.testing.assert_close(output, expected, rtol=0, atol=0, msg=lambda m: f"output under dropout 1: {m}")
    torch.testing.assert_close(h_n, h_ref, rtol=0, atol=0, msg=lambda m: f"h_n under dropout 1: {m}")
    torch.testing.assert_close(c_n, c_ref, rtol=0, atol=0, msg=lambda m: f"c_n under dropout 1: {m}")
    zeros_in = LSTM.from_torch(reference).eval()  # the top layer fed zeros: its output is the bias's alone
    zeros_in.weight_ih_l1.data.zero_()
    torch.testing.assert_close(output, zeros_in(x)[0], rtol=0, atol=0, msg=lambda m: f"dropout 1 is not all: {m}")


@pytest.mark.parametrize(
    "config",
    [
        {},
        {"num_layers": 3, "bias": False, "batch_first": True},
        {"dropout": 0.5, "num_layers": 2, "bidirectional": True, "proj_size": 2},
    ],
)
def test_repr_is_nn_lstms(config: dict[str, object]) -> None:
    assert repr(LSTM(3, 4, **config)) == repr(nn.LSTM(3, 4, **config)), "LSTM's repr differs from nn.LSTM's"


@pytest.mark.parametrize("bias", [True, False])
def test_cell_repr_is_nn_lstm_cells(bias: bool) -> None:
    assert repr(LSTMCell(3, 4, bias=bias)) == repr(nn.LSTMCell(3, 4, bias=bias)), "LSTMCell's repr differs"


@pytest.mark.parametrize("hidden_size", [0, 1, 7])
def test_cell_draws_nn_lstm_cells_initial_weights(hidden_size: int) -> None:
    """Same seed, same numbers: hidden_size 1 draws from U(-1, 1); 0 builds empty weights, as nn.LSTMCell does."""
    torch.manual_seed(3)
    reference = nn.LSTMCell(3, hidden_size)
    torch.manual_seed(3)
    replica = LSTMCell(3, hidden_size)
    for name, tensor in reference.state_dict().items():
        torch.testing.assert_close(replica.state_dict()[name], tensor, rtol=0, atol=0, msg=f"initial {name}")


class _WithGain(LSTM):
    """A researcher's subclass with a parameter of its own beside nn.LSTM's."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.gain = nn.Parameter(torch.ones(self.hidden_size))


def test_from_torch_copies_nn_lstms_parameters_and_leaves_a_subclass_its_own() -> None:
    reference = nn.LSTM(3, 4, num_layers=2)
    model = _WithGain.from_torch(reference)
    for name, tensor in reference.state_dict().items():
        assert torch.equal(model.state_dict()[name], tensor), f"{name} was not copied from nn.LSTM"
    assert model.gain.shape == (4,), f"Expected the subclass's own gain of shape (4,), got {tuple(model.gain.shape)}"
    foreign = [name for name, _ in model.named_parameters() if not is_lstm_parameter(name)]
    assert foreign == ["gain"], f"Expected only gain outside nn.LSTM's names, got {foreign}"


def test_layer_stack_refuses_an_empty_sequence() -> None:
    module = LSTM(3, 4, bidirectional=True)
    recurrences = [NativeRecurrence(w) for w in module.cell_weights()]
    states = (torch.zeros(2, 2, 4), torch.zeros(2, 2, 4))
    with pytest.raises(RuntimeError) as caught:
        layer_stack(torch.zeros(0, 2, 3), states, recurrences, bidirectional=True)
    expected = "Expected sequence length to be larger than 0 in RNN"
    assert str(caught.value) == expected, f"Expected {expected!r}, got {str(caught.value)!r}"
