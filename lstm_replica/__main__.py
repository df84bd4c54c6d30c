"""``python -m lstm_replica`` runs the ``lstm-replica`` command line."""

import sys

from lstm_replica.faces.cli import main

sys.exit(main())
