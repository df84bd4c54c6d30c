"""``lstm-replica check --plot FILE.png``: the error per time step of one checked configuration.

A face of the harness, like the CLI: it draws the per-step series a
:class:`~lstm_replica.parity.report.Report` already holds and computes nothing
of its own. matplotlib (the optional extra ``plot``) is imported only here and
only when drawing, onto an Agg canvas (no display, no pyplot state).

The configuration drawn is the first that is not bitwise identical and has
per-step series; when every configuration is bitwise identical, the first one,
and the title says every error is zero.

One panel per tensor; in each, the max abs difference (solid, left axis) and
the max ulps (dashed, right axis) at each time step, over batch and features.
The numbers are the report's own series (:func:`panels`): a series' greatest
step is its table row, and ulps follow the table's legend, not drawn where the
values are too far apart or on both sides of zero (the table's '-'):

- output: every candidate (top layer, both directions' halves together).
- h: a module's top-layer h_t *is* its output, so the output is drawn, each
  direction's half apart when bidirectional; a module's lower layers are
  internal and not shown. A cell: its h_t at layer 0, forward direction,
  teacher-forced (one step from the reference's state) and accumulated
  (free-running).
- c: a module's c_t is internal, not observable per step: the panel says so and
  gives the final state c_n's numbers, no series is invented. A cell: as h.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, cast

from lstm_replica.parity.compare import meaningful_ulps
from lstm_replica.parity.report import ConfigResult, Report

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

Series = dict[str, dict[str, list[float]]]  # label -> {"max_abs": per step, "max_ulps": per step}
Panel = tuple[str, Series, str]  # title, series, message


class PlotUnavailable(Exception):
    """matplotlib is not installed."""


def require_matplotlib() -> None:
    """Raise :class:`PlotUnavailable` with the install command unless matplotlib imports."""
    try:
        import matplotlib  # noqa: F401 - only whether it imports
    except ImportError as exc:
        msg = "Expected matplotlib for --plot (pip install 'lstm-replica[plot]'), got ImportError"
        raise PlotUnavailable(msg) from exc


def pick(report: Report) -> ConfigResult | None:
    """The configuration to draw: the first not bitwise with per-step series, else the first with series."""
    drawable = [r for r in report.checked if "output" in r.steps]
    return next((r for r in drawable if r.status != "bitwise"), drawable[0] if drawable else None)


def _status(result: ConfigResult) -> str:
    if result.status == "bitwise":
        return "bitwise identical: every error is zero"
    where = result.location.describe() if result.location else result.reason
    return f"{result.status}; first difference: {where}" if where else result.status


def _title(report: Report, result: ConfigResult) -> str:
    provenance = " | ".join(f"{k} {v}" for k, v in report.provenance.items())
    return "\n".join(
        [
            f"{report.candidate} ({report.kind}) vs {report.reference}",
            provenance,
            f"configuration {result.name}",
            _status(result),
        ]
    )


def _module_panels(result: ConfigResult) -> list[Panel]:
    steps, layers = result.steps, cast(int, result.config["num_layers"])  # Config.to_dict wrote an int
    if result.config["bidirectional"]:
        h = {"top layer h_t forward": steps["output forward"], "top layer h_t reverse": steps["output reverse"]}
    else:
        h = {"top layer h_t": steps["output"]}
    below = f"; layers below the top ({layers - 1}) are internal, not shown" if layers > 1 else ""
    c_n = next((d for d in result.differences if d.tensor == "c_n"), None)
    final = (
        f"final state c_n: max abs {c_n.max_abs:.3g}, {_ulps_text(c_n.max_ulps)} ulps" if c_n else "c_n not compared"
    )
    return [
        ("output: top layer, per time step", {"output": steps["output"]}, ""),
        (f"h: the top layer's h_t is the output{below}", h, ""),
        ("c: not observable per step in a module (its c_t is internal)", {}, f"{final}\n(no series is drawn)"),
    ]


def _cell_panels(result: ConfigResult) -> list[Panel]:
    steps = result.steps
    panels = [("output: whole sequences through the layer machinery, top layer", {"output": steps["output"]}, "")]
    for state in "hc":
        series = {
            kind: steps[f"{state} {kind}"] for kind in ("teacher-forced", "accumulated") if f"{state} {kind}" in steps
        }
        title = f"{state}: {state}_t of layer 0 (forward), teacher-forced (one step) and accumulated (free-running)"
        panels.append(
            (title, series, "" if series else "not available: the single-step replay stopped (see the report)")
        )
    return panels


def panels(report: Report, result: ConfigResult) -> list[Panel]:
    """What :func:`render` draws for ``result``, panel by panel: the report's own per-step series, unchanged."""
    return _cell_panels(result) if report.kind == "cell" else _module_panels(result)


