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

from typing import TYPE_CHECKING

from lstm_replica.parity.configs import Config, default_matrix, quick_matrix
from lstm_replica.parity.isolation import check
from lstm_replica.parity.report import ConfigResult, Report
from lstm_replica.parity.runner import configurations

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from lstm_replica.parity.runner import CheckArguments


def assert_lstm_parity(candidate: object, *, isolate: bool = True, **options: Unpack[CheckArguments]) -> Report:
    """Raise AssertionError with the full report unless ``candidate`` is a replica; return the report.

    ``isolate``: as :func:`check`'s (the candidate runs in a child process unless it is False).
    """
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
