"""The sample output of the main job (docs/checking.md, "What a report looks like") is what `lstm-replica check`
prints, row for row.

The sample shows the header and the first configuration's rows; this test runs that configuration and
finds each of those lines in the real report, so the docs cannot drift from the report (issue 19: the README
said "21 probes (198 tensors)" long after the report printed other numbers).
"""

from __future__ import annotations

import re
from pathlib import Path

from lstm_replica.parity.orchestrate import check

DOC = Path(__file__).resolve().parent.parent / "docs" / "checking.md"


def _sample() -> list[str]:
    text = DOC.read_text()
    block = re.search(r"```text\n\$ lstm-replica check\n(.*?)```", text, re.DOTALL)
    assert block is not None, "Expected docs/checking.md to show `$ lstm-replica check` and its output"
    return block.group(1).splitlines()


def test_the_readme_sample_rows_are_the_reports() -> None:
    lines = _sample()
    table = lines.index(next(line for line in lines if line.startswith("configuration ")))
    first = lines[table + 1].split()[0]
    rows = []
    for line in lines[table:]:
        if line.strip() == "..." or (rows and line[:1].strip() and not line.startswith(first)):
            break
        rows.append(line.rstrip())
    report = check(configs=[first])  # the seed derived from the replica, as the main job runs it
    printed = [line.rstrip() for line in report.text().splitlines()]
    missing = [row for row in rows if row not in printed]
    assert not missing, (
        "docs/checking.md's sample rows not in the report:\n" + "\n".join(missing) + "\n---\n" + "\n".join(printed[:40])
    )
    verdict = lines[-1]
    assert verdict.startswith("VERDICT: REPLICA: bitwise identical to torch.nn.LSTM in all "), verdict
