"""What a training script does to a module besides calling it on fresh inputs: the protocol probes.

Run by the certificate after every other probe (a defect those catch is still reported by theirs), on the same
candidate instance, from nn.LSTM's initial weights; each compares the candidate with ``nn.LSTM`` put through the
same thing, with the configuration's standard (``torch.equal``, or the tolerance). Every probe puts back what it
changed (mode, dtype, ``requires_grad``, weights, parametrizations).

- **train mode, no_grad** / **train mode, inference_mode**: a forward in train mode without autograd (Monte-Carlo
  dropout), dropout drawn from the same generator state on both sides. Catches dropout skipped, or drawn
  differently, when no graph is built, and a train-mode path taken only with grad.
- **eval cache: ...**: in eval mode under no_grad, one call, then the weights changed in place
  (``p.copy_`` under no_grad), then the *same* input buffer rewritten in place, then a train-mode call and an eval
  call on that buffer. Catches a cache (concatenated weights, input projections, outputs keyed on the input's
  storage) that does not see an in-place change or a train/eval switch.
- **input from an embedding look-up** / **input computed, state as views of a wider buffer**: the input as
  ``F.embedding(tokens, table)`` (the gradient goes to the table) and as ``x * 1.0`` (not a leaf), h_0 / c_0 as
  offset, non-contiguous views into a wider batch-major buffer (the gradient goes to the buffer). Catches an input
  or state detached, or read through the wrong strides, unless it is a plain leaf.
- **autocast bfloat16** / **autocast float16** (float32 configurations): a call with grad under ``torch.autocast``:
  output dtypes, values and gradients (the parameters' only where the candidate holds nn.LSTM's whole tensors:
  see ``AUTOCAST_PER_CALL_WEIGHTS``). Catches computing in another dtype than ``nn.LSTM`` (everything in the
  autocast dtype, or autocast switched off) and a state kept in the autocast dtype.
- **frozen: layer 0 / last layer / biases / weight_ih / the gate-f tensors**: some parameters frozen
  (``requires_grad=False``, in ``nn.LSTM``'s terms: the candidate's tensors that map wholly into the frozen ones;
  the last, for per-gate candidates only, the tensors holding gate f's rows alone). Forward, input and state
  gradients, the gradients of the parameters still trainable, and the frozen ones still frozen with no gradient.
  Each configuration runs layer 0 (with more than one layer), one other pattern drawn in turn, and the gate-f one.
  Catches a path chosen by ``requires_grad`` (frozen layers run under no_grad, say).
- **torch.func.vjp** (and **torch.func.vmap**, module candidates): gradients through ``torch.func.vjp`` (which
  ``grad`` and ``jacrev`` are built on; ``grad`` itself imports dynamo, seconds once per process) over
  ``torch.func.functional_call`` (a cell candidate's: of the input); under ``vmap``, which ``nn.LSTM`` refuses,
  the candidate must refuse too, with its exception type, or return nn.LSTM's result for each input. Catches an old-style ``autograd.Function``
  (``forward(ctx, ...)`` without ``setup_context``), which functorch transforms refuse.
- **after .double()** (float64 configurations: **after .float()**), then **..., new weights loaded**, and
  **parametrization registered** (module candidates; the last with ``nn.LSTM``'s parameter names): a dtype move
  after construction, new values loaded afterwards, and ``register_parametrization`` on a weight after use.
  Catches a dtype or weight reference fixed in ``__init__``, or weights memoised on the Parameter objects (a
  device fixed in ``__init__`` would need a second device to show: not probed).

Every probe runs on sequences of at most ``PROTOCOL_STEPS`` steps (long sequences are the other probes' concern).
Configurations with a truthy ``scale`` (real sizes, a reduced probe set) skip them all; large ones (see
``HEAVY_COST``) run one autocast dtype and one frozen pattern besides the gate-f one.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from lstm_replica.parity.probes.autocast import autocast
from lstm_replica.parity.probes.context import (
    ProbeLog,
    Probing,
)
from lstm_replica.parity.probes.dtype_moves import construction_capture
from lstm_replica.parity.probes.frozen import partially_frozen
from lstm_replica.parity.probes.func import func_transforms
from lstm_replica.parity.probes.module import restore
from lstm_replica.parity.probes.train_eval import eval_cache, inputs_as_written, train_mode_without_grad

HEAVY_COST = 3_000_000  # multiply-adds of one forward (Config.cost): above it, the reduced set below
PROTOCOL_STREAM = 0x9E3779B9  # added to the configuration's seed: these probes' own random stream
PROTOCOL_STEPS = 8  # sequences cut to this many steps: what these probes test does not need long ones


def protocol_probes(ctx: Probing, log: ProbeLog, unsupported: frozenset[str] = frozenset()) -> None:
    """Every probe of this module, in order (see the module docstring); the pair is as before afterwards.

    ``unsupported``: the features the candidate declared or refused (configs.FEATURES): a dtype among them is
    neither moved to nor autocast to.
    """
    config = ctx.config
    if getattr(config, "scale", False):
        log.skipped["protocol probes"] = "a real-size configuration: the reduced probe set"
        return
    config = replace(config, steps=min(config.steps, PROTOCOL_STEPS))  # protocol, not length: short sequences
    # a stream of their own: the probes after these draw the inputs they drew before these existed
    generator = torch.Generator().manual_seed((ctx.generator.initial_seed() + PROTOCOL_STREAM) % 2**63)
    ctx = replace(ctx, config=config, generator=generator)
    heavy = config.cost > HEAVY_COST
    ctx.pair.train(False)
    restore(ctx.pair)  # nn.LSTM's initial weights on both sides, whatever the probes before left
    try:
        train_mode_without_grad(ctx, log)
        eval_cache(ctx, log)
        inputs_as_written(ctx, log)
        autocast(ctx, log, heavy, unsupported)
        partially_frozen(ctx, log, heavy)
        if "torch_func" in unsupported:
            log.skipped["torch.func"] = "declared unsupported by the candidate"
        else:
            func_transforms(ctx, log)
        construction_capture(ctx, log, unsupported)
    finally:
        ctx.pair.train(False)
        restore(ctx.pair)


# --- modes -----------------------------------------------------------------------------------------------


# --- evaluation-mode caches ------------------------------------------------------------------------------


# --- inputs as users write them --------------------------------------------------------------------------


# --- autocast --------------------------------------------------------------------------------------------


# --- partial freezing ------------------------------------------------------------------------------------


# --- torch.func ------------------------------------------------------------------------------------------


# --- construction-time capture ---------------------------------------------------------------------------
