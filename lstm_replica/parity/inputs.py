"""The inputs of one configuration: the sequence, its lengths, the initial state and the upstream gradients.

Every tensor derives from the configuration's generator, so candidate and reference get the very same ones:
random non-zero ``h_0 != c_0``, unsorted lengths for packed input, and upstream gradients for output, h_n
and c_n (packed: shaped as the packed data).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

from lstm_replica.cell import Hidden
from lstm_replica.parity.configs import Config
from lstm_replica.parity.regimes import stress_sequence, stress_state


@dataclass
class Inputs:
    x: Tensor  # in the module's layout: (L, N, H_in), (N, L, H_in) batch_first, (L, H_in) unbatched
    lengths: Tensor | None  # (N,) unsorted, for packed input
    h0: Tensor | None  # (D*layers, N, H_out), or (D*layers, H_out) unbatched
    c0: Tensor | None  # (D*layers, N, H_cell)
    grad_output: Tensor  # shaped as the output (packed data for packed input)
    grad_h: Tensor
    grad_c: Tensor

    @property
    def hx(self) -> Hidden | None:
        """``(h_0, c_0)``, or None when the state is not given (h_0 and c_0 are given together or not at all)."""
        return None if self.h0 is None or self.c0 is None else (self.h0, self.c0)


def make_inputs(
    config: Config,
    device: str,
    generator: torch.Generator,
    *,
    steps: int | None = None,
    batch: int | None = None,
    stressed: bool = False,
    extremes: bool = False,
) -> Inputs:
    """Random inputs for a configuration (``steps`` / ``batch`` overriding its sizes), all drawn from ``generator``.

    ``stressed``: the saturating regime of :mod:`.regimes` (zeros, |c_0| of 100 to 200; ``extremes``: huge values).
    """
    dtype = config.torch_dtype
    n = config.batch if batch is None else batch
    steps = config.steps if steps is None else steps
    layers = config.num_directions * config.num_layers

    def randn(*shape: int) -> Tensor:
        return torch.randn(*shape, generator=generator, dtype=torch.float64).to(dtype).to(device)

    batch_first = config.batch_first and config.input_kind != "unbatched"  # unbatched input is (L, H_in) either way
    x = randn(n, steps, config.input_size) if batch_first else randn(steps, n, config.input_size)
    lengths = None
    if config.input_kind == "packed":
        lengths = torch.randint(1, steps + 1, (n,), generator=generator)
        lengths[torch.randint(0, n, (1,), generator=generator)] = steps  # the longest fills the padding
    elif config.input_kind == "packed_equal":
        lengths = torch.full((n,), steps)  # a PackedSequence whose every sequence is as long as the padding
    h0, c0 = randn(layers, n, config.output_size), randn(layers, n, config.hidden_size) + 0.5
    if stressed:
        x = stress_sequence(x, 0 if batch_first else 1, generator, extremes)
        h0, c0 = stress_state(h0, c0, generator)
    grad_h, grad_c = randn(layers, n, config.output_size), randn(layers, n, config.hidden_size)
    width = config.num_directions * config.output_size
    if lengths is not None:
        grad_output = randn(int(lengths.sum()), width)  # (T, D*H_out)
    else:
        grad_output = randn(n, steps, width) if batch_first else randn(steps, n, width)
    if config.input_kind == "unbatched":
        x, grad_output = x.squeeze(1), grad_output.squeeze(1)  # (L, H_in), (L, D*H_out)
        h0, c0, grad_h, grad_c = (t.squeeze(1) for t in (h0, c0, grad_h, grad_c))
    if not config.hx_given:
        return Inputs(x, lengths, None, None, grad_output, grad_h, grad_c)
    return Inputs(x, lengths, h0, c0, grad_output, grad_h, grad_c)


def packed(x: Tensor, lengths: Tensor, config: Config) -> PackedSequence:
    """``x`` (padded, in the configuration's layout) packed as every call of the harness packs it: unsorted lengths,
    ``enforce_sorted=False``, so the module sees the permutation a training script's packing gives it."""
    return pack_padded_sequence(x, lengths, batch_first=config.batch_first, enforce_sorted=False)
