"""Trace a real forward pass of an ``LSTMClassifier`` into named, shaped tensors.

The tracing half of ``lstm-replica explain``: every shape reported here is read
from a tensor the replica computed, never from a formula. Each layer and
direction runs through a :class:`RecordingRecurrence`, which wraps the
replica's own :class:`~lstm_replica.layers.NativeRecurrence`, plugged in with
``LSTM.forward_with``; for the first time step it records every tensor op of
:func:`~lstm_replica.cell.lstm_step` with a ``TorchFunctionMode``. The head,
softmax and cross-entropy are recorded from their own outputs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.overrides import TorchFunctionMode

from lstm_replica.cell import CellWeights, Hidden
from lstm_replica.classifier import LSTMClassifier, top_layer_state
from lstm_replica.layers import NativeRecurrence

Shape = tuple[int, ...]

GATE_NAMES = (("i", "input gate"), ("f", "forget gate"), ("g", "cell candidate"), ("o", "output gate"))

# The tensor ops of lstm_step in the order it runs them: (op, tensor, formula). A formula may name
# the row slice of a gate as <i>, <f>, <g> or <o>. Ops with no tensor name are checked, not shown.
_STEP_OPS: tuple[tuple[str, str | None, str], ...] = (
    ("linear", "hh_t", "h_{t-1} @ W_hh.T + b_hh"),
    ("add_", "gates_t", "hh_t + ih_t: pre-activations of the 4 gates"),
    ("unsafe_chunk", None, "gates_t split into 4 along dim 1"),
    ("sigmoid_", "i_t", "sigmoid(gates_t[:, <i>])"),
    ("sigmoid_", "f_t", "sigmoid(gates_t[:, <f>])"),
    ("tanh_", "g_t", "tanh(gates_t[:, <g>])"),
    ("sigmoid_", "o_t", "sigmoid(gates_t[:, <o>])"),
    ("mul", "f_t * c_{t-1}", "element-wise product"),
    ("mul", "i_t * g_t", "element-wise product"),
    ("add_", "c_t", "f_t * c_{t-1} + i_t * g_t: element-wise sum"),
    ("tanh", "tanh(c_t)", "element-wise"),
)
_OUTPUT_OP = ("mul", "h_t", "o_t * tanh(c_t)")
_PROJECTED_OPS: tuple[tuple[str, str | None, str], ...] = (
    ("mul", "o_t * tanh(c_t)", "element-wise product, hidden_size wide"),
    ("t", None, "W_hr.T"),
    ("matmul", "h_t", "(o_t * tanh(c_t)) @ W_hr.T: the projection"),
)
_WEIGHT_SYMBOLS = {"weight_ih": "W_ih", "weight_hh": "W_hh", "bias_ih": "b_ih", "bias_hh": "b_hh", "weight_hr": "W_hr"}
_WEIGHT_NOTES = {
    "weight_ih": "rows i|f|g|o",
    "weight_hh": "rows i|f|g|o",
    "bias_ih": "rows i|f|g|o",
    "bias_hh": "rows i|f|g|o; the second bias, also added",
    "weight_hr": "projection, proj_size x hidden_size",
}


@dataclass(frozen=True)
class Row:
    """One tensor: its name, how it is computed, its shape and, for a parameter, its element count."""

    tensor: str
    formula: str
    shape: Shape
    params: int | None = None


@dataclass(frozen=True)
class Section:
    """Tensors of one stage (a layer and direction, the LSTM's result, the head), in computation order."""

    title: str
    note: str
    rows: tuple[Row, ...]


@dataclass(frozen=True)
class GateSlice:
    """Which rows of ``W_ih``, ``W_hh``, ``b_ih`` and ``b_hh`` belong to one gate."""

    gate: str
    meaning: str
    start: int
    stop: int
    activation: str


@dataclass(frozen=True)
class Explanation:
    """Everything ``lstm-replica explain`` prints, as data."""

    model: str
    input_shape: Shape
    batch_first: bool
    sections: tuple[Section, ...]
    gates: tuple[GateSlice, ...]
    lstm_params: int
    head_params: int

    @property
    def total_params(self) -> int:
        return self.lstm_params + self.head_params

    def row(self, section: str, tensor: str) -> Row:
        """The row named ``tensor`` in the section titled ``section``."""
        for s in self.sections:
            if s.title == section:
                for r in s.rows:
                    if r.tensor == tensor:
                        return r
        msg = f"Expected a tensor {tensor!r} in section {section!r}, got none"
        raise KeyError(msg)


@dataclass(frozen=True)
class _Op:
    name: str
    shapes: tuple[Shape, ...]


class _OpRecorder(TorchFunctionMode):
    """Records the name and output shapes of every torch call made while it is active."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[_Op] = []

    def __torch_function__(
        self,
        func: Callable[..., Any],
        types: Sequence[type],
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        out = func(*args, **(kwargs or {}))
        outputs = out if isinstance(out, tuple) else (out,)
        self.ops.append(_Op(func.__name__, tuple(tuple(o.shape) for o in outputs)))
        return out


@dataclass
class RecordingRecurrence:
    """A :class:`NativeRecurrence` that notes the shapes of what it computes; results are unchanged.

    ``project`` notes its input, the first step's raw ``x_t`` and the projection;
    the first ``step`` notes its arguments and every op of ``lstm_step``.
    """

    inner: NativeRecurrence
    reverse: bool
    layer_input: Shape = ()
    x_t: Shape = ()
    projected: Shape = ()
    step_input: Shape = ()
    initial: tuple[Shape, Shape] = ((), ())
    ops: list[_Op] = field(default_factory=list)
    steps: int = 0

    def project(self, x: Tensor) -> Tensor:
        x_proj = self.inner.project(x)
        self.layer_input = tuple(x.shape)
        self.x_t = tuple(x.select(0, -1 if self.reverse else 0).shape)
        self.projected = tuple(x_proj.shape)
        return x_proj

    def step(self, x_t: Tensor, hidden: Hidden) -> Hidden:
        self.steps += 1
        if self.steps > 1:
            return self.inner.step(x_t, hidden)
        self.step_input = tuple(x_t.shape)
        self.initial = (tuple(hidden[0].shape), tuple(hidden[1].shape))
        recorder = _OpRecorder()
        with recorder:
            result = self.inner.step(x_t, hidden)
        self.ops = recorder.ops
        return result


def trace_classifier(model: LSTMClassifier, input: Tensor, target: Tensor) -> Explanation:
    """Run ``model`` on ``input`` (a batched 3-D tensor) and ``target`` class indices, noting every tensor.

    The forward pass is ``model.forward``'s own (``per_step=False``): the LSTM
    through ``forward_with`` with recording recurrences, then the head on the
    top layer's final hidden state, then softmax and cross-entropy. One function, in the forward's own order, so
    that the trace reads as the forward does (hence its length).
    """
    if model.per_step:
        msg = "Expected a classifier with per_step=False (head on the final hidden state), got per_step=True"
        raise ValueError(msg)
    if input.dim() != 3:
        msg = f"Expected a batched 3-D input, got {input.dim()}-D"
        raise ValueError(msg)
    lstm = model.lstm
    directions = lstm.num_directions
    recorders = [
        RecordingRecurrence(NativeRecurrence(w), reverse=k % directions == 1) for k, w in enumerate(lstm.cell_weights())
    ]
    with torch.no_grad():
        output, (h_n, c_n) = lstm.forward_with(recorders, input)
        h_top = top_layer_state(h_n, lstm.bidirectional)
        logits = model.head(h_top)
        probabilities = F.softmax(logits, dim=1)
        loss = F.cross_entropy(logits, target)

    for recorder in recorders:
        _require_step_ops(recorder.ops)
    gates = _gate_slices(recorders[0].ops)
    names = {id(p): name for name, p in model.named_parameters()}
    layers = [
        _layer_section(k, directions, recorder, w, names, gates, lstm.batch_first)
        for k, (recorder, w) in enumerate(zip(recorders, lstm.cell_weights(), strict=True))
    ]
    layout = "(N, L, H_in): batch_first" if lstm.batch_first else "(L, N, H_in)"
    sections = [Section("input", "", (Row("input", layout, tuple(input.shape)),)), *layers]
    top = "[h_n[-2] ; h_n[-1]]: top layer, forward ; reverse" if lstm.bidirectional else "h_n[-1]: top layer"
    output_layout = "(N, L, D*H_out)" if lstm.batch_first else "(L, N, D*H_out)"
    sections.append(
        Section(
            "LSTM result",
            "",
            (
                Row("output", f"h_t of the top layer for every t, {output_layout}", tuple(output.shape)),
                Row("h_n", "last h_t of each layer and direction, stacked", tuple(h_n.shape)),
                Row("c_n", "last c_t of each layer and direction, stacked", tuple(c_n.shape)),
            ),
        )
    )
    head_rows = [Row("h_top", top, tuple(h_top.shape))]
    head_rows += [
        Row(_head_symbol(name), f"head.{name}: the head's own parameter", tuple(p.shape), p.numel())
        for name, p in model.head.named_parameters()
    ]
    head_rows += [
        Row("logits", "h_top @ W_head.T + b_head", tuple(logits.shape)),
        Row("p", "softmax(logits, dim=1): class probabilities", tuple(probabilities.shape)),
        Row("y", "target class of each sequence", tuple(target.shape)),
        Row("loss", "cross_entropy(logits, y) = mean over n of -log p[n, y_n]", tuple(loss.shape)),
    ]
    sections.append(Section("head", "", tuple(head_rows)))
    return Explanation(
        model=f"LSTM({lstm.extra_repr()}) + Linear({model.head.in_features}, {model.head.out_features})",
        input_shape=tuple(input.shape),
        batch_first=lstm.batch_first,
        sections=tuple(sections),
        gates=gates,
        lstm_params=sum(r.params or 0 for s in layers for r in s.rows),
        head_params=sum(r.params or 0 for r in head_rows),
    )


def _head_symbol(name: str) -> str:
    return {"weight": "W_head", "bias": "b_head"}[name]


def _gate_slices(ops: Sequence[_Op]) -> tuple[GateSlice, ...]:
    """Row ranges of the gates, from the chunk widths and activations ``lstm_step`` actually ran."""
    chunk, *activations = ops[2:7]  # unsafe_chunk, then the four activations
    slices, start = [], 0
    for (gate, meaning), shape, activation in zip(GATE_NAMES, chunk.shapes, activations, strict=True):
        width = shape[1]  # each chunk is (N, H_cell)
        slices.append(GateSlice(gate, meaning, start, start + width, activation.name.rstrip("_")))
        start += width
    return tuple(slices)


def _require_step_ops(ops: Sequence[_Op]) -> None:
    expected = [op for op, _, _ in _STEP_OPS]
    got = [op.name for op in ops]
    if got[: len(expected)] != expected or got[len(expected) :] not in (["mul"], ["mul", "t", "matmul"]):
        msg = f"Expected lstm_step to run the ops {[*expected, 'mul', '(t, matmul)']}, got {got}"
        raise RuntimeError(msg)


def _layer_section(
    k: int,
    directions: int,
    recorder: RecordingRecurrence,
    w: CellWeights,
    names: dict[int, str],
    gates: Sequence[GateSlice],
    batch_first: bool,
) -> Section:
    layer, reverse = divmod(k, directions)
    steps = recorder.layer_input[0]
    t = steps - 1 if reverse else 0
    if reverse:
        note = f"first step t={t} shown: the reverse direction walks t={t}..0" if steps > 1 else "the only step, t=0"
    else:
        note = f"first step t=0 shown; t=1..{steps - 1} repeat these shapes" if steps > 1 else "the only step, t=0"

    rows = []
    for field_name, tensor in w._asdict().items():
        if tensor is not None:
            formula = f"{names[id(tensor)]}: {_WEIGHT_NOTES[field_name]}"
            rows.append(Row(_WEIGHT_SYMBOLS[field_name], formula, tuple(tensor.shape), tensor.numel()))
    if layer == 0:
        source = "input.transpose(0, 1): time-major view of the input" if batch_first else "input"
    elif directions == 2:
        source = f"[h_t forward ; h_t reverse] of layer {layer - 1} for every t"
    else:
        source = f"h_t of layer {layer - 1} for every t"
    rows += [
        Row("x", source, recorder.layer_input),
        Row("ih", "x @ W_ih.T + b_ih: every t at once, before the loop", recorder.projected),
        Row("x_t", f"x[{t}]", recorder.x_t),
        Row("ih_t", f"ih[{t}] = x_t @ W_ih.T + b_ih", recorder.step_input),
        Row("h_{t-1}", f"h_0[{k}]: zeros, no hx given", recorder.initial[0]),
        Row("c_{t-1}", f"c_0[{k}]: zeros, no hx given", recorder.initial[1]),
    ]
    tail = _PROJECTED_OPS if w.weight_hr is not None else (_OUTPUT_OP,)
    for (_, tensor, formula), op in zip((*_STEP_OPS, *tail), recorder.ops, strict=True):
        if tensor is not None:
            for g in gates:
                formula = formula.replace(f"<{g.gate}>", f"{g.start}:{g.stop}")
            rows.append(Row(tensor, formula, op.shapes[0]))
    direction = "reverse" if reverse else "forward"
    return Section(f"layer {layer}, {direction}", note, tuple(rows))
