"""torch's process-wide settings, watched around a candidate's configuration and put back after it.

A candidate that calls ``torch.set_default_dtype``, flips a backend flag, changes the thread count or
switches on deterministic algorithms changes what the reference computes in the same process. Each
setting is read before a configuration and after it; a change is reported (the configuration is a
difference: its reference ran under the candidate's settings) and undone before the next.

The same holds for the functions the reference and the comparison are made of: a candidate (or a
library it imports) that replaces ``nn.LSTM.forward``, ``torch._VF.lstm``, ``F.linear`` or
``torch.equal`` would make the reference compute the candidate's function. Their identities are taken
when this module is imported, before any candidate is; :func:`replaced` names any that changed since.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch

# name -> (read, write); Any: each setting has its own value type, and write only ever gets what its read returned
SETTINGS: dict[str, tuple[Callable[[], Any], Callable[[Any], object]]] = {
    "torch.get_default_dtype()": (torch.get_default_dtype, torch.set_default_dtype),
    "torch.get_num_threads()": (torch.get_num_threads, torch.set_num_threads),
    "torch.is_grad_enabled()": (torch.is_grad_enabled, torch.set_grad_enabled),
    "torch.are_deterministic_algorithms_enabled()": (
        torch.are_deterministic_algorithms_enabled,
        torch.use_deterministic_algorithms,
    ),
    "torch.backends.mkldnn.enabled": (
        lambda: torch.backends.mkldnn.enabled,
        lambda v: setattr(torch.backends.mkldnn, "enabled", v),
    ),
    "torch.backends.cudnn.enabled": (
        lambda: torch.backends.cudnn.enabled,
        lambda v: setattr(torch.backends.cudnn, "enabled", v),
    ),
}
# float32 matmul precision: per backend where torch has it (the backend-less getter raises once both APIs were used)
if hasattr(torch.backends.cuda.matmul, "fp32_precision"):
    SETTINGS["torch.backends.cuda.matmul.fp32_precision"] = (
        lambda: torch.backends.cuda.matmul.fp32_precision,
        lambda v: setattr(torch.backends.cuda.matmul, "fp32_precision", v),
    )
else:
    SETTINGS["torch.get_float32_matmul_precision()"] = (
        torch.get_float32_matmul_precision,
        torch.set_float32_matmul_precision,
    )


# (owner, attribute): what nn.LSTM, nn.LSTMCell and the comparison are computed with
WATCHED: tuple[tuple[object, str], ...] = (
    (torch.nn.LSTM, "forward"),
    (torch.nn.LSTM, "__init__"),
    (torch.nn.LSTM, "flatten_parameters"),
    (torch.nn.LSTMCell, "forward"),
    (torch.nn.RNNBase, "__init__"),
    (torch.nn.RNNBase, "_apply"),
    (torch._VF, "lstm"),
    (torch._VF, "lstm_cell"),
    (torch, "lstm"),
    (torch, "lstm_cell"),
    (torch.nn.functional, "linear"),
    (torch, "sigmoid"),
    (torch, "tanh"),
    (torch, "equal"),
    (torch.Tensor, "backward"),
    (torch.autograd, "grad"),
    (torch.autograd, "backward"),
    (torch.nn.utils.rnn, "pack_padded_sequence"),
    (torch.nn.utils.rnn, "pad_packed_sequence"),
)
ORIGINALS = {(id(owner), name): getattr(owner, name, None) for owner, name in WATCHED}


def _label(owner: object, name: str) -> str:
    prefix = getattr(owner, "__module__", None) if isinstance(owner, type) else None
    if isinstance(owner, type) and prefix:
        return f"{prefix}.{owner.__qualname__}.{name}"
    return f"{getattr(owner, '__name__', repr(owner))}.{name}"


def replaced() -> list[str]:
    """The watched functions that are no longer torch's own, each put back."""
    found = []
    for owner, name in WATCHED:
        original = ORIGINALS[id(owner), name]
        if getattr(owner, name, None) is not original:
            found.append(f"{_label(owner, name)} was replaced")
            setattr(owner, name, original)
    return found


@contextmanager
def global_state() -> Iterator[list[str]]:
    """Yields a list that, on exit, names every setting the body changed ("X: was A, now B"); all are restored."""
    before = {name: read() for name, (read, _) in SETTINGS.items()}
    changed: list[str] = []
    try:
        yield changed
    finally:
        for name, (read, write) in SETTINGS.items():
            now = read()
            if now != before[name]:
                changed.append(f"{name} was {before[name]}, now {now}")
                write(before[name])
        changed += replaced()


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """torch's intra-op thread count at ``count``, the caller's put back after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
