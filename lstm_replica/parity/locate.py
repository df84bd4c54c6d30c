"""Where the first difference is: time step, layer, direction, batch index, and the gate when isolable.

Sequences are first put time-major ``(L, N, F)``. A forward difference is
located at the earliest step in each direction's processing order (the
reverse direction runs from the last step), in the lowest layer whose final
state differs. A gradient difference is located where backpropagation meets
it first (the last step). The gate is read from the gate blocks of a
parameter gradient, or, for a forward difference, from a one-step probe that
saturates three gates to exactly 1 in both sides and leaves one live.

The likely cause of a forward difference is named where a second one-step
probe leaves no doubt (:func:`probe_cause`): h and c exchanged, hx read as
(c, h), the gate blocks permuted, or a square weight block transposed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from itertools import permutations

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence

from lstm_replica.names import GATES, parse_parameter_name
from lstm_replica.parity.build import Forward, Pair
from lstm_replica.parity.calls import Outcome
from lstm_replica.parity.candidates import CheckError
from lstm_replica.parity.compare import compare, differing, tolerance_for
from lstm_replica.parity.configs import Config
from lstm_replica.parity.results import Location, gradient_of

SATURATING = 40.0  # sigmoid(40) and tanh(40) round to exactly 1.0 in float32 and float64


def time_major(t: Tensor, config: Config, packing: tuple[Tensor, Tensor | None, Tensor | None] | None) -> Tensor:
    """A sequence tensor as ``(L, N, F)``: packed data padded, batch_first transposed, unbatched given N = 1."""
    if packing is not None:
        padded, _ = pad_packed_sequence(PackedSequence(t, *packing))  # (L, N, F), original batch order
        return padded
    if config.input_kind == "unbatched":
        return t.unsqueeze(1)  # (L, 1, F)
    return t.transpose(0, 1) if config.batch_first else t  # (L, N, F)


def _first_index(mask: Tensor) -> int:
    return int(mask.nonzero()[0, 0])


def _states(t: Tensor, config: Config) -> Tensor:
    return t.unsqueeze(1) if config.input_kind == "unbatched" else t  # (D*layers, N, H)


def _lowest_differing_state(cand: Outcome, ref: Outcome, config: Config) -> int | None:
    """The first (layer, direction) row of h_n / c_n that differs, or None."""
    rows = torch.zeros(config.num_layers * config.num_directions, dtype=torch.bool)
    for name in ("h_n", "c_n"):
        a, b = cand.tensors.get(name), ref.tensors[name]
        if a is not None and b is not None and a.shape == b.shape:
            rows |= differing(_states(a, config), _states(b, config)).flatten(1).any(1)  # (D*layers,)
    return _first_index(rows) if rows.any() else None


def _locate_output(a: Tensor, b: Tensor, config: Config, cand: Outcome, ref: Outcome) -> Location:
    mask = differing(time_major(a, config, ref.packing), time_major(b, config, ref.packing))  # (L, N, D*H_out)
    best: tuple[int, int, str] | None = None  # (processing index, time step, direction)
    for d, chunk in enumerate(mask.chunk(config.num_directions, dim=2)):  # D x (L, N, H_out)
        steps = chunk.flatten(1).any(1)  # (L,)
        if steps.any():
            t = int(steps.nonzero().max()) if d else _first_index(steps)
            order = config.steps - 1 - t if d else t
            if best is None or order < best[0]:
                best = (order, t, "reverse" if d else "forward")
    if best is None:  # no element differs: nothing to locate (only a differing output is located)
        return Location("output", note="no element differs")
    _, t, direction = best
    batch = _first_index(mask[t].any(1))
    row = _lowest_differing_state(cand, ref, config)
    layer = config.num_layers - 1 if row is None else row // config.num_directions
    note = ""
    # the defect starts below the top layer: its final state says which direction
    if row is not None and layer < config.num_layers - 1:
        direction = "reverse" if row % config.num_directions else "forward"
        note = "time step and batch index as first seen in the top layer's output"
    return Location("output", t, layer, direction if config.bidirectional else None, batch, note=note)


def _locate_state(name: str, a: Tensor, b: Tensor, config: Config) -> Location:
    mask = differing(_states(a, config), _states(b, config))  # (D*layers, N, H)
    row = _first_index(mask.flatten(1).any(1))
    direction = ("reverse" if row % 2 else "forward") if config.bidirectional else None
    time = "first" if gradient_of(name) is not None else "last"
    return Location(name, time, row // config.num_directions, direction, _first_index(mask[row].any(1)))


def _locate_parameter(name: str, a: Tensor, b: Tensor) -> Location:
    mask = differing(a, b)
    try:
        parsed = parse_parameter_name(gradient_of(name) or name)  # "grad weight_hh_l1" -> weight_hh, layer 1
    except ValueError:  # a parameter nn.LSTM has not: no layer, direction or gate to name
        return Location(name, None, None, None, None, None)
    layer = parsed.layer
    direction = None if layer is None else ("reverse" if parsed.reverse else "forward")
    gate = None
    if parsed.kind != "weight_hr" and a.size(0) % 4 == 0:
        blocks = mask.reshape(4, -1).any(1)  # (4,) one per gate block of rows
        hits = [g for g, hit in zip(GATES, blocks.tolist(), strict=True) if hit]
        gate = "all gates" if len(hits) == len(GATES) else ",".join(hits)
    return Location(name, None, layer, direction, None, gate)


def locate(
    name: str,
    cand: Outcome,
    ref: Outcome,
    config: Config,
    probe: Callable[[], str | None] | None = None,
    cause: Callable[[], str | None] | None = None,
) -> Location:
    """The location of the first difference in tensor ``name``.

    ``probe`` finds the gate of a forward difference, ``cause`` its likely cause (see :func:`probe_cause`).
    """
    a, b = cand.tensors.get(name), ref.tensors.get(name)
    if a is None or b is None or a.shape != b.shape:
        return Location(name, note="wrong shape or missing")
    if name == "output":
        loc = _locate_output(a, b, config, cand, ref)
    elif name in ("h_n", "c_n", "grad h_0", "grad c_0"):
        loc = _locate_state(name, a, b, config)
    elif name == "grad input":
        mask = differing(time_major(a, config, None), time_major(b, config, None))  # (L, N, H_in)
        t = int(mask.flatten(1).any(1).nonzero().max())
        loc = Location(name, t, 0, None, _first_index(mask[t].any(1)), note="backpropagation meets it here first")
    elif gradient_of(name) is not None:
        return _locate_parameter(name, a, b)
    else:
        mask = differing(a, b)  # teacher-forced steps (L, N, H) of layer 0, forward
        t = _first_index(mask.flatten(1).any(1))
        loc = Location(name, t, 0, "forward", _first_index(mask[t].reshape(mask.size(1), -1).any(1)))
    gate = loc.gate if probe is None else probe()
    why = "" if cause is None else cause() or ""
    return Location(loc.tensor, loc.time_step, loc.layer, loc.direction, loc.batch_index, gate, loc.note, why)


def probe_gate(
    make_pair: Callable[[Config], Pair],
    config: Config,
    generator: torch.Generator,
    close: Callable[[Tensor, Tensor], bool] | None = None,
) -> str | None:
    """Which gates a one-step probe shows different: each gate live in turn, the other three saturated to 1.

    Returns the differing gates ("f", or "i,f"), "all gates", or None when none differs in isolation.
    ``close(candidate's, reference's)``: results that count as the same (under ``--tolerance``: within it, so
    that rounding in the live gates is not taken for a defect); by default, bitwise equal ones.
    """
    probe = Config(batch=2, steps=1, input_size=config.input_size, hidden_size=config.hidden_size, dtype=config.dtype)
    pair = make_pair(probe)
    h = config.hidden_size
    dtype = probe.torch_dtype
    x = torch.randn(1, 2, probe.input_size, generator=generator, dtype=dtype)  # (L=1, N=2, H_in)
    state = tuple(torch.randn(1, 2, h, generator=generator, dtype=dtype) for _ in range(2))  # (1, 2, H) each
    params = {parse_parameter_name(k).kind: v for k, v in pair.reference_parameters.items()}
    original = {k: v.detach().clone() for k, v in params.items()}
    hits = []
    with torch.no_grad():
        for live in range(4):
            for key, tensor in params.items():
                tensor.copy_(original[key])
                for other in (g for g in range(4) if g != live):
                    rows = tensor[other * h : (other + 1) * h]  # one gate's block of rows
                    rows.fill_(SATURATING if key == "bias_hh" else 0.0)
            pair.sync()
            device = next(iter(params.values())).device
            fed, hx = x.to(device), (state[0].to(device), state[1].to(device))
            cand_out, cand_state = pair.candidate.forward(fed, hx)
            ref_out, ref_state = pair.reference.forward(fed, hx)
            results = zip((cand_out, *cand_state), (ref_out, *ref_state), strict=True)
            hits.append(any(_differs(a, b) if close is None else not _close(a, b, close) for a, b in results))
    gates = [g for g, hit in zip(GATES, hits, strict=True) if hit]
    if len(gates) == len(GATES):
        return "all gates"
    return ",".join(gates) or None


def _close(a: Tensor | PackedSequence, b: Tensor | PackedSequence, close: Callable[[Tensor, Tensor], bool]) -> bool:
    """``close(a, b)`` for the probe's Tensor results (a PackedSequence for its Tensor input is refused)."""
    if isinstance(a, PackedSequence) or isinstance(b, PackedSequence):
        return not _differs(a, b)
    return close(a, b)


