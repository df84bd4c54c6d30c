"""A candidate file whose own import fails: it depends on a package that is not installed."""

import no_such_dependency_xyz  # noqa: F401 - the failing import is the point

from lstm_replica import LSTM  # noqa: F401 - the target, never reached
