"""``lstm-replica check --plot``: per-step error panels (output, h, c) under a provenance title, written as PNG."""

from __future__ import annotations

import sys

import pytest

from lstm_replica.faces.cli import main
from lstm_replica.parity import check
from lstm_replica.parity.matrix import quick_matrix

CONFIG = quick_matrix()[0].name  # batched, 1 layer, L=7
BI_CONFIG = quick_matrix()[3].name  # unbatched, bidirectional
SEED_CONFIG = "seed-batched-l1-hx-f32-n4-t16-i5h256"
ONE_ULP = "parity_tests.wrong_candidates.modules:OneUlp"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def plot():
    pytest.importorskip("matplotlib")
    from lstm_replica.faces import plot

    return plot


def _panels(figure) -> list[tuple[str, list[str], list[list[float]]]]:
    """Per titled panel: title, legend labels, and the y data of its lines (twin axes' lines included)."""
    panels = []
    for ax in figure.axes:
        title = ax.get_title(loc="left")
        if not title:
            continue  # a twin axis: its lines belong to the panel it shares x with
        twins = [t for t in figure.axes if t is not ax and t.bbox.bounds == ax.bbox.bounds]
        lines = ax.get_lines() + [line for t in twins for line in t.get_lines()]
        legend = ax.get_legend()
        labels = [t.get_text() for t in legend.get_texts()] if legend else []
        panels.append((title, labels, [list(line.get_ydata()) for line in lines]))
    return panels


def _assert_png(path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, f"Expected a PNG file at {path}, got {data[:8]!r}"
    assert len(data) > 20_000, f"Expected a drawn figure, got {len(data)} bytes"


@pytest.mark.certificate
def test_cli_plots_a_one_ulp_module(plot, tmp_path, capsys):
    path = tmp_path / "one_ulp.png"
    assert main(["check", ONE_ULP, "--config", CONFIG, "--plot", str(path), "--no-progress"]) == 1
    assert f"lstm-replica check: plot of {CONFIG} written to {path}" in capsys.readouterr().err
    _assert_png(path)
    report = check(ONE_ULP, configs=[CONFIG], seed=0)
    figure = plot.render(report, plot.pick(report))
    titles = [title for title, _, _ in _panels(figure)]
    assert titles == [
        "output: top layer, per time step",
        "h: the top layer's h_t is the output",
        "c: not observable per step in a module (its c_t is internal)",
    ], titles
    suptitle = figure.get_suptitle()
    for part in (
        ONE_ULP,
        "torch.nn.LSTM",
        "torch 2.",
        "device cpu",
        "mkldnn off",
        "seed 0 (given)",
        CONFIG,
        "different",
    ):
        assert part in suptitle, f"Expected {part!r} in the title, got {suptitle!r}"
    _, labels, ydata = _panels(figure)[0]
    assert labels == ["output: max abs", "output: max ulps"], labels
    assert ydata[1][0] == 1.0, f"Expected one ulp at step 0 (then accumulated), got ulps per step {ydata[1]}"
    assert min(ydata[0]) > 0.0, f"Expected every step off, got max abs per step {ydata[0]}"


@pytest.mark.certificate
def test_cli_plots_onednn_within_tolerance(plot, tmp_path):
    path = tmp_path / "onednn.png"
    argv = ["check", "--backend", "onednn", "--tolerance", "--config", SEED_CONFIG, "--plot", str(path)]
    assert main([*argv, "--no-progress"]) == 0
    _assert_png(path)
    report = check("lstm_replica:LSTM", backend="onednn", tolerance=True, configs=[SEED_CONFIG])
    figure = plot.render(report, plot.pick(report))
    assert "mkldnn on" in figure.get_suptitle()
    assert "within tolerance" in figure.get_suptitle()
    _, _, ydata = _panels(figure)[0]
    assert len(ydata[0]) == 16, "one point per time step"
    assert max(ydata[0]) > 0.0, "oneDNN's kernel is expected to differ from the native path somewhere"


@pytest.mark.certificate
def test_bidirectional_module_splits_h_by_direction(plot):
    report = check(ONE_ULP, configs=[BI_CONFIG])
    title, labels, _ = _panels(plot.render(report, plot.pick(report)))[1]
    assert title.startswith("h: the top layer's h_t is the output"), title
    assert labels[:2] == ["top layer h_t forward: max abs", "top layer h_t reverse: max abs"], labels


def test_cell_plots_teacher_forced_and_accumulated_h_and_c(plot):
    report = check("parity_tests.wrong_candidates.rewrites:ConcatCell", configs=[CONFIG], tolerance=True)
    panels = _panels(plot.render(report, plot.pick(report)))
    for (title, labels, _), state in zip(panels[1:], "hc", strict=True):
        assert title.startswith(f"{state}: {state}_t of layer 0 (forward)"), title
        assert labels[:2] == ["teacher-forced: max abs", "accumulated: max abs"], labels


def test_nan_steps_are_named_not_drawn(plot):
    report = check("parity_tests.bad_targets.targets:NaNFromStep3", configs=[CONFIG])
    _, labels, _ = _panels(plot.render(report, plot.pick(report)))[0]
    assert labels[0] == "output: max abs (NaN or inf at 4 steps, not drawn)", labels


@pytest.mark.certificate
def test_a_bitwise_candidate_still_gets_a_plot_that_says_so(plot, tmp_path):
    path = tmp_path / "bitwise.png"
    assert main(["check", "--config", CONFIG, "--plot", str(path), "--no-progress"]) == 0
    _assert_png(path)
    report = check("lstm_replica:LSTM", configs=[CONFIG])
    figure = plot.render(report, plot.pick(report))
    assert "bitwise identical: every error is zero" in figure.get_suptitle()
    assert all(y == 0.0 for _, _, ydata in _panels(figure) for line in ydata for y in line)


def test_no_plot_when_nothing_was_compared(plot, tmp_path, capsys):
    path = tmp_path / "none.png"
    assert main(["check", "no_such_module_xyz:LSTM", "--plot", str(path)]) == 2
    assert "no plot written: no configuration has per-step errors to draw" in capsys.readouterr().err
    assert not path.exists()


def test_without_matplotlib_plot_exits_2_with_the_install_command(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    path = tmp_path / "never.png"
    assert main(["check", ONE_ULP, "--plot", str(path)]) == 2
    captured = capsys.readouterr()
    expected = "Expected matplotlib for --plot (pip install 'lstm-replica[plot]'), got ImportError"
    assert captured.err.strip() == f"lstm-replica check: {expected}", captured.err
    assert captured.out == "", "the check does not run when its plot cannot be drawn"
    assert not path.exists()
