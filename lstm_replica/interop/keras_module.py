"""Deprecated: moved to :mod:`lstm_replica.targets.keras` (a framework target of ``lstm-replica check``, not a
converter). This shim re-exports it, with a DeprecationWarning on import, for one release.
"""

from __future__ import annotations

from lstm_replica._deprecation import warn_moved_module
from lstm_replica.targets.keras import KerasLSTM, KerasWeights, import_keras

__all__ = ["KerasLSTM", "KerasWeights", "import_keras"]

warn_moved_module("lstm_replica.interop.keras_module", "lstm_replica.targets.keras")
