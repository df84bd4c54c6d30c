"""docs/checking.md's table ("The envelope") of the chance that a run meets a defect present only past a size bound, recomputed."""

from __future__ import annotations

import re
from pathlib import Path

from lstm_replica.parity.envelope import TOPS, beyond

DOC = Path(__file__).resolve().parent.parent / "docs" / "checking.md"
ROW = re.compile(r"^\| (?P<size>[a-z0-9 ]+) > (?P<bound>\d+) \| (?P<one>[0-9.]+) \| (?P<ten>[0-9.]+) \|$", re.MULTILINE)


def test_the_readme_table_is_what_beyond_computes():
    rows = list(ROW.finditer(DOC.read_text()))
    assert len(rows) >= 10, f"Expected docs/checking.md's table of beyond() rows, got {len(rows)} rows"
    for row in rows:
        size, bound = row["size"], int(row["bound"])
        assert size in TOPS, f"Expected a size from {sorted(TOPS)}, got {size!r}"
        p = beyond(size, bound)
        printed = (row["one"], row["ten"])
        assert printed == (f"{p:.2f}", f"{1 - (1 - p) ** 10:.3f}"), f"{size} > {bound}: the doc {printed}, computed {p}"


def test_every_old_bound_is_met_by_every_run():
    for size, bound in (("input width", 256), ("hidden width", 256), ("batch", 64), ("layers", 4), ("steps", 1000)):
        assert beyond(size, bound, samples=500) == 1.0, f"a run without a configuration past {size} {bound}"
    assert beyond("float64 steps", 1000, samples=500) == 1.0
