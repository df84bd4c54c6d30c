"""The seed researcher's own cell (examples/researcher_cell.py): w1..w8, one bias per gate, a Linear head.

In plain use it computes nn.LSTM + nn.Linear's function; its certificate at the default seed is
REPLICA WITHIN TOLERANCE through the command benchmarks/RESULTS.md times; the bitwise variant that stacks the same per-gate
matrices with torch.cat is bitwise in float64 and float32, and where half-precision SGD steps split it
from nn.LSTM, the diagnosis names that cause.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from lstm_replica.parity.diagnose import SPLIT_STEP, whole_tensors
from lstm_replica.parity.orchestrate import check

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))
import researcher_cell as rc

EXAMPLE = "examples/researcher_cell.py"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "lstm_replica", "check", *args, "--no-progress"]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False, timeout=1800)


def test_the_classifier_computes_nn_lstm_and_linear_in_plain_use() -> None:
    torch.manual_seed(0)
    model = rc.ResearcherClassifier(5, 256, 10).double()
    lstm, head = nn.LSTMCell(5, 256, dtype=torch.float64), nn.Linear(256, 10, dtype=torch.float64)
    rc.copy_weights(model.cell, lstm)
    head.load_state_dict(model.head.state_dict())
    x = torch.randn(50, 32, 5, dtype=torch.float64)  # (L, N, H_in)
    state = None
    for x_t in x.unbind(0):
        state = lstm(x_t, state)
    assert state is not None
    logits = model(x)
    assert logits.shape == (32, 10), f"Expected logits of shape (32, 10), got {tuple(logits.shape)}"
    torch.testing.assert_close(logits, head(state[0]), rtol=1e-12, atol=1e-12, msg="logits differ from nn.LSTMCell's")


@pytest.mark.certificate
@pytest.mark.slow
def test_the_researchers_cell_is_certified_within_tolerance_at_the_default_seed() -> None:
    done = _cli(f"{EXAMPLE}:ResearcherCell", "--weights", f"{EXAMPLE}:copy_weights", "--tolerance")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "VERDICT: REPLICA WITHIN TOLERANCE" in done.stdout, done.stdout[-3000:]


@pytest.mark.certificate
@pytest.mark.slow
def test_per_gate_matrices_stacked_per_call_are_bitwise_in_float64_and_float32() -> None:
    done = _cli(
        f"{EXAMPLE}:BitwiseResearcherCell", "--weights", f"{EXAMPLE}:copy_weights_bitwise",
        "--dtype", "float64", "--dtype", "float32",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "VERDICT: REPLICA: bitwise identical to torch.nn.LSTMCell" in done.stdout, done.stdout[-3000:]


def test_half_precision_sgd_over_split_tensors_rounds_differently_in_plain_use() -> None:
    torch.manual_seed(0)
    whole = nn.Parameter((torch.rand(52, 7) * 0.5).to(torch.bfloat16))
    whole.grad = torch.randn(52, 7).to(torch.bfloat16)
    parts = [nn.Parameter(p.detach().clone()) for p in whole.chunk(4)]
    for part, grad in zip(parts, whole.grad.chunk(4), strict=True):
        part.grad = grad.clone()
    torch.optim.SGD([whole], lr=0.1, momentum=0.9).step()
    torch.optim.SGD(parts, lr=0.1, momentum=0.9).step()
    assert not torch.equal(whole.detach(), torch.cat([p.detach() for p in parts])), (
        "the same update, split, rounds alike"
    )


@pytest.mark.certificate
def test_the_diagnosis_names_split_tensors_for_a_half_precision_sgd_difference() -> None:
    report = check(
        f"{EXAMPLE}:BitwiseResearcherCell",
        weights=f"{EXAMPLE}:copy_weights_bitwise",
        dtypes=["bfloat16"],
        fail_fast=True,
    )
    assert report.exit_status == 1, report.text()
    first = next(d for r in report.results for d in r.differences if not d.bitwise)
    assert first.probe == "training step 1 (sgd)", f"Expected the first SGD step to differ first, got {first.probe!r}"
    assert SPLIT_STEP in report.diagnosis, report.diagnosis


def test_whole_tensors_tells_nn_lstm_s_tensors_from_per_gate_ones() -> None:
    from lstm_replica.parity.build import Candidate, build_pair
    from lstm_replica.parity.candidates import as_factory, load_adapter
    from lstm_replica.parity.configs import Config

    config = Config(input_size=3, hidden_size=4)
    same = build_pair(Candidate(as_factory(nn.LSTMCell), "cell", None), config, "cpu", 0)
    split = Candidate(as_factory(rc.BitwiseResearcherCell), "cell", load_adapter(rc.copy_weights_bitwise))
    assert whole_tensors(same.pmap), "nn.LSTMCell holds nn.LSTMCell's tensors"
    assert not whole_tensors(build_pair(split, config, "cpu", 0).pmap), "w1..w8 are blocks of nn.LSTMCell's tensors"


# the two configurations of issue 19's false rejections (seed 2: batched-l2-bi-hx-f32-n13-t29-i10h9, seed 3:
# unbatched-l3-bi-bf-hx-drop0.25-bf16-n1-t1-i3h9), now given as the researcher's own set-up: the matrix that drew
# them is gone, and their exact draws with it (construction now starts a few draws into the generator)
STRESSED_F32 = {"num_layers": 2, "bidirectional": True, "dtype": "float32", "batch": 13, "steps": 29,
                "input_size": 10, "hidden_size": 9}  # fmt: skip
SATURATED_BF16 = {"input_kind": "unbatched", "num_layers": 3, "bidirectional": True, "batch_first": True,
                  "dropout": 0.25, "dtype": "bfloat16", "batch": 1, "steps": 1, "input_size": 3,
                  "hidden_size": 9}  # fmt: skip


@pytest.mark.certificate
@pytest.mark.parametrize(
    ("seed", "fields", "why"),
    [
        # stressed: a float32 gradient summed from terms far larger than itself: nn.LSTM itself errs 5e-4 there
        (2, STRESSED_F32, "stressed: grad l0_reverse.weight_ih beyond the fixed tolerance"),
        # bfloat16: gate o of a unit rounds to exactly 1, so its weights' gradient is 0 and a change changes nothing
        (3, SATURATED_BF16, "w7, w8, b4 named never used"),
    ],
)
def test_the_researchers_cell_is_not_rejected_where_rounding_alone_differs(seed: int, fields: dict, why: str) -> None:
    report = check(
        f"{EXAMPLE}:ResearcherCell",
        weights=f"{EXAMPLE}:copy_weights",
        tolerance=True,
        seed=seed,
        config=fields,
        only_config=True,
    )
    assert report.exit_status == 0, f"rejected once for {why}: {report.verdict}"
    assert not [a for r in report.results for a in r.audit], [a for r in report.results for a in r.audit]


def test_the_noise_allowance_is_nn_lstm_s_own_error_against_float64() -> None:
    from lstm_replica.parity.compare import tolerance_for
    from lstm_replica.parity.noise import NOISE_FACTOR, allowing_noise

    row = tolerance_for("native", torch.float32)
    assert allowing_noise(row, 0.0) is row, "no own error: the stated tolerance as it is"
    wider = allowing_noise(row, 1e-3)
    assert wider.atol == NOISE_FACTOR * 1e-3, f"Expected atol {NOISE_FACTOR * 1e-3}, got {wider.atol}"
    assert wider.rtol == row.rtol, "the relative part stays"


def test_the_float64_truth_run_warns_nothing() -> None:
    # one layer with dropout 0.25: nn.LSTM's constructor advises against it; the harness's own twin must not
    # print that advisory on the researcher's terminal (pytest turns warnings into errors here)
    report = check(
        f"{EXAMPLE}:ResearcherCell",
        weights=f"{EXAMPLE}:copy_weights",
        tolerance=True,
        seed=6,
        config={"input_kind": "unbatched", "bidirectional": True, "bias": False, "batch_first": True,
                "hx_given": False, "dropout": 0.25, "dtype": "float16", "batch": 1, "steps": 23, "input_size": 1,
                "hidden_size": 12},
        only_config=True,
    )  # fmt: skip
    assert report.exit_status == 0, report.text()
