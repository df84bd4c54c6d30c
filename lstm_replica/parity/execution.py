"""Building both sides of a comparison for one configuration, and running a side.

Module candidates are compared with ``nn.LSTM``. Cell candidates are driven by
the replica's layer machinery (``LSTM.forward_with`` with one
``CellRecurrence`` per layer and direction) and compared with ``nn.LSTMCell``
driven by the very same machinery, so the cell is the only difference.
Both sides get the reference's weights, the same inputs (random non-zero
h_0 != c_0) and the same random upstream gradients for output, h_n and c_n.

What a candidate returns is checked before it is used: a result that is not
``(output, (h_n, c_n))`` (a cell's: not ``(h, c)``) cannot be compared, and
raises :class:`CheckError` (exit status 2); a cell's state of the wrong shape or
dtype is a proven difference, and raises :class:`WrongResult` (exit status 1).
A module's wrongly shaped tensors are compared, and reported, as they are.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

from lstm_replica.cell import Hidden
from lstm_replica.layers import CellRecurrence
from lstm_replica.lstm import LSTM
from lstm_replica.parity.candidates import CheckError, WeightAdapter, describe, load_weights
from lstm_replica.parity.configs import Config


class WrongResult(Exception):
    """The candidate's cell returned a state of the wrong shape or dtype: a difference, not a failure to check."""


def structure(obj: object, depth: int = 0) -> str:
    """What a returned object is made of, for messages: ``tuple(Tensor(7, 3, 6), Tensor(1, 3, 6))``."""
    if isinstance(obj, Tensor):
        return f"Tensor{tuple(obj.shape)}"
    if isinstance(obj, (tuple, list)) and depth < 2:
        items = [structure(item, depth + 1) for item in obj[:4]] + (["..."] if len(obj) > 4 else [])
        return f"{type(obj).__name__}({', '.join(items)})"
    return type(obj).__name__


def _is_pair(obj: object) -> bool:
    return isinstance(obj, (tuple, list)) and len(obj) == 2


Forward = Callable[[Tensor | PackedSequence, Hidden | None], tuple[Tensor | PackedSequence, Hidden]]


@dataclass(frozen=True)
class Candidate:
    factory: Callable[..., nn.Module]
    kind: str  # "module" | "cell"
    adapter: WeightAdapter | None = None


@dataclass
class Side:
    forward: Forward
    parameters: dict[str, Tensor]  # named as the reference names them where the names agree
    cell: Callable[[Tensor, Hidden], Hidden] | None = None  # layer 0 forward cell (cell candidates)


@dataclass
class Pair:
    candidate: Side
    reference: Side
    reference_parameters: dict[str, Tensor]
    sync: Callable[[], None]  # copy the reference's current weights into the candidate


@dataclass
class Inputs:
    x: Tensor  # in the module's layout: (L, N, H_in), (N, L, H_in) batch_first, (L, H_in) unbatched
    lengths: Tensor | None  # (N,) unsorted, for packed input
    h0: Tensor | None  # (D*layers, N, H_out), or (D*layers, H_out) unbatched
    c0: Tensor | None  # (D*layers, N, H_cell)
    grad_output: Tensor  # shaped as the output (packed data for packed input)
    grad_h: Tensor
    grad_c: Tensor


@dataclass
class Outcome:
    tensors: dict[str, Tensor | None]
    packing: tuple[Tensor, Tensor | None, Tensor | None] | None  # the output's batch_sizes and indices
    inputs_unmodified: bool


