"""Weights across frameworks: ``nn.LSTM`` / ``lstm_replica.LSTM`` to and from Keras, TensorFlow, Flax and ONNX.

Each converter moves plain arrays (torch tensors out; numpy, JAX or torch in) and imports no framework, so it runs
where only torch is installed. ``to_*`` takes an ``nn.LSTM``, an ``lstm_replica.LSTM`` or their state_dict;
``from_*`` returns ``nn.LSTM``'s state_dict, which :func:`config_from_state_dict` turns into the module:
``lstm = nn.LSTM(**config_from_state_dict(sd), batch_first=True); lstm.load_state_dict(sd)``.
The layouts, and what each conversion rounds, are in each module's docstring and in README.md.

Two modules run a framework itself, imported when a model is built (the ``interop`` extra), and are not imported
here: :mod:`~lstm_replica.interop.keras_module` (Keras 3's ``LSTM`` with ``nn.LSTM``'s interface) and
:mod:`~lstm_replica.interop.flax_module` (Flax's cells with ``nn.LSTMCell``'s), which ``lstm-replica check keras:LSTM``
and ``flax:LSTMCell`` certify (:mod:`lstm_replica.parity.frameworks`).
"""

from lstm_replica.interop.flax import from_flax, to_flax
from lstm_replica.interop.gates import config_from_state_dict, reorder_gates
from lstm_replica.interop.keras import from_keras, to_keras
from lstm_replica.interop.onnx import (
    check_onnx_attributes,
    from_onnx,
    output_from_onnx,
    state_from_onnx,
    state_to_onnx,
    to_onnx,
)
from lstm_replica.interop.tensorflow import from_tensorflow, to_tensorflow

__all__ = [
    "check_onnx_attributes",
    "config_from_state_dict",
    "from_flax",
    "from_keras",
    "from_onnx",
    "from_tensorflow",
    "output_from_onnx",
    "reorder_gates",
    "state_from_onnx",
    "state_to_onnx",
    "to_flax",
    "to_keras",
    "to_onnx",
    "to_tensorflow",
]
