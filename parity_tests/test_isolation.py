"""A candidate that ends its own process costs one configuration under --isolate, not the report."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from lstm_replica.parity.isolation import check_isolated

T = "parity_tests.bad_targets.targets"
ONE_LAYER = "quick-batched-l1-hx-f64-n3-t7-i4h6"
TWO_LAYERS = "quick-batched-l2-nobias-bf-nohx-f32-n3-t7-i4h6"


@pytest.mark.parametrize(("name", "code"), [("SegfaultsOnTwoLayers", -signal.SIGSEGV), ("ExitsOnTwoLayers", 0)])
def test_the_crash_shows_in_plain_use(name: str, code: int) -> None:
    script = f"import torch; from {T} import {name} as C; C(3, 4, 2)(torch.randn(2, 1, 3)); print('survived')"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == code, done.stdout + done.stderr
    assert "survived" not in done.stdout, "the process must end inside the forward"


@pytest.mark.parametrize(
    ("name", "why"),
    [("SegfaultsOnTwoLayers", "killed by SIGSEGV"), ("ExitsOnTwoLayers", "exit status 0")],
)
def test_a_dying_candidate_costs_one_configuration_under_isolation(name: str, why: str) -> None:
    report = check_isolated(f"{T}:{name}", configs=[TWO_LAYERS, ONE_LAYER])
    assert report.exit_status == 1, report.text()
    by_name = {r.name: r for r in report.results}
    assert by_name[TWO_LAYERS].status == "different", report.text()
    assert f"the candidate's process died in this configuration ({why})" in by_name[TWO_LAYERS].reason
    assert by_name[ONE_LAYER].status == "bitwise", "a fresh process must carry on with the rest"
