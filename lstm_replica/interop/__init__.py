"""Weights across frameworks: ``nn.LSTM`` / ``lstm_replica.LSTM`` to and from Keras, TensorFlow, Flax and ONNX.

Each converter moves plain arrays (torch tensors out; numpy, JAX or torch in) and imports no framework, so it runs
where only torch is installed. ``to_*`` takes an ``nn.LSTM``, an ``lstm_replica.LSTM`` or their state_dict;
``from_*`` returns ``nn.LSTM``'s state_dict, which :func:`config_from_state_dict` turns into the module:
``lstm = nn.LSTM(**config_from_state_dict(sd), batch_first=True); lstm.load_state_dict(sd)``.
The layouts, and what each conversion rounds, are in each module's docstring and in docs/interop.md.

The modules that run a framework's own LSTM behind ``nn.LSTM``'s interface, the targets of ``lstm-replica check
keras:LSTM`` and ``flax:LSTMCell``, are not converters: they are in :mod:`lstm_replica.targets`
(``interop.keras_module`` and ``interop.flax_module`` remain, deprecated, for one release).
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