def _differs(a: Tensor | PackedSequence, b: Tensor | PackedSequence) -> bool:
    """Two results of the probe's call (its input is a Tensor, so is each result) differ in shape or value."""
    if isinstance(a, PackedSequence) or isinstance(b, PackedSequence):
        msg = "Expected forward to return a Tensor output for a Tensor input, got a PackedSequence"
        raise CheckError(msg)
    return a.shape != b.shape or bool(differing(a, b).any())


Results = tuple[Tensor, Tensor, Tensor]  # output, h_n, c_n of one call


def probe_cause(make_pair: Callable[[Config], Pair], config: Config, generator: torch.Generator) -> str | None:
    """The likely cause of a forward difference, where a one-step probe leaves no doubt; None otherwise.

    One step of a batch of 2 from a random state, in float64, candidate against nn.LSTM. The candidate's
    results are matched (within the float64 tolerance) against nn.LSTM's with one thing changed: h and c
    exchanged in the result, or in hx; the gate blocks of rows permuted (the 23 other orders); one square
    gate block of weight_ih or weight_hh, or all four, transposed. A cause is named only when exactly one of
    these matches and the unchanged reference does not; a candidate that cannot be probed so names none.
    """
    probe = Config(batch=2, steps=1, input_size=config.input_size, hidden_size=config.hidden_size, dtype="float64")
    x = torch.randn(1, 2, probe.input_size, generator=generator, dtype=torch.float64)  # (L=1, N=2, H_in)
    h0, c0 = (torch.randn(1, 2, probe.hidden_size, generator=generator, dtype=torch.float64) for _ in range(2))
    try:
        pair = make_pair(probe)
        device = next(iter(pair.reference_parameters.values())).device
        x, h0, c0 = x.to(device), h0.to(device), c0.to(device)
        with torch.no_grad():
            return _cause(pair, x, (h0, c0))
    except Exception:  # noqa: BLE001 - the candidate may raise anything: then no cause is named
        return None