def make_inputs(config: Config, device: str, generator: torch.Generator) -> Inputs:
    """Random inputs for a configuration, all drawn from ``generator``."""
    dtype = config.torch_dtype
    n, steps, layers = config.batch, config.steps, config.directions * config.num_layers

    def randn(*shape: int) -> Tensor:
        return torch.randn(*shape, generator=generator, dtype=dtype).to(device)

    batch_first = config.batch_first and config.input_kind != "unbatched"  # unbatched input is (L, H_in) either way
    x = randn(n, steps, config.input_size) if batch_first else randn(steps, n, config.input_size)
    lengths = None
    if config.input_kind == "packed":
        lengths = torch.randint(1, steps + 1, (n,), generator=generator)
        lengths[torch.randint(0, n, (1,), generator=generator)] = steps  # the longest fills the padding
    h0, c0 = randn(layers, n, config.out_size), randn(layers, n, config.hidden_size) + 0.5
    grad_h, grad_c = randn(layers, n, config.out_size), randn(layers, n, config.hidden_size)
    width = config.directions * config.out_size
    if lengths is not None:
        grad_output = randn(int(lengths.sum()), width)  # (T, D*H_out)
    else:
        grad_output = randn(n, steps, width) if batch_first else randn(steps, n, width)
    if config.input_kind == "unbatched":
        x, grad_output = x.squeeze(1), grad_output.squeeze(1)  # (L, H_in), (L, D*H_out)
        h0, c0, grad_h, grad_c = (t.squeeze(1) for t in (h0, c0, grad_h, grad_c))
    if not config.hx_given:
        h0 = c0 = None
    return Inputs(x, lengths, h0, c0, grad_output, grad_h, grad_c)


def _construct(factory: Callable[..., nn.Module], kwargs: dict[str, object]) -> nn.Module:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # nn.LSTM's dropout / num_layers advisory
            return factory(**kwargs)
    except Exception as exc:
        args = ", ".join(f"{k}={v}" for k, v in kwargs.items())
        msg = f"Expected {describe(factory)}({args}) to construct, got {type(exc).__name__}: {exc}"
        raise CheckError(msg) from exc


def _module_pair(candidate: Candidate, config: Config, device: str) -> Pair:
    factory_kwargs = {"device": device, "dtype": config.torch_dtype}
    reference = _construct(nn.LSTM, {**config.module_kwargs(), **factory_kwargs}).eval()
    module = _construct(candidate.factory, {**config.module_kwargs(), **factory_kwargs}).eval()

    def sync() -> None:
        load_weights(module, reference, candidate.adapter)

    sync()
    ref_params = dict(reference.named_parameters())
    return Pair(Side(module, dict(module.named_parameters())), Side(reference, ref_params), ref_params, sync)


def _cell_pair(candidate: Candidate, config: Config, device: str) -> Pair:
    factory_kwargs = {"device": device, "dtype": config.torch_dtype}
    machine = _construct(LSTM, {**config.module_kwargs(), **factory_kwargs}).eval()
    names, ref_cells, cand_cells = [], [], []
    for layer in range(config.num_layers):
        layer_input = config.input_size if layer == 0 else config.directions * config.hidden_size
        for direction in range(config.directions):
            names.append(f"l{layer}{'_reverse' if direction else ''}")
            kwargs = {"input_size": layer_input, "hidden_size": config.hidden_size, "bias": config.bias}
            ref_cells.append(_construct(nn.LSTMCell, {**kwargs, **factory_kwargs}))
            cand_cells.append(_construct(candidate.factory, {**kwargs, **factory_kwargs}))

    def sync() -> None:
        for cand, ref in zip(cand_cells, ref_cells, strict=True):
            load_weights(cand, ref, candidate.adapter)

    def side(cells: list[nn.Module], checked: bool) -> Side:
        calls = [_checked_cell(cell) if checked else cell for cell in cells]

        def forward(inp: Tensor | PackedSequence, hx: Hidden | None) -> tuple[Tensor | PackedSequence, Hidden]:
            return machine.forward_with([CellRecurrence(call) for call in calls], inp, hx)

        params = {f"{name}.{p}": t for name, cell in zip(names, cells, strict=True) for p, t in cell.named_parameters()}
        return Side(forward, params, calls[0])

    sync()
    reference = side(ref_cells, checked=False)
    return Pair(side(cand_cells, checked=True), reference, reference.parameters, sync)


