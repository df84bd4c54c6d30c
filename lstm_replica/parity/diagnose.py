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
from itertools import accumulate

import torch

from lstm_replica.parity.build import Candidate, build_pair
from lstm_replica.parity.calls import run
from lstm_replica.parity.compare import Tolerance, compare
from lstm_replica.parity.configs import Config
from lstm_replica.parity.inputs import make_inputs
from lstm_replica.parity.parammap import ParamMap

SHRINK_ROUNDING = 1e-5  # float64 relative error / float32's below this: rounding (the epsilons' ratio is ~2e-9)
LOW_PRECISION = ("float32", "float16", "bfloat16")
HINTS = (
    (
        "one bias per gate holds b_ih + b_hh, added once, where ATen adds b_ih with the input product and b_hh "
        "with the recurrent one"
    ),
    (
        "per-gate or [x, h] products sum in other blocks than ATen's single (4H, H_in) and (4H, H) products "
        "(per-gate matrices concatenated with torch.cat into those two before one product each are bitwise)"
    ),
    "the input projection per step instead of one product over the whole sequence (or the reverse)",
    "sigmoid as 1 / (1 + exp(-x)) instead of torch.sigmoid",
)


HALF = ("float16", "bfloat16")
SPLIT_STEP = (
    "the optimiser steps your parameters, which hold nn.LSTM's weights in other tensors (per gate, or in another "
    "order), where it steps nn.LSTM's whole tensors. In half precision, an element-wise update such as SGD's "
    "p.add_(buf, alpha=-lr) rounds differently in the vectorised body of a tensor and in its scalar tail, so "
    "tensors split at other boundaries round some elements differently: a real difference of the training "
    "trajectory, not of the LSTM's function. To be bitwise here too, keep nn.LSTM's weight tensors as your "
    "parameters and slice per-gate views out of them inside forward."
)


def whole_tensors(pmap: ParamMap) -> bool:
    """Whether every candidate parameter is one of nn.LSTM's whole tensors, element for element in its order."""
    sizes = [shape.numel() for shape in pmap.ref_shapes.values()]
    wholes = set(zip(accumulate(sizes, initial=0), sizes, strict=False))  # (first flat index, numel) of each
    for name, index in pmap.sources.items():
        flat = index.flatten()
        partner = pmap.partners.get(name)
        folded = partner is not None and bool((partner >= 0).any())
        if folded or flat.numel() == 0 or (int(flat[0]), flat.numel()) not in wholes:
            return False
        if not torch.equal(flat, torch.arange(int(flat[0]), int(flat[0]) + flat.numel(), dtype=flat.dtype)):
            return False
    return True


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


def diagnose(spec: Candidate, config: Config, device: str, seed: int, first_probe: str = "") -> str:
    """One paragraph: rounding or defect, from a float64 rerun of ``config`` (a float32 or half configuration).

    ``first_probe``: the probe of the configuration's first difference that is not bitwise (``""``: call 1).
    """
    low = relative_error(spec, config, device, seed)
    high = relative_error(spec, replace(config, dtype="float64"), device, seed)
    evidence = f"first call in {config.dtype}: relative error {low:.2g}; the same in float64: {high:.2g}"
    if low == 0.0:
        where = f"in the probe {first_probe!r}" if first_probe else "in a later probe"
        stepped = first_probe.startswith("training step") and "(sgd)" in first_probe and config.dtype in HALF
        split = stepped and not whole_tensors(build_pair(spec, config, device, seed).pmap)
        cause = " Likely cause: " + SPLIT_STEP if split else ""
        return f"Diagnosis: the first call is bitwise in {config.dtype}; the first difference is {where}.{cause}"
    if high <= SHRINK_ROUNDING * low:
        return (
            f"Diagnosis: ROUNDING ({evidence}, shrinking as the precision grows): the same function, summed in "
            "another order. Likely causes: " + "; ".join(HINTS) + '. See docs/checking.md, "Making your cell bitwise".'
        )
    return (
        f"Diagnosis: DEFECT ({evidence}, not shrinking with precision): a different function, not rounding. "
        "The rows above say which tensor and gate differ first."
    )