def _cause(pair: Pair, x: Tensor, hx: tuple[Tensor, Tensor]) -> str | None:
    mine, theirs = _results(pair.candidate.forward, x, hx), _results(pair.reference.forward, x, hx)
    if _same(mine, theirs):
        return None  # one step shows no difference: nothing to name
    found = []
    if _same(mine[1:], (theirs[2], theirs[1])):
        found.append("h and c exchanged: the candidate's h is nn.LSTM's c and its c is nn.LSTM's h")
    if _same(mine, _results(pair.reference.forward, x, (hx[1], hx[0]))):
        found.append("h_0 and c_0 exchanged: the candidate reads hx as (c, h)")
    params = pair.reference_parameters
    gated = {n: t for n, t in params.items() if parse_parameter_name(n).kind != "weight_hr"}
    for order in permutations(range(len(GATES))):
        if order == tuple(range(len(GATES))):
            continue
        with _changed(gated, partial(_permuted, order=order)):
            if _same(mine, _results(pair.reference.forward, x, hx)):
                read_as = [GATES[order.index(block)] for block in range(len(GATES))]
                found.append(
                    f"gates permuted: the candidate reads nn.LSTM's gate blocks i, f, g, o as {', '.join(read_as)}"
                )
    for name, tensor in gated.items():
        rows = tensor.size(0) // len(GATES)
        if tensor.dim() != 2 or tensor.size(1) != rows:
            continue  # only a square gate block can be used transposed
        for blocks in [*([k] for k in range(len(GATES))), list(range(len(GATES)))]:
            with _changed({name: tensor}, partial(_transposed, blocks=blocks)):
                if _same(mine, _results(pair.reference.forward, x, hx)):
                    found.append(_transposed_words(pair, name, blocks))
    return found[0] if len(found) == 1 else None


