"""The initial-weights probe: the candidate's own initial weights against nn.LSTM's for the same seed.

Bitwise: built under the same seed, the weights must be equal, and the global generator left where
nn.LSTM's construction leaves it. Under ``--tolerance``: their distribution, by the range and
Kolmogorov-Smirnov tests of :mod:`..draws`, over several constructions. The draws of ``reset_parameters()``
are judged the same way (see :mod:`.module`).
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import Tensor

from lstm_replica.parity.build import Candidate, Pair, cell_units, construct_candidate, seeded_build
from lstm_replica.parity.candidates import accepted_keywords
from lstm_replica.parity.compare import Difference, Tolerance, compare
from lstm_replica.parity.configs import Config, Placement
from lstm_replica.parity.draws import DRAWS, Redraw, judge_blocks, narrower_dtype
from lstm_replica.parity.parammap import ParamMap, trainable


def initial_weights(
    pair: Pair, config: Config, tolerance: bool, row: Tolerance, redraw: Redraw, hint: str = ""
) -> list[Difference]:
    """The candidate's own initial weights against nn.LSTM's for the same seed (see :func:`judge_draws`).

    ``redraw(k)``: the candidate built once more under the k-th derived seed, its weights in nn.LSTM's names.
    ``hint``: why the draws may differ, known from the constructor (it takes no ``dtype``), added to the notes.
    """
    found = judge_draws(
        pair.initial, pair.reference_initial, pair, config, tolerance, row, "initial weights", redraw, hint
    )
    if not tolerance and not pair.same_generator:
        note = (
            "Expected torch's global generator where nn.LSTM's construction leaves it (it draws each parameter "
            "from it with uniform_, in order), got another state: the candidate drew other numbers, more, fewer, "
            "or none (a private generator), so every draw a script makes after building it changes"
        )
        found.append(Difference.apart("global generator", note, "initial weights"))
    return found


def judge_draws(
    own: dict[str, Tensor | None],
    theirs: dict[str, Tensor],
    pair: Pair,
    config: Config,
    tolerance: bool,
    row: Tolerance,
    probe: str,
    redraw: Redraw,
    hint: str = "",
) -> list[Difference]:
    """Weights the candidate drew (``own``, in nn.LSTM's names) against nn.LSTM's draws under the same seed.

    Bitwise: equal, or a difference (with the cause where the values show it: drawn in float32 and cast).
    Under ``--tolerance``, weights that are not bitwise nn.LSTM's must pass :mod:`.draws`' support and
    Kolmogorov-Smirnov tests, pooled over ``own`` and ``DRAWS - 1`` more draws from ``redraw``. Folded biases
    are not judged (see FOLDED).
    """
    folded = set(pair.pmap.folded)
    found = [compare(n, own.get(n), t, row, probe=probe) for n, t in theirs.items() if n not in folded]
    if all(d.bitwise for d in found):
        return [replace(d, within_tolerance=True) for d in found]
    if not tolerance:
        return [replace(d, within_tolerance=d.bitwise, note=_draw_cause(d, own, theirs, hint)) for d in found]
    names = [d.tensor for d in found if not d.bitwise]
    draws = [own] + [redraw(k) for k in range(1, DRAWS)]
    bound = 1 / config.hidden_size**0.5  # nn.LSTM's U(-bound, bound)
    tests = judge_blocks(draws, names, bound)
    judged = []
    for d in found:
        test = tests.get(d.tensor)
        if d.bitwise or test is None:
            judged.append(replace(d, within_tolerance=d.bitwise))
            continue
        judged.append(replace(d, within_tolerance=test.passed, note=test.note(bound, DRAWS)))
    return judged


def _draw_cause(d: Difference, own: dict[str, Tensor | None], theirs: dict[str, Tensor], hint: str) -> str:
    """The note of an initial weight that is not bitwise nn.LSTM's: the cause, where the constructor or values show it."""
    if d.bitwise or hint:
        return d.note if d.bitwise else hint
    mine = own.get(d.tensor)
    narrower = None if mine is None else narrower_dtype(mine, theirs[d.tensor])
    if narrower is not None:
        return (
            f"drawn in {str(narrower).removeprefix('torch.')} and cast: every value fits "
            f"{str(narrower).removeprefix('torch.')} exactly; nn.LSTM draws in "
            f"{str(theirs[d.tensor].dtype).removeprefix('torch.')} (create the parameters with the dtype passed "
            "to the constructor)"
        )
    return d.note


def redraw_initial(
    candidate: Candidate, config: Config, device: str, seed: int, pmap: ParamMap
) -> dict[str, Tensor | None]:
    """The candidate's own initial weights once more, every unit built under ``seed``, in nn.LSTM's names."""
    factory_kwargs: Placement = {"device": device, "dtype": config.torch_dtype}
    specs = [("", config.module_kwargs())] if candidate.kind == "module" else cell_units(config)
    built = seeded_build(
        seed, lambda: [construct_candidate(candidate.factory, {**kwargs, **factory_kwargs}) for _, kwargs in specs]
    )
    own = {
        name: p.detach().clone()
        for (prefix, _), m in zip(specs, built, strict=True)
        for name, p in trainable(m, prefix).items()
    }
    return pmap.to_reference(own)


def cast_hint(candidate: Candidate, config: Config) -> str:
    """Why the candidate's initial weights cannot be nn.LSTM's draws, where its constructor says so ("" if not).

    A constructor that takes no ``dtype`` draws in the default dtype and is cast by ``.to(dtype)`` after:
    nn.LSTM draws in the requested dtype, so the values differ though the distribution is the same.
    """
    accepted = accepted_keywords(candidate.factory)
    default = torch.get_default_dtype()
    if accepted is None or "dtype" in accepted or config.torch_dtype == default:
        return ""
    drawn, wanted = str(default).removeprefix("torch."), config.dtype
    return (
        f"drawn in {drawn} and cast to {wanted}: the constructor takes no dtype, so its weights were drawn in the "
        f"default dtype and the harness applied .to({wanted}); nn.LSTM draws in {wanted}. Take device=None, "
        "dtype=None and create the parameters with them"
    )
