"""The harness is sharp: it rejects every deliberately wrong candidate under the default (bitwise) standard."""

from __future__ import annotations

import pytest

from lstm_replica.parity import check
from parity_tests.wrong_candidates import SUB_TOLERANCE, WRONG

# every test here runs check() over the whole catalogue of wrong candidates (pytest -m "not certificate" skips them)
pytestmark = pytest.mark.certificate


@pytest.mark.parametrize("target", sorted(WRONG))
def test_default_matrix_rejects(target):
    """Stops at the first configuration that differs: proving one difference is enough to reject."""
    report = check(target, fail_fast=True)
    assert report.exit_status == 1, f"{target} ({WRONG[target]}) was not rejected:\n{report.text()}"
    first = next(r for r in report.results if r.status == "different")
    assert first.location is not None or first.reason, f"{target}: a rejection must say where"
    assert report.results[-1] is first, f"{target}: --fail-fast ran past the first difference"


@pytest.mark.parametrize("target", sorted(WRONG))
def test_tolerance_accepts_only_the_sub_tolerance_defects(target):
    report = check(target, quick=True, tolerance=True)
    expected = 0 if target in SUB_TOLERANCE else 1
    assert report.exit_status == expected, f"{target} ({WRONG[target]}) under --tolerance:\n{report.text()}"
    if expected == 0:
        assert "not bitwise" in report.verdict, report.verdict


# REWRITES' --tolerance certificate: test_harness.py::test_equal_rewrites_are_within_tolerance_but_reported_as_not_bitwise
