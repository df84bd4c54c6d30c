"""The tolerance table is tight from both sides: each row lets 0.3x its bound through and stops 3x.

A loosened row (say float32 at 2e-4 instead of 2e-5) would let a candidate that is wrong by a few
parts in 1e5 be certified; a tightened one would fail honest rewrites. Half-precision rows scale their
absolute part with the tensor's largest magnitude, so values of magnitude 1 test them the same way.
"""

from __future__ import annotations

import pytest
import torch

from lstm_replica.parity.compare import TOLERANCES, compare

ROWS = sorted(TOLERANCES.items(), key=lambda item: (item[0][0], str(item[0][1])))


@pytest.mark.parametrize(("key", "row"), ROWS, ids=[f"{b}-{str(d).removeprefix('torch.')}" for (b, d), _ in ROWS])
def test_each_row_passes_a_third_of_its_bound_and_stops_three_times_it(key: tuple[str, torch.dtype], row) -> None:
    _, dtype = key
    reference = torch.linspace(0.5, 1.0, 64, dtype=torch.float64)
    bound = row.atol + row.rtol * reference  # what the row allows at each element, magnitude <= 1
    for factor, within in ((0.3, True), (3.0, False)):
        candidate = (reference + factor * bound).to(dtype)
        if torch.equal(candidate, reference.to(dtype)):
            pytest.skip(f"{dtype} cannot represent a step of {factor} x the bound near 1")
        got = compare("output", candidate, reference.to(dtype), row).within_tolerance
        assert got is within, f"{key}: a difference of {factor} x (atol + rtol |ref|) should be within={within}"
