"""Ready-made ``--weights`` layouts: how hand-written LSTMs commonly store the four gates.

``nn.LSTM`` keeps, per layer and direction, ``weight_ih (4H, H_in)``,
``weight_hh (4H, H)`` and two biases ``(4H,)``, the gates stacked in the order
i, f, g, o. A layout names another convention; the harness builds the adapter
``fn(candidate, reference)`` from it, and learns the element map through it as
for any adapter (so every gradient is still compared by nn.LSTM's names):

========== ============================================================== =========================
name       candidate parameters (per cell)                                 product
========== ============================================================== =========================
per-gate   one input and one recurrent matrix per gate, ``(H, H_in)`` and  ``W x`` (``nn.Linear``)
           ``(H, H)``; one bias per gate, or two
per-gate-t the same matrices as ``(H_in, H)`` and ``(H, H)``                ``x @ W`` (textbooks)
concat     one matrix on ``[x, h]``: ``(4H, H_in + H)``; one or two biases  ``W [x; h]``
concat-t   the same as ``(H_in + H, 4H)``                                   ``[x, h] @ W``
x2h-h2h    two ``nn.Linear``: ``x2h (4H, H_in)`` and ``h2h (4H, H)``, each  ``x2h(x) + h2h(h)``
           with its bias, or biases off
keras      Keras's names: ``kernel (H_in, 4H)``, ``recurrent_kernel (H,     ``x @ K + h @ U + b``
           4H)``, one ``bias (4H)`` or none; gates i, f, c, o
onnx       ONNX's names, one direction: ``W (4H, H_in)``, ``R (4H, H)``,   ``x W^T + h R^T + W_b +
           ``B (8H)`` = ``[W_b, R_b]`` or none; gates i, o, f, c            R_b``
tensorflow TensorFlow's cell: ``kernel (H_in + H, 4H)`` on ``[x, h]``, one   ``[x, h] @ K + b``, and
           ``bias (4H)`` or none; gates i, j, f, o                          ``forget_bias`` added to f
========== ============================================================== =========================

Which parameter is which is read from the leaf names (the part after the last
dot), case-insensitive. Per-gate names carry the gate as their last letter:
``i``, ``f``, ``g`` (also ``c``, ``z``, ``j``), ``o``; the side as ``W_x*`` /
``W_i*`` / ``weight_ih_*`` / ``W_*`` (input) against ``W_h*`` /
``weight_hh_*`` / ``U_*`` / ``R_*`` (recurrent); biases as ``b_*`` /
``bias_*`` (``b_x*`` / ``b_h*`` or ``bias_ih_*`` / ``bias_hh_*`` for two).
``x2h`` / ``i2h`` / ``ih`` and ``h2h`` / ``hh`` name the two layers of
``x2h-h2h``. A module candidate's parameters are grouped by the submodule that
owns them; the groups, in registration order, are nn.LSTM's layers (forward,
then reverse). One bias per gate holds ``b_ih + b_hh``: the sum rounds, so
such a cell can only be certified within tolerance, and an optimiser step
moves nn.LSTM's two biases (their sum twice as far) where it moves the one.
None of these layouts has a projection (``proj_size``). ``keras``, ``onnx`` and
``tensorflow`` move the tensors as :mod:`lstm_replica.interop` does for those
frameworks. TensorFlow's cell adds a constant ``forget_bias`` to the f gate, so
its f bias holds ``b_ih + b_hh - forget_bias``: the ``forget_bias`` of the
module that owns the group (an attribute of that name), else TensorFlow's
default 1.0, read on the module's first load and held (a later load that finds
another value is a difference). The shift is not data movement: the element
map is learnt without it (:func:`learning_map`), the map then records it as a
constant offset of those elements (:attr:`ParamMap.offsets`), and the weights
are loaded with it, so a candidate that adds another constant computes another
function, which the forward comparison shows at the f gate.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Literal
from weakref import WeakKeyDictionary

import torch
from torch import Tensor, nn

from lstm_replica.interop.gates import TORCH_ORDER, reorder_gates
from lstm_replica.interop.onnx import ONNX_ORDER
from lstm_replica.interop.tensorflow import FORGET_BIAS, TF_ORDER
from lstm_replica.names import GATES, direction_names
from lstm_replica.parity.candidates import CheckError

GATE_ALIASES = {"i": "i", "f": "f", "g": "g", "c": "g", "z": "g", "j": "g", "o": "o"}
LAYOUTS = ("per-gate", "per-gate-t", "concat", "concat-t", "x2h-h2h", "keras", "onnx", "tensorflow")
UNSUPPORTED = frozenset({"proj_size"})  # no layout has a projection

_INPUT_SIDE = re.compile(r"^(w_?x|w_?i|weight_?ih|w_ih|wx|w|kernel)_?([a-z])$")
_HIDDEN_SIDE = re.compile(r"^(w_?h|weight_?hh|w_hh|wh|u|r|recurrent_?kernel)_?([a-z])$")
_ONE_BIAS = re.compile(r"^(b|bias)_?([a-z])$")
_INPUT_BIAS = re.compile(r"^(b_?x|b_?i|bias_?ih|b_ih)_?([a-z])$")
_HIDDEN_BIAS = re.compile(r"^(b_?h|bias_?hh|b_hh)_?([a-z])$")


# the role of a per-gate tensor: input or recurrent matrix, input or recurrent bias, or the one bias
Role = Literal["ih", "hh", "b_ih", "b_hh", "b"]
Found = dict[tuple[Role, str], tuple[nn.Parameter, str]]  # (role, gate or "all") -> the parameter and its name
_ROLES: tuple[tuple[Role, re.Pattern[str]], ...] = (
    ("ih", _INPUT_SIDE),
    ("hh", _HIDDEN_SIDE),
    ("b_ih", _INPUT_BIAS),
    ("b_hh", _HIDDEN_BIAS),
    ("b", _ONE_BIAS),
)


class CandidateDiffers(CheckError):
    """The candidate's parameters contradict its configuration (a bias kept under bias=False): a difference."""


