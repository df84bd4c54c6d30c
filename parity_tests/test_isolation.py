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


def test_an_import_that_rewrites_nn_lstm_shows_in_plain_use() -> None:
    script = (
        "import torch; ref = torch.nn.LSTM(3, 4); x = torch.randn(5, 2, 3); before = ref(x)[0].detach(); "
        f"import {T.rsplit('.', 1)[0]}.hijack; print(torch.equal(ref(x)[0].detach(), before * 1.5))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert done.stdout.strip() == "True", done.stdout + done.stderr


def test_a_candidate_that_rewrites_nn_lstm_is_not_certified() -> None:
    from torch import nn

    from lstm_replica.parity import check
    from lstm_replica.parity.globalstate import ORIGINALS

    report = check(f"{T.rsplit('.', 1)[0]}.hijack:Scaled", quick=True)
    assert report.exit_status == 2, report.text()
    assert "torch.nn.modules.rnn.LSTM.forward was replaced" in report.verdict, report.verdict
    assert nn.LSTM.forward is ORIGINALS[id(nn.LSTM), "forward"], "the harness must put nn.LSTM.forward back"
