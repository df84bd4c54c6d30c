"""TensorFlow's fused LSTM kernel (``tf.raw_ops.BlockLSTM``) against nn.LSTM, both ways, forget_bias included.

torch -> TensorFlow: ``to_tensorflow`` kernels and biases run by ``BlockLSTM`` with its default
``forget_bias=1.0`` (peepholes off, ``cell_clip=-1``: no clipping), one call per layer and direction (the reverse
direction on the time-reversed sequence), give nn.LSTM's output, h_n and c_n. TensorFlow -> torch: random kernels
and biases read by ``from_tensorflow`` give an nn.LSTM computing what ``BlockLSTM`` computes.

float32 only: BlockLSTM takes float16 and float32. Largest differences measured (tensorflow-cpu 2.21.0, torch 2.13.0
CPU): BlockLSTM with converted weights 1.5e-07; nn.LSTM from TensorFlow weights of N(0, 0.5²) 6.6e-07; within
``TOLERANCES`` of ``parity_tests/_interop.py``. TensorFlow is not part of the ``interop`` extra (about 1.4 GB): this
module skips with a reason unless it is installed by hand.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from lstm_replica.interop import config_from_state_dict, from_tensorflow, to_tensorflow
from parity_tests._interop import HIDDEN_SIZE, SETUP_IDS, SETUPS, Setup, assert_matches, run_reference

tf = pytest.importorskip(
    "tensorflow", reason="TensorFlow is not installed (not in the interop extra: pip install tensorflow-cpu)"
)


def _block_lstm(
    x: Tensor, h: Tensor, c: Tensor, cell: dict[str, Tensor], reverse: bool
) -> tuple[Tensor, Tensor, Tensor]:
    """One direction of one layer through BlockLSTM: outputs ``(L, N, H)``, final h and c ``(N, H)``."""
    sequence = x.flip(0) if reverse else x  # (L, N, H_in)
    zeros = np.zeros(HIDDEN_SIZE, np.float32)  # the peephole weights, unused with use_peephole=False
    _, cs, _, _, _, _, hs = tf.raw_ops.BlockLSTM(
        seq_len_max=np.int64(x.shape[0]),
        x=sequence.numpy(),
        cs_prev=c.numpy(),
        h_prev=h.numpy(),
        w=cell["kernel"].numpy(),
        wci=zeros,
        wcf=zeros,
        wco=zeros,
        b=cell["bias"].numpy(),
        forget_bias=1.0,
        cell_clip=-1.0,
        use_peephole=False,
    )
    hs, cs = torch.tensor(hs.numpy()), torch.tensor(cs.numpy())  # (L, N, H) each
    return (hs.flip(0) if reverse else hs), hs[-1], cs[-1]


def _run_tensorflow(
    cells: list[dict[str, Tensor]], setup: Setup, x: Tensor, h_0: Tensor, c_0: Tensor
) -> dict[str, Tensor]:
    sequence, h_n, c_n = x, [], []
    for layer in range(setup.num_layers):
        outputs = []
        for direction in range(setup.num_directions):
            row = layer * setup.num_directions + direction  # nn.LSTM's row of h_0 / c_0 and index of the cell
            output, h, c = _block_lstm(sequence, h_0[row], c_0[row], cells[row], reverse=direction == 1)
            outputs.append(output)
            h_n.append(h)
            c_n.append(c)
        sequence = torch.cat(outputs, dim=2)  # (L, N, D*H), forward features first
    return {"output": sequence, "h_n": torch.stack(h_n), "c_n": torch.stack(c_n)}


@pytest.mark.parametrize("setup", SETUPS, ids=SETUP_IDS)
def test_block_lstm_with_converted_weights_computes_nn_lstm(setup: Setup) -> None:
    lstm = setup.lstm(torch.float32)
    x, h_0, c_0 = setup.inputs(torch.float32)
    got = _run_tensorflow(to_tensorflow(lstm), setup, x, h_0, c_0)
    assert_matches(got, run_reference(lstm, x, h_0, c_0), "TensorFlow BlockLSTM", setup.id)


@pytest.mark.parametrize("setup", SETUPS[:2], ids=SETUP_IDS[:2])
def test_nn_lstm_from_tensorflow_weights_computes_block_lstm(setup: Setup) -> None:
    generator = torch.Generator().manual_seed(4)
    cells = [
        {key: torch.randn(value.shape, generator=generator) / 2 for key, value in cell.items()}
        for cell in to_tensorflow(setup.lstm(torch.float32))  # only for the shapes
    ]
    x, h_0, c_0 = setup.inputs(torch.float32)
    expected = _run_tensorflow(cells, setup, x, h_0, c_0)
    state = from_tensorflow(cells, bidirectional=setup.bidirectional)
    lstm = nn.LSTM(**config_from_state_dict(state)).eval()
    lstm.load_state_dict(state)
    assert_matches(run_reference(lstm, x, h_0, c_0), expected, "nn.LSTM from TensorFlow weights", setup.id)


def test_forget_bias_left_out_is_caught() -> None:
    """The comparison can fail: weights converted with forget_bias=0 run by BlockLSTM's 1.0 differ from nn.LSTM."""
    setup = Setup()
    lstm = setup.lstm(torch.float32)
    x, h_0, c_0 = setup.inputs(torch.float32)
    got = _run_tensorflow(to_tensorflow(lstm, forget_bias=0.0), setup, x, h_0, c_0)
    with pytest.raises(AssertionError, match=r"TensorFlow BlockLSTM output differs from nn\.LSTM's"):
        assert_matches(got, run_reference(lstm, x, h_0, c_0), "TensorFlow BlockLSTM", setup.id)
