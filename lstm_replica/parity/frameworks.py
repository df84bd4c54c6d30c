"""Framework targets: ``lstm-replica check keras:LSTM`` certifies another framework's own LSTM against nn.LSTM.

A framework target names a wrapper in :mod:`lstm_replica.targets` that runs the framework's LSTM with
``nn.LSTM``'s (or ``nn.LSTMCell``'s) constructor and call, its weights registered as torch parameters in one of
the ``--weights`` layouts. The harness checks it as any candidate: forward, every gradient, training, the probes.
What the framework lacks is either refused by the wrapper when built (the harness finds it, as for any
candidate: ``proj_size`` for Keras) or declared here, with the reason, where it is not a configuration but a
probe (``initialisation``: Keras draws its own initial weights). The verdict names both: a partial certificate.

========================= ============================================== ========= ==========================
target                    what runs                                      --weights declared unsupported
========================= ============================================== ========= ==========================
``keras:LSTM``            Keras 3 ``keras.layers.LSTM`` (``Bidirectional`` keras     initialisation,
                          for two directions) on Keras's torch backend             dtype_moves
``flax:LSTMCell``         Flax linen's ``LSTMCell`` one step at a time,  per-gate-t initialisation,
                          forward and backward by JAX on the CPU                   double_backward,
                                                                                   torch_func
``flax:OptimizedLSTMCell`` the same with ``OptimizedLSTMCell``            per-gate-t the same
========================= ============================================== ========= ==========================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import metadata

from lstm_replica.parity.candidates import CheckError, load


@dataclass(frozen=True)
class Framework:
    """A framework target: the wrapper to load, its weight layout, and what it declares unsupported (with why)."""

    wrapper: str  # module:attr of the wrapper class
    weights: str  # the --weights layout its parameters are in
    distribution: str  # the package whose version goes into the report's provenance
    declared: dict[str, str] = field(default_factory=dict)  # feature -> why it is out of scope


FRAMEWORKS: dict[str, Framework] = {
    "keras:LSTM": Framework(
        "lstm_replica.targets.keras:KerasLSTM",
        "keras",
        "keras",
        {
            "initialisation": "Keras draws its own initial weights (kernel Glorot uniform, recurrent_kernel "
            "orthogonal, the f block of the bias 1: unit_forget_bias), not nn.LSTM's U(-1/sqrt(H), 1/sqrt(H))",
            "dtype_moves": "Keras's layer computes in the dtype it was built with: .double() / .float() move the "
            "torch parameters registered for it, not Keras's own variables",
        },
    ),
    **{
        f"flax:{name}": Framework(
            f"lstm_replica.targets.flax:Flax{name}",
            "per-gate-t",
            "flax",
            {
                "initialisation": "Flax draws its own initial weights (input kernels LeCun normal, hidden kernels "
                "orthogonal, biases zero), not nn.LSTMCell's U(-1/sqrt(H), 1/sqrt(H))",
                "double_backward": "the bridge's backward is JAX's vector-Jacobian product, which torch cannot "
                "differentiate again",
                "torch_func": "the bridge hands the tensors to JAX as arrays: torch.func's transformed tensors "
                "cannot cross it",
            },
        )
        for name in ("LSTMCell", "OptimizedLSTMCell")
    },
}


def framework(target: object) -> Framework | None:
    """The framework target ``target`` names, if it names one."""
    return FRAMEWORKS.get(target) if isinstance(target, str) else None


def load_wrapper(target: Framework) -> tuple[object, str]:
    """The wrapper class and ``name version`` of the framework's package (for the report's provenance).

    CheckError naming the extra to install when the framework is missing.
    """
    try:
        version = metadata.version(target.distribution)
    except metadata.PackageNotFoundError as exc:
        msg = (
            f"Expected {target.distribution} to be installed for this framework target, got none "
            "(pip install 'lstm-replica[interop]')"
        )
        raise CheckError(msg) from exc
    return load(target.wrapper), f"{target.distribution} {version}"
