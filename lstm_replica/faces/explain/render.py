"""Render an :class:`~lstm_replica.faces.explain.trace.Explanation`: an aligned plain-text table, or JSON.

Plain ASCII on purpose (it goes to terminals and READMEs): ``*`` is the
element-wise product and ``@`` the matrix product, as in PyTorch code.
"""

from __future__ import annotations

import dataclasses
import json

from lstm_replica.faces.explain.trace import Explanation, Row

_HEADER = ("tensor", "formula", "shape", "params")
_INDENT = "  "


def render_text(explanation: Explanation) -> str:
    """The table of tensors in computation order, the gate rows, the parameter total and the plain answer."""
    first = explanation.sections[1].title
    hidden = explanation.row(first, "c_t").shape[-1]
    layout = "(N, L, H_in)" if explanation.batch_first else "(L, N, H_in)"
    lines = [
        f"{explanation.model}, traced on an input of shape {_shape(explanation.input_shape)} = {layout}",
        "Every shape below was read from a tensor of a real forward pass of lstm_replica.LSTMClassifier.",
        "* is element-wise (shapes in = shape out), @ is a matrix product; k in h_0[k] counts layer-directions.",
        "",
        f"Gate order in the rows of W_ih, W_hh, b_ih and b_hh (4 * hidden_size = {4 * hidden} rows):",
    ]
    stop_width = len(str(explanation.gates[-1].stop))
    for g in explanation.gates:
        rows = f"{g.start}:{g.stop}".rjust(2 * stop_width + 1)
        lines.append(f"{_INDENT}rows {rows}  {g.gate}_t  {g.meaning:<14}  {g.activation}")
    lines += ["", *_table(explanation), "", *_answer(explanation)]
    return "\n".join(lines) + "\n"


def render_json(explanation: Explanation) -> str:
    """The same content as data: sections of rows (shapes as lists), gate slices and parameter counts."""
    data = dataclasses.asdict(explanation)
    data["total_params"] = explanation.total_params
    return json.dumps(data, indent=2) + "\n"


def _shape(shape: tuple[int, ...]) -> str:
    return str(tuple(shape))


def _params(row: Row) -> str:
    return "" if row.params is None else f"{row.params:,}"


def _table(explanation: Explanation) -> list[str]:
    rows = [r for s in explanation.sections for r in s.rows]
    total = f"{explanation.total_params:,}"
    widths = [
        max(len(_HEADER[0]), *(len(r.tensor) for r in rows)),
        max(len(_HEADER[1]), *(len(r.formula) for r in rows)),
        max(len(_HEADER[2]), *(len(_shape(r.shape)) for r in rows)),
        max(len(_HEADER[3]), len(total), *(len(_params(r)) for r in rows)),
    ]

    def line(tensor: str, formula: str, shape: str, params: str) -> str:
        cells = (tensor.ljust(widths[0]), formula.ljust(widths[1]), shape.ljust(widths[2]), params.rjust(widths[3]))
        return (_INDENT + "  ".join(cells)).rstrip()

    lines = [line(*_HEADER), line(*("-" * w for w in widths))]
    for section in explanation.sections:
        lines.append(f"{section.title}: {section.note}" if section.note else section.title)
        lines += [line(r.tensor, r.formula, _shape(r.shape), _params(r)) for r in section.rows]
    label = f"nn.LSTM {explanation.lstm_params:,} + nn.Linear {explanation.head_params:,}"
    lines += [line(*("-" * w for w in widths)), line("total", label, "", total)]
    return lines


def _answer(explanation: Explanation) -> list[str]:
    first = explanation.sections[1].title
    c_t = explanation.row(first, "c_t").shape
    gates = explanation.row(first, "gates_t").shape
    h_t = explanation.row(first, "h_t").shape
    h_top = explanation.row("head", "h_top").shape
    classes, features = explanation.row("head", "W_head").shape
    logits = explanation.row("head", "logits").shape
    output = explanation.row("LSTM result", "output").shape
    lines = [
        "Addition or concatenation?",
        "Addition. c_t = f_t * c_{t-1} + i_t * g_t is element-wise: f_t, c_{t-1}, i_t, g_t and c_t",
        f"are all {_shape(c_t)}, hidden_size wide. The four gates are {c_t[-1]}-wide column blocks of one",
        f"{_shape(gates)} pre-activation (rows i|f|g|o of the weights), to which both biases b_ih and b_hh were added.",
    ]
    if h_t[-1] != c_t[-1]:
        lines.append(
            f"With proj_size, h_t = (o_t * tanh(c_t)) @ W_hr.T is {_shape(h_t)} while c_t stays {_shape(c_t)}."
        )
    if h_top[-1] != h_t[-1]:
        lines.append(f"The one concatenation is of the two directions' h_t, forward first: output {_shape(output)}.")
    lines += [
        f"{features} features become {classes} classes only in the head: a separate Linear({features}, {classes}),",
        f"with its own weight ({classes}, {features}) and bias ({classes},), maps h_top {_shape(h_top)}"
        + f" to logits {_shape(logits)};",
        "softmax gives class probabilities, cross_entropy(logits, y) the loss.",
    ]
    return [lines[0], *(_INDENT + line for line in lines[1:])]
