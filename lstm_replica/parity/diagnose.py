"""Rounding or defect? Evidence for a candidate that is not bitwise ``nn.LSTM``.

A rewrite that computes the same function in another order (per-gate products,
one bias holding ``b_ih + b_hh``, the input projection per step, a sigmoid
through ``exp``) differs from ``nn.LSTM`` by rounding: run in float64, the
difference shrinks by about the ratio of the machine epsilons (float32 to
float64: 2^-52 / 2^-23, about 2e-9). A defect (a wrong gate, a missing term)
does not shrink. The harness reruns the first call of the worst configuration
in float64 and reports both relative errors, and where the difference starts:
a cell that is already off by a few ulps in a single teacher-forced step is
rounding per step; a cell exact per step but off over a sequence is an
accumulation order.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from lstm_replica.parity.compare import Tolerance, compare
from lstm_replica.parity.configs import Config
from lstm_replica.parity.execution import Candidate, build_pair, make_inputs, run

SHRINK_ROUNDING = 1e-5  # float64 relative error / float32's below this: rounding (the epsilons' ratio is ~2e-9)
LOW_PRECISION = ("float32", "float16", "bfloat16")
HINTS = (
    (
        "one bias per gate holds b_ih + b_hh, added once, where ATen adds b_ih with the input product and b_hh "
        "with the recurrent one"
    ),
    "per-gate or [x, h] products sum in other blocks than ATen's single (4H, H_in) and (4H, H) products",
    "the input projection per step instead of one product over the whole sequence (or the reverse)",
    "sigmoid as 1 / (1 + exp(-x)) instead of torch.sigmoid",
)


def relative_error(spec: Candidate, config: Config, device: str, seed: int) -> float:
    """The first call's largest difference from nn.LSTM over every compared tensor, relative to its largest value."""
    pair = build_pair(spec, config, device, seed)
    inputs = make_inputs(config, device, torch.Generator().manual_seed(seed))
    ref = run(pair.reference, config, inputs, with_grad=True)
    cand = run(pair.candidate, config, inputs, with_grad=True, pmap=pair.pmap)
    exact = Tolerance(0.0, 0.0, "none: the size of the difference is the point")
    worst = 0.0
    for name, tensor in ref.tensors.items():
        if tensor is None:
            continue
        d = compare(name, cand.tensors.get(name), tensor, exact)
        scale = float(tensor.detach().abs().max()) or 1.0
        worst = max(worst, d.max_abs / scale)
    return worst


def diagnose(spec: Candidate, config: Config, device: str, seed: int) -> str:
    """One paragraph: rounding or defect, from a float64 rerun of ``config`` (a float32 or half configuration)."""
    low = relative_error(spec, config, device, seed)
    high = relative_error(spec, replace(config, dtype="float64"), device, seed)
    evidence = f"first call in {config.dtype}: relative error {low:.2g}; the same in float64: {high:.2g}"
    if low == 0.0:
        return f"Diagnosis: the first call is bitwise in {config.dtype}; the difference is in a later probe."
    if high <= SHRINK_ROUNDING * low:
        return (
            f"Diagnosis: ROUNDING ({evidence}, shrinking as the precision grows): the same function, summed in "
            "another order. Likely causes: " + "; ".join(HINTS) + '. See README.md, "Making your cell bitwise".'
        )
    return (
        f"Diagnosis: DEFECT ({evidence}, not shrinking with precision): a different function, not rounding. "
        "The rows above say which tensor and gate differ first."
    )
