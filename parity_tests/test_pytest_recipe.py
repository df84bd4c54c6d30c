"""The pytest recipe of docs/checking.md ("From Python or pytest"), run as written, and ``--list-configs`` against what ``check`` runs.

The recipe parametrizes one pytest item per configuration from ``configurations(MyLSTM, **OPTIONS)``; each item
runs ``lstm_parity(MyLSTM, configs=[name], **OPTIONS)``. It must pass for a module, a cell, a cell with its own
weight adapter and a module that refuses features, so the names it lists must be the ones ``check`` runs for
that candidate: found the same way (features tried, layouts, a cell's lack of projection, ``--unsupported``,
``--dtype``) by the same code. The recipe runs in a child pytest on the 3 cheapest of its items (deselecting
the rest from its conftest, the recipe untouched); every name of the full list is checked to be accepted.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lstm_replica.faces.cli import main
from lstm_replica.parity import Config, assert_lstm_parity, check, configurations, default_matrix, orchestrate
from lstm_replica.parity.candidates import CheckError
from lstm_replica.parity.configs import DTYPES, FEATURES, PROBE_FEATURES
from lstm_replica.parity.frameworks import FRAMEWORKS
from lstm_replica.parity.layouts import LAYOUTS

ROOT = Path(__file__).resolve().parent.parent
CHECKING = (ROOT / "docs" / "checking.md").read_text()
EXAMPLES = ROOT / "examples"
PLACEHOLDER_OPTIONS = 'OPTIONS = {"seed": 0}'

# nn.LSTM's replica without bias=False and without a projection: it refuses both when built for them
LACKING = """
from lstm_replica import LSTM


class LackingLSTM(LSTM):
    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, proj_size=0, **kwargs):
        if not bias or proj_size:
            raise NotImplementedError(f"Expected bias=True and proj_size=0, got bias={bias}, proj_size={proj_size}")
        super().__init__(input_size, hidden_size, num_layers, bias=bias, proj_size=proj_size, **kwargs)
"""

# the child run keeps the recipe's items whose configuration is in KEEP
CONFTEST = """
KEEP = {keep!r}


def pytest_collection_modifyitems(config, items):
    kept = [item for item in items if item.callspec.params["name"] in KEEP]
    config.hook.pytest_deselected(items=[item for item in items if item not in kept])
    items[:] = kept
"""


def _recipe() -> str:
    """docs/checking.md's ```python block that parametrizes ``lstm_parity`` over configuration names."""
    blocks = [b for b in re.findall(r"```python\n(.*?)```", CHECKING, re.DOTALL) if "lstm_parity(MyLSTM" in b]
    assert len(blocks) == 1, f"Expected one pytest recipe in docs/checking.md, got {len(blocks)}"
    assert PLACEHOLDER_OPTIONS in blocks[0], blocks[0]
    return blocks[0]


def _lacking(directory: Path) -> str:
    path = directory / "lacking.py"
    path.write_text(LACKING)
    return f"{path}:LackingLSTM"


def _candidate(kind: str, directory: Path) -> tuple[str, dict[str, object]]:
    """A target and the options it is checked with."""
    if kind == "lacking":
        return _lacking(directory), {"seed": 0}
    if kind == "researcher":
        adapter = f"{EXAMPLES / 'researcher_cell.py'}:copy_weights"
        return f"{EXAMPLES / 'researcher_cell.py'}:ResearcherCell", {"seed": 0, "weights": adapter, "tolerance": True}
    return kind, {"seed": 0}


def _cheapest(selection: list[Config], n: int = 3) -> list[str]:
    """The ``n`` configurations with the fewest cell steps, then multiply-adds: a short run of the recipe."""
    ranked = sorted(selection, key=lambda c: (c.num_layers * c.num_directions * c.steps, c.cost))
    return [c.name for c in ranked[:n]]


