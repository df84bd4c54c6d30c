"""What the package asks pip for: numpy is a core dependency, torch a range (README.md pins the CPU build)."""

from __future__ import annotations

from pathlib import Path

import tomllib
from packaging.requirements import Requirement

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def _core() -> dict[str, Requirement]:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    return {Requirement(text).name: Requirement(text) for text in project["dependencies"]}


def test_numpy_is_a_core_dependency() -> None:
    # without numpy, `import torch` warns "Failed to initialize NumPy" in the main job itself
    core = _core()
    assert "numpy" in core, f"Expected numpy among the core dependencies, got {sorted(core)}"
    assert core["numpy"].marker is None, f"Expected numpy unconditionally, got the marker {core['numpy'].marker}"


def test_torch_is_a_range_not_a_pin() -> None:
    torch = _core()["torch"]
    operators = {spec.operator for spec in torch.specifier}
    assert "==" not in operators, f"Expected a range for torch (a bare pin pulls a CUDA build), got {torch}"
    assert torch.specifier.contains("2.13.0"), f"Expected the range to admit the CPU build 2.13.0, got {torch}"
