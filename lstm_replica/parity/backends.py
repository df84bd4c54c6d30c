"""The device and backend flags a check runs under, applied to candidate and reference alike.

``native`` is ATen's own kernels (oneDNN off on the CPU, cuDNN off on CUDA),
the path on which the replica is bitwise ``nn.LSTM``; ``onednn`` (CPU) and
``cudnn`` (CUDA) let ``nn.LSTM`` take its fused kernel. TF32 only exists on CUDA.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import torch

if TYPE_CHECKING:
    from torch.backends.cuda import cuBLASModule
    from torch.backends.cudnn.rnn import CudnnRNNModule
    from torch.backends.mkldnn import MkldnnModule

BACKENDS = ("native", "onednn", "cudnn")


@dataclass(frozen=True)
class Backend:
    device: str = "cpu"
    backend: str = "native"
    tf32: bool = False

    @property
    def tolerance_key(self) -> str:
        """The backend column of the tolerance table."""
        return "tf32" if self.tf32 else self.backend

    def describe(self) -> str:
        flags = {
            "native": "mkldnn off" if self.device == "cpu" else "cudnn off",
            "onednn": "mkldnn on",
            "cudnn": "cudnn on",
        }[self.backend]
        tf32 = f", tf32 {'on' if self.tf32 else 'off'}" if self.device == "cuda" else ""
        return f"{self.backend} ({flags}{tf32})"


def validate(backend: Backend) -> None:
    """Refuse combinations that cannot run here, with the reason."""
    if backend.device not in ("cpu", "cuda"):
        msg = f"Expected --device cpu or cuda, got {backend.device}"
        raise ValueError(msg)
    if backend.backend not in BACKENDS:
        msg = f"Expected --backend one of {', '.join(BACKENDS)}, got {backend.backend}"
        raise ValueError(msg)
    if backend.device == "cuda" and not torch.cuda.is_available():
        msg = "Expected a CUDA device, got none: torch.cuda.is_available() is False"
        raise ValueError(msg)
    if backend.backend == "cudnn" and backend.device != "cuda":
        msg = f"Expected --device cuda with --backend cudnn, got --device {backend.device}"
        raise ValueError(msg)
    if backend.backend == "onednn" and backend.device != "cpu":
        msg = f"Expected --device cpu with --backend onednn, got --device {backend.device}"
        raise ValueError(msg)
    if backend.tf32 and backend.device != "cuda":
        msg = f"Expected --device cuda with --tf32 on (TF32 is a CUDA feature), got --device {backend.device}"
        raise ValueError(msg)


def not_compared(backend: Backend) -> dict[str, str]:
    """Features the reference cannot be compared on under this backend, each with the reason."""
    if backend.backend == "cudnn":
        return {
            "dropout": "cuDNN draws its dropout masks from its own generator, which no other LSTM can reproduce; "
            "--backend native compares dropout"
        }
    return {}


def _set_tf32(enabled: bool) -> Callable[[], None]:
    """TF32 on or off for cuBLAS matmuls and cuDNN RNNs; returns the undo.

    torch >= 2.9 has ``fp32_precision`` per backend and warns when the older ``allow_tf32``
    switches are read or set, so those are used only where the new ones are missing.
    """
    if hasattr(torch.backends.cuda.matmul, "fp32_precision"):
        precision = "tf32" if enabled else "ieee"
        # cast: torch declares cudnn.rnn a plain module; on import it replaces itself by a CudnnRNNModule
        rnn = cast("CudnnRNNModule", torch.backends.cudnn.rnn)
        targets: list[cuBLASModule | CudnnRNNModule] = [torch.backends.cuda.matmul, rnn]
        previous = [t.fp32_precision for t in targets]
        for target in targets:
            target.fp32_precision = precision

        def restore() -> None:
            for target, value in zip(targets, previous, strict=True):
                target.fp32_precision = value

        return restore
    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = enabled

    def undo() -> None:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old

    return undo


@contextmanager
def flags(backend: Backend) -> Iterator[None]:
    """Set the backend flags for the duration of a run; both sides of a comparison run inside.

    The flags are set one by one (``torch.backends.*.flags()`` also resets switches it was not asked
    about, and those warn on some builds).
    """
    with ExitStack() as stack:
        if backend.device == "cpu":
            # cast: torch declares mkldnn.enabled a ContextProp; the module is replaced by a MkldnnModule whose
            # descriptor reads and writes a bool
            mkldnn = cast("MkldnnModule", torch.backends.mkldnn)
            previous_mkldnn = mkldnn.enabled
            mkldnn.enabled = backend.backend == "onednn"
            stack.callback(setattr, mkldnn, "enabled", previous_mkldnn)
        else:
            previous_cudnn = torch.backends.cudnn.enabled
            torch.backends.cudnn.enabled = backend.backend == "cudnn"
            stack.callback(setattr, torch.backends.cudnn, "enabled", previous_cudnn)
            stack.callback(_set_tf32(backend.tf32))
        yield
