"""Value regimes: the weights and inputs of a check beyond default initialisation with N(0, 1) inputs.

Under ``--tolerance`` the saturated regime is judged with the stated
tolerances x :data:`STRESS_TOLERANCE`: floating-point rounding is relative to
the summands of a gate's pre-activation, and these are about 30 times those
of default initialisation (weights x ~5, inputs x 3). With extreme values
(1e150 in float64) a re-associated sum legitimately loses every smaller
summand, so there ``--tolerance`` asks only that the candidate is finite
exactly where ``nn.LSTM`` is; the bitwise standard compares every element.

``stress_weights`` redraws the reference's weights so that gate
pre-activations reach well past +-20 (input weights U(-a, a) with
a = 9 / sqrt(fan_in), inputs x 3: pre-activations of standard deviation about
15; recurrent and projection weights at nn.LSTM's own scale, so the recurrence
stays contracting rather than chaotic), and sets the
input, forget and cell gates' biases of a quarter of the units to +30 so
those cells add about 1 per step to c without forgetting. ``stress_inputs``
scales the inputs, puts rows of exact zeros in (one sequence, one time step,
one row of the initial state), a few extreme finite values (sqrt(max) / 16 of
the dtype: tanh through exp overflows there), and an initial cell state of
magnitude 100 to 200, so |c| >= 100 from the first step whenever hx is given.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from lstm_replica.names import parse_parameter_name

STRESS_WEIGHT = 9.0  # a = STRESS_WEIGHT / sqrt(fan_in)
STRESS_INPUT = 3.0
STRESS_BIAS = 30.0
STRESS_CELL = (100.0, 200.0)
STRESS_TOLERANCE = 30.0  # x the default tolerance under --tolerance: gate sums are ~30x default ones


def stress_weights(params: dict[str, Tensor], hidden_size: int, generator: torch.Generator) -> None:
    """Redraw ``params`` (nn.LSTM names) in place for the saturating regime."""
    with torch.no_grad():
        for name, p in params.items():
            kind = parse_parameter_name(name).kind
            if kind.startswith("weight"):
                # the input side saturates; the recurrent and projection weights stay at nn.LSTM's scale, so the
                # recurrence is not made chaotic (that would turn any rounding into a large difference)
                a = (STRESS_WEIGHT if kind == "weight_ih" else 1.0) / math.sqrt(p.size(1))
                p.copy_((torch.rand(p.shape, generator=generator, dtype=torch.float64) * 2 - 1) * a)
            else:
                values = torch.randn(p.shape, generator=generator, dtype=torch.float64) * 5
                if kind == "bias_ih":
                    quarter = max(1, hidden_size // 4)
                    for gate in range(3):  # i, f, g: always write, never forget, write +1
                        values[gate * hidden_size : gate * hidden_size + quarter] = STRESS_BIAS
                p.copy_(values)


def extreme(dtype: torch.dtype) -> float:
    """A large finite input value for ``dtype``: products with the weights and their sums stay finite."""
    return math.sqrt(torch.finfo(dtype).max) / 16


def stress_sequence(x: Tensor, batch_dim: int, generator: torch.Generator, extremes: bool) -> Tensor:
    """Scaled inputs with a zero sequence and a zero time step (and two extreme values); ``x`` (.., L, .., H_in)."""
    x = x * STRESS_INPUT
    time_dim = 1 - batch_dim if x.dim() == 3 else 0
    if x.dim() == 3 and x.size(batch_dim) > 1:
        x.select(batch_dim, x.size(batch_dim) - 1).zero_()  # the last sequence: exact zeros throughout
    if x.size(time_dim) > 2:
        x.select(time_dim, x.size(time_dim) // 2).zero_()  # one time step of zeros for every sequence
    if not extremes:
        return x
    flat = x.view(-1, x.size(-1))  # (L*N, H_in)
    big = extreme(x.dtype)
    rows = torch.randint(0, flat.size(0), (2,), generator=generator)
    flat[rows[0], 0] = big
    flat[rows[1], -1] = -big
    return x


def stress_state(h0: Tensor, c0: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """A zero row in h_0 and a cell state of magnitude 100 to 200 with random signs."""
    h0 = h0.clone()
    if h0.dim() == 3:
        h0[:, 0] = 0.0
    lo, hi = STRESS_CELL
    magnitude = torch.rand(c0.shape, generator=generator, dtype=torch.float64) * (hi - lo) + lo
    sign = torch.randint(0, 2, c0.shape, generator=generator).to(torch.float64) * 2 - 1
    return h0, (magnitude * sign).to(c0.dtype).to(c0.device)
