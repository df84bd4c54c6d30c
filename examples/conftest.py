"""This repository's marks for the examples, kept out of the files a researcher copies.

test_my_cell.py is a whole certificate of MyLSTMCell (one item per configuration) and a --tolerance screen of
MyFusedCell: marked ``certificate`` (pyproject.toml), so ``pytest -m "not certificate"`` leaves it out.
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name == "test_my_cell.py" and item.path.parent.name == "examples":
            item.add_marker(pytest.mark.certificate)
