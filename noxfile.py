"""nox sessions for lstm-replica: tests and lint by default; bench and cuda on request."""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["tests", "lint"]

# The CPU build of torch, pinned here as in README.md; the package itself asks for a range.
TORCH = "torch==2.13.0"


@nox.session
def tests(session: nox.Session) -> None:
    """Run the parity suite (CPU; CUDA tests skip without a GPU)."""
    session.install(TORCH, "-e", ".[test,plot]")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff lint and format check, and mypy (its files and settings are in pyproject.toml)."""
    # the extras too: mypy reads pytest's and matplotlib's own types (the plugin and plot.py import them)
    session.install(TORCH, "-e", ".[test,plot]", "mypy", "ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")


@nox.session
def cuda(session: nox.Session) -> None:
    """Run only the CUDA-marked parity tests (needs a GPU and a CUDA build of torch)."""
    session.install("torch", "-e", ".[test]")
    session.run("pytest", "-m", "cuda", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks vs nn.LSTM (CPU; CUDA too on a GPU machine), peak memory, harness time -> benchmarks/RESULTS.md."""
    session.install(TORCH, "-e", ".[test,plot]")
    out = "benchmarks/results"
    session.run(
        "pytest", "benchmarks", "-n", "0", f"--benchmark-json={out}/bench.json", "--benchmark-sort=name",
        *session.posargs,
    )  # fmt: skip
    root = {"PYTHONPATH": "."}  # benchmarks/workloads.py imports the tests' pure-torch oracles
    session.run("python", "benchmarks/memory.py", f"--out={out}/memory.json", env=root)
    session.run("python", "benchmarks/harness_time.py", f"--out={out}/harness.json")
    session.run(
        "python", "benchmarks/report.py", f"--bench={out}/bench.json", f"--memory={out}/memory.json",
        f"--harness={out}/harness.json", "--out=benchmarks/RESULTS.md",
    )  # fmt: skip


@nox.session
def interop(session: nox.Session) -> None:
    """Keras 3 (torch backend), Flax / JAX and onnxruntime run on converted weights against nn.LSTM (not default)."""
    session.install(TORCH, "-e", ".[test,interop]")
    session.run("pytest", "parity_tests", "-k", "interop", *session.posargs)