@dataclass(frozen=True)
class Cell:
    """nn.LSTM's tensors for one layer and direction (a reference cell)."""

    weight_ih: Tensor  # (4H, H_in)
    weight_hh: Tensor  # (4H, H)
    bias_ih: Tensor | None  # (4H,)
    bias_hh: Tensor | None


# a group's parameters, its reference cell, and the constant its layout adds to the f gate (forget_bias)
Fill = Callable[[dict[str, nn.Parameter], Cell, float], None]


_LEARNING: ContextVar[bool] = ContextVar("learning_the_element_map", default=False)


@contextmanager
def learning_map() -> Iterator[None]:
    """While the harness learns the element map: a layout moves weights only (no ``forget_bias`` shift)."""
    token = _LEARNING.set(True)
    try:
        yield
    finally:
        _LEARNING.reset(token)


class LayoutAdapter:
    """The adapter ``fn(candidate, reference)`` of a named layout.

    ``tensorflow`` reads each owning module's ``forget_bias`` on its first load and holds it: a later load that
    finds another value is a difference (a constant that moves is a trained quantity nn.LSTM has not).
    """

    def __init__(self, name: str, fill: Fill) -> None:
        self.name, self.fill = name, fill
        self.__qualname__ = f"layout {name}"
        self._constants: WeakKeyDictionary[nn.Module, float] = WeakKeyDictionary()

    def __call__(self, candidate: nn.Module, reference: nn.Module) -> None:
        cells = _reference_cells(reference)
        groups = _groups(candidate, depth=2 if self.name == "x2h-h2h" else 1)
        if len(groups) != len(cells):
            msg = (
                f"Expected the candidate's parameters in {len(cells)} group(s) for --weights {self.name} "
                f"(one per layer and direction, by owning submodule), got {len(groups)}: {', '.join(groups) or 'none'}"
            )
            raise CheckError(msg)
        with torch.no_grad():
            for (prefix, params), cell in zip(groups.items(), cells, strict=True):
                owner = candidate.get_submodule(prefix.rstrip(".")) if prefix else candidate
                try:
                    self.fill(params, cell, 0.0 if _LEARNING.get() else self._forget_bias(owner))
                except CheckError as exc:
                    msg = f"{exc} (in {prefix.rstrip('.')})" if prefix else str(exc)
                    raise type(exc)(msg) from exc

    def _forget_bias(self, owner: nn.Module) -> float:
        """``owner``'s ``forget_bias`` (tensorflow only; else 0), the same on every load."""
        if self.name != "tensorflow":
            return 0.0
        value = _forget_bias(owner)
        first = self._constants.setdefault(owner, value)
        if value != first:
            msg = f"Expected forget_bias to stay {first!r} (a constant of the cell), got {value!r} on a later load"
            raise CandidateDiffers(msg)
        return value


