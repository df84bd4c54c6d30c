"""The parity suite: lstm_replica against torch.nn, bitwise where the reference is deterministic."""
