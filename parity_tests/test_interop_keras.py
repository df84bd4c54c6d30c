"""Keras 3's own LSTM (on its torch backend) against nn.LSTM, both ways through lstm_replica.interop.keras.

torch -> Keras: ``to_keras`` weights loaded with ``set_weights`` into ``keras.layers.LSTM`` (wrapped in
``Bidirectional`` for two directions, one Keras layer per nn.LSTM layer) give nn.LSTM's output, h_n and c_n.
Keras -> torch: a Keras layer's own initial weights (Glorot / orthogonal kernels, ``unit_forget_bias``), with a
random bias, read back by ``from_keras``, give a nn.LSTM that computes what the Keras layer computes.
Largest differences measured (keras 3.15.1, torch 2.13.0 CPU): Keras with converted weights float32 1.1e-07,
float64 1.7e-16; nn.LSTM from Keras's weights (random biases of N(0, 0.5²) added) float32 3.6e-07, float64 2.2e-16;
within ``TOLERANCES`` of ``parity_tests/_interop.py``. Skipped with a reason where Keras 3 is not installed.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from lstm_replica.interop import config_from_state_dict, from_keras, reorder_gates, to_keras
from parity_tests._interop import (
    BATCH_SIZE,
    DTYPE_IDS,
    DTYPES,
    HIDDEN_SIZE,
    INPUT_SIZE,
    SEQ_LEN,
    SETUP_IDS,
    SETUPS,
    Setup,
    assert_matches,
    keras_on_torch,
    run_reference,
)

keras = keras_on_torch()

# Keras 3.15's get_weights calls np.array on its variables, whose __array__ takes no copy keyword: numpy 2 warns.
# Keras's code, not ours, and the values are read correctly (the comparisons below prove it).
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

DTYPE_NAMES = {torch.float32: "float32", torch.float64: "float64"}


def _keras_layers(setup: Setup, dtype: torch.dtype) -> list[keras.layers.Layer]:
    """One built Keras layer per nn.LSTM layer: LSTM(H, return_sequences, return_state), Bidirectional if D = 2."""
    layers = []
    for layer in range(setup.num_layers):
        lstm = keras.layers.LSTM(
            HIDDEN_SIZE, return_sequences=True, return_state=True, use_bias=setup.bias, dtype=DTYPE_NAMES[dtype]
        )
        keras_layer = keras.layers.Bidirectional(lstm, dtype=DTYPE_NAMES[dtype]) if setup.bidirectional else lstm
        features = INPUT_SIZE if layer == 0 else setup.num_directions * HIDDEN_SIZE
        keras_layer.build((BATCH_SIZE, SEQ_LEN, features))
        layers.append(keras_layer)
    return layers


def _run_keras(
    layers: list[keras.layers.Layer], setup: Setup, x: Tensor, h_0: Tensor, c_0: Tensor
) -> dict[str, Tensor]:
    """The Keras stack on batch-major ``x`` ``(N, L, H_in)`` from nn.LSTM's ``h_0``, ``c_0``: nn.LSTM's outputs."""
    sequence, h_n, c_n = x.numpy(), [], []
    for layer, keras_layer in enumerate(layers):
        rows = range(layer * setup.num_directions, (layer + 1) * setup.num_directions)  # this layer's rows of h_0 / c_0
        initial = [state[row].numpy() for row in rows for state in (h_0, c_0)]  # h, c per direction
        sequence, *states = keras_layer(sequence, initial_state=initial)
        h_n += states[0::2]
        c_n += states[1::2]
    return {
        "output": _as_torch(sequence),
        "h_n": torch.stack([_as_torch(h) for h in h_n]),  # (num_layers * D, N, H)
        "c_n": torch.stack([_as_torch(c) for c in c_n]),
    }


def _as_torch(value: Tensor) -> Tensor:
    """A Keras output, a torch tensor on the torch backend (converting it through numpy would warn)."""
    return value.detach()


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("setup", SETUPS, ids=SETUP_IDS)
def test_keras_lstm_with_converted_weights_computes_nn_lstm(setup: Setup, dtype: torch.dtype) -> None:
    lstm = setup.lstm(dtype, batch_first=True)
    layers = _keras_layers(setup, dtype)
    for keras_layer, weights in zip(layers, to_keras(lstm), strict=True):
        keras_layer.set_weights([w.numpy() for w in weights])
    x, h_0, c_0 = setup.inputs(dtype, batch_first=True)
    expected = run_reference(lstm, x, h_0, c_0)
    assert_matches(_run_keras(layers, setup, x, h_0, c_0), expected, "Keras LSTM", f"{setup.id}, {dtype}")


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("setup", SETUPS, ids=SETUP_IDS)
def test_nn_lstm_from_keras_weights_computes_the_keras_lstm(setup: Setup, dtype: torch.dtype) -> None:
    keras.utils.set_random_seed(0)
    layers = _keras_layers(setup, dtype)
    if setup.bias:  # Keras initialises the bias to 0 (1 in the f block): make every gate's bias count
        for keras_layer in layers:
            weights = keras_layer.get_weights()
            keras_layer.set_weights([w if w.ndim > 1 else _noised(w) for w in weights])
    state = from_keras([keras_layer.get_weights() for keras_layer in layers])
    lstm = nn.LSTM(**config_from_state_dict(state), batch_first=True, dtype=dtype).eval()
    lstm.load_state_dict(state)
    x, h_0, c_0 = setup.inputs(dtype, batch_first=True)
    expected = _run_keras(layers, setup, x, h_0, c_0)
    assert_matches(run_reference(lstm, x, h_0, c_0), expected, "nn.LSTM from Keras weights", f"{setup.id}, {dtype}")


def _noised(bias: np.ndarray) -> np.ndarray:
    """The bias plus seeded N(0, 0.5²) noise, in its dtype."""
    generator = np.random.default_rng(2)
    return (bias + 0.5 * generator.standard_normal(bias.shape)).astype(bias.dtype)


def test_a_wrong_gate_order_is_caught() -> None:
    """The comparison can fail: Keras kernels with the i and f blocks swapped differ from nn.LSTM."""
    setup = Setup()
    lstm = setup.lstm(torch.float32, batch_first=True)
    layers = _keras_layers(setup, torch.float32)
    kernel, recurrent, bias = to_keras(lstm)[0]
    swapped = [reorder_gates(kernel, "ifgo", "figo", dim=1), recurrent, bias]  # (H_in, 4H): gates along columns
    layers[0].set_weights([w.numpy() for w in swapped])
    x, h_0, c_0 = setup.inputs(torch.float32, batch_first=True)
    with pytest.raises(AssertionError, match=r"Keras LSTM output differs from nn\.LSTM's"):
        assert_matches(_run_keras(layers, setup, x, h_0, c_0), run_reference(lstm, x, h_0, c_0), "Keras LSTM", "")