def layout_adapter(name: str) -> LayoutAdapter:
    """The adapter ``fn(candidate, reference)`` for a named layout."""
    fill: Fill | None = {
        "per-gate": lambda p, c, _: _per_gate(p, c, transposed=False),
        "per-gate-t": lambda p, c, _: _per_gate(p, c, transposed=True),
        "concat": lambda p, c, _: _concat(p, c, transposed=False),
        "concat-t": lambda p, c, _: _concat(p, c, transposed=True),
        "x2h-h2h": lambda p, c, _: _x2h_h2h(p, c),
        "keras": lambda p, c, _: _keras(p, c),
        "onnx": lambda p, c, _: _onnx(p, c),
        "tensorflow": _tensorflow,
    }.get(name)
    if fill is None:
        msg = f"Expected --weights to be module:fn or a layout from {', '.join(LAYOUTS)}, got {name!r}"
        raise CheckError(msg)
    return LayoutAdapter(name, fill)


def _reference_cells(reference: nn.Module) -> list[Cell]:
    if getattr(reference, "proj_size", 0):
        msg = "Expected no projection (proj_size 0) with a named --weights layout, got proj_size > 0"
        raise CheckError(msg)
    if isinstance(reference, nn.LSTMCell):
        return [Cell(reference.weight_ih, reference.weight_hh, reference.bias_ih, reference.bias_hh)]
    if not isinstance(reference, nn.LSTM):
        msg = f"Expected nn.LSTM or nn.LSTMCell as the reference, got {type(reference).__name__}"
        raise CheckError(msg)
    cells = []
    for names in direction_names(reference):
        tensors = {kind: getattr(reference, str(name)) for kind, name in names.items()}
        cells.append(Cell(tensors["weight_ih"], tensors["weight_hh"], tensors.get("bias_ih"), tensors.get("bias_hh")))
    return cells


def _groups(candidate: nn.Module, depth: int) -> dict[str, dict[str, nn.Parameter]]:
    """Parameters grouped by owning submodule, in registration order: ``prefix -> {leaf: parameter}``.

    ``depth``: how many trailing name parts make the leaf (2 for ``x2h.weight``).
    """
    groups: dict[str, dict[str, nn.Parameter]] = {}
    for full, p in candidate.named_parameters():
        parts = full.split(".")
        prefix, leaf = ".".join(parts[:-depth]), ".".join(parts[-depth:])
        groups.setdefault(prefix + "." if prefix else "", {})[leaf] = p
    return groups


def _gate_slice(tensor: Tensor, gate: str) -> Tensor:
    hidden = tensor.shape[0] // 4
    k = GATES.index(gate)
    return tensor[k * hidden : (k + 1) * hidden]


def _put(target: nn.Parameter, value: Tensor, leaf: str) -> None:
    if target.shape != value.shape:
        msg = f"Expected {leaf} of shape {tuple(value.shape)}, got {tuple(target.shape)}"
        raise CheckError(msg)
    target.copy_(value)


def _per_gate(params: dict[str, nn.Parameter], cell: Cell, transposed: bool) -> None:
    found: Found = {}
    for leaf, p in params.items():
        key = leaf.lower()
        for role, pattern in _ROLES:
            match = pattern.match(key)
            if match and match.group(2) in GATE_ALIASES and (role.startswith("b") == (p.dim() == 1)):
                found[role, GATE_ALIASES[match.group(2)]] = (p, leaf)
                break
        else:
            msg = f"Expected per-gate parameter names (W_xi, W_hi, b_i, ... or weight_ih_i, ...), got {leaf}"
            raise CheckError(msg)
    for role in ("ih", "hh"):
        missing = [g for g in GATES if (role, g) not in found]
        if missing:
            side = "input" if role == "ih" else "recurrent"
            msg = f"Expected a {side} matrix for every gate i, f, g, o, got none for {', '.join(missing)}"
            raise CheckError(msg)
    for gate in GATES:
        for role, full in (("ih", cell.weight_ih), ("hh", cell.weight_hh)):
            p, leaf = found[role, gate]
            block = _gate_slice(full, gate)  # (H, H_in) or (H, H)
            _put(p, block.t() if transposed else block, leaf)
    _fill_biases(found, cell, per_gate=True)


