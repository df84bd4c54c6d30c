"""nox sessions for lstm-replica: tests and lint by default; bench and cuda on request."""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["tests", "lint"]

# The CPU build of torch, pinned here as in README.md; the package itself asks for a range.
TORCH = "torch==2.13.0"
# The mutation tester; its configuration is [tool.mutmut] in pyproject.toml (docs/mutation.md).
MUTMUT = "mutmut==3.8.1"
# Mutant-name globs for `nox -s mutants -- harness` / `-- core`; any other posargs go to `mutmut run` as they are.
MUTANT_GROUPS = {
    "harness": [
        f"lstm_replica.parity.{module}.*" for module in ("compare", "configs", "matrix", "sizes", "report", "results")
    ],
    "core": [
        f"lstm_replica.{module}.*"
        for module in ("cell", "layers", "lstm", "names", "lstm_cell", "classifier", "transfer", "checks", "arguments")
    ],
}


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
    # memory.py imports workloads.py from its own folder (a script's folder is on sys.path): no PYTHONPATH needed
    session.run("python", "benchmarks/memory.py", f"--out={out}/memory.json")
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


@nox.session
def mutants(session: nox.Session) -> None:
    """Mutation testing (mutmut) of the replica's core and the harness's judging code; docs/mutation.md.

    ``nox -s mutants`` runs every configured module, ``-- harness`` or ``-- core`` one group; other posargs
    (mutant names or globs) go to ``mutmut run``. Mutants and results stay in mutants/ (git-ignored); the
    survivors are listed at the end.
    """
    session.install(TORCH, "-e", ".[test]", MUTMUT)
    session.env["OMP_NUM_THREADS"] = "1"  # mutmut runs one mutant per core: one torch thread each
    names = [name for arg in session.posargs for name in MUTANT_GROUPS.get(arg, [arg])]
    session.run("mutmut", "run", *names)
    # every mutant not killed, less those of modules this run left alone ("not checked")
    results = session.run("mutmut", "results", silent=True) or ""
    left = [line.strip() for line in results.splitlines() if line.strip() and not line.endswith(": not checked")]
    session.log("\n".join([f"{len(left)} mutants not killed (docs/mutation.md lists the equivalent ones):", *left]))
