"""Building both sides of a comparison for one configuration, and running a side.

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
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeGuard, TypeVar, overload

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

from lstm_replica.cell import Hidden
from lstm_replica.layers import CellRecurrence
from lstm_replica.lstm import LSTM
from lstm_replica.parity.candidates import CheckError, Factory, WeightAdapter, accepted_keywords, describe, load_weights
from lstm_replica.parity.configs import Config, ModuleKwargs, Placement
from lstm_replica.parity.layouts import LayoutAdapter, learning_map
from lstm_replica.parity.parammap import ParamMap, Unit, discover, trainable
from lstm_replica.parity.regimes import stress_sequence, stress_state


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


def _is_pair(obj: object) -> TypeGuard[Sequence[object]]:
    return isinstance(obj, (tuple, list)) and len(obj) == 2


def _is_tensor_pair(obj: object) -> TypeGuard[Sequence[Tensor]]:
    return _is_pair(obj) and all(isinstance(t, Tensor) for t in obj)


Forward = Callable[[Tensor | PackedSequence, Hidden | None], tuple[Tensor | PackedSequence, Hidden]]
ModuleT = TypeVar("ModuleT", bound=nn.Module)
T = TypeVar("T")


@dataclass(frozen=True)
class Candidate:
    factory: Factory
    kind: str  # "module" | "cell"
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


@dataclass
class Inputs:
    x: Tensor  # in the module's layout: (L, N, H_in), (N, L, H_in) batch_first, (L, H_in) unbatched
    lengths: Tensor | None  # (N,) unsorted, for packed input
    h0: Tensor | None  # (D*layers, N, H_out), or (D*layers, H_out) unbatched
    c0: Tensor | None  # (D*layers, N, H_cell)
    grad_output: Tensor  # shaped as the output (packed data for packed input)
    grad_h: Tensor
    grad_c: Tensor

    @property
    def hx(self) -> Hidden | None:
        """``(h_0, c_0)``, or None when the state is not given (h_0 and c_0 are given together or not at all)."""
        return None if self.h0 is None or self.c0 is None else (self.h0, self.c0)


@dataclass
class Outcome:
    tensors: dict[str, Tensor | None]
    packing: tuple[Tensor, Tensor | None, Tensor | None] | None  # the output's batch_sizes and indices
    inputs_unmodified: bool
    parameters_changed: list[str] = field(default_factory=list)  # by the forward (or backward) itself
    aliased: list[str] = field(default_factory=list)  # returned tensors that share memory


def make_inputs(
    config: Config,
    device: str,
    generator: torch.Generator,
    *,
    steps: int | None = None,
    batch: int | None = None,
    stressed: bool = False,
    extremes: bool = False,
) -> Inputs:
    """Random inputs for a configuration (``steps`` / ``batch`` overriding its sizes), all drawn from ``generator``.

    ``stressed``: the saturating regime of :mod:`.regimes` (zeros, |c_0| of 100 to 200; ``extremes``: huge values).
    """
    dtype = config.torch_dtype
    n = config.batch if batch is None else batch
    steps = config.steps if steps is None else steps
    layers = config.directions * config.num_layers

    def randn(*shape: int) -> Tensor:
        return torch.randn(*shape, generator=generator, dtype=torch.float64).to(dtype).to(device)

    batch_first = config.batch_first and config.input_kind != "unbatched"  # unbatched input is (L, H_in) either way
    x = randn(n, steps, config.input_size) if batch_first else randn(steps, n, config.input_size)
    lengths = None
    if config.input_kind == "packed":
        lengths = torch.randint(1, steps + 1, (n,), generator=generator)
        lengths[torch.randint(0, n, (1,), generator=generator)] = steps  # the longest fills the padding
    elif config.input_kind == "packed_equal":
        lengths = torch.full((n,), steps)  # a PackedSequence whose every sequence is as long as the padding
    h0, c0 = randn(layers, n, config.out_size), randn(layers, n, config.hidden_size) + 0.5
    if stressed:
        x = stress_sequence(x, 0 if batch_first else 1, generator, extremes)
        h0, c0 = stress_state(h0, c0, generator)
    grad_h, grad_c = randn(layers, n, config.out_size), randn(layers, n, config.hidden_size)
    width = config.directions * config.out_size
    if lengths is not None:
        grad_output = randn(int(lengths.sum()), width)  # (T, D*H_out)
    else:
        grad_output = randn(n, steps, width) if batch_first else randn(steps, n, width)
    if config.input_kind == "unbatched":
        x, grad_output = x.squeeze(1), grad_output.squeeze(1)  # (L, H_in), (L, D*H_out)
        h0, c0, grad_h, grad_c = (t.squeeze(1) for t in (h0, c0, grad_h, grad_c))
    if not config.hx_given:
        return Inputs(x, lengths, None, None, grad_output, grad_h, grad_c)
    return Inputs(x, lengths, h0, c0, grad_output, grad_h, grad_c)


# nn.LSTM's keyword arguments at their defaults: a candidate that does not take one is built without it
DEFAULTS = {"num_layers": 1, "bias": True, "batch_first": False, "dropout": 0.0, "bidirectional": False, "proj_size": 0}
# the feature a non-default value of a keyword argument needs (see configs.FEATURES)
FEATURE_OF = {
    "bias": "no_bias",
    "batch_first": "batch_first",
    "dropout": "dropout",
    "bidirectional": "bidirectional",
    "proj_size": "proj_size",
    "num_layers": "multi_layer",
}


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
        if key in DEFAULTS and values[key] == DEFAULTS[key]:
            continue
        msg = f"Expected {describe(factory)} to take {key}={values[key]!r}, got no such keyword argument"
        raise Refused(msg, FEATURE_OF.get(key))
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


def _seeded_build(seed: int, build: Callable[[], T]) -> T:
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
        layer_input = config.input_size if layer == 0 else config.directions * config.hidden_size
        for direction in range(config.directions):
            kwargs: ModuleKwargs = {"input_size": layer_input, "hidden_size": config.hidden_size, "bias": config.bias}
            units.append((f"l{layer}{'_reverse' if direction else ''}.", kwargs))
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
    unit_kwargs = dict(specs)

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
    own = {}
    for unit in units:
        own.update({name: p.detach().clone() for name, p in trainable(unit.candidate, unit.prefix).items()})
    initial = pmap.to_reference(own)
    ref_params: dict[str, Tensor] = {u.prefix + n: p for u in units for n, p in u.reference.named_parameters()}
    reference_initial = {n: p.detach().clone() for n, p in ref_params.items()}

    def sync() -> None:
        for unit in units:
            load(unit.candidate, unit.reference)

    sync()
    cand_params: dict[str, Tensor] = {name: p for u in units for name, p in trainable(u.candidate, u.prefix).items()}
    if candidate.kind == "module":
        module, reference = units[0].candidate, units[0].reference
        sides = Side(module, cand_params, [module]), Side(reference, ref_params, [reference])

        def train(mode: bool) -> None:
            module.train(mode or rest_in_train)
            reference.train(mode or rest_in_train)

        train(False)

        same = torch.equal(cand_generator, ref_generator)
        return Pair(sides[0], sides[1], ref_params, sync, pmap, initial, reference_initial, train, same)
    machine = _construct(LSTM, {**config.module_kwargs(), **factory_kwargs}).eval()

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
    same = torch.equal(cand_generator, ref_generator)
    return Pair(candidate_side, reference_side, ref_params, sync, pmap, initial, reference_initial, train_cells, same)


def redraw_initial(
    candidate: Candidate, config: Config, device: str, seed: int, pmap: ParamMap
) -> dict[str, Tensor | None]:
    """The candidate's own initial weights once more, every unit built under ``seed``, in nn.LSTM's names."""
    factory_kwargs: Placement = {"device": device, "dtype": config.torch_dtype}
    specs = [("", config.module_kwargs())] if candidate.kind == "module" else cell_units(config)
    built = _seeded_build(
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


LOSSES = ("all", "output", "h_n", "c_n")


@dataclass(frozen=True)
class Call:
    """How one call is made: which inputs require grad, which outputs the loss uses, and the grad mode.

    ``mode``: "grad" (forward and backward), "no_grad" or "inference" (forward only).
    ``strided``: the input and states handed over as non-contiguous views of the same values.
    Gradients with respect to the states are taken with respect to the leaves they are computed from, and so
    are those of the input (``input_form``: the embedding table a looked-up input comes from).
    """

    mode: str = "grad"
    input_grad: bool = True
    loss: str = "all"
    strided: bool = False
    state_grad: bool | None = None  # h_0 / c_0 require grad; None: as the input does
    computed_state: bool = False  # h_0 / c_0 handed over as the result of a computation (an encoder's state)
    sorted_packing: bool = False  # packed with lengths sorted longest first and enforce_sorted=True
    hx_keyword_list: bool = False  # forward(input, hx=[h_0, c_0]): by keyword and as a list, as users also write it
    input_form: str = "leaf"  # "computed": x * 1.0; "lookup": an embedding look-up (grad input: the table's)
    state_views: bool = False  # h_0 / c_0 as views into a wider batch-major buffer (grad h_0 / c_0: the buffer's)


def _strided(t: Tensor) -> Tensor:
    """The same values as a non-contiguous view (every other element of a buffer twice as wide)."""
    buffer = torch.zeros(*t.shape[:-1], 2 * t.size(-1), dtype=t.dtype, device=t.device)  # (..., 2*F)
    buffer[..., ::2] = t
    return buffer[..., ::2]


@overload
def _clone(t: Tensor, grad: bool, strided: bool = False) -> Tensor: ...
@overload
def _clone(t: Tensor | None, grad: bool, strided: bool = False) -> Tensor | None: ...
def _clone(t: Tensor | None, grad: bool, strided: bool = False) -> Tensor | None:
    if t is None:
        return None
    t = t.clone()
    if strided:
        t = _strided(t)
    return t.requires_grad_(grad) if not strided else t.detach().requires_grad_(grad)


def run(
    side: Side, config: Config, inputs: Inputs, with_grad: bool | Call = True, pmap: ParamMap | None = None
) -> Outcome:
    """One call of a side (forward, and backward when the call's mode is "grad"); tensors compared come back by name.

    Parameter gradients come back in the reference's names: ``pmap`` carries a candidate's back.
    """
    call = with_grad if isinstance(with_grad, Call) else Call(mode="grad" if with_grad else "no_grad")
    grad = call.mode == "grad"
    needs = grad and call.input_grad
    state_needs = grad and (call.input_grad if call.state_grad is None else call.state_grad)
    x = _clone(inputs.x, needs, call.strided)
    h0, c0 = _clone(inputs.h0, state_needs, call.strided), _clone(inputs.c0, state_needs, call.strided)
    leaves = x, h0, c0  # what the gradients are taken for; x, h0, c0: what forward is given
    if call.input_form != "leaf":
        leaf = _input_leaf(x, call.input_form)
        leaves, x = (leaf, leaves[1], leaves[2]), _formed(leaf, x, call.input_form)
    if call.state_views and h0 is not None and c0 is not None:
        leaves = (leaves[0], _state_buffer(h0), _state_buffer(c0))
        h0, c0 = _state_view(leaves[1], h0), _state_view(leaves[2], c0)
    fed: Tensor | PackedSequence = x
    lengths = inputs.lengths
    if lengths is not None and call.sorted_packing:
        order = lengths.argsort(descending=True, stable=True)
        lengths = lengths[order]
        dim = 0 if config.batch_first else 1
        x_sorted = x.index_select(dim, order.to(x.device))  # longest first, as enforce_sorted=True requires
        fed = pack_padded_sequence(x_sorted, lengths, batch_first=config.batch_first, enforce_sorted=True)
    elif lengths is not None:
        fed = pack_padded_sequence(x, lengths, batch_first=config.batch_first, enforce_sorted=False)
    hx = None if h0 is None or c0 is None else (h0, c0)
    if hx is not None and lengths is not None and call.sorted_packing:
        hx = (hx[0].index_select(1, order.to(x.device)), hx[1].index_select(1, order.to(x.device)))
    if h0 is not None and c0 is not None and call.computed_state:
        hx = (h0 * 1.0, c0 * 1.0) if state_needs else (h0 + 0.0, c0 + 0.0)  # not leaves: computed upstream
    before = {name: (p, p.detach().clone()) for name, p in side.parameters.items()}
    context = torch.inference_mode() if call.mode == "inference" else torch.set_grad_enabled(grad)
    with context:
        if call.hx_keyword_list:
            given = None if hx is None else [hx[0], hx[1]]
            by_keyword: Callable[..., object] = side.forward  # a module's forward(input, hx=None)
            output, h_n, c_n = _unpack(_call("forward", partial(by_keyword, hx=given), fed))
        else:
            output, h_n, c_n = _unpack(_call("forward", side.forward, fed, hx))
    packing = None
    if isinstance(output, PackedSequence):
        packing = (output.batch_sizes, output.sorted_indices, output.unsorted_indices)
        output = output.data  # (T, D*H_out)
    tensors: dict[str, Tensor | None] = {"output": output, "h_n": h_n, "c_n": c_n}
    unmodified = all(
        given is None or original is None or torch.equal(given.detach(), original)
        for given, original in ((x, inputs.x), (h0, inputs.h0), (c0, inputs.c0))
    )
    changed = [name for name, (p, value) in before.items() if not torch.equal(p.detach(), value)]
    current = side.live()
    changed += [f"{name} (replaced by another tensor)" for name, (p, _) in before.items() if current.get(name) is not p]
    aliased = _aliased(tensors, (x, h0, c0))
    if grad:
        tensors.update(_gradients(side, (output, h_n, c_n), inputs, *leaves, call, pmap))
    return Outcome(tensors, packing, unmodified, changed, aliased)


def _input_leaf(x: Tensor, form: str) -> Tensor:
    """The leaf an input of ``form`` is computed from: ``x`` itself, or an embedding table of x's rows, reversed."""
    if form == "computed":
        return x
    if form != "lookup":
        msg = f"Expected input_form leaf, computed or lookup, got {form!r}"
        raise ValueError(msg)
    return x.detach().reshape(-1, x.size(-1)).flip(0).clone().requires_grad_(x.requires_grad)  # (V, H_in)


def _formed(table: Tensor, x: Tensor, form: str) -> Tensor:
    """The input as user code computes it, with x's values: ``x * 1.0``, or ``F.embedding(tokens, table)``."""
    if form == "computed":
        return x * 1.0  # not a leaf: the output of an upstream layer
    tokens = torch.arange(table.size(0) - 1, -1, -1, device=x.device).view(x.shape[:-1])  # row k of x is token V-1-k
    return torch.nn.functional.embedding(tokens, table)


def _state_buffer(t: Tensor) -> Tensor:
    """A batch-major buffer one layer longer and twice as wide holding ``t`` (a state, layers first) at [1:, :H]."""
    if t.dim() == 3:
        buffer = t.new_zeros(t.size(1), t.size(0) + 1, 2 * t.size(2))  # (N, layers + 1, 2*H)
        buffer[:, 1:, : t.size(2)] = t.detach().transpose(0, 1)
    else:
        buffer = t.new_zeros(t.size(0) + 1, 2 * t.size(1))  # unbatched: (layers + 1, 2*H)
        buffer[1:, : t.size(1)] = t.detach()
    return buffer.requires_grad_(t.requires_grad)


def _state_view(buffer: Tensor, t: Tensor) -> Tensor:
    """``t``'s values as a view of ``buffer``: offset, strided, and (batched) layers-first by a transpose."""
    if t.dim() == 3:
        return buffer[:, 1:, : t.size(2)].transpose(0, 1)  # (layers, N, H): non-contiguous
    return buffer[1:, : t.size(1)]


def _aliased(results: dict[str, Tensor | None], given: tuple[Tensor | None, ...]) -> list[str]:
    """Returned tensors sharing memory with each other or with the inputs (nn.LSTM returns fresh tensors)."""
    found = []
    named = [(n, t) for n, t in results.items() if isinstance(t, Tensor) and t.numel()]
    for i, (name, tensor) in enumerate(named):
        span = _span(tensor)
        for other, theirs in named[i + 1 :]:
            if _overlap(span, _span(theirs)):
                found.append(f"{name} and {other} share memory")
        if any(t is not None and t.numel() and _overlap(span, _span(t)) for t in given):
            found.append(f"{name} shares memory with an input")
    return found


def _span(t: Tensor) -> tuple[int, int]:
    start = t.untyped_storage().data_ptr() + int(t.storage_offset()) * t.element_size()
    extent = sum((size - 1) * stride for size, stride in zip(t.shape, t.stride(), strict=True)) + 1
    return start, start + extent * t.element_size()


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _call(phase: str, fn: Callable[..., T], *args: object) -> T:
    """``fn(*args)``; what the candidate's code raises becomes a :class:`CheckError` naming the phase."""
    try:
        return fn(*args)
    except (CheckError, WrongResult):
        raise
    except (Exception, SystemExit) as exc:
        msg = f"{phase} raised {type(exc).__name__}: {exc}"
        raise CandidateRaised(msg) from exc


def _unpack(result: object) -> tuple[Tensor | PackedSequence, Tensor, Tensor]:
    if _is_pair(result):
        output, state = result
        if isinstance(output, (Tensor, PackedSequence)) and _is_pair(state):
            h_n, c_n = state
            if isinstance(h_n, Tensor) and isinstance(c_n, Tensor):
                return output, h_n, c_n
    msg = f"Expected forward to return (output, (h_n, c_n)) as nn.LSTM does, got {structure(result)}"
    raise CheckError(msg)


def loss_of(results: tuple[Tensor, Tensor, Tensor], inputs: Inputs, loss: str) -> Tensor:
    """The scalar a call backpropagates: the upstream gradients dotted with the outputs the loss uses."""
    upstream = (inputs.grad_output, inputs.grad_h, inputs.grad_c)
    used = {"all": (0, 1, 2), "output": (0,), "h_n": (1,), "c_n": (2,)}[loss]
    terms = [(results[i] * upstream[i]).sum() for i in used]
    return sum(terms[1:], start=terms[0])


def _gradients(
    side: Side,
    results: tuple[Tensor, Tensor, Tensor],
    inputs: Inputs,
    x: Tensor,
    h0: Tensor | None,
    c0: Tensor | None,
    call: Call,
    pmap: ParamMap | None,
) -> dict[str, Tensor | None]:
    upstream = (inputs.grad_output, inputs.grad_h, inputs.grad_c)
    if any(r.shape != g.shape for r, g in zip(results, upstream, strict=True)):
        return {}  # the forward comparison already reports the wrong shape
    wrt: dict[str, Tensor] = {}
    if call.input_grad:
        wrt["grad input"] = x
    if (call.input_grad if call.state_grad is None else call.state_grad) and h0 is not None and c0 is not None:
        wrt |= {"grad h_0": h0, "grad c_0": c0}
    params = {name: p for name, p in side.parameters.items() if p.requires_grad}
    wrt |= {f"grad {name}": p for name, p in params.items()}

    def backward() -> tuple[Tensor | None, ...]:
        loss = loss_of(results, inputs, call.loss)
        if not loss.requires_grad:
            return (None,) * len(wrt)
        return torch.autograd.grad(loss, list(wrt.values()), allow_unused=True)

    grads = dict(zip(wrt, _call("backward", backward), strict=True))
    found = {k: v for k, v in grads.items() if not k.startswith("grad ") or k.removeprefix("grad ") not in params}
    param_grads = {name: grads[f"grad {name}"] for name in params}
    if pmap is not None:
        param_grads = pmap.grads_to_reference(param_grads)
    return found | {f"grad {name}": g for name, g in param_grads.items()}