def _fill_biases(found: Found, cell: Cell, per_gate: bool) -> None:
    keys = list(GATES) if per_gate else ["all"]
    roles = {role for role, _ in found if role.startswith("b")}
    if cell.bias_ih is None or cell.bias_hh is None:
        if roles:
            leaves = ", ".join(leaf for (role, _), (_, leaf) in found.items() if role.startswith("b"))
            msg = f"Expected no bias parameters under bias=False, got {leaves}"
            raise CandidateDiffers(msg)
        return
    if not roles:
        msg = "Expected a bias (nn.LSTM has bias=True here), got none"
        raise CheckError(msg)
    for key in keys:
        ih = cell.bias_ih if key == "all" else _gate_slice(cell.bias_ih, key)
        hh = cell.bias_hh if key == "all" else _gate_slice(cell.bias_hh, key)
        if ("b", key) in found:
            p, leaf = found["b", key]
            _put(p, ih + hh, leaf)  # one bias holds the sum: it rounds
        elif ("b_ih", key) in found and ("b_hh", key) in found:
            biases: tuple[tuple[Role, Tensor], ...] = (("b_ih", ih), ("b_hh", hh))
            for role, value in biases:
                p, leaf = found[role, key]
                _put(p, value, leaf)
        else:
            msg = f"Expected one bias or an input and a recurrent bias for gate {key}, got neither"
            raise CheckError(msg)


def _concat(params: dict[str, nn.Parameter], cell: Cell, transposed: bool) -> None:
    matrices = {leaf: p for leaf, p in params.items() if p.dim() == 2}
    vectors = {leaf: p for leaf, p in params.items() if p.dim() == 1}
    if len(matrices) != 1:
        msg = f"Expected one matrix on [x, h] for --weights concat, got {', '.join(matrices) or 'none'}"
        raise CheckError(msg)
    ((leaf, p),) = matrices.items()
    whole = torch.cat([cell.weight_ih, cell.weight_hh], 1)  # (4H, H_in + H)
    _put(p, whole.t() if transposed else whole, leaf)
    _fill_biases(_bias_roles(vectors), cell, per_gate=False)


def _bias_roles(vectors: dict[str, nn.Parameter]) -> Found:
    """Whole-4H biases: one (any name) or two told apart by ih / x versus hh / h in the name."""
    if len(vectors) == 1:
        ((leaf, p),) = vectors.items()
        return {("b", "all"): (p, leaf)}
    found: Found = {}
    for leaf, p in vectors.items():
        key = leaf.lower()
        role: Role = "b_hh" if re.search(r"hh|h2h|_h$|^bh|recurrent", key) else "b_ih"
        found[role, "all"] = (p, leaf)
    if len(found) != len(vectors) or len(vectors) > 2:
        msg = f"Expected one bias or an input and a recurrent bias (ih / hh in the names), got {', '.join(vectors)}"
        raise CheckError(msg)
    return found


_X2H = re.compile(r"^(x2h|i2h|ih|input|x)\.(weight|bias)$")
_H2H = re.compile(r"^(h2h|hh|hidden|h)\.(weight|bias)$")


def _x2h_h2h(params: dict[str, nn.Parameter], cell: Cell) -> None:
    found: Found = {}
    for leaf, p in params.items():
        x, h = _X2H.match(leaf.lower()), _H2H.match(leaf.lower())
        match = x or h
        weight: Role = "ih" if x else "hh"
        bias: Role = "b_ih" if x else "b_hh"
        if match is None:
            msg = f"Expected the parameters of two nn.Linear named x2h (or i2h) and h2h, got {leaf}"
            raise CheckError(msg)
        found[weight if match.group(2) == "weight" else bias, "all"] = (p, leaf)
    matrices: tuple[tuple[Role, Tensor], ...] = (("ih", cell.weight_ih), ("hh", cell.weight_hh))
    for side, full in matrices:
        if (side, "all") not in found:
            msg = f"Expected an nn.Linear {'x2h' if side == 'ih' else 'h2h'}, got {', '.join(params) or 'none'}"
            raise CheckError(msg)
        p, leaf = found[side, "all"]
        _put(p, full, leaf)
    _fill_biases(found, cell, per_gate=False)


