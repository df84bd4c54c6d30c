"""What users meet: the ``lstm-replica`` command line (``check``, ``explain``), the pytest plugin and the plots.

The package has three layers, each importing only from the ones before it:

* the replica (``lstm_replica``: cell, layers, checks, names, lstm, lstm_cell, classifier, transfer, checkpoint, fast);
* the harness (``lstm_replica.parity``), which certifies a candidate against ``nn.LSTM``;
* the faces (here): argument parsing, the explain trace, printing and drawing.
"""
