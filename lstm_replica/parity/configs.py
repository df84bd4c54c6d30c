"""The configuration vocabulary: one set-up of nn.LSTM and how its input is fed, and the factors it varies.

:class:`Config` is the single source of the words a configuration is spoken of in: its fields are
nn.LSTM's constructor arguments plus the input's shape and kind (``steps`` and ``batch``; ``seq_len``
and ``batch_size`` are accepted for them), and the command line's own set-up flags, the JSON report's
configuration fields and the tests' helpers derive from it. The factors (:data:`STRUCTURE`, the size
classes) are what the matrix (:mod:`.matrix`) covers; a feature a candidate lacks (:data:`FEATURES`,
:data:`PROBE_FEATURES`) rules factor values out (:func:`allowed`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import Field, asdict, dataclass, field, fields
from typing import Any, Literal, TypedDict, cast

import torch

SHORT_STEPS = 7
PROJ_SIZE = 2

Value = bool | int | float | str  # a factor's value
Assignment = dict[str, Value]  # factor -> value, for some or all factors

# the factors covered three at a time: every combination of three of their values that the constraints allow
STRUCTURE: dict[str, tuple[Value, ...]] = {
    "num_layers": (1, 2, 3),  # 3: three or more (drawn 3-5; the deep real-size configuration draws 5-8)
    "bidirectional": (False, True),
    "proj": (False, True),
    "input_kind": ("batched", "unbatched", "packed", "packed_equal"),  # packed: unequal, unsorted lengths
    "hx_given": (True, False),
    "bias": (True, False),
    "batch_first": (False, True),
    "dropout": (0.0, 0.25),
    "dtype": ("float64", "float32", "bfloat16", "float16"),
}
# the factors that shape the computation: --thorough runs every combination of their values
SHAPE = ("num_layers", "bidirectional", "proj", "input_kind", "hx_given")
# the size classes, covered two at a time (with each other and with every factor above)
OTHERS: dict[str, tuple[Value, ...]] = {
    "width": ("small", "medium", "large"),
    "batch_class": ("one", "few", "many"),
    "length": ("one", "short", "long"),
}
FACTORS: dict[str, tuple[Value, ...]] = {**STRUCTURE, **OTHERS}
DEEP_LAYERS = (3, 8)  # the range "three or more" layers is drawn from in the matrix (the budget sheds some)

# class -> the inclusive range a value is drawn from (log-uniformly, a third of the time a power of two or one
# either side of it: chunking and tiling bugs live there); the budgets below then shrink what is too costly
WIDTHS = {"small": (1, 16), "medium": (17, 99), "large": (100, 384)}
BATCHES = {"one": (1, 1), "few": (2, 7), "many": (8, 100)}
LENGTHS = {"one": (1, 1), "short": (2, 40), "long": (100, 700)}

# every feature a candidate may lack, in one vocabulary: the factor values below, the probes after them
Feature = Literal[
    "proj_size", "bidirectional", "packed", "unbatched", "batch_first", "no_bias", "dropout", "float16", "bfloat16",
    "float64", "float32", "multi_layer", "double_backward", "initialisation", "torch_func", "dtype_moves",
]  # fmt: skip
# features a candidate may declare unsupported -> the factor values they rule out
FEATURES: dict[Feature, tuple[str, Value]] = {
    "proj_size": ("proj", True),
    "bidirectional": ("bidirectional", True),
    "packed": ("input_kind", "packed"),  # and packed_equal: see _rules_out
    "unbatched": ("input_kind", "unbatched"),
    "batch_first": ("batch_first", True),
    "no_bias": ("bias", False),
    "dropout": ("dropout", 0.25),
    "float16": ("dtype", "float16"),
    "bfloat16": ("dtype", "bfloat16"),
    "float64": ("dtype", "float64"),
    "float32": ("dtype", "float32"),
    "multi_layer": ("num_layers", 2),  # and 3, 4: see _rules_out
}
# features that are not a factor value: a probe the candidate cannot take part in ("initialisation": its own
# initial weights are not drawn as nn.LSTM draws them, so neither they nor reset_parameters()' draws are judged;
# "torch_func": its forward leaves torch, so torch.func's transforms cannot trace it; "dtype_moves": it computes in
# the dtype it was built with, whatever .double() / .float() do to its parameters afterwards)
PROBE_FEATURES: tuple[Feature, ...] = ("double_backward", "initialisation", "torch_func", "dtype_moves")
# the feature a non-default value of one of nn.LSTM's keyword arguments needs (a constructor refusing it names it)
ARGUMENT_FEATURES: dict[str, Feature] = {
    "bias": "no_bias",
    "batch_first": "batch_first",
    "dropout": "dropout",
    "bidirectional": "bidirectional",
    "proj_size": "proj_size",
    "num_layers": "multi_layer",
}
# the command line's and torch's words for two Config fields: --seq-len / seq_len, --batch-size / batch_size
ALIASES = {"seq_len": "steps", "batch_size": "batch"}


class ConfigKeysError(TypeError):
    """A configuration given as a dict with a key that is neither a :class:`Config` field nor an alias of one."""


class Placement(TypedDict, total=False):
    """Where and in which dtype a module is built: the ``device`` and ``dtype`` factory keyword arguments."""

    device: str | torch.device
    dtype: torch.dtype


class ModuleKwargs(Placement, total=False):
    """``nn.LSTM``'s constructor keyword arguments (``nn.LSTMCell``'s are a subset)."""

    input_size: int
    hidden_size: int
    num_layers: int
    bias: bool
    batch_first: bool
    dropout: float
    bidirectional: bool
    proj_size: int


class ConfigFields(TypedDict, total=False):
    """The fields of a :class:`Config`, as a researcher may give them in a dict (``check(config={...})``).

    ``seq_len`` and ``batch_size`` (the command line's ``--seq-len`` / ``--batch-size``) name ``steps`` and ``batch``.
    """

    num_layers: int
    bidirectional: bool
    proj_size: int
    bias: bool
    batch_first: bool
    input_kind: str
    hx_given: bool
    dropout: float
    dtype: str
    batch: int
    steps: int
    input_size: int
    hidden_size: int
    label: str
    seq_len: int
    batch_size: int


INPUT_KINDS = ("batched", "unbatched", "packed", "packed_equal")  # packed: unequal, unsorted lengths
DTYPES = ("float64", "float32", "bfloat16", "float16")


def _field(
    default: Any, help: str, flags: tuple[str, ...] = (), on_command_line: Any = None, sizes_yours: bool = False
) -> Any:
    """A :class:`Config` field with its words on the command line: ``help`` (empty: not a flag; for a field that
    is on by default, the help of its ``--no-`` flag), its flags
    (default ``--field-name``; the first is the flag, the rest accepted aliases) and, where it differs, the
    command line's default (``on_command_line``); ``sizes_yours``: no default on the command line, and giving it
    (with the other such field) adds your configuration. Any: whatever the field holds, and dataclasses.field's type.
    """
    metadata = {"help": help, "flags": flags, "default": on_command_line, "sizes_yours": sizes_yours}
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Config:
    """One set-up: the module's constructor arguments plus how the input is shaped and fed.

    The one vocabulary of a configuration: ``check(config={...})`` takes these field names (``seq_len`` and
    ``batch_size`` too, for ``steps`` and ``batch``), the command line's own set-up flags are made from the
    fields (:func:`command_line_fields`), and the JSON report writes a configuration as ``asdict``.
    """

    num_layers: int = _field(1, "nn.LSTM's num_layers")
    bidirectional: bool = _field(False, "nn.LSTM's bidirectional")
    proj_size: int = _field(0, "nn.LSTM's proj_size")
    bias: bool = _field(True, "without biases (nn.LSTM's bias=False)")
    batch_first: bool = _field(False, "nn.LSTM's batch_first")
    input_kind: str = _field("batched", "how the input is fed: " + ", ".join(INPUT_KINDS))
    hx_given: bool = _field(True, "call it without an initial state", ("--hx",))
    dropout: float = _field(0.0, "nn.LSTM's dropout (between layers; on in training, the same generator state)")
    dtype: str = _field("float64", "the dtype it is built and fed in", ("--your-dtype",), on_command_line="float32")
    batch: int = _field(3, "the batch size", ("--batch", "--batch-size"))
    steps: int = _field(SHORT_STEPS, "the sequence length", ("--steps", "--seq-len"))
    input_size: int = _field(4, "nn.LSTM's input_size (with --hidden-size: your configuration)", sizes_yours=True)
    hidden_size: int = _field(6, "nn.LSTM's hidden_size (with --input-size: your configuration)", sizes_yours=True)
    label: str = _field("", "")  # the matrix's name for where a configuration comes from (yours, seed, real-...)
    scale: bool = _field(False, "")  # a real-size configuration: the reduced probe set (see .sizes.REDUCED_PROBES)

    @classmethod
    def from_fields(cls, given: Mapping[str, object]) -> Config:
        """A configuration from its fields in a dict; ``seq_len`` and ``batch_size`` name ``steps`` and ``batch``."""
        known = [f.name for f in fields(cls)]
        unknown = [key for key in given if key not in known and key not in ALIASES]
        if unknown:
            msg = f"Expected Config keys from {', '.join([*known, *ALIASES])}, got {', '.join(map(str, unknown))}"
            raise ConfigKeysError(msg)
        twice = [f"{alias} and {field}" for alias, field in ALIASES.items() if alias in given and field in given]
        if twice:
            msg = f"Expected each Config field once, got both {', '.join(twice)}"
            raise ConfigKeysError(msg)
        return cls(**cast("dict[str, Any]", {ALIASES.get(key, key): value for key, value in given.items()}))

    @property
    def name(self) -> str:
        parts = [self.label] if self.label else []
        parts += [self.input_kind, f"l{self.num_layers}"]
        parts += ["bi"] if self.bidirectional else []
        parts += [f"p{self.proj_size}"] if self.proj_size else []
        parts += [] if self.bias else ["nobias"]
        parts += ["bf"] if self.batch_first else []
        parts += ["hx" if self.hx_given else "nohx"]
        parts += [f"drop{self.dropout:g}"] if self.dropout else []
        short = {"float64": "f64", "float32": "f32", "bfloat16": "bf16", "float16": "f16"}[self.dtype]
        parts += [short, f"n{self.batch}", f"t{self.steps}"]
        parts += [f"i{self.input_size}h{self.hidden_size}"]
        return "-".join(parts)

    @property
    def torch_dtype(self) -> torch.dtype:
        return getattr(torch, self.dtype)

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def output_size(self) -> int:
        """The width of h_t: proj_size if projected, else hidden_size."""
        return self.proj_size or self.hidden_size

    @property
    def cost(self) -> int:
        """Multiply-adds of one forward pass, roughly: what keeps a certificate inside its time budget."""
        per_step = 4 * self.hidden_size * (self.input_size + self.output_size) * self.batch
        return self.num_layers * self.num_directions * self.steps * per_step

    @property
    def parameter_count(self) -> int:
        """Elements of all weights, roughly (upper layers read both directions): what training and audits cost."""
        upper = self.num_directions * self.output_size
        per_direction = (
            4
            * self.hidden_size
            * (self.input_size + upper * (self.num_layers - 1) + self.num_layers * self.output_size)
        )
        return self.num_directions * per_direction

    def module_kwargs(self) -> ModuleKwargs:
        """``nn.LSTM``'s constructor arguments, device and dtype aside, written out here (not read from a model)."""
        return {
            "input_size": self.input_size,
            "hidden_size": self.hidden_size,
            "num_layers": self.num_layers,
            "bias": self.bias,
            "batch_first": self.batch_first,
            "dropout": self.dropout,
            "bidirectional": self.bidirectional,
            "proj_size": self.proj_size,
        }

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, **asdict(self)}


