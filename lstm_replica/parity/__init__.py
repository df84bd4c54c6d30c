"""The parity harness: certify a candidate LSTM or cell against ``nn.LSTM`` / ``nn.LSTMCell``.

``check(candidate, **options)`` returns a :class:`Report` (verdict, tables,
first-mismatch location, provenance); ``assert_lstm_parity`` fails a test with
that report unless the candidate is a replica under the requested standard.
Options: ``tolerance``, ``quick``, ``configs``, ``device``, ``backend``,
``tf32``, ``seed``, ``weights`` (an adapter ``fn(candidate, reference)``), ``progress``,
``timeout`` (seconds per configuration), ``on_stuck`` and ``fail_fast`` (stop at the first difference).
The candidate runs in a child process, so that a segfault, ``os._exit`` or an out-of-memory kill costs the
configuration it happened in, not the caller; ``isolate=False`` runs it in the caller's process (for a
debugger), see :mod:`.isolation`.
``configurations(candidate, **options)`` lists the configurations ``check`` runs with those options, for
``pytest.mark.parametrize``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from lstm_replica.parity.configs import Config
    from lstm_replica.parity.isolation import check
    from lstm_replica.parity.matrix import default_matrix, quick_matrix
    from lstm_replica.parity.orchestrate import configurations
    from lstm_replica.parity.report import Report
    from lstm_replica.parity.results import ConfigResult
    from lstm_replica.parity.selection import CheckArguments

# the public names, loaded from their modules on first use: importing the package (or a light module of it, such
# as .report to read a saved report) does not load the machinery that runs candidates
_PUBLIC = {
    "Config": "configs",
    "check": "isolation",
    "default_matrix": "matrix",
    "quick_matrix": "matrix",
    "configurations": "orchestrate",
    "Report": "report",
    "ConfigResult": "results",
}


def __getattr__(name: str) -> Any:  # Any: whichever public object is asked for
    if name not in _PUBLIC:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    return getattr(importlib.import_module(f"{__name__}.{_PUBLIC[name]}"), name)


def assert_lstm_parity(candidate: object, *, isolate: bool = True, **options: Unpack[CheckArguments]) -> Report:
    """Raise AssertionError with the full report unless ``candidate`` is a replica; return the report.

    ``isolate``: as :func:`check`'s (the candidate runs in a child process unless it is False).
    """
    from lstm_replica.parity.isolation import check

    report = check(candidate, isolate=isolate, **options)
    if report.exit_status != 0:
        raise AssertionError(report.text())
    return report


__all__ = [
    "Config",
    "ConfigResult",
    "Report",
    "assert_lstm_parity",
    "check",
    "configurations",
    "default_matrix",
    "quick_matrix",
]
