"""Building both sides of a comparison for one configuration: construction, the element map, the layout audit.

Module candidates are compared with ``nn.LSTM``. Cell candidates are driven by
the replica's layer machinery (``LSTM.forward_with`` with one
``CellRecurrence`` per layer and direction) and compared with ``nn.LSTMCell``
driven by the very same machinery, so the cell is the only difference.
Both sides get the reference's weights, the same inputs (random non-zero
h_0 != c_0) and the same random upstream gradients for output, h_n and c_n.

What a candidate returns is checked before it is used: a result that is not
``(output, (h_n, c_n))`` (a cell's: not ``(h, c)``) cannot be compared, and
raises :class:`CheckError` (exit status 2); a cell's state of the wrong shape or
dtype is a proven difference, and raises :class:`WrongResult` (exit status 1).
A module's wrongly shaped tensors are compared, and reported, as they are.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard, TypeVar

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from lstm_replica.cell import Hidden
from lstm_replica.layers import CellRecurrence
from lstm_replica.lstm import LSTM
from lstm_replica.names import cell_prefix
from lstm_replica.parity.candidates import CheckError, Factory, WeightAdapter, accepted_keywords, describe, load_weights
from lstm_replica.parity.configs import ARGUMENT_FEATURES, NN_LSTM_DEFAULTS, Config, ModuleKwargs, Placement
from lstm_replica.parity.layouts import LayoutAdapter, learning_map
from lstm_replica.parity.parammap import ParamMap, Unit, discover, trainable
from lstm_replica.parity.results import Kind


class WrongResult(Exception):
    """The candidate's cell returned a state of the wrong shape or dtype: a difference, not a failure to check."""


def structure(obj: object, depth: int = 0) -> str:
    """What a returned object is made of, for messages: ``tuple(Tensor(7, 3, 6), Tensor(1, 3, 6))``."""
    if isinstance(obj, Tensor):
        return f"Tensor{tuple(obj.shape)}"
    if isinstance(obj, (tuple, list)) and depth < 2:
        items = [structure(item, depth + 1) for item in obj[:4]] + (["..."] if len(obj) > 4 else [])
        return f"{type(obj).__name__}({', '.join(items)})"
    return type(obj).__name__


def is_pair(obj: object) -> TypeGuard[Sequence[object]]:
    return isinstance(obj, (tuple, list)) and len(obj) == 2


def _is_tensor_pair(obj: object) -> TypeGuard[Sequence[Tensor]]:
    return is_pair(obj) and all(isinstance(t, Tensor) for t in obj)


Forward = Callable[[Tensor | PackedSequence, Hidden | None], tuple[Tensor | PackedSequence, Hidden]]
ModuleT = TypeVar("ModuleT", bound=nn.Module)
T = TypeVar("T")


@dataclass(frozen=True)
class Candidate:
    factory: Factory
    kind: Kind
    adapter: WeightAdapter | None = None


@dataclass
class Side:
    forward: Forward
    parameters: dict[str, Tensor]  # the trainable parameters, by the side's own names
    modules: list[nn.Module]  # what train() / eval() and an optimiser act on
    cell: Callable[[Tensor, Hidden], Hidden] | None = None  # layer 0 forward cell (cell candidates)
    raw_cell: nn.Module | None = None  # the same cell unwrapped, for direct calls (hx=None)
    prefixes: tuple[str, ...] = ("",)  # one per module: how its parameter names are prefixed

    def live(self) -> dict[str, Tensor]:
        """The trainable parameters as the modules hold them now (an optimiser built earlier holds the old ones)."""
        return {
            k: v for prefix, m in zip(self.prefixes, self.modules, strict=True) for k, v in trainable(m, prefix).items()
        }


@dataclass
class Pair:
    candidate: Side
    reference: Side
    reference_parameters: dict[str, Tensor]
    sync: Callable[[], None]  # copy the reference's current weights into the candidate
    pmap: ParamMap  # candidate parameter elements -> reference parameter elements
    initial: dict[str, Tensor | None]  # the candidate's own initial weights, in the reference's names and layout
    reference_initial: dict[str, Tensor]
    train: Callable[[bool], None]  # train(True) / train(False) on both sides (and the cells' layer machinery)
    same_generator: bool = True  # construction left torch's global generator where nn.LSTM's construction did


# nn.LSTM's keyword arguments at their defaults: a candidate that does not take one is built without it


