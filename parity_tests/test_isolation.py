"""A candidate that ends its own process costs one configuration, not the report: the check runs in a child process.

Isolation is the default of ``check``, the CLI and the fixture (issue 19, item 8); a candidate that cannot be sent
to a child runs in the caller's process, and the report's provenance says so.
"""

from __future__ import annotations

import multiprocessing
import pickle
import signal
import subprocess
import sys
import types

import pytest
from torch import nn

from lstm_replica import LSTM
from lstm_replica.parity import check, isolation
from lstm_replica.parity.isolation import GRACE_S, NOT_ISOLATED, check_isolated
from parity_tests.bad_targets import dying

T = "parity_tests.bad_targets.targets"
ONE_LAYER = "quick-batched-l1-hx-f64-n3-t7-i4h6"
TWO_LAYERS = "quick-batched-l2-nobias-bf-nohx-f32-n3-t7-i4h6"


@pytest.mark.parametrize(("name", "code"), [("SegfaultsOnTwoLayers", -signal.SIGSEGV), ("ExitsOnTwoLayers", 0)])
def test_the_crash_shows_in_plain_use(name: str, code: int) -> None:
    script = f"import torch; from {T} import {name} as C; C(3, 4, 2)(torch.randn(2, 1, 3)); print('survived')"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == code, done.stdout + done.stderr
    assert "survived" not in done.stdout, "the process must end inside the forward"


@pytest.mark.certificate
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

    report = check(f"{T.rsplit('.', 1)[0]}.hijack:Scaled", quick=True, isolate=False)  # this process's nn.LSTM
    assert report.exit_status == 2, report.text()
    assert "torch.nn.modules.rnn.LSTM.forward was replaced" in report.verdict, report.verdict
    assert nn.LSTM.forward is ORIGINALS[id(nn.LSTM), "forward"], "the harness must put nn.LSTM.forward back"


def copy_weights(candidate: nn.Module, reference: nn.Module) -> None:
    """A ``weights`` adapter defined at a module's top level: it travels to the child by name."""
    candidate.load_state_dict(reference.state_dict())


@pytest.mark.certificate
def test_a_module_level_class_and_adapter_are_checked_in_the_shared_child() -> None:
    first = check(LSTM, configs=[ONE_LAYER], weights=copy_weights)
    assert first.exit_status == 0, first.text()
    assert first.provenance["isolation"] == "a child process", first.provenance
    assert "| isolation a child process" in first.text()
    child = isolation._CHILD[0].process.pid
    assert check(LSTM, configs=[ONE_LAYER]).exit_status == 0
    assert isolation._CHILD[0].process.pid == child, "Expected the next check to reuse the live child"


def test_a_class_defined_in_a_function_runs_here_and_the_report_says_so() -> None:
    class Local(LSTM):
        pass

    report = check(Local, configs=[ONE_LAYER])
    assert report.exit_status == 0, report.text()
    isolation_note = report.provenance["isolation"]
    assert isolation_note.startswith("none: the candidate cannot be sent to a child process ("), isolation_note
    assert isolation_note.endswith("; a crash in the candidate ends this process"), isolation_note
    assert f"| isolation {isolation_note}" in report.text()


def test_a_lambda_adapter_runs_here_and_the_report_says_so() -> None:
    report = check(LSTM, configs=[ONE_LAYER], weights=lambda c, r: c.load_state_dict(r.state_dict()))
    assert report.exit_status == 0, report.text()
    expected = "none: the candidate or its weights adapter cannot be sent to a child process ("
    assert report.provenance["isolation"].startswith(expected), report.provenance


def test_a_class_the_child_cannot_import_runs_here_and_the_report_says_so(monkeypatch) -> None:
    module = types.ModuleType("only_in_this_process")
    module.Exact = type("Exact", (LSTM,), {"__module__": module.__name__})
    monkeypatch.setitem(sys.modules, module.__name__, module)
    report = check(module.Exact, configs=[ONE_LAYER])
    assert report.exit_status == 0, report.text()
    expected = "none: the candidate could not be loaded in a child process (ModuleNotFoundError: "
    assert report.provenance["isolation"].startswith(expected), report.provenance


def test_isolate_false_runs_here_and_the_report_says_so() -> None:
    report = check(LSTM, configs=[ONE_LAYER], isolate=False)
    assert report.provenance["isolation"] == NOT_ISOLATED == "none: asked for (isolate=False / --no-isolate)"


def test_where_no_child_can_be_started_the_check_runs_here_and_says_why(monkeypatch) -> None:
    def refuse(self: multiprocessing.process.BaseProcess) -> None:
        raise OSError("Resource temporarily unavailable")

    for worker in list(isolation._CHILD):
        isolation._discard(worker)
    monkeypatch.setattr(multiprocessing.get_context("spawn").Process, "start", refuse)
    report = check(LSTM, configs=[ONE_LAYER])
    assert report.exit_status == 0, report.text()
    expected = "none: no child process could be started (OSError: Resource temporarily unavailable); a crash"
    assert report.provenance["isolation"].startswith(expected), report.provenance


