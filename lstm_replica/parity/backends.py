"""The device and backend flags a check runs under, applied to candidate and reference alike.

``native`` is ATen's own kernels (oneDNN off on the CPU, cuDNN off on CUDA),
the path on which the replica is bitwise ``nn.LSTM``; ``onednn`` (CPU) and
``cudnn`` (CUDA) let ``nn.LSTM`` take its fused kernel. TF32 only exists on CUDA.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import torch

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


@contextmanager
def flags(backend: Backend) -> Iterator[None]:
    """Set the backend flags for the duration of a run; both sides of a comparison run inside."""
    with ExitStack() as stack:
        if backend.device == "cpu":
            # set the one flag directly: mkldnn.flags() also resets oneDNN's TF32 switch, which warns
            previous_mkldnn = torch.backends.mkldnn.enabled
            torch.backends.mkldnn.enabled = backend.backend == "onednn"
            stack.callback(setattr, torch.backends.mkldnn, "enabled", previous_mkldnn)
        else:
            stack.enter_context(torch.backends.cudnn.flags(enabled=backend.backend == "cudnn", allow_tf32=backend.tf32))
            previous = torch.backends.cuda.matmul.allow_tf32
            torch.backends.cuda.matmul.allow_tf32 = backend.tf32
            stack.callback(setattr, torch.backends.cuda.matmul, "allow_tf32", previous)
        yield
