"""lstm-replica: a hand-written LSTM that is bitwise identical to ``torch.nn.LSTM``.

``LSTM`` and ``LSTMCell`` are drop-ins for ``nn.LSTM`` / ``nn.LSTMCell`` (same
parameters, state_dict keys and initialisation); ``LSTMClassifier`` adds the
``nn.Linear`` head that turns hidden features into class logits.
"""

from lstm_replica.cell import CellWeights, input_projection, lstm_cell_step, lstm_step
from lstm_replica.checkpoint import load_checkpoint, load_state_dict_file, save_checkpoint
from lstm_replica.classifier import LSTMClassifier, top_layer_state
from lstm_replica.layers import CellRecurrence, NativeRecurrence, Recurrence, layer_stack
from lstm_replica.lstm import LSTM
from lstm_replica.lstm_cell import LSTMCell

__all__ = [
    "LSTM",
    "CellRecurrence",
    "CellWeights",
    "LSTMCell",
    "LSTMClassifier",
    "NativeRecurrence",
    "Recurrence",
    "input_projection",
    "layer_stack",
    "load_checkpoint",
    "load_state_dict_file",
    "lstm_cell_step",
    "lstm_step",
    "save_checkpoint",
    "top_layer_state",
]
__version__ = "0.1.0"
