"""lstm-replica: a hand-written LSTM that is bitwise identical to ``torch.nn.LSTM``.

``LSTM`` and ``LSTMCell`` are drop-ins for ``nn.LSTM`` / ``nn.LSTMCell`` (same
parameters, state_dict keys and initialisation); ``LSTMClassifier`` adds the
``nn.Linear`` head that turns hidden features into class logits; ``FastLSTM``
is ``nn.LSTM`` with a fused time loop, within tolerance rather than bitwise.
``check`` certifies a candidate against ``nn.LSTM`` (:mod:`lstm_replica.parity`,
imported on first use).

The step functions and loop machinery are in :mod:`lstm_replica.functional`
(as ``torch.nn.functional`` beside ``torch.nn``), checkpoint I/O in
:mod:`lstm_replica.checkpoint`. Importing those names from ``lstm_replica``
itself still works for one release, with a DeprecationWarning.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

from lstm_replica import checkpoint as checkpoint
from lstm_replica import functional as functional
from lstm_replica._deprecation import moved_message
from lstm_replica.classifier import LSTMClassifier
from lstm_replica.fast import FastLSTM
from lstm_replica.lstm import LSTM
from lstm_replica.lstm_cell import LSTMCell

if TYPE_CHECKING:
    from lstm_replica.parity import check

__all__ = ["LSTM", "FastLSTM", "LSTMCell", "LSTMClassifier", "check"]
__version__ = "0.1.0"

# The names this package exported before the modules / functions split live in these two submodules now: each
# old name is its new module's (one release, with a warning)
_MOVED = {name: module for module in (functional, checkpoint) for name in module.__all__}


def __getattr__(name: str) -> object:
    """``check`` imported on first use (the harness is not imported with the package); the moved names, warned."""
    if name == "check":
        from lstm_replica.parity import check

        globals()["check"] = check
        return check
    if name in _MOVED:
        module = _MOVED[name]
        warnings.warn(moved_message(f"lstm_replica.{name}", module.__name__), DeprecationWarning, stacklevel=2)
        return getattr(module, name)
    msg = f"module 'lstm_replica' has no attribute {name!r}"
    raise AttributeError(msg)


def __dir__() -> list[str]:
    """The public names: ``__all__``, the two submodules that hold the rest, and ``__version__``."""
    return sorted([*__all__, "checkpoint", "functional", "__version__"])