def command_line_fields() -> list[Field[Any]]:  # Any: the fields' types differ
    """The :class:`Config` fields a researcher sets on the command line (``--input-size 5 --hidden-size 256 ...``),
    in the dataclass's order; each field's ``metadata`` holds its help and flags."""
    return [f for f in fields(Config) if f.metadata.get("help")]


# nn.LSTM's own values of the keyword arguments above (Config's defaults are nn.LSTM's)
NN_LSTM_DEFAULTS: dict[str, object] = {name: getattr(Config(), name) for name in ARGUMENT_FEATURES}


def _rules_out(feature: Feature, assignment: Assignment) -> bool:
    factor, value = FEATURES[feature]
    if feature == "multi_layer":
        return assignment.get("num_layers", 1) != 1
    if feature == "packed":
        return assignment.get("input_kind") in ("packed", "packed_equal")
    return factor in assignment and assignment[factor] == value


def check_features(features: Iterable[str]) -> frozenset[str]:
    """The declared unsupported features, refused with the known names if one is misspelt."""
    features = frozenset(features)
    unknown = sorted(features - set(FEATURES) - set(PROBE_FEATURES))
    if unknown:
        known = ", ".join([*FEATURES, *PROBE_FEATURES])
        msg = f"Expected unsupported features from {known}, got {', '.join(unknown)}"
        raise ValueError(msg)
    return features