@pytest.mark.certificate
@pytest.mark.slow
@pytest.mark.parametrize("kind", ["lstm_replica:LSTM", "lstm_replica:LSTMCell", "researcher", "lacking"])
def test_the_readme_recipe_passes_as_written(kind, tmp_path):
    target, options = _candidate(kind, tmp_path)
    selection = configurations(target, **options)
    names = [c.name for c in selection]
    assert configurations(target, configs=names, **options) == selection, "every listed name must be accepted"
    assert len(set(names)) == len(names), names
    if kind != "lstm_replica:LSTM":
        assert not any(c.proj_size for c in selection), "a cell, a layout or a refusal rules projections out"
    if kind == "lacking":
        assert all(c.bias for c in selection), "a candidate refusing bias=False is not run without biases"
    recipe = _recipe().replace(PLACEHOLDER_OPTIONS, f"OPTIONS = {options!r}")
    header = f"from lstm_replica.parity.candidates import load\n\nMyLSTM = load({target!r})\n"
    (tmp_path / "test_recipe.py").write_text(header + recipe)
    (tmp_path / "conftest.py").write_text(CONFTEST.format(keep=_cheapest(selection)))
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # the child's own root: not this project's settings
    child = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "test_recipe.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    summary = child.stdout.strip().splitlines()[-1]
    assert child.returncode == 0, child.stdout + child.stderr
    assert re.search(rf"\b3 passed, {len(names) - 3} deselected\b", summary), summary


def test_a_cell_is_given_a_matrix_without_projection_re_covered_and_none_not_applicable():
    # one seed for both (each derives its own from its source by default)
    selection = configurations("lstm_replica:LSTMCell", seed=0)
    assert selection == configurations("lstm_replica:LSTM", unsupported=["proj_size"], seed=0), "re-covered"
    assert [c.name for c in selection] == [c.name for c in default_matrix(0, unsupported=["proj_size"])]


def test_a_name_that_does_not_apply_to_the_candidate_is_refused_with_the_features_that_rule_it_out(tmp_path):
    projected = next(c.name for c in default_matrix(seed=0) if c.proj_size)
    report = check("lstm_replica:LSTMCell", configs=[projected], seed=0)
    assert report.exit_status == 2
    assert report.error == (
        f"Expected configuration names from --list-configs (for this --seed), got not applicable {projected} "
        "(this candidate's matrix is chosen without proj_size); --list-configs with the same target and options, "
        "or configurations() in Python, lists them"
    )
    biasless = next(c.name for c in default_matrix(seed=0) if not c.bias and not c.proj_size)
    report = check(_lacking(tmp_path), configs=[biasless, "nope"], seed=0)
    assert report.error == (
        f"Expected configuration names from --list-configs (for this --seed), got unknown nope; not applicable "
        f"{biasless} (this candidate's matrix is chosen without no_bias, proj_size); --list-configs with the same "
        "target and options, or configurations() in Python, lists them"
    )
    with pytest.raises(AssertionError, match=r"COULD NOT BE CHECKED: Expected configuration names .* not applicable"):
        assert_lstm_parity("lstm_replica:LSTMCell", configs=[projected], seed=0)


def test_configurations_raises_the_reason_where_check_could_not_check():
    report = check("lstm_replica:NoSuchLSTM")
    assert report.exit_status == 2
    with pytest.raises(CheckError, match=re.escape(report.error or "?")):
        configurations("lstm_replica:NoSuchLSTM")


def test_the_readme_config_dict_takes_the_command_lines_words():
    fields = ast.literal_eval(re.search(r"`config=(\{\"input_size\".*?\})`", CHECKING).group(1))
    assert fields == {"input_size": 5, "hidden_size": 256, "seq_len": 500, "batch_size": 32}
    assert configurations("lstm_replica:LSTM", config=fields, only_config=True) == [
        Config(input_size=5, hidden_size=256, steps=500, batch=32, label="yours")
    ]
    assert Config.from_fields({"steps": 9, "batch": 2}) == Config.from_fields({"seq_len": 9, "batch_size": 2})


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"input_size": 5, "hidden_size": 7, "seqlen": 9},
            (
                "Expected Config keys from num_layers, bidirectional, proj_size, bias, batch_first, input_kind, "
                "hx_given, dropout, dtype, batch, steps, input_size, hidden_size, label, scale, seq_len, batch_size, got seqlen"
            ),
        ),
        ({"steps": 9, "seq_len": 9}, "Expected each Config field once, got both seq_len and steps"),
    ],
)
def test_config_keys_outside_configs_fields_and_aliases_are_a_type_error_naming_the_accepted_ones(fields, message):
    with pytest.raises(TypeError) as raised:
        Config.from_fields(fields)
    assert str(raised.value) == message
    with pytest.raises(TypeError) as raised:
        configurations("lstm_replica:LSTM", config=fields, only_config=True)
    assert str(raised.value) == message
    report = check("lstm_replica:LSTM", config=fields, only_config=True)
    assert (report.exit_status, report.error) == (2, message), "check reports a caller's error, as for --unsupported"


