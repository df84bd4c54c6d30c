"""nn.LSTM's own rounding error on a probe: the allowance of probes whose sums amplify rounding.

Under ``--tolerance`` a rewrite of nn.LSTM's function (per-gate products, one bias per gate) differs
from nn.LSTM by rounding only. In most probes a fixed tolerance per dtype covers that. In the
saturating regime (:mod:`.regimes`) it may not: a gradient summed over time and batch from terms far
larger than the sum loses most of its digits, so two correct float32 computations can differ by 0.5 %
of an element (measured: a hand-written cell at seed 2, ``stressed: grad l0_reverse.weight_ih``).

What a correct candidate can be asked is to be as close to the exact result as nn.LSTM itself is.
:func:`float64_reference` runs the same probe through nn.LSTM in float64 on the same weights and
inputs (the exact result, to float32's and half precision's eyes); :func:`allowing_noise` widens each
tensor's absolute tolerance to :data:`NOISE_FACTOR` times nn.LSTM's own largest error on that tensor
against it. A defect (a clamp, a wrong gate) moves results by far more than rounding does, and
float64 configurations are judged as before.
"""

from __future__ import annotations

import warnings
from dataclasses import replace

import torch
from torch import Tensor, nn

from lstm_replica.parity.build import Pair, Side
from lstm_replica.parity.calls import Outcome
from lstm_replica.parity.compare import Tolerance
from lstm_replica.parity.configs import Config
from lstm_replica.parity.inputs import Inputs

NOISE_FACTOR = 10.0  # two correct computations each err about as much as nn.LSTM: room for the sum and chance


def float64_reference(pair: Pair, config: Config, device: str) -> Side:
    """nn.LSTM in float64 holding the reference's current weights, its parameters named as the reference's.

    A cell's reference (``l0.weight_ih``, ...) is the same function as nn.LSTM's layer ``weight_ih_l0``.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # nn.LSTM's dropout / num_layers advisory
        module = nn.LSTM(**config.module_kwargs(), device=device, dtype=torch.float64).eval()
    own = dict(module.named_parameters())
    named: dict[str, Tensor] = {}
    with torch.no_grad():
        for name, tensor in pair.reference_parameters.items():
            prefix, dot, kind = name.rpartition(".")
            twin = own[f"{kind}_{prefix}" if dot else name]
            twin.copy_(tensor.detach())
            named[name] = twin
    return Side(module, named, [module])


def as_float64(inputs: Inputs) -> Inputs:
    """The same inputs in float64 (exactly: every float32 and half value is a float64 value)."""

    def up(t: Tensor | None) -> Tensor | None:
        return None if t is None else t.to(torch.float64)

    return replace(
        inputs,
        x=inputs.x.to(torch.float64),
        h0=up(inputs.h0),
        c0=up(inputs.c0),
        grad_output=inputs.grad_output.to(torch.float64),
        grad_h=inputs.grad_h.to(torch.float64),
        grad_c=inputs.grad_c.to(torch.float64),
    )


def own_error(ref: Outcome, exact: Outcome) -> dict[str, float]:
    """nn.LSTM's largest error against the float64 result, per tensor name (finite elements only)."""
    errors = {}
    for name, tensor in ref.tensors.items():
        truth = exact.tensors.get(name)
        if tensor is None or truth is None or tensor.shape != truth.shape:
            continue
        gap = (tensor.detach().to(torch.float64) - truth.detach()).abs()
        gap = gap[gap.isfinite()]
        errors[name] = float(gap.max()) if gap.numel() else 0.0
    return errors


def allowing_noise(row: Tolerance, error: float) -> Tolerance:
    """``row`` with its absolute tolerance at least :data:`NOISE_FACTOR` x nn.LSTM's own ``error``."""
    floor = NOISE_FACTOR * error
    if floor <= row.atol:
        return row
    why = f"{row.why}; at least {NOISE_FACTOR:g} x nn.LSTM's own error against float64 here ({error:.2g})"
    return Tolerance(row.rtol, floor, why, row.relative_to_largest)
