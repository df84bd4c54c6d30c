"""The single-step (teacher-forced) replay compares the weights the whole sequences were compared with.

Issue 19, item 3: under the bitwise standard the replay ran after the training probes, which train both sides
free-running, so it compared a candidate cell and nn.LSTMCell that no longer held call 1's weights (a folded
bias, b_ih + b_hh in one, moves twice as far as nn.LSTMCell's pair: 0.2 apart after six steps). Here, for a
cell in every layout, a hand-written adapter and no layout, the teacher-forced rows are at rounding level and
the same under either standard; a genuinely wrong step still shows; every ulps figure shown, in the table, the
cell-error line and the plot, follows the legend ('-' beyond MEANINGFUL_ULPS); and the plot's numbers are the
table's.
"""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

from lstm_replica.faces import plot
from lstm_replica.parity import check
from lstm_replica.parity.candidates import WeightAdapter
from lstm_replica.parity.compare import MEANINGFUL_ULPS, Difference, meaningful_ulps
from lstm_replica.parity.configs import Config
from lstm_replica.parity.report import ConfigResult, Report
from parity_tests._cells import KerasStyleCell, OnnxStyleCell, X2HCell, cell_update, uniform, zero_state

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from researcher_cell import ResearcherCell
from researcher_cell import copy_weights as researcher_weights
from textbook_cell import TextbookLSTMCell

TEACHER = ("step h (teacher-forced)", "step c (teacher-forced)")
ROUNDING = {"float64": 1e-14, "float32": 1e-6}  # a few ulps of one step, far below any defect


