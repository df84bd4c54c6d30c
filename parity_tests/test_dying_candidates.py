"""A candidate that ends its process never certifies: not by ``check``, the CLI's exit status, nor the fixture.

Issue 19, item 8: without isolation, ``os._exit(0)`` in a candidate's forward ended ``lstm-replica check`` with
exit status 0 and no output, a segfault with 139 and no report. The check now runs in a child process by default:
a death costs the configuration it happened in (a difference, exit 1) and the run carries on; out of memory is
reported in its configuration. The candidates are in ``parity_tests/bad_targets/dying.py``: each dies on two
layers and is exact on one.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from lstm_replica.faces.cli import main
from lstm_replica.parity import check
from parity_tests.bad_targets import dying

# every test here runs a check or the CLI over candidates that die, each seconds long: not the fast loop's
pytestmark = pytest.mark.certificate

ONE_LAYER = "quick-batched-l1-hx-f64-n3-t7-i4h6"
TWO_LAYERS = "quick-batched-l2-nobias-bf-nohx-f32-n3-t7-i4h6"
DIED = "the candidate's process died in this configuration"
DEATHS = [
    (dying.ExitsZero, f"{DIED} (exit status 0)"),
    (dying.ExitsOne, f"{DIED} (exit status 1)"),
    (dying.SysExitsZero, "forward raised SystemExit: 0; nn.LSTM does not raise here"),
    (dying.ReadsAddressZero, f"{DIED} (killed by SIGSEGV)"),
    (dying.KilledAsOutOfMemory, f"{DIED} (killed by SIGKILL, the signal of the kernel's out-of-memory killer)"),
    (dying.ExitsZeroInBackward, f"{DIED} (exit status 0)"),
    (dying.RaisesMemoryError, "forward raised MemoryError"),
]
OUT_OF_MEMORY = ("forward raised RuntimeError: ", "DefaultCPUAllocator: can't allocate memory")


@pytest.mark.parametrize(("candidate", "reason"), DEATHS, ids=[c.__name__ for c, _ in DEATHS])
def test_check_costs_a_dying_candidate_its_configuration_and_carries_on(candidate: type, reason: str) -> None:
    report = check(candidate, configs=[TWO_LAYERS, ONE_LAYER])
    assert report.exit_status == 1, report.text()
    assert report.verdict.startswith("NOT A REPLICA: 1/2 configurations differ"), report.verdict
    by_name = {r.name: r for r in report.results}
    assert by_name[TWO_LAYERS].status == "different", report.text()
    assert reason in by_name[TWO_LAYERS].reason, by_name[TWO_LAYERS].reason
    assert by_name[ONE_LAYER].status == "bitwise", "the run must carry on after the death"
    children = "2 child processes (a fresh one after each death)" if reason.startswith(DIED) else "a child process"
    assert report.provenance["isolation"] == children, report.provenance


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="caps the address space with RLIMIT_AS")
def test_running_out_of_memory_is_reported_in_its_configuration() -> None:
    report = check(dying.AllocatesUntilRefused, configs=[TWO_LAYERS, ONE_LAYER])
    assert report.exit_status == 1, report.text()
    by_name = {r.name: r for r in report.results}
    assert all(words in by_name[TWO_LAYERS].reason for words in OUT_OF_MEMORY), by_name[TWO_LAYERS].reason
    assert by_name[ONE_LAYER].status == "bitwise", "the run must carry on after the out-of-memory"


@pytest.mark.parametrize(
    ("candidate", "reason"),
    [DEATHS[0], DEATHS[3], DEATHS[4], DEATHS[6]],
    ids=["ExitsZero", "ReadsAddressZero", "KilledAsOutOfMemory", "RaisesMemoryError"],
)
def test_the_cli_exits_1_with_the_report_for_a_dying_candidate(candidate: type, reason: str, capsys) -> None:
    target = f"parity_tests.bad_targets.dying:{candidate.__name__}"
    status = main(["check", target, "--config", TWO_LAYERS, "--config", ONE_LAYER, "--no-progress"])
    out = capsys.readouterr().out
    assert status == 1, out
    verdict = out.rstrip().splitlines()[-1]
    assert verdict.startswith(f"VERDICT: NOT A REPLICA: 1/2 configurations differ; first in {TWO_LAYERS}: "), verdict
    assert reason in verdict, verdict


def test_the_command_line_process_exits_1_for_os_exit_0_in_forward() -> None:
    # the case as CI sees it: before, exit status 0 and no output
    command = [sys.executable, "-m", "lstm_replica", "check", "parity_tests.bad_targets.dying:ExitsZero"]
    command += ["--config", TWO_LAYERS, "--no-progress"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"VERDICT: NOT A REPLICA: 1/1 configurations differ; first in {TWO_LAYERS}: {DIED}" in done.stdout


def test_no_isolate_runs_the_candidate_in_the_command_line_process() -> None:
    command = [sys.executable, "-m", "lstm_replica", "check", "parity_tests.bad_targets.dying:ExitsZero"]
    command += ["--config", TWO_LAYERS, "--no-progress", "--no-isolate"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert (done.returncode, done.stdout) == (0, ""), "--no-isolate: the candidate's os._exit(0) ends the run"


@pytest.mark.parametrize("candidate", [dying.ExitsZero, dying.ReadsAddressZero], ids=["ExitsZero", "ReadsAddressZero"])
def test_the_fixture_fails_the_test_with_the_report_for_a_dying_candidate(candidate: type, lstm_parity) -> None:
    with pytest.raises(AssertionError) as failed:
        lstm_parity(candidate, configs=[TWO_LAYERS, ONE_LAYER])
    text = str(failed.value)
    assert f"VERDICT: NOT A REPLICA: 1/2 configurations differ; first in {TWO_LAYERS}: {DIED}" in text, text
