"""Which element of ``nn.LSTM``'s parameters each element of the candidate's parameters is.

The harness gives a candidate the reference's weights by state_dict name, or
through a ``--weights`` adapter ``fn(candidate, reference)``. Either way it
first learns the correspondence, on float64 twins of both: every element k of
the reference's parameters is set to the code ``C + k`` (C the number of
elements), the candidate's parameters are filled with NaN, and the weights are
loaded. A candidate element that then holds a code came from that reference
element by pure data movement (a copy, slice, transpose or concatenation).
An element that holds no single code is loaded once more from the squared
codes: the sum of two codes and the sum of their squares name the pair, so a
*folded* element (``b = b_ih + b_hh``: one bias per gate) is recognised as
well. Anything else (NaN: never written; a rescaling; a sum of three) is not
such a map.

With the map the candidate's gradients, parameters and optimiser state are
carried back to the reference's layout (a gather or a scatter-add: no
rounding when each element is used once) and compared with ``nn.LSTM``'s by
name, so renamed or re-laid-out parameters keep every check. A folded
element's gradient is both of its sources' gradients (d b = d b_ih = d b_hh);
its value is their sum, which no single reference element holds, so values
and the initialisation of folded elements are not compared element by element.

The audit: a reference element that no trainable candidate parameter holds
(frozen, or a buffer standing in for it) and a trainable candidate element the
map does not produce (an extra parameter, peepholes for example) are
differences, named in :attr:`ParamMap.problems`. A parameter that is loaded
but never used (a gate reading another gate's matrix) is found from evidence
by :func:`unused_parameters`: its gradient is zero where nn.LSTM's is not, and
changing it changes no output.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import torch
from torch import Tensor, nn

Loader = Callable[[nn.Module, nn.Module], None]


@dataclass(frozen=True)
class Unit:
    """One candidate module and the reference module whose weights it gets; names are prefixed (cells: ``l0.``)."""

    prefix: str
    candidate: nn.Module
    reference: nn.Module


@dataclass
class ParamMap:
    """Reference parameter names and shapes, and for each trainable candidate parameter its source indices."""

    ref_shapes: dict[str, torch.Size]
    sources: dict[str, Tensor]  # candidate name -> (same shape) int64 flat index into the reference, -1: none
    problems: list[str] = field(default_factory=list)
    partners: dict[str, Tensor] = field(default_factory=dict)  # folded elements: the second source, -1: none
    offsets: dict[str, Tensor] = field(default_factory=dict)  # a layout's constant on top of the sources (float64)

    @cached_property
    def folded(self) -> list[str]:
        """Reference parameters some of whose elements the candidate holds only as a sum with another's."""
        hit = torch.zeros(self.total, dtype=torch.bool)
        for name, partner in self.partners.items():
            both = partner >= 0
            hit[self.sources[name][both]] = True
            hit[partner[both]] = True
        sizes = [shape.numel() for shape in self.ref_shapes.values()]
        return [n for n, part in zip(self.ref_shapes, hit.split(sizes), strict=True) if bool(part.any())]

    def _pairs(self, name: str, device: torch.device) -> tuple[Tensor, Tensor]:
        """Flat source indices of a candidate parameter, and the partners (-1 where the element is not folded)."""
        index = self.sources[name].to(device).flatten()
        partner = self.partners.get(name)
        partner = torch.full_like(index, -1) if partner is None else partner.to(device).flatten()
        return index, partner

    @property
    def total(self) -> int:
        return sum(shape.numel() for shape in self.ref_shapes.values())

    @cached_property
    def whole(self) -> bool:
        """Every candidate parameter is the reference parameter of its name, element for element (nn.LSTM's
        layout): tensors then change names by copy, without the element map (what keeps real sizes cheap)."""
        if set(self.sources) != set(self.ref_shapes) or self.partners or self.offsets:
            return False
        start = 0
        for name, shape in self.ref_shapes.items():
            index = self.sources[name]
            if index.shape != shape or not torch.equal(index.flatten(), torch.arange(start, start + shape.numel())):
                return False
            start += shape.numel()
        return True

    def _split(self, flat: Tensor) -> dict[str, Tensor]:
        sizes = [shape.numel() for shape in self.ref_shapes.values()]
        return {
            name: chunk.view(shape)
            for (name, shape), chunk in zip(self.ref_shapes.items(), flat.split(sizes), strict=True)
        }

    def to_reference(self, tensors: Mapping[str, Tensor | None]) -> dict[str, Tensor | None]:
        """Candidate-named tensors shaped like its parameters (values, state) in the reference's names and layout.

        A reference element no candidate element holds is NaN (the audit has already named it), and so is
        a folded one: the sum of two values is neither.
        """
        present = [(n, t) for n, t in tensors.items() if t is not None and n in self.sources]
        if not present:
            return dict.fromkeys(self.ref_shapes)
        sample = present[0][1]
        if self.whole:
            return {
                name: given.detach().to(sample.dtype).clone()
                if (given := tensors.get(name)) is not None
                else torch.full(shape, float("nan"), dtype=sample.dtype, device=sample.device)
                for name, shape in self.ref_shapes.items()
            }
        flat = torch.full((self.total,), float("nan"), dtype=sample.dtype, device=sample.device)
        for name, tensor in present:
            index, partner = self._pairs(name, tensor.device)
            values = tensor.detach().flatten()
            single = (index >= 0) & (partner < 0)
            flat[index[single]] = values[single]
        return dict(self._split(flat))

    def from_reference(
        self, tensors: dict[str, Tensor], like: dict[str, Tensor], fold: str = "sum"
    ) -> dict[str, Tensor]:
        """Reference-named tensors in the candidate's names and layout (``like``: the candidate's tensors to fill).

        ``fold``: a folded element gets the ``"sum"`` of its sources (parameter values, plus the layout's
        constant offsets) or the ``"first"`` (optimiser state, equal for both).
        """
        flat = torch.cat([tensors[name].detach().flatten() for name in self.ref_shapes])
        found = {}
        for name, target in like.items():
            index, partner = self._pairs(name, target.device)
            values = target.detach().clone().flatten()
            source = flat.to(values.device, values.dtype)
            keep = index >= 0
            values[keep] = source[index[keep]]
            if fold == "sum":
                both = partner >= 0
                values[both] = source[index[both]] + source[partner[both]]
                if name in self.offsets:
                    values += self.offsets[name].to(values.device, values.dtype).flatten()
            found[name] = values.view(target.shape)
        return found

    def grads_to_reference(self, grads: Mapping[str, Tensor | None]) -> dict[str, Tensor | None]:
        """Candidate-named gradients summed into the reference's names; None where no gradient arrived.

        A candidate parameter without a gradient (``.grad`` None: not in the graph) counts as zeros when
        others have one: a per-gate matrix the loss does not reach is the zero block of nn.LSTM's matrix.
        """
        present = [(n, g) for n, g in grads.items() if g is not None and n in self.sources]
        if not present:
            return dict.fromkeys(self.ref_shapes)
        sample = present[0][1]
        if self.whole:  # a gradient not given (None) is the zero block, as below
            return {
                name: (
                    None
                    if name not in grads
                    else torch.zeros(shape, dtype=sample.dtype, device=sample.device)
                    if (grad := grads[name]) is None
                    else grad.detach().to(sample.dtype).clone()
                )
                for name, shape in self.ref_shapes.items()
            }
        flat = torch.zeros(self.total, dtype=sample.dtype, device=sample.device)
        reached = torch.zeros(self.total, dtype=torch.bool, device=sample.device)
        for name in (n for n in grads if n in self.sources):
            index, partner = self._pairs(name, sample.device)
            grad = grads[name]
            values = torch.zeros(index.shape, dtype=sample.dtype, device=sample.device) if grad is None else grad
            for source in (index, partner):  # a folded element's gradient is each source's gradient
                keep = source >= 0
                flat.index_add_(0, source[keep], values.detach().flatten()[keep])
                reached[source[keep]] = True
        return {
            name: (tensor if bool(hit.all()) else None)
            for (name, tensor), hit in zip(self._split(flat).items(), self._split(reached).values(), strict=True)
        }


