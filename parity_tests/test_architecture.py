"""The house a new engineer walks: every module named in docs/architecture.md, rooms of a readable size, a report
that loads without the machinery that runs candidates, and one registry of probes that the report's legend reads."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lstm_replica.parity.probes import PROBES
from lstm_replica.parity.report import Report, legend
from lstm_replica.parity.results import ConfigResult

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "lstm_replica"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
MAX_LINES = 420  # "no file over ~400 lines"
MAX_BODY = 60  # lines of a function's body (signature and docstring aside) without a reason in its docstring


def _modules() -> set[str]:
    return {str(p.relative_to(ROOT)) for p in PACKAGE.rglob("*.py")}


def _documented() -> set[str]:
    """Every module path the architecture page's tables name: a table's names are relative to the packages its
    section heading names in backticks (``lstm_replica/interop/`` and ``lstm_replica/targets/``: ``interop/...``)."""
    found: set[str] = set()
    bases: list[str] = []
    for line in ARCHITECTURE.read_text().splitlines():
        if line.startswith("### "):
            bases = list(re.findall(r"`([\w/]+/)`", line))
            continue
        if not (line.startswith("| `") and bases):
            continue
        first_cell = line.split("|")[1]
        for name in re.findall(r"`([\w/.]+\.py)`", first_cell):
            root = bases[0].split("/")[0] + "/"  # lstm_replica/
            candidates = [base + name for base in bases] + [root + name]
            found.update(c for c in candidates if (ROOT / c).exists())
    return found


def test_every_module_is_named_once_in_the_architecture_page():
    modules, documented = _modules(), _documented()
    assert not modules - documented, (
        f"Expected every module in docs/architecture.md, missing {sorted(modules - documented)}"
    )
    assert not documented - modules, f"Expected only existing modules, got {sorted(documented - modules)}"


def test_no_module_is_longer_than_a_room():
    long = {m: n for m in _modules() if (n := len((ROOT / m).read_text().splitlines())) > MAX_LINES}
    assert not long, f"Expected no file in lstm_replica/ over {MAX_LINES} lines, got {long}"


def test_no_long_function_without_a_reason():
    long = []
    for module in _modules():
        tree = ast.parse((ROOT / module).read_text())
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            doc = ast.get_docstring(node) or ""
            body = node.body[1:] if doc and len(node.body) > 1 else node.body
            lines = (node.end_lineno or 0) - body[0].lineno + 1
            if lines > MAX_BODY and "length" not in doc:
                long.append(f"{module}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, f"Expected function bodies of at most {MAX_BODY} lines or a reason in the docstring, got {long}"


def test_loading_a_report_loads_no_machinery_that_runs_candidates():
    code = (
        "import sys, json\n"
        "from lstm_replica.parity.report import Report\n"
        "from lstm_replica.parity.results import ConfigResult\n"
        "r = Report('x', 'module', 'torch.nn.LSTM', 'bitwise', {}, results=[ConfigResult({'name': 'c'}, 'bitwise')])\n"
        "json.dumps(r.to_json(), default=str)\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('lstm_replica'))))\n"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    heavy = [m for m in loaded if m.split(".")[1:2] in (["interop"], ["targets"], ["faces"])]
    heavy += [m for m in loaded if m.startswith("lstm_replica.parity.") and m.split(".")[2] in RUNTIME]
    assert not heavy, f"Expected a report to load without the harness's runtime, got {heavy}"


RUNTIME = {"build", "calls", "judge", "orchestrate", "isolation", "layouts", "probes", "parammap", "locate", "inputs"}


def test_the_legend_names_every_probe_from_the_registry():
    text = legend()
    for probe in PROBES:
        assert probe.legend in text, f"Expected the legend to name the probe {probe.name!r} as {probe.legend!r}"
    report = Report("x", "module", "torch.nn.LSTM", "bitwise", {}, results=[ConfigResult({"name": "c"}, "bitwise")])
    assert legend() in report.text(), "the report's legend is the registry's"


@pytest.mark.parametrize("name", [p.name for p in PROBES])
def test_every_probe_has_one_name(name):
    assert [p.name for p in PROBES].count(name) == 1


def test_the_fast_loop_selects_all_but_the_certificates():
    """docs/architecture.md's ``pytest -m "not certificate"``, collected as written: some tests deselected (the
    certificates), the replica's parity tests and the comparison rules kept. One collection of the whole suite."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-n", "0", "-m", "not certificate"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    counts = re.search(r"(\d+)/(\d+) tests collected \((\d+) deselected\)", done.stdout)
    assert counts is not None, done.stdout[-500:]
    fast, everything, certificates = (int(n) for n in counts.groups())
    assert fast > 0, "the fast loop selects no test"
    assert certificates > 0, "no test is marked certificate"
    assert fast + certificates == everything
    selected = done.stdout.splitlines()
    assert any("test_lstm_parity.py::" in t for t in selected), "the replica's parity tests are in the fast loop"
    assert any("test_compare_rules.py::" in t for t in selected), "the comparison rules are in the fast loop"
    assert not any("test_harness_catalogue.py::" in t for t in selected), "the catalogue's certificates are not"