class _Chosen(Exception):
    """Raised from ``on_result`` once ``check`` has chosen its configurations: ends the check there."""

    def __init__(self, names: list[str]) -> None:
        super().__init__(names)
        self.names = names


def _check_runs(target: str, **options: object) -> list[str]:
    """The names of the configurations ``check`` starts to run, read from its ``started`` notice.

    The runner's check, in this process: the one an isolated check runs in its child, with the same options.
    """

    def started(kind: str, payload: object) -> None:
        if kind == "started":
            raise _Chosen([c["name"] for c in payload[1]])

    with pytest.raises(_Chosen) as chosen:
        orchestrate.check(target, on_result=started, **options)
    return chosen.value.names


OPTIONS = [
    ([], {}),
    (["--unsupported", "no_bias,packed"], {"unsupported": ["no_bias", "packed"]}),
    (["--dtype", "float32", "--dtype", "bfloat16"], {"dtypes": ["float32", "bfloat16"]}),
    (["--quick"], {"quick": True}),
    (["--thorough", "--seed", "3"], {"thorough": True, "seed": 3}),
    (
        ["--input-size", "5", "--hidden-size", "7", "--seq-len", "9", "--batch-size", "2", "--bidirectional"],
        {
            "config": {
                "input_size": 5,
                "hidden_size": 7,
                "seq_len": 9,
                "batch_size": 2,
                "bidirectional": True,
                "dtype": "float32",
            }
        },
    ),
    *[(["--weights", layout], {"weights": layout}) for layout in LAYOUTS],
    (["--weights", "per-gate", "--dtype", "float64"], {"weights": "per-gate", "dtypes": ["float64"]}),
]
# every feature and dtype alone, on the built-in module (the rows above try each kind of target)
EACH_OPTION = [
    *[(["--unsupported", feature], {"unsupported": [feature]}) for feature in (*FEATURES, *PROBE_FEATURES)],
    *[(["--dtype", dtype], {"dtypes": [dtype]}) for dtype in DTYPES],
]


@pytest.mark.parametrize("target", ["lstm_replica:LSTM", "lstm_replica:LSTMCell", "lacking"])
@pytest.mark.parametrize(("argv", "options"), OPTIONS, ids=[" ".join(argv) or "defaults" for argv, _ in OPTIONS])
def test_list_configs_prints_what_check_runs(target, argv, options, capsys, tmp_path):
    target = _lacking(tmp_path) if target == "lacking" else target
    assert main(["check", target, "--list-configs", *argv]) == 0
    listed = capsys.readouterr().out.split()
    assert listed == _check_runs(target, **options)
    assert listed == [c.name for c in configurations(target, **options)]
    if "--weights" in argv or target != "lstm_replica:LSTM":
        assert not [n for n in listed if re.search(r"-p\d+-", n)], "layouts, cells and refusals have no projection"


@pytest.mark.parametrize(("argv", "options"), EACH_OPTION, ids=[" ".join(argv) for argv, _ in EACH_OPTION])
def test_list_configs_prints_what_check_runs_for_every_feature_and_dtype(argv, options, capsys):
    assert main(["check", "lstm_replica:LSTM", "--list-configs", *argv]) == 0
    listed = capsys.readouterr().out.split()
    assert listed == _check_runs("lstm_replica:LSTM", **options)
    assert listed == [c.name for c in configurations("lstm_replica:LSTM", **options)]


@pytest.mark.parametrize("target", sorted(FRAMEWORKS))
@pytest.mark.parametrize(
    ("argv", "options"), OPTIONS[:3], ids=[" ".join(argv) or "defaults" for argv, _ in OPTIONS[:3]]
)
def test_interop_list_configs_prints_what_check_runs_for_a_framework_target(target, argv, options, capsys):
    if importlib.util.find_spec(FRAMEWORKS[target].distribution) is None:
        pytest.skip(f"{FRAMEWORKS[target].distribution} is not installed (pip install 'lstm-replica[interop]')")
    assert main(["check", target, "--list-configs", *argv]) == 0
    listed = capsys.readouterr().out.split()
    assert listed == _check_runs(target, **options)
    assert listed == [c.name for c in configurations(target, **options)]


def test_list_configs_says_why_a_target_could_not_be_checked(capsys):
    assert main(["check", "lstm_replica:NoSuchLSTM", "--list-configs"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("lstm-replica check: could not be checked: "), captured.err