def trainable(module: nn.Module, prefix: str = "") -> dict[str, nn.Parameter]:
    """The parameters an optimiser built from ``module.parameters()`` would train (requires_grad)."""
    return {prefix + name: p for name, p in module.named_parameters() if p.requires_grad}


def discover(units: Sequence[Unit], load: Loader, twin: Callable[[Unit], tuple[nn.Module, nn.Module]]) -> ParamMap:
    """The element map, learnt on float64 twins (``twin(unit) -> (candidate, reference)``) loaded by ``load``."""
    twins = [(unit, *twin(unit)) for unit in units]
    ref_shapes: dict[str, torch.Size] = {}
    for unit, _, reference in twins:
        for name, p in reference.named_parameters():
            ref_shapes[unit.prefix + name] = p.shape
    total = sum(shape.numel() for shape in ref_shapes.values())
    _load_codes(twins, load, total, squared=False)
    loaded = {unit.prefix + n: p.detach().clone() for unit, c, _ in twins for n, p in trainable(c, "").items()}
    held_by: dict[str, Tensor] = {}  # reference element -> held by a buffer or frozen parameter
    for unit, candidate, _ in twins:
        held_by.update(_untrained_holders(candidate, unit.prefix, total))
    squares = {}
    if any(bool((_decode(v, total) < 0).any()) for v in loaded.values()):
        _load_codes(twins, load, total, squared=True)
        squares = {unit.prefix + n: p.detach() for unit, c, _ in twins for n, p in trainable(c, "").items()}
    sources: dict[str, Tensor] = {}
    partners: dict[str, Tensor] = {}
    covered = torch.zeros(total, dtype=torch.bool)
    problems: list[str] = []
    for name, codes in loaded.items():
        index = _decode(codes, total)
        if name in squares:
            pair_a, pair_b = _decode_pair(codes, squares[name], total)
            folded = (index < 0) & (pair_a >= 0)
            index = torch.where(folded, pair_a, index)
            if bool(folded.any()):
                partners[name] = torch.where(folded, pair_b, torch.full_like(pair_b, -1))
                covered[pair_b[folded]] = True
        sources[name] = index
        covered[index[index >= 0]] = True
        if bool((index < 0).any()):
            bad = int((index < 0).sum())
            problems.append(
                f"candidate parameter {name}: {bad} of {index.numel()} elements are not nn.LSTM weights "
                "moved into place (an extra parameter, or a sum or rescaling of weights)"
            )
    names = list(ref_shapes)
    sizes = [shape.numel() for shape in ref_shapes.values()]
    for name, hit in zip(names, covered.split(sizes), strict=True):
        if not bool(hit.all()):
            missing = int((~hit).sum())
            start = sum(sizes[: names.index(name)])
            holder = next(
                (h for h, idx in held_by.items() if bool(((idx >= start) & (idx < start + hit.numel())).any())), None
            )
            why = f": held by {holder}, which is never trained" if holder else ""
            problems.append(
                f"nn.LSTM parameter {name}: {missing} of {hit.numel()} elements are not a trainable "
                f"parameter of the candidate{why}"
            )
    return ParamMap(ref_shapes, sources, problems, partners)