class PerGateCell(nn.Module):
    """``--weights per-gate``: W_x* (H, H_in), W_h* (H, H), one bias per gate (folded), ``x W^T``."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__()
        for g in "ifgo":
            setattr(self, f"W_x{g}", uniform(hidden_size, input_size, hidden_size=hidden_size))
            setattr(self, f"W_h{g}", uniform(hidden_size, hidden_size, hidden_size=hidden_size))
            setattr(self, f"b_{g}", uniform(hidden_size, hidden_size=hidden_size) if bias else None)
        self.hidden_size = hidden_size

    def forward(self, x: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        h, c = zero_state(x, hx, self.hidden_size)

        def gate(g: str) -> Tensor:
            pre = x @ getattr(self, f"W_x{g}").t() + h @ getattr(self, f"W_h{g}").t()  # (N, H)
            bias = getattr(self, f"b_{g}")
            return pre if bias is None else pre + bias

        return cell_update(gate("i"), gate("f"), gate("g"), gate("o"), c)


class ConcatCell(nn.Module):
    """``--weights concat`` (``transposed``: ``concat-t``): one matrix on [x, h] and one bias (folded)."""

    transposed = False

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__()
        shape = (input_size + hidden_size, 4 * hidden_size)
        self.W = uniform(*(shape if self.transposed else shape[::-1]), hidden_size=hidden_size)
        self.b = uniform(4 * hidden_size, hidden_size=hidden_size) if bias else None
        self.hidden_size = hidden_size

    def forward(self, x: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        h, c = zero_state(x, hx, self.hidden_size)
        xh = torch.cat([x, h], -1)  # (N, H_in + H)
        z = xh @ self.W if self.transposed else xh @ self.W.t()  # (N, 4H)
        if self.b is not None:
            z = z + self.b
        i, f, g, o = z.chunk(4, -1)
        return cell_update(i, f, g, o, c)


class ConcatTransposedCell(ConcatCell):
    transposed = True


class TensorFlowCell(nn.Module):
    """``--weights tensorflow``: kernel (H_in + H, 4H) on [x, h], one bias (folded, less forget_bias in f)."""

    forget_bias = 1.0

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__()
        self.kernel = uniform(input_size + hidden_size, 4 * hidden_size, hidden_size=hidden_size)
        self.bias = uniform(4 * hidden_size, hidden_size=hidden_size) if bias else None
        self.hidden_size = hidden_size

    def forward(self, x: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        h, c = zero_state(x, hx, self.hidden_size)
        z = torch.cat([x, h], -1) @ self.kernel  # (N, 4H)
        if self.bias is not None:
            z = z + self.bias
        i, j, f, o = z.chunk(4, -1)
        return cell_update(i, f + self.forget_bias, j, o, c)


class SummedBiasCell(nn.Module):
    """No layout: nn.LSTMCell's names and order, but b_ih + b_hh added first (the same function, not bitwise)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__()
        self.weight_ih = uniform(4 * hidden_size, input_size, hidden_size=hidden_size)
        self.weight_hh = uniform(4 * hidden_size, hidden_size, hidden_size=hidden_size)
        self.bias_ih = uniform(4 * hidden_size, hidden_size=hidden_size) if bias else None
        self.bias_hh = uniform(4 * hidden_size, hidden_size=hidden_size) if bias else None
        self.hidden_size = hidden_size

    def forward(self, x: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        h, c = zero_state(x, hx, self.hidden_size)
        z = x @ self.weight_ih.t() + h @ self.weight_hh.t()  # (N, 4H)
        if self.bias_ih is not None and self.bias_hh is not None:
            z = z + (self.bias_ih + self.bias_hh)
        i, f, g, o = z.chunk(4, -1)
        return cell_update(i, f, g, o, c)


class ForgetGateWithoutBias(TextbookLSTMCell):
    """A genuinely wrong step: the f gate's (folded) bias left out."""

    def forward(self, x: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        h, c = zero_state(x, hx, self.hidden_size)

        def gate(g: str, with_bias: bool = True) -> Tensor:
            pre = x @ getattr(self, f"W_x{g}") + h @ self.recurrent(g)  # (N, H)
            bias = getattr(self, f"b_{g}")
            return pre + bias if with_bias and bias is not None else pre

        return cell_update(gate("i"), gate("f", with_bias=False), gate("c"), gate("o"), c)


CANDIDATES = [
    pytest.param(PerGateCell, "per-gate", id="per-gate"),
    pytest.param(TextbookLSTMCell, "per-gate-t", id="per-gate-t"),
    pytest.param(ConcatCell, "concat", id="concat"),
    pytest.param(ConcatTransposedCell, "concat-t", id="concat-t"),
    pytest.param(X2HCell, "x2h-h2h", id="x2h-h2h"),
    pytest.param(KerasStyleCell, "keras", id="keras"),
    pytest.param(OnnxStyleCell, "onnx", id="onnx"),
    pytest.param(TensorFlowCell, "tensorflow", id="tensorflow"),
    pytest.param(ResearcherCell, researcher_weights, id="hand-written-adapter"),
    pytest.param(SummedBiasCell, None, id="no-layout"),
]


def _checked(
    cell: type[nn.Module], weights: str | WeightAdapter | None, dtype: str, tolerance: bool
) -> tuple[Report, ConfigResult]:
    """One small configuration of ``cell`` checked under the standard asked for (the same seed either way)."""
    config = Config(dtype=dtype, batch=2, steps=4, input_size=3, hidden_size=4, label="tf")
    report = check(cell, weights=weights, tolerance=tolerance, config=config, only_config=True, progress=False)
    assert report.error is None, report.text()
    (result,) = report.checked
    return report, result


def _rows(result: ConfigResult, names: tuple[str, ...] = TEACHER) -> dict[str, Difference]:
    found = {d.tensor: d for d in result.differences if not d.probe and d.tensor in names}
    assert set(found) == set(names), f"Expected rows {names}, got {sorted(found)}"
    return found


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(("cell", "weights"), CANDIDATES)
def test_the_single_step_compares_call_ones_weights_under_either_standard(
    cell: type[nn.Module], weights: str | WeightAdapter | None, dtype: str
) -> None:
    _, bitwise = _checked(cell, weights, dtype, tolerance=False)
    _, tolerant = _checked(cell, weights, dtype, tolerance=True)
    for name, d in _rows(bitwise).items():
        assert d.max_abs <= ROUNDING[dtype], f"Expected {name} at rounding level in bitwise mode, got {d}"
    assert _rows(bitwise) == _rows(tolerant), "Expected the same single steps under both standards"
    assert bitwise.cell_errors == tolerant.cell_errors
    assert bitwise.steps == tolerant.steps, "Expected the same per-step series under both standards"
    cell_x = ("cell(x), hx=None", "cell(x) 1-D, hx=None")
    stateless = [
        (d.probe, d.tensor, d.max_abs) for r in (bitwise, tolerant) for d in r.differences if d.probe in cell_x
    ]
    assert len(stateless) == 8, stateless
    assert stateless[:4] == stateless[4:], "Expected the same stateless calls under both standards"
    assert max(m for _, _, m in stateless) <= ROUNDING[dtype], stateless


@pytest.mark.parametrize("tolerance", [False, True], ids=["bitwise", "tolerance"])
def test_a_wrong_single_step_still_shows(tolerance: bool) -> None:
    report, result = _checked(ForgetGateWithoutBias, "per-gate-t", "float64", tolerance)
    assert report.exit_status == 1, report.text()
    rows = _rows(result)
    assert min(d.max_abs for d in rows.values()) > 1e-3, rows
    assert not any(d.within_tolerance for d in rows.values()), rows
    assert result.cell_errors["single_step_max_abs"] == max(d.max_abs for d in rows.values())


def _cell_error_line(single: float, accumulated: float) -> str:
    result = ConfigResult(
        {"name": "cfg", "steps": 7},
        "within tolerance",
        differences=[Difference("output", False, True, 1e-16, 1e-15, 3.0, mismatched=1, elements=6)],
        cell_errors={
            "single_step_max_abs": 0.25,
            "single_step_max_ulps": single,
            "accumulated_max_abs": 0.5,
            "accumulated_max_ulps": accumulated,
        },
    )
    text = Report("my:Cell", "cell", "nn.LSTMCell", "tolerance", {}, results=[result]).text()
    (line,) = [line.strip() for line in text.splitlines() if "cell error" in line]
    return line


@pytest.mark.parametrize(
    ("ulps", "shown"),
    [
        (0.0, "0"),
        (18.0, "18"),
        (MEANINGFUL_ULPS, "1000000"),
        (MEANINGFUL_ULPS + 1, "-"),
        (9180193510505447424.0, "-"),  # the issue's: values on both sides of zero
        (math.inf, "-"),
        (math.nan, "-"),
    ],
)
def test_the_cell_error_line_shows_ulps_by_the_legends_rule(ulps: float, shown: str) -> None:
    assert (meaningful_ulps(ulps) is None) == (shown == "-")
    line = _cell_error_line(ulps, 12.0)
    expected = (
        f"cell error: single step (teacher-forced) max abs 0.25 / {shown} ulps; "
        "accumulated over 7 steps max abs 0.5 / 12 ulps"
    )
    assert line == expected, line


def test_no_ulps_figure_in_a_report_exceeds_the_legends_bound() -> None:
    report, result = _checked(ForgetGateWithoutBias, "per-gate-t", "float64", tolerance=False)
    text = report.text(verbose=True)
    cell_errors = result.cell_errors
    assert max(cell_errors["single_step_max_ulps"], cell_errors["accumulated_max_ulps"]) > MEANINGFUL_ULPS, (
        "Expected this wrong cell's states on both sides of zero (ulps that mean nothing)"
    )
    (line,) = [line for line in text.splitlines() if "cell error" in line]
    assert re.search(r"/ - ulps", line), line
    figures = re.findall(r"(?<=\s)(-|\d[\d.]*(?:e[+-]?\d+)?) ulps", text)
    assert len(figures) >= 2, text
    for figure in figures:
        assert figure == "-" or float(figure) <= MEANINGFUL_ULPS, f"Expected '-' or at most 1e6 ulps, got {figure}"
    table = "\n".join(line for line in text.splitlines() if " | seed " not in line)  # a derived seed has 9 digits
    assert not re.findall(r"\b\d{8,}\b", table), "Expected no ulps count of 8 digits or more anywhere"


@pytest.mark.parametrize(
    ("cell", "largest"),
    [
        pytest.param(TextbookLSTMCell, ROUNDING["float64"], id="rounding"),
        pytest.param(ForgetGateWithoutBias, 1.0, id="wrong"),
    ],
)
def test_the_plot_draws_the_tables_numbers(cell: type[nn.Module], largest: float) -> None:
    report, result = _checked(cell, "per-gate-t", "float64", tolerance=False)
    panels = {title.split(":")[0]: series for title, series, _ in plot.panels(report, result)}
    rows = _rows(result, ("output", *TEACHER))
    drawn = {
        "output": panels["output"]["output"],
        "step h (teacher-forced)": panels["h"]["teacher-forced"],
        "step c (teacher-forced)": panels["c"]["teacher-forced"],
    }
    for name, series in drawn.items():
        d = rows[name]
        assert max(series["max_abs"]) == d.max_abs, f"{name}: plot {series['max_abs']}, table {d.max_abs}"
        assert max(series["max_ulps"]) == d.max_ulps, f"{name}: plot {series['max_ulps']}, table {d.max_ulps}"
    for kind, key in (("teacher-forced", "single_step"), ("accumulated", "accumulated")):
        for measure in ("max_abs", "max_ulps"):
            greatest = max(max(panels[s][kind][measure]) for s in "hc")
            assert greatest == result.cell_errors[f"{key}_{measure}"], (kind, measure)
    every = [v for _, series, _ in plot.panels(report, result) for s in series.values() for v in s["max_abs"]]
    assert max(every) <= largest, f"Expected every panel within {largest} (one figure, one story), got {max(every)}"


def test_the_plot_leaves_out_the_ulps_the_table_shows_as_a_dash() -> None:
    values = [0.0, 3.0, MEANINGFUL_ULPS, MEANINGFUL_ULPS * 2, 9180193510505447424.0, math.inf]
    kept, hidden = plot.drawn_ulps(values)
    assert kept[:3] == values[:3], kept
    assert all(math.isnan(v) for v in kept[3:]), kept
    assert hidden == 3


def test_the_drawn_ulps_lines_are_the_legends() -> None:
    pytest.importorskip("matplotlib")
    report, result = _checked(ForgetGateWithoutBias, "per-gate-t", "float64", tolerance=False)
    figure = plot.render(report, result)
    ulps_lines = [line for ax in figure.axes for line in ax.get_lines() if line.get_linestyle() == "--"]
    series = [s for _, panel, _ in plot.panels(report, result) for s in panel.values()]
    assert len(ulps_lines) == len(series), (len(ulps_lines), len(series))
    for line, values in zip(ulps_lines, series, strict=True):
        expected = torch.tensor(plot.drawn_ulps(values["max_ulps"])[0], dtype=torch.float64)
        torch.testing.assert_close(torch.tensor(line.get_ydata(), dtype=torch.float64), expected, equal_nan=True)
        assert not bool((expected > MEANINGFUL_ULPS).any()), expected
    hidden = sum(plot.drawn_ulps(values["max_ulps"])[1] for values in series)
    assert hidden > 0, "Expected this wrong cell to have steps whose ulps mean nothing"
