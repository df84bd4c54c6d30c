"""Loading a candidate and telling what it is: an ``nn.LSTM``-like module or an ``nn.LSTMCell``-like cell.

A target is ``module.path:attr`` (importable from the current directory or
PYTHONPATH) or ``path/to/file.py:attr``. The kind is read from the parameter
names of the class or factory: ``num_layers`` makes a module; ``input_size``
and ``hidden_size`` without it make a cell.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from torch import nn

from lstm_replica.parity.results import Kind

WeightAdapter = Callable[[nn.Module, nn.Module], None]
Factory = Callable[..., object]  # a class or function that builds a candidate (checked to be an nn.Module when built)
FILE_MODULE_PREFIX = "_lstm_parity_candidate_"  # a file target's private module name starts so


class CheckError(Exception):
    """The candidate could not be checked (exit status 2); the message says why."""


def load(target: str) -> object:
    """The object named by ``module.path:attr`` or ``path/to/file.py:attr``."""
    module_part, sep, attr = target.rpartition(":")
    if not sep or not module_part or not attr:
        msg = f"Expected a target of the form module.path:attr or path/to/file.py:attr, got {target!r}"
        raise CheckError(msg)
    try:
        with _current_directory_importable():
            module = _import_file(module_part) if module_part.endswith(".py") else importlib.import_module(module_part)
    except CheckError:
        raise
    except (Exception, SystemExit) as exc:  # a candidate's import may even call sys.exit: that is "could not check"
        msg = f"Expected {module_part} to import, got {type(exc).__name__}: {exc}"
        raise CheckError(msg) from exc
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            public = [name for name in dir(obj) if not name.startswith("_")]
            close = difflib.get_close_matches(part, public, n=3, cutoff=0.6)
            hint = f"; did you mean {' or '.join(close)}?" if close else ""
            msg = f"Expected {module_part} to define {attr}, got no attribute {part!r}{hint}"
            raise CheckError(msg)
        obj = getattr(obj, part)
    return obj


@contextmanager
def _current_directory_importable() -> Iterator[None]:
    """The current directory on ``sys.path`` for the import only, as ``python -m`` would have it."""
    added = os.getcwd() not in sys.path and "" not in sys.path
    if added:
        sys.path.insert(0, os.getcwd())
    try:
        yield
    finally:
        if added and os.getcwd() in sys.path:
            sys.path.remove(os.getcwd())


def _import_file(path: str) -> object:
    """The file imported under a private name, its own folder on ``sys.path`` meanwhile (for its sibling imports)."""
    file = Path(path)
    if not file.is_file():
        msg = f"Expected a Python file at {path}, got none"
        raise CheckError(msg)
    digest = hashlib.sha256(str(file.resolve()).encode()).hexdigest()[:12]
    name = f"{FILE_MODULE_PREFIX}{file.stem}_{digest}"  # two files of one name do not collide
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        msg = f"Expected {path} to be importable as a Python module, got no loader for it"
        raise CheckError(msg)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    folder = str(file.resolve().parent)
    added = folder not in sys.path
    if added:
        sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    finally:
        if added and folder in sys.path:
            sys.path.remove(folder)
    return module


def as_factory(obj: object) -> Factory:
    """``obj`` as a class or factory to build candidates with; CheckError if it cannot be called."""
    if not callable(obj):
        msg = f"Expected a class or factory, got {type(obj).__name__}"
        raise CheckError(msg)
    return obj


def kind_of(factory: Factory) -> Kind:
    """``"module"`` or ``"cell"``, from the names of the factory's parameters."""
    if isinstance(factory, type) and issubclass(factory, nn.LSTM):
        return "module"  # nn.LSTM's own signature is (*args, **kwargs)
    try:
        names = _parameter_names(factory)
    except (TypeError, ValueError) as exc:
        msg = f"Expected a class or factory with a readable signature, got {factory!r}"
        raise CheckError(msg) from exc
    if not {"input_size", "hidden_size"} <= names:
        msg = f"Expected parameters input_size and hidden_size (nn.LSTM or nn.LSTMCell), got ({', '.join(names)})"
        raise CheckError(msg)
    return "module" if "num_layers" in names else "cell"


def _parameter_names(factory: Factory) -> set[str]:
    """The named parameters of ``factory``; for a class whose ``__init__`` is ``(*args, **kwargs)``, its base's."""
    names = set(inspect.signature(factory).parameters)
    variadic = {"args", "kwargs"}
    if names - variadic or not isinstance(factory, type):
        return names
    for base in factory.__mro__[1:]:
        if base is object or "__init__" not in vars(base):
            continue
        if isinstance(base, type) and issubclass(base, nn.LSTM):
            return {"input_size", "hidden_size", "num_layers"}  # nn.LSTM's own signature is (*args, **kwargs)
        inherited = set(inspect.signature(base.__init__).parameters) - {"self"}
        if inherited - variadic:
            return inherited
    return names


def accepted_keywords(factory: Factory) -> set[str] | None:
    """The keyword arguments ``factory`` takes; None when it takes any (``**kwargs`` it passes to nn.LSTM)."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values()):
        return None
    return set(signature.parameters)


def describe(factory: object) -> str:
    """``module.Class``, or ``path/to/file.py:Class`` as typed for a file target."""
    module_name = getattr(factory, "__module__", "?")
    qualname = getattr(factory, "__qualname__", repr(factory))
    module = sys.modules.get(module_name)
    file = getattr(module, "__file__", None) if module_name.startswith(FILE_MODULE_PREFIX) else None
    if file:
        return f"{os.path.relpath(file)}:{qualname}"
    return f"{module_name}.{qualname}"


def load_adapter(target: str | WeightAdapter | None) -> WeightAdapter | None:
    """The ``--weights`` adapter ``fn(candidate, reference)``, loaded if given as a target string."""
    if target is None or callable(target):
        return target
    adapter = load(target)
    if not callable(adapter):
        msg = f"Expected --weights to name a function fn(candidate, reference), got {type(adapter).__name__}"
        raise CheckError(msg)
    return adapter


def load_weights(candidate: nn.Module, reference: nn.Module, adapter: WeightAdapter | None) -> None:
    """Give the candidate the reference's weights: by state_dict name, or through the adapter."""
    if adapter is not None:
        adapter(candidate, reference)
        return
    expected, got = sorted(reference.state_dict()), sorted(candidate.state_dict())
    if not set(expected) <= set(got):
        msg = f"Expected state_dict keys {expected}, got {got}; pass --weights module:fn to map them"
        raise CheckError(msg)
    candidate.load_state_dict(reference.state_dict(), strict=False)  # extra keys stay: the audit names them
