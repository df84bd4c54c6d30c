"""Every command shown in the docs is run by a test (issue 21).

The docs are README.md and docs/*.md. Each fenced block is a unit, found by its file and its first line; a shell
block is split into its command lines, each a unit of its own. Every unit must be in one of two tables:

- ``COVERED``: the tests that run it. A test of this file runs the doc's own text (a python block is executed, a
  command line is run as written, a sample output block is compared with what its command prints now); a test of
  another file runs that exact command or checks that sample already (the test must exist); ``.ci/run`` runs the
  Quick start commands (``CI_LINES``: the lines it must hold).
- ``NOT_RUN``: not a command (equations), or not practical to run in a test, with the reason.

A block added to a doc without an entry fails ``test_every_unit_is_covered`` with its key; an entry whose block has
gone fails ``test_every_entry_names_a_unit``. Whole certificates are marked ``certificate``; the rest of this file
runs in well under 30 s with ``-n 0`` (the Keras block only where the interop extra is installed).
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import runpy
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch import nn

from lstm_replica.faces.cli import main
from lstm_replica.parity import check, configurations
from lstm_replica.parity.envelope import envelope

ROOT = Path(__file__).resolve().parent.parent
HERE = "parity_tests/test_docs_run.py"
FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
SHELL = {"bash", "sh", "shell", "console"}


@dataclass(frozen=True)
class Block:
    doc: str  # relative to the repository root
    line: int  # of the opening fence
    lang: str
    text: str

    @property
    def lines(self) -> list[str]:
        return self.text.splitlines()


def _docs() -> list[str]:
    return ["README.md", *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md"))]


def _blocks(doc: str) -> list[Block]:
    text = (ROOT / doc).read_text()
    return [Block(doc, text.count("\n", 0, m.start()) + 1, m.group(1), m.group(2)) for m in FENCE.finditer(text)]


def _units() -> dict[tuple[str, str], Block]:
    """Every unit of the docs: a shell block's command lines, each other block by its first line."""
    units: dict[tuple[str, str], Block] = {}
    for doc in _docs():
        for block in _blocks(doc):
            names = [line.strip() for line in block.lines if line.strip()] if block.lang in SHELL else block.lines[:1]
            for name in names:
                assert (doc, name) not in units, f"{doc}:{block.line}: two units read {name!r}: tell them apart"
                units[doc, name] = block
    return units


def _block(doc: str, first: str) -> Block:
    return _units()[doc, first]


# The Quick start: .ci/run runs it. The main job's install is .ci/run's (the test extras on top of `-e .`), and the
# main job itself runs there without the progress bar.
MAIN_JOB = "python3 -m venv .venv && . .venv/bin/activate && pip install torch==2.13.0 -e . && lstm-replica check"
TEST_JOB = 'python3 -m venv .venv && . .venv/bin/activate && pip install torch==2.13.0 -e ".[test,plot]" && pytest'
CI_LINES = {
    ("README.md", MAIN_JOB): [TEST_JOB, "lstm-replica check --no-progress"],
    ("README.md", TEST_JOB): [TEST_JOB],
}

