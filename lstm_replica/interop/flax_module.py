"""Deprecated: moved to :mod:`lstm_replica.targets.flax` (a framework target of ``lstm-replica check``, not a
converter). This shim re-exports it, with a DeprecationWarning on import, for one release.
"""

from __future__ import annotations

from lstm_replica._deprecation import warn_moved_module
from lstm_replica.targets.flax import GATES, FlaxLSTMCell, FlaxOptimizedLSTMCell

__all__ = ["GATES", "FlaxLSTMCell", "FlaxOptimizedLSTMCell"]

warn_moved_module("lstm_replica.interop.flax_module", "lstm_replica.targets.flax")
