"""Determinism: every random draw of a check derives from --seed, which the report shows and which replays the run."""

from __future__ import annotations

import json

import pytest
import torch

from lstm_replica.faces.cli import main
from lstm_replica.parity import check
from lstm_replica.parity.matrix import quick_matrix

# every test here runs the CLI's check or check() twice and compares the runs: seconds each, not the fast loop's
pytestmark = pytest.mark.certificate

CONFIG = quick_matrix()[0].name
DROPOUT_CONFIG = quick_matrix()[1].name  # 2 layers, dropout 0.25
FORGET_BIAS = "parity_tests.wrong_candidates.modules:ForgetBias"  # its error's size depends on the data
DROPOUT_IN_EVAL = "parity_tests.wrong_candidates.modules:DropoutInEval"  # draws from torch's global generator


def _run(tmp_path, capsys, target: str, config: str, seed: int) -> tuple[dict, str]:
    path = tmp_path / f"report-{seed}-{len(list(tmp_path.iterdir()))}.json"
    assert main(["check", target, "--config", config, "--seed", str(seed), "--json", str(path), "--no-progress"]) == 1
    return json.loads(path.read_text()), capsys.readouterr().out


def test_the_same_seed_gives_the_same_report(tmp_path, capsys):
    first, out = _run(tmp_path, capsys, FORGET_BIAS, CONFIG, 7)
    again, _ = _run(tmp_path, capsys, FORGET_BIAS, CONFIG, 7)
    assert first == again, "two runs with --seed 7 must write identical JSON (the report has no timing fields)"
    header = out.splitlines()[1]
    assert "| seed 7 (given) |" in header, f"Expected the seed in the report's header, got {header!r}"
    assert first["provenance"]["seed"] == "7 (given)"


def test_another_seed_draws_other_data(tmp_path, capsys):
    seven, _ = _run(tmp_path, capsys, FORGET_BIAS, CONFIG, 7)
    eight, _ = _run(tmp_path, capsys, FORGET_BIAS, CONFIG, 8)
    output7, output8 = (
        next(d for d in r["results"][0]["differences"] if d["tensor"] == "output") for r in (seven, eight)
    )
    assert output7["max_abs"] != output8["max_abs"], "seeds 7 and 8 drew the same inputs or weights"
    assert seven["results"][0]["steps"] != eight["results"][0]["steps"]


def test_the_candidates_own_draws_replay_and_the_callers_generator_is_left_alone(tmp_path, capsys):
    state = torch.get_rng_state()
    first, _ = _run(tmp_path, capsys, DROPOUT_IN_EVAL, DROPOUT_CONFIG, 3)
    again, _ = _run(tmp_path, capsys, DROPOUT_IN_EVAL, DROPOUT_CONFIG, 3)
    assert torch.equal(torch.get_rng_state(), state), "a check must not move the caller's global generator"
    assert first["results"][0]["checks"]["same result twice"] is False, "dropout in eval draws anew each call"
    assert first == again, "the candidate's draws from torch's global generator must replay with the seed"


def test_the_api_replays_too():
    reports = [check(FORGET_BIAS, configs=[CONFIG], seed=11) for _ in range(2)]
    assert reports[0].to_json() == reports[1].to_json()
    assert reports[0].text() == reports[1].text()