# the commands and samples this file runs, by their doc's text
TOUR_SCREEN = ("README.md", "lstm-replica check examples/my_cell.py:MyLSTMCell --quick")
TOUR_CERTIFICATE = ("README.md", "lstm-replica check examples/my_cell.py:MyLSTMCell")
API = ("README.md", "import torch")
ENVELOPE = (
    "docs/checking.md",
    "ENVELOPE: what this verdict covers (75 configurations compared); nothing outside it is implied",
)
MAIN_SAMPLE = ("docs/checking.md", "$ lstm-replica check")
CLAMPED = ("docs/checking.md", "$ lstm-replica check parity_tests.wrong_candidates.adversarial:ClampedCell -x --seed 0")
TEXTBOOK = (
    "docs/checking.md",
    "$ lstm-replica check examples/textbook_cell.py:TextbookLSTMCell --weights per-gate-t --tolerance",
)
KERAS_PORT = ("docs/interop.md", "import os")
WALK = "docs/walkthrough.md"
EXPLAIN = (WALK, "lstm-replica explain --input-size 5 --hidden-size 256 --num-classes 10")
EXPLAIN_TAIL = (WALK, "lstm-replica explain --num-layers 2 --bidirectional --proj-size 64 | tail -n 9")
EXPLAIN_REFUSED = (WALK, "lstm-replica explain --hidden-size 256 --proj-size 256")
COUNT_TORCH = (
    WALK,
    (
        'python -c "from torch import nn; lstm, head = nn.LSTM(5, 256), nn.Linear(256, 10); '
        'print(sum(p.numel() for p in [*lstm.parameters(), *head.parameters()]))"'
    ),
)
COUNT_EXPLAIN = (
    WALK,
    "lstm-replica explain --json | python -c \"import json, sys; print(json.load(sys.stdin)['total_params'])\"",
)
MY_CELL = (WALK, "import math")
MY_CELL_CHECK = (WALK, "lstm-replica check my_cell.py:MyCell")
MY_CELL_SAMPLE = (WALK, "lstm-replica check: my_cell.py:MyCell (cell) against torch.nn.LSTMCell")
FUSED_GATES = (
    WALK,
    (
        "        gates = F.linear(torch.cat([input, h], -1), torch.cat([self.weight_ih, self.weight_hh], 1)) "
        "+ self.bias_ih + self.bias_hh"
    ),
)
FUSED_CHECK = (WALK, "lstm-replica check --quick my_cell.py:MyCell")
FUSED_VERDICT = (
    WALK,
    (
        "VERDICT: NOT A REPLICA: 4/4 configurations differ; first in "
        "quick-batched-l1-hx-f64-n3-t7-i4h6: output, time step 0, layer 0, batch index 0, gate i,g,o"
    ),
)

KERAS_CHECK = "parity_tests/test_interop_keras_check.py"
COVERED: dict[tuple[str, str], tuple[str, ...]] = {
    ("README.md", MAIN_JOB): (".ci/run",),
    ("README.md", TEST_JOB): (".ci/run",),
    TOUR_SCREEN: (f"{HERE}::test_the_readme_tour_screen",),
    TOUR_CERTIFICATE: (f"{HERE}::test_the_readme_tour_certificate",),
    API: (f"{HERE}::test_the_api_block_runs",),
    ENVELOPE: (f"{HERE}::test_the_envelope_samples_are_the_main_jobs",),
    MAIN_SAMPLE: (
        "parity_tests/test_readme_sample.py::test_the_readme_sample_rows_are_the_reports",
        f"{HERE}::test_the_envelope_samples_are_the_main_jobs",
    ),
    CLAMPED: (f"{HERE}::test_the_clamped_cell_sample",),
    TEXTBOOK: (f"{HERE}::test_the_textbook_samples",),
    ("docs/checking.md", "import pytest"): (
        "parity_tests/test_pytest_recipe.py::test_the_readme_recipe_passes_as_written",
    ),
    KERAS_PORT: (f"{HERE}::test_the_interop_keras_port_runs",),
    # the record of a run at issue 19 (its matrix is gone, 397 s): what it shows, float64 packed input rejected
    # where Keras rounds to float32 and float32 within tolerance, is checked on today's quick matrix
    ("docs/interop.md", "$ lstm-replica check keras:LSTM --tolerance --timeout 400"): (
        f"{KERAS_CHECK}::test_float64_packed_input_is_rejected_where_keras_rounds_to_float32",
        f"{KERAS_CHECK}::test_keras_matmul_rounds_float64_torch_tensors_to_float32",
    ),
    ("docs/interop.md", "$ lstm-replica check keras:LSTM --tolerance --timeout 400 --dtype float32"): (
        f"{KERAS_CHECK}::test_the_keras_target_is_certified_within_tolerance_and_scoped",
    ),
    EXPLAIN: (f"{HERE}::test_the_walkthrough_explain_commands_print_their_samples",),
    (WALK, "LSTM(5, 256) + Linear(256, 10), traced on an input of shape (7, 3, 5) = (L, N, H_in)"): (
        f"{HERE}::test_the_walkthrough_explain_commands_print_their_samples",
    ),
    EXPLAIN_TAIL: (f"{HERE}::test_the_walkthrough_explain_commands_print_their_samples",),
    (WALK, "Addition or concatenation?"): (f"{HERE}::test_the_walkthrough_explain_commands_print_their_samples",),
    EXPLAIN_REFUSED: (f"{HERE}::test_the_walkthrough_explain_commands_print_their_samples",),
    (WALK, "lstm-replica explain: error: proj_size has to be smaller than hidden_size"): (
        f"{HERE}::test_the_walkthrough_explain_commands_print_their_samples",
    ),
    COUNT_TORCH: (f"{HERE}::test_the_walkthrough_parameter_counts",),
    COUNT_EXPLAIN: (f"{HERE}::test_the_walkthrough_parameter_counts",),
    MY_CELL: (f"{HERE}::test_the_walkthrough_cell_is_nn_lstm_cell_in_plain_use",),
    MY_CELL_CHECK: (f"{HERE}::test_the_walkthrough_cell_certificate",),
    MY_CELL_SAMPLE: (
        f"{HERE}::test_the_walkthrough_cell_sample_rows",
        f"{HERE}::test_the_walkthrough_cell_certificate",
    ),
    FUSED_GATES: (f"{HERE}::test_the_walkthrough_fused_cell_is_rejected",),
    FUSED_CHECK: (f"{HERE}::test_the_walkthrough_fused_cell_is_rejected",),
    FUSED_VERDICT: (f"{HERE}::test_the_walkthrough_fused_cell_is_rejected",),
    # the suite less its certificates: its selection is collected as written (running it would run the suite twice)
    ("docs/architecture.md", 'pytest -m "not certificate"'): (
        "parity_tests/test_architecture.py::test_the_fast_loop_selects_all_but_the_certificates",
    ),
}

