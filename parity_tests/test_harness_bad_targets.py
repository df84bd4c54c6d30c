"""The harness under bad targets: each ends in a clear message and the right exit status, never a raw traceback.

Could not be checked (2): the target does not load, is not a class or factory with nn.LSTM's parameter names, does
not construct, raises or exits in forward, returns the wrong structure, or runs past --timeout. Not a replica (1):
wrong shape or dtype, NaN where nn.LSTM has numbers. The rule is in lstm_replica/parity/orchestrate.py's docstring.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from lstm_replica.faces.cli import main
from lstm_replica.parity.matrix import quick_matrix

CONFIG = quick_matrix()[0].name  # batched, 1 layer, float64, L=7, N=3, H=6
BI_CONFIG = quick_matrix()[3].name  # unbatched, bidirectional
T = "parity_tests.bad_targets.targets"
UNCHECKED = [
    (
        "parity_tests.bad_targets.no_such_module:LSTM",
        "Expected parity_tests.bad_targets.no_such_module to import, got ModuleNotFoundError",
    ),
    (
        "parity_tests.bad_targets.broken_import:LSTM",
        (
            "Expected parity_tests.bad_targets.broken_import to import, "
            "got ModuleNotFoundError: No module named 'no_such_dependency_xyz'"
        ),
    ),
    (
        "parity_tests.bad_targets.exits_on_import:LSTM",
        "Expected parity_tests.bad_targets.exits_on_import to import, got SystemExit: 0",
    ),
    (f"{T}:NoSuchLSTM", f"Expected {T} to define NoSuchLSTM, got no attribute 'NoSuchLSTM'"),
    (f"{T}:NOT_A_CLASS", "Expected a class or factory, got int"),
    (f"{T}:SizeOnly", "Expected parameters input_size and hidden_size (nn.LSTM or nn.LSTMCell), got (size)"),
    (f"{T}:NeedsActivation", "to construct, got TypeError"),
    (f"{T}:ReturnsOutputOnly", "Expected forward to return (output, (h_n, c_n)) as nn.LSTM does, got Tensor(7, 3, 6)"),
    (
        f"{T}:ReturnsFlatTriple",
        (
            "Expected forward to return (output, (h_n, c_n)) as nn.LSTM does, "
            "got tuple(Tensor(7, 3, 6), Tensor(1, 3, 6), Tensor(1, 3, 6))"
        ),
    ),
    (f"{T}:CellReturnsH", "Expected the cell to return (h, c) as nn.LSTMCell does, got Tensor(3, 6)"),
]
DIFFERENT = [
    (f"{T}:ForwardRaises", "forward raised RuntimeError: boom; nn.LSTM does not raise here"),
    (f"{T}:ForwardExits", "forward raised SystemExit: 0; nn.LSTM does not raise here"),
    (f"{T}:AlwaysBatchFirst", "Expected output of shape (7, 3, 6), got (3, 7, 6)"),
    (f"{T}:AlwaysFloat32", "Expected output of dtype torch.float64, got torch.float32"),
    (f"{T}:CellWidensC", "Expected the cell's c of shape (3, 6), got (3, 12)"),
    (f"{T}:NaNFromStep3", "output, time step 3, layer 0, batch index 0"),
    (f"{T}:NaNFromStep3", "[NaN in 72 of 126 elements where the reference has a number]"),  # steps 3..6 of 7
]


def _check(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(["check", *argv, "--no-progress"])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err, "a traceback only with --verbose"
    return status, captured.out, captured.err


@pytest.mark.parametrize(("target", "message"), UNCHECKED, ids=[t.rsplit(":", 1)[1] for t, _ in UNCHECKED])
def test_could_not_be_checked_exits_2_with_the_reason_on_stderr(target, message, capsys):
    status, out, err = _check(capsys, target, "--config", CONFIG)
    assert status == 2, out
    verdict = out.rstrip().splitlines()[-1]
    assert verdict.startswith("VERDICT: COULD NOT BE CHECKED: "), verdict
    assert message in verdict, f"Expected {message!r} in the verdict, got {verdict!r}"
    assert err.startswith("lstm-replica check: could not be checked: "), err
    assert message in err, f"Expected {message!r} on stderr, got {err!r}"


@pytest.mark.parametrize(
    ("target", "message"), DIFFERENT, ids=["raises", "exits", "shape", "dtype", "cell-shape", "nan-where", "nan"]
)
def test_a_raise_wrong_shape_dtype_or_nan_is_not_a_replica(target, message, capsys):
    status, out, err = _check(capsys, target, "--config", CONFIG)
    assert status == 1, out
    verdict = out.rstrip().splitlines()[-1]
    assert verdict.startswith("VERDICT: NOT A REPLICA: 1/1 configurations differ"), verdict
    assert message in verdict, f"Expected {message!r} in the verdict, got {verdict!r}"
    assert "could not be checked" not in err, err


def test_a_raise_on_a_supported_configuration_is_reported_beside_the_other_difference(capsys):
    status, out, err = _check(capsys, f"{T}:MixedFaults", "--config", CONFIG, "--config", BI_CONFIG)
    assert status == 1, "a raise on valid input is a proven difference, like a wrong value"
    assert "NOT A REPLICA: 2/2 configurations differ" in out, out
    assert f"{BI_CONFIG:<60} different  forward raised NotImplementedError" in out, out
    assert err == "", "stderr is for could-not-be-checked verdicts"


def test_verbose_shows_the_candidates_traceback_on_stderr(capsys):
    assert main(["check", f"{T}:ForwardRaises", "--config", CONFIG, "--verbose"]) == 1
    captured = capsys.readouterr()
    assert "Traceback" in captured.err, captured.err
    assert "raise RuntimeError(msg)" in captured.err, "the traceback reaches into the candidate's code"


@pytest.mark.certificate
def test_a_hung_candidate_times_out_and_the_rest_is_not_run(capsys):
    handlers = signal.getsignal(signal.SIGALRM), signal.getsignal(signal.SIGPROF)
    started = time.monotonic()
    status, out, err = _check(capsys, f"{T}:Hangs", "--quick", "--timeout", "0.5", "--no-isolate")  # its own alarm
    assert status == 2, out
    assert time.monotonic() - started < 30, "the time-out did not end the hang"
    # it mostly sleeps: the wall-clock backstop (10 x the 0.5 CPU-seconds) ends it, and says so
    assert "could not be checked: timed out after " in err, err
    assert " s wall-clock with " in err, err
    assert "(--timeout 0.5 s; nn.LSTM's " in err, err
    assert f"s on this configuration)) in configuration {CONFIG}" in err, err
    assert "not run after the time-out (4): " in out, out
    assert (signal.getsignal(signal.SIGALRM), signal.getsignal(signal.SIGPROF)) == handlers, "handlers restored"
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0), "the backstop's alarm must be cancelled"
    assert signal.getitimer(signal.ITIMER_PROF) == (0.0, 0.0), "the CPU timer must be cancelled"


@pytest.mark.certificate
def test_a_candidate_the_alarm_cannot_reach_is_ended_by_the_watchdog():
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "lstm_replica", "check", f"{T}:HangsIgnoringAlarm", "--quick", "--timeout", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "could not be checked: timed out after " in done.stderr, done.stderr
    assert "(--timeout 1 s; nn.LSTM's " in done.stderr, done.stderr
    assert "while trying the candidate's features" in done.stderr, done.stderr
    assert "the candidate did not give control back" in done.stderr, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert time.monotonic() - started < 60, "the watchdog fires a grace period after the 10 s backstop"


def test_an_unwritable_json_path_exits_2_with_one_line(capsys, tmp_path):
    status, _, err = _check(capsys, "--config", CONFIG, "--json", str(tmp_path / "missing" / "report.json"))
    assert status == 2, f"Expected exit 2 for an unwritable --json path, got {status}"
    assert "Expected to write the JSON report to" in err, err


@pytest.mark.parametrize("value", ["inf", "nan", "-1", "1e12"])
def test_an_impossible_timeout_is_refused_by_the_parser(value, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["check", "--timeout", value])
    assert exit_info.value.code == 2, f"Expected argparse's exit 2 for --timeout {value}, got {exit_info.value.code}"
    assert "Expected a number of seconds from 0 (no limit) to" in capsys.readouterr().err


def test_check_leaves_sys_path_as_it_found_it(monkeypatch, tmp_path):
    from lstm_replica.parity import check

    monkeypatch.chdir(tmp_path)
    before = list(sys.path)
    check("lstm_replica:LSTM", configs=[CONFIG], isolate=False)  # the runner's own clean-up, in this process
    assert sys.path == before, f"Expected sys.path unchanged, got {sorted(set(sys.path) ^ set(before))} changed"
