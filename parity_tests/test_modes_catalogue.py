"""Global modes, construction, input dtype, deep dropout, long half precision: each defect in plain use, then rejected.

The candidates (``wrong_candidates/modes.py``) were certified by the harness a blind review found them against;
each test first shows the defect against nn.LSTM without the harness, then that the default check rejects it in the
configurations where it lives (of the default run's own: any one that differs makes its verdict NOT A REPLICA).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lstm_replica.parity import check, configurations
from lstm_replica.parity.backends import Backend, flags
from lstm_replica.parity.probes.modes import DEFAULT_DTYPE, DETERMINISTIC
from parity_tests.wrong_candidates import MODES
from parity_tests.wrong_candidates import modes as m

F64 = torch.float64


def _x(*shape: int, dtype: torch.dtype = F64) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64).to(dtype)


def _rejected(cls: type, probe: str | None = None, **options: object) -> None:
    report = check(cls, fail_fast=True, **options)
    assert report.exit_status == 1, f"{cls.__name__} ({MODES[f'{cls.__module__}:{cls.__name__}']}):\n{report.text()}"
    if probe is not None:
        first = next(r for r in report.results if r.status == "different")
        probes = {d.probe for d in first.differences if not d.bitwise}
        assert probe in probes, f"{cls.__name__}: expected {probe!r} among the differing probes, got {sorted(probes)}"


def test_every_modes_candidate_is_in_the_catalogue():
    names = {"PrivateGeneratorInit", "ExtraDrawAtInit", "Float32WithoutDtype", "DeterministicModePath",
             "CastsInputDtype", "HalfDropoutForDeepStacks", "LongHalfFloat32State",
             "BatchFirstReverseState"}  # fmt: skip
    assert {t.rpartition(":")[2] for t in MODES} == names


def test_a_private_generator_repeats_its_weights_in_a_second_module():
    torch.manual_seed(0)
    first, second = nn.LSTM(3, 5), nn.LSTM(3, 5)
    torch.manual_seed(0)
    mine, again = m.PrivateGeneratorInit(3, 5), m.PrivateGeneratorInit(3, 5)
    torch.testing.assert_close(mine.weight_hh_l0, first.weight_hh_l0, rtol=0, atol=0, msg="the first one: equal")
    assert not torch.equal(again.weight_hh_l0, second.weight_hh_l0), "the second module's weights equal nn.LSTM's"
    _rejected(m.PrivateGeneratorInit, "initial weights", quick=True)


def test_an_extra_draw_at_construction_moves_the_scripts_random_stream():
    torch.manual_seed(0)
    reference = nn.LSTM(3, 5)
    after_reference = torch.rand(3)
    torch.manual_seed(0)
    candidate = m.ExtraDrawAtInit(3, 5)
    after_candidate = torch.rand(3)
    torch.testing.assert_close(candidate.weight_ih_l0, reference.weight_ih_l0, rtol=0, atol=0, msg="same weights")
    assert not torch.equal(after_candidate, after_reference), "the draw after construction is nn.LSTM's"
    report = check(m.ExtraDrawAtInit, quick=True, fail_fast=True)
    assert report.exit_status == 1, report.text()
    first = next(r for r in report.results if r.status == "different")
    assert any(d.tensor == "global generator" for d in first.differences), first.reason


def test_float32_without_a_dtype_ignores_the_default_dtype():
    was = torch.get_default_dtype()
    torch.set_default_dtype(F64)
    try:
        reference, candidate = nn.LSTM(3, 5), m.Float32WithoutDtype(3, 5)
    finally:
        torch.set_default_dtype(was)
    assert reference.weight_ih_l0.dtype == F64
    assert candidate.weight_ih_l0.dtype == torch.float32, "the defect: float32 where nn.LSTM is float64"
    built = m.Float32WithoutDtype(3, 5, dtype=F64)
    assert built.weight_ih_l0.dtype == F64, "with a dtype given it is nn.LSTM's"
    _rejected(m.Float32WithoutDtype, DEFAULT_DTYPE, quick=True)


def test_a_deterministic_mode_path_differs_only_under_deterministic_algorithms():
    torch.manual_seed(0)
    reference = nn.LSTM(3, 5, dtype=F64)
    candidate = m.DeterministicModePath.from_torch(reference)
    x = _x(6, 2, 3)
    torch.testing.assert_close(candidate(x)[0], reference(x)[0], rtol=0, atol=0, msg="deterministic mode off")
    torch.use_deterministic_algorithms(True)
    try:
        got, expected = candidate(x)[0], reference(x)[0]
    finally:
        torch.use_deterministic_algorithms(False)
    assert not torch.equal(got, expected), "equal to nn.LSTM under deterministic algorithms"
    _rejected(m.DeterministicModePath, DETERMINISTIC, quick=True)


def test_an_input_of_another_dtype_is_cast_where_nn_lstm_raises():
    torch.manual_seed(0)
    reference = nn.LSTM(3, 5, dtype=F64)
    candidate = m.CastsInputDtype.from_torch(reference)
    x = _x(4, 2, 3, dtype=torch.float32)
    with pytest.raises(ValueError, match="dtype"):
        reference(x)
    candidate(x)  # the defect: no error
    _rejected(m.CastsInputDtype, "bad input: input in float32, the module in float64", quick=True)


def test_deep_stacks_get_half_the_dropout_in_training():
    torch.manual_seed(0)
    for layers, same in ((5, True), (6, False)):
        reference = nn.LSTM(3, 5, num_layers=layers, dropout=0.5, dtype=F64).train()
        candidate = m.HalfDropoutForDeepStacks.from_torch(reference).train()
        x = _x(4, 2, 3)
        torch.manual_seed(1)
        expected = reference(x)[0]
        torch.manual_seed(1)
        got = candidate(x)[0]
        assert torch.equal(got, expected) == same, f"{layers} layers: expected equal={same}"
    deep = [c.name for c in configurations(m.HalfDropoutForDeepStacks) if c.num_layers >= m.DEEP and c.dropout]
    assert deep, "the default run has no configuration of 6+ layers with dropout"
    _rejected(m.HalfDropoutForDeepStacks, configs=deep)


def test_long_half_precision_sequences_keep_c_in_float32():
    torch.manual_seed(0)
    reference = nn.LSTM(3, 5, dtype=torch.bfloat16)
    candidate = m.LongHalfFloat32State.from_torch(reference)
    with torch.no_grad(), flags(Backend()):  # nn.LSTM's native kernels (oneDNN off), as the harness runs it
        short, long = _x(m.HALF_STEPS, 2, 3, dtype=torch.bfloat16), _x(200, 2, 3, dtype=torch.bfloat16)
        torch.testing.assert_close(candidate(short)[0], reference(short)[0], rtol=0, atol=0, msg="64 steps")
        assert not torch.equal(candidate(long)[0], reference(long)[0]), "equal to nn.LSTM over 200 steps"
    long_half = [
        c.name
        for c in configurations(m.LongHalfFloat32State)
        if c.dtype in ("bfloat16", "float16") and c.steps > m.HALF_STEPS
    ]
    assert long_half, "the default run has no half-precision sequence past 64 steps"
    _rejected(m.LongHalfFloat32State, configs=long_half)


@pytest.mark.certificate
def test_a_three_way_combination_is_met_by_every_run():
    torch.manual_seed(0)
    x, state = _x(2, 4, 3), (_x(2, 2, 5), _x(2, 2, 5) + 1)  # x batch-first (N, L, H_in); state (D, N, H)
    for batch_first, bidirectional, same in ((True, True, False), (True, False, True), (False, True, True)):
        reference = nn.LSTM(3, 5, batch_first=batch_first, bidirectional=bidirectional, dtype=F64)
        candidate = m.BatchFirstReverseState.from_torch(reference)
        hx = state if bidirectional else (state[0][:1], state[1][:1])
        fed = x if batch_first else x.transpose(0, 1)  # (L, N, H_in)
        got, expected = candidate(fed, hx)[0], reference(fed, hx)[0]
        assert torch.equal(got, expected) == same, f"batch_first={batch_first} bidirectional={bidirectional}"
    met = [
        c.name
        for c in configurations(m.BatchFirstReverseState)
        if c.batch_first and c.bidirectional and c.hx_given and c.input_kind != "unbatched" and not c.scale
    ]
    assert met, "the covering array holds every triple: batch_first x bidirectional x hx given"
    _rejected(m.BatchFirstReverseState, configs=met)
