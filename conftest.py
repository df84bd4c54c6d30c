"""For every test path (parity_tests/ and examples/): one torch thread per pytest-xdist worker.

Several workers each spinning one OpenMP thread per core oversubscribe the machine and run many times slower.
"""

from __future__ import annotations

import os

import torch

if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)