def dtype_restriction(dtypes: Collection[str] | None) -> frozenset[str]:
    """``--dtype``: the other dtypes, ruled out the way unsupported features are."""
    if not dtypes:
        return frozenset()
    known = FACTORS["dtype"]
    unknown = [d for d in dtypes if d not in known]
    if unknown:
        msg = f"Expected --dtype from {', '.join(map(str, known))}, got {', '.join(unknown)}"
        raise ValueError(msg)
    return frozenset(str(d) for d in known if d not in dtypes)


def allowed(assignment: Assignment, unsupported: frozenset[str] = frozenset()) -> bool:
    """Constraints between factors (a partial assignment passes if it can still be completed)."""
    get = assignment.get
    if get("input_kind") == "unbatched" and get("batch_class", "one") != "one":
        return False  # unbatched input is one sequence
    if get("width") == "large" and (get("length") == "long" or get("batch_class") == "many"):
        return False  # cost: wide layers get short sequences and small batches
    if get("length") == "long" and get("batch_class") == "many":
        return False  # cost
    if get("dtype") in ("float16", "bfloat16") and (get("width") == "large" or get("length") == "long"):
        # half-precision matmuls are slow on the CPU (medium widths still cross every tile size), and hundreds of
        # steps of half-precision sums drift past any tolerance that still means something: up to 40 steps
        return False
    return not any(_rules_out(feature, assignment) for feature in unsupported if feature in FEATURES)


Tuple = tuple[tuple[str, Value], ...]


def assignment_of(config: Config) -> Assignment:
    """The factor values a configuration takes (sizes read back into their classes; a real-size configuration's
    sizes are in none: the cost constraints between classes are the matrix's, not theirs)."""

    def klass(value: int, classes: dict[str, tuple[int, int]]) -> str:
        return "" if config.scale else next((k for k, (lo, hi) in classes.items() if lo <= value <= hi), "")

    return {
        "num_layers": min(config.num_layers, int(STRUCTURE["num_layers"][-1])),
        "bidirectional": config.bidirectional,
        "proj": bool(config.proj_size),
        "input_kind": config.input_kind,
        "hx_given": config.hx_given,
        "bias": config.bias,
        "batch_first": config.batch_first,
        "dropout": config.dropout,
        "dtype": config.dtype,
        "width": klass(config.hidden_size, WIDTHS),
        "batch_class": klass(config.batch, BATCHES),
        "length": klass(config.steps, LENGTHS),
    }