class Refused(CheckError):
    """The candidate cannot be built with a feature: it does not take the keyword, or it raised
    NotImplementedError / ValueError for it. ``feature`` names it (configs.FEATURES)."""

    def __init__(self, message: str, feature: str | None) -> None:
        super().__init__(message)
        self.feature = feature


class CandidateRaised(CheckError):
    """The candidate raised where nn.LSTM does not (building, or a call on valid input): a difference."""


def _construct(factory: Callable[..., ModuleT], kwargs: ModuleKwargs) -> ModuleT:
    """The reference built with ``kwargs`` (nn.LSTM / nn.LSTMCell: any failure is the harness's)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # nn.LSTM's dropout / num_layers advisory
            return factory(**kwargs)
    except Exception as exc:
        args = ", ".join(f"{k}={v}" for k, v in kwargs.items())
        msg = f"Expected {describe(factory)}({args}) to construct, got {type(exc).__name__}: {exc}"
        raise CheckError(msg) from exc


def construct_candidate(factory: Factory, kwargs: ModuleKwargs) -> nn.Module:
    """The candidate built with the keyword arguments it takes, then moved with ``.to(device, dtype)``.

    A keyword it does not take is left out when nn.LSTM's default is asked for (and device / dtype are
    applied by ``.to``); a non-default value it cannot take raises :class:`Refused` naming the feature, as
    does a NotImplementedError or ValueError from the constructor. Anything else it raises is a
    :class:`CandidateRaised`.
    """
    accepted = accepted_keywords(factory)
    values: dict[str, object] = dict(kwargs)
    given = dict(kwargs) if accepted is None else {k: v for k, v in kwargs.items() if k in accepted}
    for key in sorted(set(kwargs) - set(given) - {"device", "dtype"}):
        if key in NN_LSTM_DEFAULTS and values[key] == NN_LSTM_DEFAULTS[key]:
            continue
        msg = f"Expected {describe(factory)} to take {key}={values[key]!r}, got no such keyword argument"
        raise Refused(msg, ARGUMENT_FEATURES.get(key))
    args = ", ".join(f"{k}={v}" for k, v in given.items())
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            module = factory(**given)
    except (NotImplementedError, ValueError) as exc:
        msg = f"the constructor refused it: {type(exc).__name__}: {exc}"
        raise Refused(msg, None) from exc
    except (Exception, SystemExit) as exc:
        msg = f"Expected {describe(factory)}({args}) to construct, got {type(exc).__name__}: {exc}"
        raise CandidateRaised(msg) from exc
    if not isinstance(module, nn.Module):
        msg = f"Expected {describe(factory)}(...) to return an nn.Module, got {type(module).__name__}"
        raise CheckError(msg)
    moves: Placement = {}
    if "device" in kwargs and "device" not in given:
        moves["device"] = kwargs["device"]
    if "dtype" in kwargs and "dtype" not in given:
        moves["dtype"] = kwargs["dtype"]
    return module.to(**moves) if moves else module


def seeded_build(seed: int, build: Callable[[], T]) -> T:
    """``build()`` with torch's generator seeded: candidate and reference draw their weights from the same state."""
    return _built_and_generator(seed, build)[0]


def _built_and_generator(seed: int, build: Callable[[], T]) -> tuple[T, Tensor]:
    """``build()`` from a seeded generator, and the generator's state after it.

    The generator is seeded, then advanced by a few draws (as a script's other layers would have drawn before
    this one): a candidate that reseeds a private generator from ``torch.initial_seed()`` does not reproduce
    nn.LSTM's draws by accident. The state after tells whether it drew what nn.LSTM draws from the global
    generator, no more and no less.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.rand(1 + seed % ADVANCE)
        built = build()
        return built, torch.get_rng_state()


ADVANCE = 61  # construction starts 1 to 61 draws into the seeded generator (see _built_and_generator)


def cell_units(config: Config) -> list[tuple[str, ModuleKwargs]]:
    """Cell candidates: one cell per layer and direction, named as nn.LSTM's suffixes, with its constructor kwargs."""
    units = []
    for layer in range(config.num_layers):
        layer_input = config.input_size if layer == 0 else config.num_directions * config.hidden_size
        for direction in range(config.num_directions):
            kwargs: ModuleKwargs = {"input_size": layer_input, "hidden_size": config.hidden_size, "bias": config.bias}
            units.append((cell_prefix(layer, bool(direction)), kwargs))
    return units


