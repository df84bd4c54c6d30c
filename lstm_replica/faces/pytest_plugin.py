"""pytest plugin (entry point ``pytest11``): the ``lstm_parity`` fixture for a researcher's own test suite.

    def test_my_lstm(lstm_parity):
        lstm_parity(MyLSTM)                    # bitwise against nn.LSTM, default matrix
        lstm_parity(MyCell, tolerance=True, quick=True)

The fixture is :func:`lstm_replica.parity.assert_lstm_parity`: it fails the
test with the full report unless the candidate is a replica, and returns the report.
The candidate runs in a child process (one per pytest process, reused from item to
item), so a segfault or ``os._exit`` in it fails the test with the report instead of
ending pytest; ``lstm_parity(MyLSTM, isolate=False)`` runs it in the test's process.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest


@pytest.fixture
def lstm_parity() -> Callable[..., object]:
    """Check a candidate LSTM or cell against nn.LSTM / nn.LSTMCell; fail with the report if it is not a replica."""
    from lstm_replica.parity import assert_lstm_parity  # imported on use: the plugin loads in every pytest run

    return assert_lstm_parity