MUTATION = "a mutation run takes hours (docs/mutation.md); test_the_mutation_commands_name_real_sessions checks names"
NOT_RUN: dict[tuple[str, str], str] = {
    (WALK, "i_t = σ(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)        (N, 256)   rows   0:256"): "equations, not output",
    (WALK, "logits = h_top @ W_head.T + b_head      W_head (10, 256), b_head (10,)  ->  (N, 10)"): "equations",
    **{
        ("docs/mutation.md", line): MUTATION
        for line in [
            "nox -s mutants -- harness     # the harness's judging code: parity/compare, configs, matrix, sizes, report, results",
            "nox -s mutants -- core        # the replica's core (see \"The replica's core\" below)",
            "nox -s mutants                # both",
            'nox -s mutants -- "lstm_replica.parity.report.*"   # any mutant names or globs go to `mutmut run` as they are',
            ".nox/mutants/bin/mutmut results                 # every mutant not killed",
            ".nox/mutants/bin/mutmut show lstm_replica.parity.compare.x_compare__mutmut_5",
            ".nox/mutants/bin/mutmut browse                  # interactive: the diff of each mutant, rerun one",
        ]
    },
}


def _defines(path: str, function: str) -> bool:
    tree = ast.parse((ROOT / path).read_text())
    return any(isinstance(node, ast.FunctionDef) and node.name == function for node in tree.body)


def test_every_unit_is_covered() -> None:
    units = _units()
    assert units, "no fenced blocks found"
    missing = [
        f"{block.doc}:{block.line}: {key[1]!r}" for key, block in units.items() if key not in {*COVERED, *NOT_RUN}
    ]
    assert not missing, "fenced blocks no test runs (add them to COVERED or NOT_RUN):\n" + "\n".join(missing)
    ci = (ROOT / ".ci/run").read_text().splitlines()
    for key, covers in COVERED.items():
        for cover in covers:
            if cover == ".ci/run":
                absent = [line for line in CI_LINES[key] if line not in ci]
                assert not absent, f"{key}: .ci/run does not run {absent}"
                continue
            path, function = cover.split("::")
            assert _defines(path, function), f"{key}: {path} defines no {function}"


