"""``hx`` by keyword and as a list: nn.LSTM takes both; a candidate exact only for a positional tuple is rejected."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lstm_replica.parity.orchestrate import check
from parity_tests.wrong_candidates.conventions import KeywordStateDropped, ListStateIgnored


@pytest.mark.parametrize(
    ("cls", "call"),
    [
        (KeywordStateDropped, lambda m, x, s: m(x, hx=s)),
        (ListStateIgnored, lambda m, x, s: m(x, list(s))),
    ],
)
def test_the_defect_shows_in_plain_use(cls, call) -> None:
    torch.manual_seed(0)
    reference = nn.LSTM(3, 5, dtype=torch.float64)
    candidate = cls(3, 5, dtype=torch.float64)
    candidate.load_state_dict(reference.state_dict())
    x = torch.randn(4, 2, 3, dtype=torch.float64)  # (L, N, H_in)
    state = (torch.randn(1, 2, 5, dtype=torch.float64), torch.randn(1, 2, 5, dtype=torch.float64))
    torch.testing.assert_close(candidate(x, state)[0], reference(x, state)[0], rtol=0, atol=0)  # positional: exact
    got, expected = call(candidate, x, state)[0], call(reference, x, state)[0]
    assert not torch.equal(got, expected), f"{cls.__name__} equals nn.LSTM when hx is passed this way"


@pytest.mark.parametrize("cls", [KeywordStateDropped, ListStateIgnored])
@pytest.mark.parametrize("tolerance", [False, True])
def test_the_check_rejects_it_at_call_5(cls, tolerance: bool) -> None:
    report = check(cls, quick=True, tolerance=tolerance, fail_fast=True)
    assert report.exit_status == 1, report.text()
    first = next(r for r in report.results if r.status == "different")
    probes = {d.probe for d in first.differences if not (d.within_tolerance if tolerance else d.bitwise)}
    assert probes == {"call 5: hx by keyword, as a list"}, probes


@pytest.mark.certificate
def test_the_replica_takes_hx_by_keyword_and_as_a_list() -> None:
    report = check("lstm_replica:LSTM", quick=True)
    assert report.exit_status == 0, report.text()
    compared = {d.probe for r in report.results for d in r.differences}
    assert "call 5: hx by keyword, as a list" in compared, sorted(compared)
