"""What the benchmarks run: the configurations, the implementations compared, and one timed step of each.

Shared by ``test_bench_cpu.py``, ``test_bench_cuda.py`` and ``memory.py`` so
that timings and peak memory are taken on exactly the same work. Every
implementation of a configuration starts from the same ``nn.LSTM`` weights
(the replica and the fast mode are built with ``from_torch``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lstm_replica import LSTM, LSTMClassifier
from lstm_replica.fast import FastLSTM
from lstm_replica.parity import backends

# torch.set_num_threads for every CPU measurement; BENCH_THREADS overrides it (the CI smoke test uses 1)
THREADS = int(os.environ.get("BENCH_THREADS", "2"))


@dataclass(frozen=True)
class Workload:
    """One benchmark configuration: module arguments and input shape (time-major, float32)."""

    name: str
    seq_len: int
    batch: int
    input_size: int
    hidden_size: int
    num_layers: int = 1
    bidirectional: bool = False
    proj_size: int = 0
    num_classes: int = 0  # > 0: an nn.Linear head on the top layer's h_n and a cross-entropy loss

    def shapes(self) -> dict[str, object]:
        return {k: v for k, v in asdict(self).items() if k != "name"}

    def lstm_kwargs(self) -> dict[str, object]:
        return {
            "input_size": self.input_size,
            "hidden_size": self.hidden_size,
            "num_layers": self.num_layers,
            "bidirectional": self.bidirectional,
            "proj_size": self.proj_size,
        }


FASTRNNS = Workload("fastrnns", seq_len=100, batch=64, input_size=512, hidden_size=512)
CLASSIFIER = Workload("classifier", seq_len=50, batch=32, input_size=5, hidden_size=256, num_classes=10)
DEEP = Workload(
    "deep", seq_len=100, batch=32, input_size=256, hidden_size=256, num_layers=3, bidirectional=True, proj_size=128
)
SWEEP_LENGTHS = (100, 200, 400, 800)
SWEEP = tuple(Workload(f"seq{n}", seq_len=n, batch=32, input_size=256, hidden_size=256) for n in SWEEP_LENGTHS)
WORKLOADS: dict[str, Workload] = {w.name: w for w in (FASTRNNS, CLASSIFIER, DEEP, *SWEEP)}


class TorchClassifier(nn.Module):
    """The classifier's ``nn.LSTM`` baseline as written with torch.nn alone: the top layer's h_n through the head.

    Only timed and measured here, never compared: the parity tests hold their own oracles.
    """

    def __init__(self, lstm: nn.LSTM, head: nn.Linear) -> None:
        super().__init__()
        self.lstm, self.head = lstm, head

    def forward(self, x: Tensor) -> Tensor:
        _, (h_n, _) = self.lstm(x)
        top = torch.cat([h_n[-2], h_n[-1]], dim=-1) if self.lstm.bidirectional else h_n[-1]
        return self.head(top)


@dataclass(frozen=True)
class Variant:
    """An implementation under a set of backend flags.

    impl: ``nn.LSTM`` (the reference), ``replica`` (exact mode, :class:`lstm_replica.LSTM`),
    ``fast`` (:class:`lstm_replica.fast.FastLSTM`), ``fast+graphs`` (FastLSTM replayed
    as CUDA graphs). flags: ``native`` (oneDNN / cuDNN off), ``default`` (PyTorch's
    defaults: oneDNN on for CPU, cuDNN on for CUDA).
    """

    impl: str
    flags: str

    @property
    def id(self) -> str:
        return f"{self.impl}[{self.flags}]"


CPU_VARIANTS = (
    Variant("nn.LSTM", "native"),
    Variant("replica", "native"),
    Variant("nn.LSTM", "default"),
    Variant("replica", "default"),
    Variant("fast", "default"),
)
MODES = ("forward", "forward+backward")


def backend_flags(device: str, flags: str) -> contextlib.AbstractContextManager[None]:
    """``native``: oneDNN off (CPU) / cuDNN off (CUDA); ``default``: PyTorch's defaults (oneDNN / cuDNN on).

    TF32 is off on CUDA either way, so every implementation computes in float32.
    """
    backend = "native" if flags == "native" else ("onednn" if device == "cpu" else "cudnn")
    return backends.flags(backends.Backend(device, backend, tf32=False))


def build_model(workload: Workload, impl: str, device: torch.device) -> nn.Module:
    """The module under test, with weights drawn from seed 0 identically for every implementation."""
    torch.manual_seed(0)
    reference = nn.LSTM(**workload.lstm_kwargs(), device=device)
    if impl == "nn.LSTM":
        lstm: nn.Module = reference
    elif impl == "replica":
        lstm = LSTM.from_torch(reference)
    elif impl in ("fast", "fast+graphs"):
        lstm = FastLSTM.from_torch(reference)
    else:
        raise ValueError(f"Expected impl nn.LSTM, replica, fast or fast+graphs, got {impl}")
    if not workload.num_classes:
        return lstm
    features = (reference.proj_size or reference.hidden_size) * (2 if reference.bidirectional else 1)
    head = nn.Linear(features, workload.num_classes, device=device)
    if impl == "nn.LSTM":
        return TorchClassifier(reference, head)
    model = LSTMClassifier.from_torch(reference, head)
    model.lstm = lstm
    return model


@dataclass
class Step:
    """One forward, or forward and backward, of a model on fixed inputs; ``reset`` clears the gradients."""

    model: nn.Module
    x: Tensor
    target: Tensor | None
    backward: bool

    def reset(self) -> None:
        self.model.zero_grad(set_to_none=True)

    def __call__(self) -> None:
        result = self.model(self.x)
        if not self.backward:
            return
        loss = loss_of(result, self.target)
        loss.backward()


def loss_of(result: Tensor | tuple[Tensor, tuple[Tensor, Tensor]], target: Tensor | None) -> Tensor:
    """Cross-entropy of the classifier's logits, or the sum of the LSTM output."""
    if target is not None:
        assert isinstance(result, Tensor)
        return F.cross_entropy(result, target)
    assert isinstance(result, tuple)
    return result[0].sum()


def make_step(
    workload: Workload, impl: str, mode: str, device: torch.device, model_wrapper: Callable | None = None
) -> Step:
    """The timed unit: inputs drawn from seed 1, the same for every implementation."""
    model = build_model(workload, impl, device)
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(workload.seq_len, workload.batch, workload.input_size, generator=generator).to(device)
    target = None
    if workload.num_classes:
        target = torch.randint(0, workload.num_classes, (workload.batch,), generator=generator).to(device)
    if model_wrapper is not None:
        model = model_wrapper(model, x)
    return Step(model, x, target, backward=mode == "forward+backward")
