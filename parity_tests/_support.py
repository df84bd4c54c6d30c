"""Run a module forward and backward on shared inputs and collect every tensor worth comparing."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

from lstm_replica.parity.configs import Config


@dataclass(frozen=True)
class Case:
    """One parity configuration: module arguments plus how the input is presented."""

    num_layers: int = 1
    bidirectional: bool = False
    proj_size: int = 0
    bias: bool = True
    batch_first: bool = False
    input_kind: str = "batched"  # batched | unbatched | packed_sorted | packed_unsorted
    hx_given: bool = True
    dtype: torch.dtype = torch.float64
    steps: int = 7  # the sequence length (Config.steps)
    batch: int = 3  # the batch size (Config.batch)
    input_size: int = 4
    hidden_size: int = 5
    dropout: float = 0.0

    @property
    def id(self) -> str:
        parts = [
            f"layers{self.num_layers}",
            "bidir" if self.bidirectional else "unidir",
            f"proj{self.proj_size}",
            "bias" if self.bias else "nobias",
            "batch_first" if self.batch_first else "seq_first",
            self.input_kind,
            "hx" if self.hx_given else "hx_none",
            str(self.dtype).removeprefix("torch."),
        ]
        if self.steps != 7:
            parts.append(f"steps{self.steps}")
        if self.dropout:
            parts.append(f"dropout{self.dropout}")
        return "-".join(parts)

    def module_kwargs(self) -> dict[str, object]:
        """nn.LSTM's arguments as the harness's Config writes them (not the replica's own lstm_config)."""
        config = Config(
            num_layers=self.num_layers,
            bidirectional=self.bidirectional,
            proj_size=self.proj_size,
            bias=self.bias,
            batch_first=self.batch_first,
            dropout=self.dropout,
            input_size=self.input_size,
            hidden_size=self.hidden_size,
        )
        return config.module_kwargs() | {"dtype": self.dtype}


@dataclass
class Inputs:
    x: Tensor
    h0: Tensor
    c0: Tensor
    lengths: Tensor | None


def make_inputs(case: Case, generator: torch.Generator) -> Inputs:
    """Random input and non-zero, distinct h_0 and c_0 for ``case``."""
    d = 2 if case.bidirectional else 1
    h_out = case.proj_size or case.hidden_size
    layers = d * case.num_layers
    n, seq = case.batch, case.steps
    kw = {"dtype": case.dtype, "generator": generator}
    if case.input_kind == "unbatched":
        x = torch.randn(seq, case.input_size, **kw)
        h0, c0 = torch.randn(layers, h_out, **kw), torch.randn(layers, case.hidden_size, **kw)
    else:
        shape = (n, seq, case.input_size) if case.batch_first else (seq, n, case.input_size)
        x = torch.randn(shape, **kw)
        h0, c0 = torch.randn(layers, n, h_out, **kw), torch.randn(layers, n, case.hidden_size, **kw)
    lengths = None
    if case.input_kind.startswith("packed"):
        lengths = torch.randint(1, seq + 1, (n,), generator=generator)
        lengths[torch.randint(0, n, (1,), generator=generator)] = seq
        if case.input_kind == "packed_sorted":
            lengths = lengths.sort(descending=True).values
    return Inputs(x, h0, c0, lengths)


def run(module: nn.Module, case: Case, inputs: Inputs, grad_seed: int = 1234) -> dict[str, Tensor]:
    """Forward and backward with distinct random upstream gradients; returns named tensors."""
    x = inputs.x.clone().requires_grad_()
    h0 = inputs.h0.clone().requires_grad_()
    c0 = inputs.c0.clone().requires_grad_()
    model_input: Tensor | PackedSequence = x
    if inputs.lengths is not None:
        model_input = pack_padded_sequence(
            x, inputs.lengths, batch_first=case.batch_first, enforce_sorted=case.input_kind == "packed_sorted"
        )
    module.zero_grad(set_to_none=True)
    output, (h_n, c_n) = module(model_input, (h0, c0) if case.hx_given else None)
    out = output.data if isinstance(output, PackedSequence) else output
    gen = torch.Generator().manual_seed(grad_seed)
    loss = sum((t * torch.randn(t.shape, dtype=t.dtype, generator=gen).to(t.device)).sum() for t in (out, h_n, c_n))
    loss.backward()
    result = {"output": out, "h_n": h_n, "c_n": c_n, "grad_input": x.grad}
    if case.hx_given:
        result["grad_h_0"] = h0.grad
        result["grad_c_0"] = c0.grad
    for name, p in module.named_parameters():
        result[f"grad_{name}"] = p.grad
    return {k: v.detach() for k, v in result.items()}


def bitwise_differences(reference: dict[str, Tensor], candidate: dict[str, Tensor]) -> list[str]:
    """Describe every tensor that is not ``torch.equal``; empty when all are identical."""
    problems = []
    if reference.keys() != candidate.keys():
        problems.append(f"Expected tensors {sorted(reference)}, got {sorted(candidate)}")
    for name in reference.keys() & candidate.keys():
        ref, got = reference[name], candidate[name]
        if ref.shape != got.shape or ref.dtype != got.dtype:
            problems.append(f"{name}: expected {tuple(ref.shape)} {ref.dtype}, got {tuple(got.shape)} {got.dtype}")
        elif not torch.equal(ref, got):
            diff = (ref - got).abs()
            where = tuple(int(i) for i in torch.nonzero(ref != got)[0])
            problems.append(
                f"{name}: {int((ref != got).sum())}/{ref.numel()} elements differ, "
                f"max abs diff {diff.max().item():.3e}, first at index {where}"
            )
    return sorted(problems)


class TorchClassifier(nn.Module):
    """What a researcher writes with torch.nn: the top layer's h_n through a Linear head."""

    def __init__(self, lstm: nn.LSTM, head: nn.Linear) -> None:
        super().__init__()
        self.lstm, self.head = lstm, head

    def forward(self, x: Tensor | PackedSequence, hx: tuple[Tensor, Tensor] | None = None) -> Tensor:
        _, (h_n, _) = self.lstm(x, hx)
        top = torch.cat([h_n[-2], h_n[-1]], dim=-1) if self.lstm.bidirectional else h_n[-1]
        return self.head(top)
