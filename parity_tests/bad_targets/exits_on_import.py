"""A candidate module whose import calls sys.exit: the harness must report it, not exit with it."""

import sys

sys.exit(0)
