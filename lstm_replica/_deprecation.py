"""The deprecation warnings of moved names and modules: one message format, attributed to the importing line."""

from __future__ import annotations

import sys
import warnings
from types import FrameType


def moved_message(old: str, new: str) -> str:
    """``"{old} is deprecated: import it from {new}"``."""
    return f"{old} is deprecated: import it from {new}"


def warn_moved_module(old: str, new: str) -> None:
    """Warn, from the body of the shim module ``old``, that it moved to ``new``.

    The warning is attributed to the line that imported the shim: ``warnings`` itself steps over importlib's
    bootstrap frames (an ``import`` statement), and here over ``importlib.import_module``'s frame too, so that
    Python's default filter shows it when that line is in ``__main__``.
    """
    level, frame = 3, _next_external(sys._getframe(1))  # 1: the shim's body; 3: the frame that imported it
    while frame is not None and frame.f_code.co_filename.endswith(_IMPORTLIB):
        level, frame = level + 1, _next_external(frame)
    warnings.warn(moved_message(old, new), DeprecationWarning, stacklevel=level)


_IMPORTLIB = ("importlib/__init__.py", "importlib\\__init__.py")


def _next_external(frame: FrameType) -> FrameType | None:
    """The next outer frame that is not importlib's bootstrap (the frames ``warnings``' stacklevel skips)."""
    outer = frame.f_back
    while outer is not None and "importlib" in outer.f_code.co_filename and "_bootstrap" in outer.f_code.co_filename:
        outer = outer.f_back
    return outer