def _layout(unit: Unit) -> list[str]:
    """What a drop-in must share with nn.LSTM beyond values: state_dict keys, and parameters in the same order
    (``parameters()`` feeds optimisers, ``parameters_to_vector`` and checkpoints that store optimiser state)."""
    problems = []
    mine, theirs = list(unit.candidate.state_dict()), list(unit.reference.state_dict())
    extra = [k for k in mine if k not in theirs]
    if extra:
        problems.append(f"state_dict has keys nn.LSTM's has not: {', '.join(unit.prefix + k for k in extra)}")
    if isinstance(unit.reference, nn.LSTM) and hasattr(unit.candidate, "all_weights"):
        listed = [name for name, _ in unit.reference.named_parameters()]
        got: list[list[object]]
        try:
            weights: Any = unit.candidate.all_weights  # the candidate's own: of any type, and reading it may raise
            got = [[tuple(w.shape) for w in layer] for layer in weights]
        except Exception as exc:  # noqa: BLE001 - the candidate's property may raise anything
            got = [[f"{type(exc).__name__}: {exc}"]]
        shapes = [[tuple(w.shape) for w in layer] for layer in unit.reference.all_weights]
        if got != shapes:
            problems.append(f"all_weights lists shapes {got}; nn.LSTM's {shapes} ({listed})")
    order = [n for n, _ in unit.candidate.named_parameters() if n in theirs]
    expected = [n for n, _ in unit.reference.named_parameters() if n in order]
    if order != expected:
        problems.append(f"parameters() in the order {', '.join(order)}; nn.LSTM's is {', '.join(expected)}")
    return problems


def build_pair(
    candidate: Candidate,
    config: Config,
    device: str,
    seed: int,
    rest_in_train: bool = False,
    dtype_given: bool = True,
) -> Pair:
    """Candidate and reference for ``config``, each built under ``seed``, then the reference's weights in both.

    The candidate's own initial weights are kept (in the reference's layout) for the initialisation check.
    ``rest_in_train``: modules rest in train mode instead of eval mode (cuDNN's LSTM has no backward in
    eval mode; with dropout 0 both modes compute the same function). ``dtype_given``: False builds both sides
    without a ``dtype`` argument, in torch's default dtype (the caller sets it to the configuration's).
    """
    factory_kwargs: Placement = {"device": device, "dtype": config.torch_dtype} if dtype_given else {"device": device}
    specs = [("", config.module_kwargs())] if candidate.kind == "module" else cell_units(config)
    ref_factory: Callable[..., nn.Module] = nn.LSTM if candidate.kind == "module" else nn.LSTMCell

    def build(factory: Callable[..., nn.Module]) -> list[nn.Module]:
        return [_construct(factory, {**kwargs, **factory_kwargs}) for _, kwargs in specs]

    refs, ref_generator = _built_and_generator(seed, lambda: build(ref_factory))
    cands, cand_generator = _built_and_generator(
        seed, lambda: [construct_candidate(candidate.factory, {**k, **factory_kwargs}) for _, k in specs]
    )
    units = [Unit(prefix, c, r) for (prefix, _), c, r in zip(specs, cands, refs, strict=True)]
    pmap = _element_map(candidate, units, dict(specs), ref_factory)
    own = {}
    for unit in units:
        own.update({name: p.detach().clone() for name, p in trainable(unit.candidate, unit.prefix).items()})
    initial = pmap.to_reference(own)
    ref_params: dict[str, Tensor] = {u.prefix + n: p for u in units for n, p in u.reference.named_parameters()}
    reference_initial = {n: p.detach().clone() for n, p in ref_params.items()}

    def sync() -> None:
        for unit in units:
            load_weights(unit.candidate, unit.reference, candidate.adapter)

    sync()
    cand_params: dict[str, Tensor] = {name: p for u in units for name, p in trainable(u.candidate, u.prefix).items()}
    if candidate.kind == "module":
        sides, train = _module_sides(units[0], cand_params, ref_params, rest_in_train)
    else:
        machine = _construct(LSTM, {**config.module_kwargs(), **factory_kwargs}).eval()
        sides, train = _cell_sides(machine, units, cand_params, ref_params)
    same = torch.equal(cand_generator, ref_generator)
    return Pair(sides[0], sides[1], ref_params, sync, pmap, initial, reference_initial, train, same)


