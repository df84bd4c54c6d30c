"""Flax's own LSTM cells (linen ``LSTMCell`` and ``OptimizedLSTMCell``, JAX on CPU) against nn.LSTM, both ways.

torch -> Flax: ``to_flax`` trees run by ``nn.RNN`` (``nn.Bidirectional`` for two directions, one per layer) give
nn.LSTM's output, h_n and c_n. Flax -> torch: random parameters in the tree Flax's own ``init`` builds (its names,
shapes and dtypes), read back by ``from_flax``, give an nn.LSTM computing what Flax computes. float64 runs under
``jax.enable_x64``. Largest differences measured (jax 0.10.2, flax 0.12.8, torch 2.13.0 CPU): Flax with converted
weights float32 1.2e-07 (both cells), float64 1.7e-16 (LSTMCell) and 1.9e-16 (OptimizedLSTMCell); nn.LSTM from
Flax parameters of N(0, 0.5²) float32 3.6e-07, float64 5.0e-16; within ``TOLERANCES`` of
``parity_tests/_interop.py``. Skipped with a reason without JAX or Flax.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from lstm_replica.interop import config_from_state_dict, from_flax, to_flax
from parity_tests._interop import (
    DTYPE_IDS,
    DTYPES,
    HIDDEN_SIZE,
    SETUP_IDS,
    SETUPS,
    Setup,
    assert_matches,
    run_reference,
)

jax = pytest.importorskip("jax", reason="JAX is not installed (pip install -e '.[interop]')")
linen = pytest.importorskip("flax.linen", reason="Flax is not installed (pip install -e '.[interop]')")
jnp = jax.numpy

CELLS = {"LSTMCell": linen.LSTMCell, "OptimizedLSTMCell": linen.OptimizedLSTMCell}
JAX_DTYPES = {torch.float32: jnp.float32, torch.float64: jnp.float64}


def _rnn(cell_type: type, setup: Setup, dtype: torch.dtype) -> Any:
    """One layer of the stack: ``nn.RNN(cell)``, or ``nn.Bidirectional`` of two, returning (carry, outputs)."""
    cells = [cell_type(HIDDEN_SIZE, param_dtype=JAX_DTYPES[dtype], dtype=JAX_DTYPES[dtype]) for _ in range(2)]
    if setup.bidirectional:
        return linen.Bidirectional(linen.RNN(cells[0]), linen.RNN(cells[1]), return_carry=True)
    return linen.RNN(cells[0], return_carry=True)


def _params(setup: Setup, trees: list[dict[str, Any]]) -> dict[str, Any]:
    """One layer's cell trees (forward, then backward) placed where ``nn.RNN`` / ``nn.Bidirectional`` keep them."""
    cells = [jax.tree_util.tree_map(lambda leaf: jnp.asarray(leaf.numpy()), tree) for tree in trees]
    if setup.bidirectional:
        return {"params": {"forward_rnn": {"cell": cells[0]}, "backward_rnn": {"cell": cells[1]}}}
    return {"params": {"cell": cells[0]}}


def _cell_trees(setup: Setup, variables: dict[str, Any]) -> list[dict[str, Any]]:
    if setup.bidirectional:
        return [variables["params"][side]["cell"] for side in ("forward_rnn", "backward_rnn")]
    return [variables["params"]["cell"]]


def _run_flax(
    layers: list[tuple[Any, dict[str, Any]]], setup: Setup, x: Tensor, h_0: Tensor, c_0: Tensor
) -> dict[str, Tensor]:
    """The Flax stack on batch-major ``x`` ``(N, L, H_in)`` from nn.LSTM's states; Flax's carry is (c, h)."""
    sequence, h_n, c_n = jnp.asarray(x.numpy()), [], []
    for layer, (rnn, variables) in enumerate(layers):
        rows = range(layer * setup.num_directions, (layer + 1) * setup.num_directions)  # this layer's rows of h_0 / c_0
        carries = [(jnp.asarray(c_0[row].numpy()), jnp.asarray(h_0[row].numpy())) for row in rows]
        carry, sequence = rnn.apply(
            variables, sequence, initial_carry=tuple(carries) if setup.bidirectional else carries[0]
        )
        for c, h in carry if setup.bidirectional else [carry]:
            c_n.append(_to_torch(c))
            h_n.append(_to_torch(h))
    return {"output": _to_torch(sequence), "h_n": torch.stack(h_n), "c_n": torch.stack(c_n)}


