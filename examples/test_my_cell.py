"""The same check from a researcher's own pytest suite, through the ``lstm_parity`` fixture.

pytest examples/test_my_cell.py
"""

from __future__ import annotations

from my_cell import MyFusedCell, MyLSTMCell


def test_my_cell_is_bitwise_nn_lstm_cell(lstm_parity):
    lstm_parity(MyLSTMCell, quick=True)


def test_fused_cell_is_within_tolerance(lstm_parity):
    report = lstm_parity(MyFusedCell, quick=True, tolerance=True)
    assert not report.bitwise