def _results(forward: Forward, x: Tensor, hx: tuple[Tensor, Tensor]) -> Results:
    output, (h, c) = forward(x, hx)
    if isinstance(output, PackedSequence):
        msg = "Expected forward to return a Tensor output for a Tensor input, got a PackedSequence"
        raise CheckError(msg)
    return output, h, c


def _same(a: tuple[Tensor, ...], b: tuple[Tensor, ...]) -> bool:
    """Every tensor of ``a`` within the float64 tolerance of ``b``'s, shapes and dtypes alike."""
    row = tolerance_for("native", torch.float64)
    return all(
        isinstance(mine, Tensor) and compare("probe", mine, theirs, row).within_tolerance
        for mine, theirs in zip(a, b, strict=True)
    )


@contextmanager
def _changed(tensors: dict[str, Tensor], change: Callable[[Tensor], Tensor]) -> Iterator[None]:
    """The reference's ``tensors`` replaced in place by ``change(tensor)`` for the block; restored after."""
    saved = {name: t.detach().clone() for name, t in tensors.items()}
    try:
        for name, t in tensors.items():
            t.copy_(change(saved[name]))
        yield
    finally:
        for name, t in tensors.items():
            t.copy_(saved[name])


def _permuted(t: Tensor, order: tuple[int, ...]) -> Tensor:
    """A ``(4H, ...)`` tensor whose gate block k is ``t``'s block ``order[k]``."""
    return torch.cat([t.chunk(len(GATES))[k] for k in order])


def _transposed(t: Tensor, blocks: list[int]) -> Tensor:
    """A ``(4H, H)`` weight with the square gate blocks ``blocks`` transposed."""
    chunks = list(t.chunk(len(GATES)))  # 4 x (H, H)
    return torch.cat([chunk.t() if k in blocks else chunk for k, chunk in enumerate(chunks)])


def _transposed_words(pair: Pair, name: str, blocks: list[int]) -> str:
    """The transposed-weight cause in words, naming the candidate's parameters that hold those blocks."""
    pmap = pair.pmap
    names = list(pmap.ref_shapes)
    start = sum(pmap.ref_shapes[n].numel() for n in names[: names.index(name)])
    size = pmap.ref_shapes[name].numel() // len(GATES)
    held = [
        cand
        for cand, index in pmap.sources.items()
        if any(bool(((index >= start + k * size) & (index < start + (k + 1) * size)).any()) for k in blocks)
    ]
    which = "all four gate blocks" if len(blocks) == len(GATES) else f"the gate {GATES[blocks[0]]} block"
    side = "x" if parse_parameter_name(name).kind == "weight_ih" else "h"
    holders = f" (the candidate's {', '.join(held)})" if held else ""
    return f"a transposed weight: {which} of {name}{holders} used as {side} @ W where nn.LSTM has {side} @ Wᵀ"