def _load_codes(twins: list, load: Loader, total: int, squared: bool) -> None:
    """Reference element k set to the code C + k (or its square), the candidate's parameters to NaN, then loaded."""
    offset = 0
    with torch.no_grad():
        for _, candidate, reference in twins:
            for p in candidate.parameters():
                p.fill_(float("nan"))
            for p in reference.parameters():
                codes = torch.arange(offset, offset + p.numel(), dtype=torch.float64) + total
                p.copy_((codes * codes if squared else codes).view(p.shape))
                offset += p.numel()
            load(candidate, reference)


def _decode_pair(sums: Tensor, squares: Tensor, total: int) -> tuple[Tensor, Tensor]:
    """Two distinct codes x + y = sums, x^2 + y^2 = squares, as flat reference indices; -1 where there are none."""
    s, q = sums.to(torch.float64).flatten(), squares.to(torch.float64).flatten()
    root = (2 * q - s * s).clamp(min=0).sqrt()  # |x - y|
    x, y = (s + root) / 2, (s - root) / 2
    exact = torch.isfinite(s) & torch.isfinite(q) & (x * x + y * y == q) & (x != y)
    ok = exact & (x == x.round()) & (y == y.round()) & (y >= total) & (x < 2 * total)
    none = torch.full_like(s, -1)
    a = torch.where(ok, y.nan_to_num(0) - total, none).to(torch.int64).view(sums.shape)
    b = torch.where(ok, x.nan_to_num(0) - total, none).to(torch.int64).view(sums.shape)
    return a, b


def _decode(values: Tensor, total: int) -> Tensor:
    """Codes back to flat reference indices; -1 where the value is not a code."""
    v = values.to(torch.float64)
    is_code = torch.isfinite(v) & (v == v.round()) & (v >= total) & (v < 2 * total)
    return torch.where(is_code, v.nan_to_num(0) - total, torch.full_like(v, -1)).to(torch.int64)


def _untrained_holders(module: nn.Module, prefix: str, total: int) -> dict[str, Tensor]:
    """Buffers and frozen parameters that hold reference codes: what stands in for a parameter."""
    holders = {}
    tensors = [(f"buffer {prefix}{n}", b) for n, b in module.named_buffers()]
    tensors += [(f"frozen parameter {prefix}{n}", p) for n, p in module.named_parameters() if not p.requires_grad]
    for name, tensor in tensors:
        if tensor.is_floating_point():
            holders[name] = _decode(tensor.detach(), total)
    return holders