def _to_torch(array: Any) -> Tensor:
    """A JAX array as a torch tensor (a copy: JAX's numpy views are read-only)."""
    return torch.tensor(np.asarray(array))


def _random(leaf: Any, generator: np.random.Generator) -> np.ndarray:
    """Seeded N(0, 0.5²) values of a leaf's shape and dtype (biases included: Flax initialises them to zero)."""
    return (generator.standard_normal(leaf.shape) / 2).astype(leaf.dtype)


def _x64(dtype: torch.dtype) -> Any:
    return jax.enable_x64(dtype == torch.float64)


@pytest.mark.parametrize("cell_name", list(CELLS))
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("setup", SETUPS, ids=SETUP_IDS)
def test_flax_cells_with_converted_weights_compute_nn_lstm(setup: Setup, dtype: torch.dtype, cell_name: str) -> None:
    lstm = setup.lstm(dtype, batch_first=True)
    trees = to_flax(lstm)
    x, h_0, c_0 = setup.inputs(dtype, batch_first=True)
    with _x64(dtype):
        layers = [
            (
                _rnn(CELLS[cell_name], setup, dtype),
                _params(setup, trees[k * setup.num_directions : (k + 1) * setup.num_directions]),
            )
            for k in range(setup.num_layers)
        ]
        got = _run_flax(layers, setup, x, h_0, c_0)
    assert_matches(got, run_reference(lstm, x, h_0, c_0), f"Flax {cell_name}", f"{setup.id}, {dtype}")


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("setup", SETUPS[:2], ids=SETUP_IDS[:2])
def test_nn_lstm_from_flax_parameters_computes_the_flax_lstm(setup: Setup, dtype: torch.dtype) -> None:
    x, h_0, c_0 = setup.inputs(dtype, batch_first=True)
    key, generator = jax.random.key(0), np.random.default_rng(0)
    with _x64(dtype):
        layers = []
        for layer in range(setup.num_layers):
            rnn = _rnn(linen.LSTMCell, setup, dtype)
            features = x.shape[-1] if layer == 0 else setup.num_directions * HIDDEN_SIZE
            key, init_key = jax.random.split(key)
            sample = jnp.zeros((1, 1, features), JAX_DTYPES[dtype])
            structure = jax.eval_shape(rnn.init, init_key, sample)  # Flax's own tree: names, shapes, dtypes
            variables = jax.tree_util.tree_map(lambda leaf: _random(leaf, generator), structure)
            layers.append((rnn, variables))
        expected = _run_flax(layers, setup, x, h_0, c_0)
        trees = [tree for _, variables in layers for tree in _cell_trees(setup, variables)]
    state = from_flax(trees, bidirectional=setup.bidirectional)
    lstm = nn.LSTM(**config_from_state_dict(state), batch_first=True, dtype=dtype).eval()
    lstm.load_state_dict(state)
    assert_matches(run_reference(lstm, x, h_0, c_0), expected, "nn.LSTM from Flax parameters", f"{setup.id}, {dtype}")


def test_a_wrong_gate_order_is_caught() -> None:
    """The comparison can fail: Flax's i and f Dense layers swapped make it differ from nn.LSTM."""
    setup = Setup()
    lstm = setup.lstm(torch.float32, batch_first=True)
    tree = to_flax(lstm)[0]
    tree["ii"], tree["if"] = tree["if"], tree["ii"]
    x, h_0, c_0 = setup.inputs(torch.float32, batch_first=True)
    got = _run_flax([(_rnn(linen.LSTMCell, setup, torch.float32), _params(setup, [tree]))], setup, x, h_0, c_0)
    with pytest.raises(AssertionError, match=r"Flax LSTMCell output differs from nn\.LSTM's"):
        assert_matches(got, run_reference(lstm, x, h_0, c_0), "Flax LSTMCell", setup.id)