def _require_names(params: dict[str, nn.Parameter], required: tuple[str, ...], bias: str, layout: str) -> None:
    """The leaf names must be exactly the ``required`` matrices and, optionally, ``bias``."""
    if not set(required) <= set(params) <= {*required, bias}:
        msg = f"Expected {', '.join(required)} and optionally {bias} for --weights {layout}, got {', '.join(params)}"
        raise CheckError(msg)


def _keras(params: dict[str, nn.Parameter], cell: Cell) -> None:
    """Keras's LSTM: ``kernel (H_in, 4H)``, ``recurrent_kernel (H, 4H)``, ``bias (4H)``; gates i, f, c, o as torch's."""
    _require_names(params, ("kernel", "recurrent_kernel"), "bias", "keras")
    _put(params["kernel"], cell.weight_ih.t(), "kernel")  # (H_in, 4H)
    _put(params["recurrent_kernel"], cell.weight_hh.t(), "recurrent_kernel")  # (H, 4H)
    _fill_biases({("b", "all"): (params["bias"], "bias")} if "bias" in params else {}, cell, per_gate=False)


def _onnx(params: dict[str, nn.Parameter], cell: Cell) -> None:
    """One direction of ONNX's LSTM: ``W (4H, H_in)``, ``R (4H, H)``, ``B (8H)`` = ``[W_b, R_b]``; gates i, o, f, c."""
    _require_names(params, ("W", "R"), "B", "onnx")
    _put(params["W"], reorder_gates(cell.weight_ih, TORCH_ORDER, ONNX_ORDER), "W")  # (4H, H_in)
    _put(params["R"], reorder_gates(cell.weight_hh, TORCH_ORDER, ONNX_ORDER), "R")  # (4H, H)
    if cell.bias_ih is None or cell.bias_hh is None:
        if "B" in params:
            msg = "Expected no bias parameters under bias=False, got B"
            raise CandidateDiffers(msg)
        return
    if "B" not in params:
        msg = "Expected a bias B (nn.LSTM has bias=True here), got none"
        raise CheckError(msg)
    biases = [reorder_gates(bias, TORCH_ORDER, ONNX_ORDER) for bias in (cell.bias_ih, cell.bias_hh)]
    _put(params["B"], torch.cat(biases), "B")  # (8H,): W_b then R_b


def _forget_bias(owner: nn.Module) -> float:
    """The owning module's ``forget_bias`` (TensorFlow's name for it), else TensorFlow's default 1.0.

    A Python or numpy number, or a one-element tensor that is not trained; finite.
    """
    value = getattr(owner, "forget_bias", FORGET_BIAS)
    if isinstance(value, Tensor) and value.numel() == 1 and not value.requires_grad:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        msg = f"Expected forget_bias to be a finite number, got {type(value).__name__} ({value!r})"
        raise CheckError(msg)
    return float(value)


def _tensorflow(params: dict[str, nn.Parameter], cell: Cell, shift: float) -> None:
    """TensorFlow's cell: ``kernel (H_in + H, 4H)`` on ``[x, h]``, ``bias (4H)`` less ``forget_bias`` in f; i, j, f, o."""
    _require_names(params, ("kernel",), "bias", "tensorflow")
    whole = torch.cat([cell.weight_ih, cell.weight_hh], 1)  # (4H, H_in + H)
    _put(params["kernel"], reorder_gates(whole, TORCH_ORDER, TF_ORDER).t(), "kernel")  # (H_in + H, 4H)
    if cell.bias_ih is None or cell.bias_hh is None:
        if "bias" in params:
            msg = "Expected no bias parameters under bias=False, got bias"
            raise CandidateDiffers(msg)
        if shift:
            msg = f"Expected forget_bias 0 under bias=False (nn.LSTM adds nothing to f), got {shift!r}"
            raise CandidateDiffers(msg)
        return
    if "bias" not in params:
        msg = "Expected a bias (nn.LSTM has bias=True here), got none"
        raise CheckError(msg)
    bias = reorder_gates(cell.bias_ih + cell.bias_hh, TORCH_ORDER, TF_ORDER)  # (4H,): the sum rounds
    hidden = cell.weight_hh.shape[1]
    if shift:
        bias[2 * hidden : 3 * hidden] -= shift  # the f block, third in i, j, f, o: rounds once more
    _put(params["bias"], bias, "bias")
