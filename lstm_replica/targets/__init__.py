"""Other frameworks' LSTMs wrapped as nn.LSTM-shaped modules, to be certified by lstm-replica check: targets of a check, not converters.

Each module runs the framework's own LSTM (imported when a model is built: the ``interop`` extra) behind
``nn.LSTM``'s or ``nn.LSTMCell``'s constructor and call, its weights registered as torch parameters in one of the
``--weights`` layouts; :mod:`lstm_replica.parity.frameworks` names them as the targets of ``lstm-replica check``:

- :mod:`lstm_replica.targets.keras`: :class:`~lstm_replica.targets.keras.KerasLSTM`, Keras 3's ``keras.layers.LSTM``
  on Keras's torch backend (``lstm-replica check keras:LSTM``);
- :mod:`lstm_replica.targets.flax`: :class:`~lstm_replica.targets.flax.FlaxLSTMCell` and
  :class:`~lstm_replica.targets.flax.FlaxOptimizedLSTMCell`, Flax linen's cells run by JAX on the CPU
  (``flax:LSTMCell``, ``flax:OptimizedLSTMCell``).

The weight converters (plain arrays to and from Keras, TensorFlow, Flax and ONNX, no framework imported) are in
:mod:`lstm_replica.interop`.
"""
