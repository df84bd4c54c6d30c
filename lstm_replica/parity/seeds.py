"""The run's seed: derived from the candidate by default, so a certificate is reproducible but not predictable.

Every size and random draw of a check derives from one seed (see :mod:`.configs` and :mod:`.runner`). By
default it is a hash of the candidate's source (each module in its class hierarchy outside torch, and the
weight adapter's), the harness's version and the check's own words, so:

- the same candidate under the same harness gets the same configurations: CI stays deterministic, and a
  failure replays exactly (``--seed N`` with the number the report prints);
- a candidate cannot be written for the sizes a seed draws without the draw changing: any edit of its source
  draws other sizes (a candidate that reads the harness's constants still meets sizes up to the top of each
  range every run: see ``configs.real_size_configs``);
- ``--seed random`` draws a fresh seed from the operating system (for nightly runs); it is printed too.
"""

from __future__ import annotations

import hashlib
import inspect
import secrets
import sys
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

import lstm_replica
from lstm_replica.parity.configs import Config

RANDOM = "random"
SEED_BITS = 31


def _sources(obj: object) -> list[str]:
    """The text of each module ``obj`` comes from (a class: every class of its hierarchy), torch's left out."""
    owners = list(inspect.getmro(obj)) if inspect.isclass(obj) else [obj]
    texts = []
    for owner in owners:
        name = getattr(owner, "__module__", None) or ""
        if name.split(".")[0] in ("torch", "builtins", "typing", "abc"):
            continue
        module = sys.modules.get(name)
        path = getattr(module, "__file__", None)
        if path and Path(path).is_file():
            texts.append(Path(path).read_text(encoding="utf-8", errors="replace"))
        else:  # defined interactively or built at run time: its name is what there is
            texts.append(getattr(owner, "__qualname__", type(owner).__qualname__))
    return texts


def derived_seed(candidate: object, adapter: object = None) -> int:
    """The default seed of ``candidate`` (a loaded class or factory; ``adapter``: its weight adapter or layout)."""
    name = getattr(candidate, "__qualname__", "")  # not the module's name: a file target's holds its path
    digest = hashlib.sha256(f"lstm-replica {lstm_replica.__version__}\n{name}\n".encode())
    for obj in (candidate, adapter):
        if obj is not None and not isinstance(obj, str):
            for text in _sources(obj):
                digest.update(text.encode())
        elif isinstance(obj, str):
            digest.update(obj.encode())
    return int.from_bytes(digest.digest()[:8], "big") % 2**SEED_BITS


def resolve(seed: int | str | None, candidate: object, adapter: object = None) -> tuple[int, str]:
    """The seed a check runs with, and where it came from (for the report's provenance).

    ``seed``: None (derived from the candidate), ``"random"``, or a number (an int or its digits).
    """
    if seed is None:
        return derived_seed(candidate, adapter), "derived from the candidate's source; --seed N replays it"
    if seed == RANDOM:
        return secrets.randbelow(2**SEED_BITS), "random; --seed N replays it"
    if isinstance(seed, bool) or not isinstance(seed, (int, str)) or (isinstance(seed, str) and not seed.isdigit()):
        msg = f"Expected seed to be a non-negative integer, 'random' or None (derived), got {seed!r}"
        raise ValueError(msg)
    value = int(seed)
    if value < 0:
        msg = f"Expected seed to be a non-negative integer, 'random' or None (derived), got {seed!r}"
        raise ValueError(msg)
    return value, "given"


def config_seed(seed: int, config: Config) -> int:
    """The seed of one configuration: the run's seed mixed with the configuration's name."""
    return (seed * 1_000_003 + zlib.crc32(config.name.encode())) % 2**62


@contextmanager
def seeded(seed: int, device: str) -> Iterator[None]:
    """torch's global generator forked and seeded for one configuration; the caller's state comes back after."""
    with torch.random.fork_rng(devices=[torch.cuda.current_device()] if device == "cuda" else []):
        torch.manual_seed(seed)
        yield