@pytest.mark.certificate
def test_on_result_hears_the_childs_messages_in_this_process() -> None:
    heard: list[tuple[str, object]] = []
    check(
        dying.ExitsZero, configs=[ONE_LAYER, TWO_LAYERS], on_result=lambda kind, payload: heard.append((kind, payload))
    )
    kinds = [kind for kind, _ in heard]
    assert kinds[0] == "started", kinds
    assert [payload.name for kind, payload in heard if kind == "result"] == [ONE_LAYER], "the death is not the child's"


@pytest.mark.certificate
def test_fail_fast_stops_at_a_death() -> None:
    report = check(dying.ExitsZero, configs=[TWO_LAYERS, ONE_LAYER], fail_fast=True)
    assert [r.name for r in report.results] == [TWO_LAYERS], report.text()
    assert (report.not_run, report.stopped) == ([ONE_LAYER], "after the first difference (--fail-fast)")


@pytest.mark.certificate
def test_a_death_before_any_configuration_could_not_be_checked() -> None:
    report = check(dying.ExitsWhenBuilt, configs=[ONE_LAYER])
    assert report.exit_status == 2, report.text()
    expected = "COULD NOT BE CHECKED: the candidate's process died (exit status 0) before the configurations ran"
    assert report.verdict == expected


@pytest.mark.certificate
def test_a_death_after_the_last_configuration_never_certifies() -> None:
    report = check(dying.DiesInTheDiagnosis, configs=[TWO_LAYERS], tolerance=True)
    assert report.results[0].status == "within tolerance", report.text()
    assert report.exit_status == 2, report.text()
    expected = "COULD NOT BE CHECKED: the candidate's process died (exit status 0) after the configurations ran"
    assert report.verdict == expected


@pytest.mark.parametrize(
    ("payload", "expected"),
    [(("a", 12.0), 12.0 + GRACE_S), (("a", None), None), (("a", 0.0), None), (("a", "soon"), 99.0), ("gossip", 99.0)],
)
def test_after_a_limit_the_parent_waits_the_childs_backstop_and_a_grace(
    payload: object, expected: float | None
) -> None:
    assert isolation._backstop(payload, 99.0) == expected


@pytest.mark.certificate
def test_a_child_that_falls_silent_is_killed_and_the_run_stops_there(monkeypatch) -> None:
    # SIGSTOP stops the child's alarm and watchdog with it: only the parent's wait can end it
    monkeypatch.setattr(isolation, "_silence", lambda timeout: 120.0)
    monkeypatch.setattr(isolation, "_backstop", lambda payload, fallback: 3.0 if payload[0] == TWO_LAYERS else fallback)
    report = check(dying.Freezes, configs=[TWO_LAYERS, ONE_LAYER])
    assert report.exit_status == 2, report.text()
    by_name = {r.name: r for r in report.results}
    expected = "timed out after 3 s without a word from the candidate's process, so it was killed"
    assert (by_name[TWO_LAYERS].status, by_name[TWO_LAYERS].reason) == ("error", expected)
    assert (report.not_run, report.stopped) == ([ONE_LAYER], "after the time-out"), "a hang ends the run"


def test_the_harnesss_own_exception_is_raised_here_with_the_childs_traceback() -> None:
    text = "Traceback (most recent call last):\n  ...\nTypeError: Expected a Config key, got seqlen\n"
    raised, cause = isolation._reraised((pickle.dumps(TypeError("Expected a Config key, got seqlen")), text))
    assert (type(raised), str(raised), str(cause)) == (TypeError, "Expected a Config key, got seqlen", text)
    raised, _ = isolation._reraised((b"", text))  # one that would not pickle in the child
    assert (type(raised), str(raised)) == (
        RuntimeError,
        f"Expected the check to run to its report in the child process, got:\n{text}",
    )


@pytest.mark.certificate
def test_a_script_without_a_main_guard_is_checked_in_its_own_process_and_told_why(tmp_path) -> None:
    script = tmp_path / "unguarded.py"
    script.write_text(
        "from lstm_replica import LSTM\n"
        "from lstm_replica.parity import check\n"
        "class Mine(LSTM):\n"
        "    pass\n"
        "for _ in range(2):\n"
        f"    print(check(Mine, configs=[{ONE_LAYER!r}]).provenance['isolation'])\n"
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    expected = "none: the child process ended before it took the check (exit status 1); from a script, call check()"
    assert [line.startswith(expected) for line in done.stdout.splitlines()] == [True, True], done.stdout
    assert done.stderr.count("An attempt has been made to start a new process") == 1, "one try per process"


@pytest.mark.certificate
def test_a_shared_child_that_ended_while_idle_is_replaced() -> None:
    assert check(LSTM, configs=[ONE_LAYER]).exit_status == 0
    idle = isolation._CHILD[0].process
    idle.kill()  # as the out-of-memory killer might, between two checks
    idle.join()
    report = check(LSTM, configs=[ONE_LAYER])
    assert report.exit_status == 0, report.text()
    assert report.provenance["isolation"] == "a child process", report.provenance
