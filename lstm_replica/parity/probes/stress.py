"""The stressed probe: saturating weights and inputs, and extreme values (see :mod:`..regimes`), where
rounding differences are amplified and a gate computed another way shows.
"""

from __future__ import annotations

from dataclasses import replace

from lstm_replica.parity.calls import Call, Outcome, run
from lstm_replica.parity.compare import Difference, Tolerance, compare, scaled
from lstm_replica.parity.inputs import make_inputs
from lstm_replica.parity.noise import allowing_noise, as_float64, float64_reference, own_error
from lstm_replica.parity.probes.context import ProbeLog, Probing, catching, compare_calls, run_reference
from lstm_replica.parity.probes.module import restore
from lstm_replica.parity.regimes import STRESS_TOLERANCE, stress_weights

STRESS_MAX_STEPS = 48  # under --tolerance: saturated gates amplify rounding over very long sequences


def _finite_pattern(probe: str, cand: Outcome, ref: Outcome) -> list[Difference]:
    """Under --tolerance with extreme inputs: the candidate finite exactly where nn.LSTM is (overflow shows here)."""
    found = []
    for name, theirs in ref.tensors.items():
        mine = cand.tensors.get(name)
        if theirs is None or mine is None or mine.shape != theirs.shape:
            found.append(compare(name, mine, theirs, Tolerance(0, 0, ""), probe))
            continue
        wrong = int((mine.detach().isfinite() != theirs.detach().isfinite()).sum())
        note = f"non-finite in {wrong} elements where nn.LSTM is finite, or the reverse" if wrong else ""
        found.append(Difference(name, wrong == 0, wrong == 0, 0.0, 0.0, 0.0, note, probe, wrong, mine.numel()))
    return found


def stressed(ctx: Probing, log: ProbeLog) -> None:
    """Saturating weights and inputs, then extreme values; the reference's default weights are put back afterwards.

    Under ``--tolerance``, below float64, each tensor of the saturating probe may also differ by
    :data:`.noise.NOISE_FACTOR` x nn.LSTM's own error against a float64 run (see :mod:`.noise`).
    """
    pair, config, device, row, generator, tolerance = (
        ctx.pair, ctx.config, ctx.device, ctx.row, ctx.generator, ctx.tolerance
    )  # fmt: skip
    stress_weights(pair.reference_parameters, config.hidden_size, generator)
    loose = scaled(row, STRESS_TOLERANCE, "saturating weights and inputs make every gate sum ~30x larger")
    for probe, extremes in (("stressed", False), ("extreme values", True)):
        with catching(log, probe):
            pair.sync()
            steps = min(config.steps, STRESS_MAX_STEPS) if tolerance else config.steps
            inputs = make_inputs(config, device, generator, steps=steps, stressed=True, extremes=extremes)
            ref = run_reference(pair.reference, config, inputs, Call())
            cand = run(pair.candidate, config, inputs, Call(), pair.pmap)
            if tolerance and extremes:
                found = _finite_pattern(probe, cand, ref)
                exact = compare_calls(cand, ref, row, probe)
                found = [replace(d, bitwise=e.bitwise, max_abs=e.max_abs) for d, e in zip(found, exact, strict=True)]
            elif tolerance and config.dtype != "float64":
                truth = run(float64_reference(pair, config, device), config, as_float64(inputs), Call())
                errors = own_error(ref, truth)
                found = [
                    compare(n, cand.tensors.get(n), t, allowing_noise(loose, errors.get(n, 0.0)), probe)
                    for n, t in ref.tensors.items()
                ]
            else:
                found = compare_calls(cand, ref, loose, probe)
            log.differences += found
            log.outcomes[probe] = (cand, ref, replace(config, steps=steps))
            log.parameters_changed += cand.parameters_changed
    restore(pair)
