"""The same check from a researcher's own pytest suite, through the ``lstm_parity`` fixture.

    pytest examples/test_my_cell.py          # one item per configuration: pytest -n auto spreads them over cores

``configurations`` lists exactly the configurations ``check`` runs for this cell and these options (a cell's
matrix is covered without a projection, which nn.LSTMCell does not have), so each item runs one of them.
"""

from __future__ import annotations

import pytest
from my_cell import MyFusedCell, MyLSTMCell

from lstm_replica.parity import configurations

OPTIONS = {"seed": 0}
CELL_CONFIGS = [c.name for c in configurations(MyLSTMCell, **OPTIONS)]


@pytest.mark.parametrize("name", CELL_CONFIGS)
def test_my_cell_is_bitwise_nn_lstm_cell(lstm_parity, name):
    report = lstm_parity(MyLSTMCell, configs=[name], **OPTIONS)
    assert report.bitwise, report.text()


def test_fused_cell_is_within_tolerance_and_not_bitwise(lstm_parity):
    report = lstm_parity(MyFusedCell, quick=True, tolerance=True)
    assert not report.bitwise, "one matmul over [x, h] cannot be bitwise nn.LSTMCell"
