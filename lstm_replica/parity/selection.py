"""Choosing what a check runs, before anything is compared: the candidate loaded, its features learnt, its
configurations chosen (:func:`select_candidate`), and the options that choose them (:class:`CheckOptions`).

:func:`.orchestrate.check` and :func:`.orchestrate.configurations` (``--list-configs``) both choose through
:func:`select_candidate`, so what is listed is what runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypedDict

from lstm_replica.parity import backends, seeds
from lstm_replica.parity.backends import Backend
from lstm_replica.parity.build import (
    Candidate,
)
from lstm_replica.parity.candidates import (
    CheckError,
    WeightAdapter,
    as_factory,
    kind_of,
    load,
    load_adapter,
)
from lstm_replica.parity.configs import Config, ConfigFields, check_features, dtype_restriction
from lstm_replica.parity.features import probed_features
from lstm_replica.parity.frameworks import framework, load_wrapper
from lstm_replica.parity.globalstate import replaced
from lstm_replica.parity.layouts import LAYOUTS, layout_adapter
from lstm_replica.parity.layouts import UNSUPPORTED as LAYOUT_UNSUPPORTED
from lstm_replica.parity.matrix import select
from lstm_replica.parity.report import Report
from lstm_replica.parity.results import Message


class CheckOptions(TypedDict, total=False):
    """:func:`check`'s keyword arguments but ``timeout`` and the callbacks: what a child process is sent (isolation)."""

    tolerance: bool
    quick: bool
    configs: list[str] | None
    device: str
    backend: str
    tf32: bool
    seed: int | str | None
    weights: str | WeightAdapter | None
    progress: bool
    fail_fast: bool
    config: Config | ConfigFields | None
    only_config: bool
    thorough: bool
    unsupported: tuple[str, ...] | list[str] | frozenset[str]
    dtypes: tuple[str, ...] | list[str] | None


class CheckArguments(CheckOptions, total=False):
    """Every keyword argument of :func:`check`."""

    timeout: float | None
    on_stuck: Callable[[str], None] | None
    on_result: Callable[[Message, object], None] | None


@dataclass
class Selection:
    """What :func:`check` runs, chosen before anything is compared: the candidate and its configurations."""

    spec: Candidate
    declared: frozenset[str]  # features the candidate lacks: declared, refused when tried, or its layout's
    excluded: dict[str, str]  # features this backend cannot compare -> why
    configs: list[Config]
    seed: int  # the run's seed, resolved (see .seeds)
    seed_origin: str  # derived, random or given
    restricted: frozenset[str]  # every feature ruled out, for the envelope's coverage


def select_candidate(
    candidate: object,
    report: Report,
    setup: Backend,
    *,
    configs: list[str] | None,
    quick: bool,
    seed: int | str | None,
    weights: str | WeightAdapter | None,
    timeout: float | None,
    on_stuck: Callable[[str], None] | None,
    config: Config | ConfigFields | None,
    only_config: bool,
    thorough: bool,
    unsupported: tuple[str, ...] | list[str] | frozenset[str],
    dtypes: tuple[str, ...] | list[str] | None,
) -> Selection:
    """Load ``candidate``, learn what it lacks (into ``report.why_unsupported``) and choose its configurations.

    Raises :class:`CheckError` or ValueError when it cannot be checked; see :func:`check` for the options.
    """
    backends.validate(setup)
    named = framework(candidate)
    if named is not None:
        loaded, report.provenance["framework"] = load_wrapper(named)
        weights = named.weights if weights is None else weights
        report.why_unsupported |= {f: why for f, why in named.declared.items() if f not in unsupported}
        unsupported = frozenset(unsupported) | frozenset(named.declared)
    else:
        loaded = load(candidate) if isinstance(candidate, str) else candidate
    tampered = replaced()
    if tampered:
        msg = f"Expected torch's own LSTM and comparison functions, got: {'; '.join(tampered)} (restored)"
        raise CheckError(msg)
    factory = as_factory(loaded)
    kind = kind_of(factory)
    declared = check_features(unsupported)
    report.why_unsupported |= probed_features(factory, kind, declared, timeout, on_stuck)
    layout = weights if isinstance(weights, str) and weights in LAYOUTS else None
    spec = Candidate(factory, kind, layout_adapter(layout) if layout else load_adapter(weights))
    declared |= frozenset(report.why_unsupported)
    if layout:
        report.why_unsupported |= dict.fromkeys(sorted(LAYOUT_UNSUPPORTED - declared), f"the {layout} layout has none")
        declared |= LAYOUT_UNSUPPORTED
    excluded = backends.not_compared(setup)
    restricted = declared | dtype_restriction(dtypes) | frozenset(excluded)
    if kind == "cell":
        restricted |= {"proj_size"}  # nn.LSTMCell has no projection: a cell's matrix is covered without one
    yours = Config.from_fields(config) if isinstance(config, dict) else config
    number, origin = seeds.resolve(seed, loaded, weights)
    chosen = select(configs, quick, number, restricted, thorough, yours, only_config)
    return Selection(spec, declared, excluded, chosen, number, origin, restricted)
