"""The public API by kind: modules and ``check`` from ``lstm_replica``, functions from ``lstm_replica.functional``.

``lstm_replica`` exports what users instantiate (``LSTM``, ``LSTMCell``, ``LSTMClassifier``, ``FastLSTM``) and the
harness's ``check``, imported on first use; the step functions and loop machinery are in ``lstm_replica.functional``,
checkpoint I/O in ``lstm_replica.checkpoint``. The old paths work for one release, each with a DeprecationWarning
naming the new one: the twelve names ``lstm_replica`` exported before, and the framework targets' old modules
``lstm_replica.interop.keras_module`` / ``flax_module`` (now ``lstm_replica.targets.keras`` / ``flax``).
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys

import pytest

import lstm_replica
from lstm_replica import checkpoint, functional

NEW = ["FastLSTM", "LSTM", "LSTMCell", "LSTMClassifier", "check"]
MOVED_TO_FUNCTIONAL = [
    "CellRecurrence",
    "CellWeights",
    "NativeRecurrence",
    "Recurrence",
    "input_projection",
    "layer_stack",
    "lstm_cell_step",
    "lstm_step",
    "top_layer_state",
]
MOVED_TO_CHECKPOINT = ["load_checkpoint", "load_state_dict_file", "save_checkpoint"]
MOVED_MODULES = [
    ("lstm_replica.interop.keras_module", "lstm_replica.targets.keras", ["KerasLSTM", "KerasWeights", "import_keras"]),
    ("lstm_replica.interop.flax_module", "lstm_replica.targets.flax", ["FlaxLSTMCell", "FlaxOptimizedLSTMCell"]),
]


def _python(code: str) -> subprocess.CompletedProcess[str]:
    """``code`` run by a fresh interpreter (its own ``sys.modules`` and warning filters)."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)


def test_the_package_exports_the_modules_and_check_only() -> None:
    from lstm_replica.classifier import LSTMClassifier
    from lstm_replica.fast import FastLSTM
    from lstm_replica.lstm import LSTM
    from lstm_replica.lstm_cell import LSTMCell

    assert sorted(lstm_replica.__all__) == NEW
    assert (lstm_replica.LSTM, lstm_replica.LSTMCell) == (LSTM, LSTMCell)
    assert (lstm_replica.LSTMClassifier, lstm_replica.FastLSTM) == (LSTMClassifier, FastLSTM)
    assert lstm_replica.__version__


def test_fast_lstm_and_check_import_from_the_package() -> None:
    from lstm_replica import FastLSTM, check, parity
    from lstm_replica.fast import FastLSTM as defined

    assert FastLSTM is defined
    assert check is parity.check


def test_importing_the_package_does_not_import_the_harness() -> None:
    result = _python(
        "import sys, lstm_replica\n"
        "print(sorted(name for name in sys.modules if name.startswith('lstm_replica.parity')))\n"
        "from lstm_replica import check\n"
        "print('lstm_replica.parity' in sys.modules, check is sys.modules['lstm_replica.parity'].check)\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["[]", "True True"], "the harness is imported by `check`'s first use only"


def test_dir_lists_the_new_kinds_only() -> None:
    listed = dir(lstm_replica)
    assert sorted(listed) == sorted([*NEW, "__version__", "checkpoint", "functional"])
    assert not set(listed) & {*MOVED_TO_FUNCTIONAL, *MOVED_TO_CHECKPOINT}


def test_functional_and_checkpoint_hold_the_functions() -> None:
    from lstm_replica import cell, classifier, layers

    assert sorted(functional.__all__) == sorted(MOVED_TO_FUNCTIONAL)
    for name in MOVED_TO_FUNCTIONAL:
        home = next(module for module in (cell, layers, classifier) if name in vars(module))
        assert getattr(functional, name) is getattr(home, name), name
    assert sorted(checkpoint.__all__) == MOVED_TO_CHECKPOINT


@pytest.mark.parametrize(
    ("name", "new"),
    [(name, "lstm_replica.functional") for name in MOVED_TO_FUNCTIONAL]
    + [(name, "lstm_replica.checkpoint") for name in MOVED_TO_CHECKPOINT],
)
def test_an_old_name_warns_and_is_the_same_object(name: str, new: str) -> None:
    message = f"^{re.escape(f'lstm_replica.{name} is deprecated: import it from {new}')}$"
    with pytest.warns(DeprecationWarning, match=message):
        old = getattr(lstm_replica, name)
    assert old is getattr(importlib.import_module(new), name)


def test_from_import_of_an_old_name_warns_at_the_importing_line() -> None:
    with pytest.warns(DeprecationWarning, match="lstm_step is deprecated") as caught:
        from lstm_replica import lstm_step
    assert lstm_step is functional.lstm_step
    assert caught[0].filename == __file__, "attributed to the import statement, not to lstm_replica"


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="module 'lstm_replica' has no attribute 'lstm_stepp'"):
        lstm_replica.lstm_stepp  # noqa: B018 - the lookup is the test


@pytest.mark.parametrize(("old", "new", "names"), MOVED_MODULES, ids=["keras_module", "flax_module"])
def test_an_old_target_module_warns_on_import_and_re_exports(old: str, new: str, names: list[str]) -> None:
    """In a fresh interpreter with Python's default filters: shown (attributed to the importing line), and the same
    objects as the new module's. Neither module imports its framework until a model is built."""
    result = _python(
        f"import {new} as new\n"
        f"import {old} as old\n"
        f"print(all(getattr(old, name) is getattr(new, name) for name in {names!r}))\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"
    assert f"<string>:2: DeprecationWarning: {old} is deprecated: import it from {new}" in result.stderr


@pytest.mark.parametrize(("old", "new", "names"), MOVED_MODULES, ids=["keras_module", "flax_module"])
def test_an_old_target_module_warns_through_importlib(old: str, new: str, names: list[str]) -> None:
    """``importlib.import_module`` (as frameworks load targets) in a fresh interpreter: the warning is attributed to
    its caller, past importlib's frames. (Under pytest, which loads this package through its assertion-rewriting
    loader, one more frame lies between; a fresh interpreter is what a user's script is.)"""
    result = _python(
        "import importlib\n"
        f"shim, target = importlib.import_module({old!r}), importlib.import_module({new!r})\n"
        f"print(all(getattr(shim, name) is getattr(target, name) for name in {names!r}))\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"
    assert f"<string>:2: DeprecationWarning: {old} is deprecated: import it from {new}" in result.stderr