def _element_map(
    candidate: Candidate, units: list[Unit], unit_kwargs: dict[str, ModuleKwargs], ref_factory: Callable[..., nn.Module]
) -> ParamMap:
    """Which of nn.LSTM's elements each candidate element holds, learnt by loading (see :func:`.parammap.discover`),
    with the layout problems of a drop-in (no adapter) and a layout's constant offsets."""

    def load(cand: nn.Module, ref: nn.Module) -> None:
        load_weights(cand, ref, candidate.adapter)

    def twin(unit: Unit) -> tuple[nn.Module, nn.Module]:
        twin_args: ModuleKwargs = {**unit_kwargs[unit.prefix], "device": "cpu", "dtype": torch.float64}
        return construct_candidate(candidate.factory, twin_args), _construct(ref_factory, twin_args)

    with torch.random.fork_rng(devices=[]):
        with learning_map():  # a layout's constant (forget_bias) is no reference element
            pmap = discover(units, load, twin)
        if isinstance(candidate.adapter, LayoutAdapter):
            pmap.offsets = _offsets(units, load, twin)
    if candidate.adapter is None:
        pmap.problems += [problem for unit in units for problem in _layout(unit)]
    return pmap


def _module_sides(
    unit: Unit, cand_params: dict[str, Tensor], ref_params: dict[str, Tensor], rest_in_train: bool
) -> tuple[tuple[Side, Side], Callable[[bool], None]]:
    """A module candidate's side and nn.LSTM's, both called as they are; ``train`` switches both (eval at rest)."""
    module, reference = unit.candidate, unit.reference
    sides = Side(module, cand_params, [module]), Side(reference, ref_params, [reference])

    def train(mode: bool) -> None:
        module.train(mode or rest_in_train)
        reference.train(mode or rest_in_train)

    train(False)
    return sides, train


def _cell_sides(
    machine: LSTM, units: list[Unit], cand_params: dict[str, Tensor], ref_params: dict[str, Tensor]
) -> tuple[tuple[Side, Side], Callable[[bool], None]]:
    """The candidate's cells and nn.LSTMCell's, each driven by the replica's layer machinery ``machine`` (one
    cell per layer and direction), the candidate's results checked; ``train`` switches all of them."""

    def side(cells: list[nn.Module], params: dict[str, Tensor], checked: bool) -> Side:
        calls = [_checked_cell(cell) if checked else cell for cell in cells]

        def forward(inp: Tensor | PackedSequence, hx: Hidden | None) -> tuple[Tensor | PackedSequence, Hidden]:
            return machine.forward_with([CellRecurrence(call) for call in calls], inp, hx)

        return Side(forward, params, list(cells), calls[0], cells[0], tuple(u.prefix for u in units))

    cand_cells, ref_cells = [u.candidate for u in units], [u.reference for u in units]

    def train_cells(mode: bool) -> None:
        machine.train(mode)
        for cell in cand_cells + ref_cells:
            cell.train(mode)

    train_cells(False)
    reference_side = side(ref_cells, ref_params, checked=False)
    candidate_side = side(cand_cells, cand_params, checked=True)
    return (candidate_side, reference_side), train_cells


def _offsets(
    units: list[Unit], load: Callable[[nn.Module, nn.Module], None], twin: Callable[[Unit], tuple[nn.Module, nn.Module]]
) -> dict[str, Tensor]:
    """A named layout's constants: what it loads into float64 twins from zero weights, beyond moving them."""
    offsets = {}
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        for unit in units:
            candidate, reference = twin(unit)
            for p in reference.parameters():
                p.zero_()
            with learning_map():
                load(candidate, reference)
            moved = {name: p.detach().clone() for name, p in trainable(candidate).items()}
            load(candidate, reference)
            for name, p in trainable(candidate).items():
                shift = p.detach() - moved[name]
                if bool(shift.any()):
                    offsets[unit.prefix + name] = shift
    return offsets


def _checked_cell(cell: nn.Module) -> Callable[[Tensor, Hidden], Hidden]:
    """The candidate cell, its every result checked to be ``(h, c)`` shaped and typed as the state it was given."""

    def call(x_t: Tensor, hidden: Hidden) -> Hidden:
        result = cell(x_t, hidden)
        if not _is_tensor_pair(result):
            msg = f"Expected the cell to return (h, c) as nn.LSTMCell does, got {structure(result)}"
            raise CheckError(msg)
        for label, got, given in zip("hc", result, hidden, strict=True):
            if got.shape != given.shape:
                msg = f"Expected the cell's {label} of shape {tuple(given.shape)}, got {tuple(got.shape)}"
                raise WrongResult(msg)
            if got.dtype != given.dtype:
                msg = f"Expected the cell's {label} of dtype {given.dtype}, got {got.dtype}"
                raise WrongResult(msg)
        return result[0], result[1]

    return call
