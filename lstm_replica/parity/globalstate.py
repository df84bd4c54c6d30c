"""torch's process-wide settings, watched around a candidate's configuration and put back after it.

A candidate that calls ``torch.set_default_dtype``, flips a backend flag, changes the thread count or
switches on deterministic algorithms changes what the reference computes in the same process. Each
setting is read before a configuration and after it; a change is reported (the configuration is a
difference: its reference ran under the candidate's settings) and undone before the next.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch

# name -> (read, write)
SETTINGS: dict[str, tuple[Callable[[], object], Callable[[object], None]]] = {
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
    "torch.get_float32_matmul_precision()": (
        torch.get_float32_matmul_precision,
        torch.set_float32_matmul_precision,
    ),
}


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