def _checked_cell(cell: nn.Module) -> Callable[[Tensor, Hidden], Hidden]:
    """The candidate cell, its every result checked to be ``(h, c)`` shaped and typed as the state it was given."""

    def call(x_t: Tensor, hidden: Hidden) -> Hidden:
        result = cell(x_t, hidden)
        if not (_is_pair(result) and all(isinstance(t, Tensor) for t in result)):
            msg = f"Expected the cell to return (h, c) as nn.LSTMCell does, got {structure(result)}"
            raise CheckError(msg)
        for label, got, given in zip("hc", result, hidden, strict=True):
            if got.shape != given.shape:
                msg = f"Expected the cell's {label} of shape {tuple(given.shape)}, got {tuple(got.shape)}"
                raise WrongResult(msg)
            if got.dtype != given.dtype:
                msg = f"Expected the cell's {label} of dtype {given.dtype}, got {got.dtype}"
                raise WrongResult(msg)
        return result[0], result[1]

    return call


def build_pair(candidate: Candidate, config: Config, device: str, seed: int) -> Pair:
    """Candidate and reference for ``config``, with the reference's seeded initial weights in both."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if candidate.kind == "module":
            return _module_pair(candidate, config, device)
        return _cell_pair(candidate, config, device)


def _clone(t: Tensor | None, grad: bool) -> Tensor | None:
    return None if t is None else t.clone().requires_grad_(grad)


def run(side: Side, config: Config, inputs: Inputs, with_grad: bool) -> Outcome:
    """One forward (and backward when ``with_grad``) of a side; the tensors compared come back by name."""
    x, h0, c0 = _clone(inputs.x, with_grad), _clone(inputs.h0, with_grad), _clone(inputs.c0, with_grad)
    fed = x
    if inputs.lengths is not None:
        fed = pack_padded_sequence(x, inputs.lengths, batch_first=config.batch_first, enforce_sorted=False)
    hx = None if h0 is None else (h0, c0)
    with torch.set_grad_enabled(with_grad):
        output, h_n, c_n = _unpack(_call("forward", side.forward, fed, hx))
    packing = None
    if isinstance(output, PackedSequence):
        packing = (output.batch_sizes, output.sorted_indices, output.unsorted_indices)
        output = output.data  # (T, D*H_out)
    tensors: dict[str, Tensor | None] = {"output": output, "h_n": h_n, "c_n": c_n}
    unmodified = all(
        given is None or torch.equal(given.detach(), original)
        for given, original in ((x, inputs.x), (h0, inputs.h0), (c0, inputs.c0))
    )
    if with_grad:
        tensors.update(_gradients(side, tensors, inputs, x, h0, c0))
    return Outcome(tensors, packing, unmodified)


def _call(phase: str, fn: Callable, *args: object) -> object:
    """``fn(*args)``; what the candidate's code raises becomes a :class:`CheckError` naming the phase."""
    try:
        return fn(*args)
    except (CheckError, WrongResult):
        raise
    except (Exception, SystemExit) as exc:
        msg = f"{phase} raised {type(exc).__name__}: {exc}"
        raise CheckError(msg) from exc


def _unpack(result: object) -> tuple[Tensor | PackedSequence, Tensor, Tensor]:
    if _is_pair(result) and isinstance(result[0], (Tensor, PackedSequence)) and _is_pair(result[1]):
        h_n, c_n = result[1]
        if isinstance(h_n, Tensor) and isinstance(c_n, Tensor):
            return result[0], h_n, c_n
    msg = f"Expected forward to return (output, (h_n, c_n)) as nn.LSTM does, got {structure(result)}"
    raise CheckError(msg)


def _gradients(
    side: Side, tensors: dict[str, Tensor | None], inputs: Inputs, x: Tensor, h0: Tensor | None, c0: Tensor | None
) -> dict[str, Tensor | None]:
    upstream = (inputs.grad_output, inputs.grad_h, inputs.grad_c)
    results = (tensors["output"], tensors["h_n"], tensors["c_n"])
    if any(r.shape != g.shape for r, g in zip(results, upstream, strict=True)):
        return {}  # the forward comparison already reports the wrong shape
    wrt = {"grad input": x} | ({} if h0 is None else {"grad h_0": h0, "grad c_0": c0})
    wrt |= {f"grad {name}": p for name, p in side.parameters.items() if p.requires_grad}

    def backward() -> tuple[Tensor | None, ...]:
        loss = sum((r * g).sum() for r, g in zip(results, upstream, strict=True))
        return torch.autograd.grad(loss, list(wrt.values()), allow_unused=True)

    grads = _call("backward", backward)
    return dict(zip(wrt, grads, strict=True))