def test_every_entry_names_a_unit() -> None:
    stale = sorted((set(COVERED) | set(NOT_RUN)) - set(_units()))
    assert not stale, f"entries whose block is no longer in the docs: {stale}"
    assert not set(COVERED) & set(NOT_RUN)


# GitHub's anchors: lower case, punctuation but hyphens dropped, spaces as hyphens
LINK = re.compile(r"\]\((?!https?://|mailto:)([^)\s]+)\)")


def _anchor(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_relative_link_resolves() -> None:
    broken = []
    for doc in _docs():
        text = (ROOT / doc).read_text()
        for target in LINK.findall(text):
            path, _, anchor = target.partition("#")
            resolved = ((ROOT / doc).parent / path).resolve() if path else ROOT / doc
            if not resolved.exists():
                broken.append(f"{doc}: {target}")
                continue
            if anchor:
                headings = re.findall(r"^#+ (.*)$", FENCE.sub("", resolved.read_text()), re.MULTILINE)
                if anchor not in {_anchor(h) for h in headings}:
                    broken.append(f"{doc}: {target} (no such heading)")
    assert not broken, "\n".join(broken)


def _run(command: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """One command line of a doc, run by bash as written, this environment's python and lstm-replica first."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return subprocess.run(
        ["bash", "-c", command],
        cwd=cwd,
        env={**os.environ, "PATH": path, "OMP_NUM_THREADS": "1"},  # small tensors: threads only spin on 2 cores
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def _cli(command: str, cwd: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    """An ``lstm-replica`` command line of a doc run in this process (its words as bash splits them)."""
    words = shlex.split(command, comments=True)
    assert words[0] == "lstm-replica", command
    monkeypatch.chdir(cwd)
    capsys.readouterr()
    try:
        status = main(words[1:])
    except SystemExit as exited:  # argparse's errors, exit status 2
        status = exited.code
    out, err = capsys.readouterr()
    return status, out, err


def _matches(expected: str, line: str) -> bool:
    """A verdict line of a doc, where ``…`` stands for any text, is ``line``."""
    pattern = ".*".join(re.escape(part) for part in expected.split("…"))
    return re.fullmatch(pattern, line) is not None


def _shown_lines_are_printed(sample: list[str], printed: list[str]) -> list[str]:
    """The sample's lines (but ``...`` and the provenance's versions) that the report does not print."""
    missing = []
    for line in sample:
        if line.strip() in ("...", "…") or line.startswith("$ "):
            continue
        if line.startswith("  torch ") and " | seed " in line:  # versions differ between machines; the rest may not
            fields = line.split(" | ")[2:]
            if not any(p.startswith("  torch ") and p.split(" | ")[2:] == fields for p in printed):
                missing.append(line)
        elif line.rstrip() not in printed:
            missing.append(line)
    return missing


@pytest.mark.certificate
def test_the_readme_tour_screen(capsys, monkeypatch) -> None:
    status, out, err = _cli(TOUR_SCREEN[1], ROOT, capsys, monkeypatch)
    assert status == 0, out[-3000:] + err
    assert _matches("VERDICT: QUICK SCREEN: … - not a certificate…", out.splitlines()[-1]), out[-2000:]


@pytest.mark.certificate
def test_the_readme_tour_certificate(capsys, monkeypatch) -> None:
    status, out, err = _cli(TOUR_CERTIFICATE[1], ROOT, capsys, monkeypatch)
    assert status == 0, out[-3000:] + err
    assert out.splitlines()[-1].startswith("VERDICT: REPLICA: bitwise identical to torch.nn.LSTMCell"), out[-2000:]


def test_the_api_block_runs(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "readme_api.py").write_text(_block(*API).text)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small tensors: on a shared machine more threads only spin
    try:
        scope = runpy.run_path(str(tmp_path / "readme_api.py"))
    finally:
        torch.set_num_threads(threads)
    assert scope["logits"].shape == (32, 10)  # type: ignore[attr-defined]


def _envelope_shown(block: Block) -> list[str]:
    """The envelope's lines a sample shows, up to its ``...``; a line cut short ends in ``, ...``."""
    lines = block.lines
    start = next(i for i, line in enumerate(lines) if line.startswith("ENVELOPE: "))
    shown = []
    for line in lines[start:]:
        if not line.strip() or line.strip() == "...":
            break
        shown.append(line)
    return shown


def _shown_as(printed: str, shown: str) -> bool:
    return printed.startswith(shown.removesuffix("...")) if shown.endswith(", ...") else printed == shown


def test_the_envelope_samples_are_the_main_jobs() -> None:
    selection = configurations("lstm_replica:LSTM")  # the main job's: the seed derived from the replica
    lines = envelope([c.to_dict() for c in selection]).lines()
    for key in (ENVELOPE, MAIN_SAMPLE):
        shown = _envelope_shown(_block(*key))
        assert len(shown) <= len(lines), shown
        differ = [s for s, line in zip(shown, lines, strict=False) if not _shown_as(line, s)]
        assert not differ, (
            f"{key[0]}: not the main job's envelope:\n" + "\n".join(differ) + "\n---\n" + "\n".join(lines)
        )
    verdict = _block(*MAIN_SAMPLE).lines[-1]
    assert f" in all {len(selection)} configurations " in verdict, (len(selection), verdict)


@pytest.mark.certificate
def test_the_clamped_cell_sample(capsys, monkeypatch) -> None:
    sample = _block(*CLAMPED).lines
    status, out, err = _cli(sample[0][2:], ROOT, capsys, monkeypatch)
    printed = [line.rstrip() for line in out.splitlines()]
    assert status == 1, out[-3000:] + err
    assert not _shown_lines_are_printed(sample[1:-1], printed), "\n".join(printed)
    assert printed[-1] == sample[-1], printed[-1]


@pytest.mark.certificate
def test_the_textbook_samples(capsys, monkeypatch) -> None:
    sample = _block(*TEXTBOOK).lines
    runs = [(line[2:], sample[i + 1]) for i, line in enumerate(sample) if line.startswith("$ ")]
    assert len(runs) == 2, sample
    for command, verdict in runs:
        status, out, err = _cli(command, ROOT, capsys, monkeypatch)
        expected = 1 if "# exit 1" in command else 0
        assert status == expected, f"{command}: exit {status}\n" + out[-3000:] + err
        assert _matches(verdict, out.splitlines()[-1]), f"{command}:\n{out.splitlines()[-1]}\n{verdict}"


@pytest.mark.skipif(
    importlib.util.find_spec("keras") is None or importlib.util.find_spec("jax") is None,
    reason="the interop extra (Keras 3) is not installed: pip install -e '.[interop]'",
)
def test_the_interop_keras_port_runs(tmp_path) -> None:
    (tmp_path / "port.py").write_text(_block(*KERAS_PORT).text)
    done = _run(f"{shlex.quote(sys.executable)} port.py", tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]


def _output_after(command: tuple[str, str]) -> list[str]:
    """The text block that follows a command's block in its doc: what the command prints."""
    blocks = _blocks(command[0])
    index = blocks.index(_block(*command))
    assert blocks[index + 1].lang == "text", blocks[index + 1]
    return blocks[index + 1].lines


def test_the_walkthrough_explain_commands_print_their_samples(capsys, monkeypatch) -> None:
    for command, status, stream in ((EXPLAIN, 0, 0), (EXPLAIN_TAIL, 0, 0), (EXPLAIN_REFUSED, 2, 1)):
        if "|" in command[1]:
            done = _run(command[1])
            code, streams = done.returncode, (done.stdout, done.stderr)
        else:  # in this process: no second start of torch
            code, *streams = _cli(command[1], ROOT, capsys, monkeypatch)
        printed = [line.rstrip() for line in streams[stream].splitlines()]
        assert code == status, f"{command[1]}: exit {code}\n{streams[1][-2000:]}"
        assert printed == _output_after(command), f"{command[1]} prints:\n" + "\n".join(printed)


def test_the_walkthrough_parameter_counts() -> None:
    for command in (COUNT_TORCH, COUNT_EXPLAIN):
        done = _run(command[1])
        assert (done.returncode, done.stdout) == (0, "271882\n"), f"{command[1]}:\n{done.stdout}{done.stderr[-2000:]}"


def _my_cell(directory: Path, *, fused: bool = False) -> Path:
    """The walkthrough's my_cell.py, saved as it says; ``fused``: with its one-matrix-product ``gates`` line."""
    source = _block(*MY_CELL).text
    if fused:
        lines = source.splitlines(keepends=True)
        (index,) = [i for i, line in enumerate(lines) if line.startswith("        gates = ")]
        lines[index] = FUSED_GATES[1] + "\n"
        source = "".join(lines)
    (directory / "my_cell.py").write_text(source)
    return directory


def test_the_walkthrough_cell_is_nn_lstm_cell_in_plain_use(tmp_path, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(_my_cell(tmp_path)))
    spec = importlib.util.spec_from_file_location("walkthrough_my_cell", tmp_path / "my_cell.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cell, reference = module.MyCell(5, 8, dtype=torch.float64), nn.LSTMCell(5, 8, dtype=torch.float64)
    reference.load_state_dict(cell.state_dict())
    x, hx = torch.randn(3, 5, dtype=torch.float64), (torch.randn(3, 8, dtype=torch.float64),) * 2
    for got, want in zip(cell(x, hx), reference(x, hx), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.certificate
def test_the_walkthrough_cell_sample_rows(tmp_path, monkeypatch) -> None:
    """The sample's header and first configuration's rows, from a run of that configuration alone."""
    sample = _block(*MY_CELL_SAMPLE).lines
    table = sample.index(next(line for line in sample if line.startswith("configuration ")))
    first = sample[table + 1].split()[0]
    monkeypatch.chdir(_my_cell(tmp_path))
    report = check("my_cell.py:MyCell", configs=[first])
    printed = [line.rstrip() for line in report.text().splitlines()]
    missing = _shown_lines_are_printed(sample[: sample.index("...")], printed)
    assert not missing, "not in the report:\n" + "\n".join(missing) + "\n---\n" + "\n".join(printed[:30])


@pytest.mark.certificate
def test_the_walkthrough_cell_certificate(tmp_path, capsys, monkeypatch) -> None:
    status, out, err = _cli(MY_CELL_CHECK[1], _my_cell(tmp_path), capsys, monkeypatch)
    sample = _block(*MY_CELL_SAMPLE).lines
    printed = [line.rstrip() for line in out.splitlines()]
    assert status == 0, out[-3000:] + err
    assert not _shown_lines_are_printed(sample[:-1], printed), "\n".join(printed[:30])
    assert printed[-1] == sample[-1], printed[-1]


@pytest.mark.certificate
def test_the_walkthrough_fused_cell_is_rejected(tmp_path, capsys, monkeypatch) -> None:
    status, out, err = _cli(FUSED_CHECK[1], _my_cell(tmp_path, fused=True), capsys, monkeypatch)
    assert status == 1, out[-3000:] + err
    assert out.splitlines()[-1] == FUSED_VERDICT[1], out[-3000:]


def test_the_mutation_commands_name_real_sessions() -> None:
    noxfile = (ROOT / "noxfile.py").read_text()
    assert _defines("noxfile.py", "mutants"), "docs/mutation.md runs `nox -s mutants`"
    for group in ("harness", "core"):
        assert f'"{group}":' in noxfile, f"docs/mutation.md runs `nox -s mutants -- {group}`"