def _ulps_text(value: float) -> str:
    """An ulps figure as the table shows it: the number, or '-' where it says nothing."""
    shown = meaningful_ulps(value)
    return "-" if shown is None else f"{shown:.3g}"


def _finite(values: list[float]) -> tuple[list[float], int]:
    """The values with non-finite ones as NaN (not drawn), and how many there were."""
    kept = [v if math.isfinite(v) else math.nan for v in values]
    return kept, sum(not math.isfinite(v) for v in values)


def drawn_ulps(values: list[float]) -> tuple[list[float], int]:
    """The ulps per step as drawn: NaN (not drawn) where the table shows '-', and at how many steps."""
    kept = [math.nan if meaningful_ulps(v) is None else v for v in values]
    return kept, sum(meaningful_ulps(v) is None for v in values)


def _draw(ax: Axes, title: str, series: Series, message: str) -> None:
    ax.set_title(title, fontsize=9, loc="left")
    if not series:
        ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, fontsize=9)
        ax.set_yticks([])  # the x axis is shared with the panels above: its ticks stay
        return
    twin = ax.twinx()
    colours = ("tab:blue", "tab:orange", "tab:green", "tab:red")
    for colour, (label, values) in zip(colours, series.items(), strict=False):
        steps = range(len(values["max_abs"]))
        max_abs, bad_abs = _finite(values["max_abs"])
        max_ulps, bad_ulps = drawn_ulps(values["max_ulps"])
        unseen = f" (NaN or inf at {bad_abs} steps, not drawn)" if bad_abs else ""
        apart = f" ('-' at {bad_ulps} steps: too far apart or on both sides of zero, not drawn)" if bad_ulps else ""
        ax.plot(steps, max_abs, color=colour, marker=".", markersize=3, label=f"{label}: max abs{unseen}")
        twin.plot(steps, max_ulps, color=colour, linestyle="--", linewidth=0.8, label=f"{label}: max ulps{apart}")
    ax.set_ylabel("max abs difference", fontsize=8)
    twin.set_ylabel("max ulps", fontsize=8)
    handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    ax.legend(handles=handles, fontsize=7, loc="upper left")
    if message:
        ax.text(0.99, 0.95, message, ha="right", va="top", transform=ax.transAxes, fontsize=8)


def render(report: Report, result: ConfigResult) -> Figure:
    """The figure for one configuration of ``report``: three panels (output, h, c) under a provenance title."""
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    drawn = panels(report, result)
    figure = Figure(figsize=(11, 10), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    heights = [1 if series else 0.4 for _, series, _ in drawn]  # a panel with a message only is low
    axes = figure.subplots(3, 1, sharex=True, height_ratios=heights)
    for ax, (title, series, message) in zip(axes, drawn, strict=True):
        _draw(ax, title, series, message)
    axes[-1].set_xlabel("time step")
    figure.suptitle(_title(report, result), fontsize=9)
    return figure


def save(report: Report, path: Path) -> str | None:
    """Draw :func:`pick`'s configuration into the PNG ``path``; its name, or None when none has per-step series."""
    result = pick(report)
    if result is None:
        return None
    render(report, result).savefig(path, format="png")
    return result.name
