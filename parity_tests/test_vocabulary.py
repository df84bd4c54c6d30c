"""The harness's one vocabulary, word by word: a configuration's fields as a dict and on the command line, the
words a result is written in (a location, a gradient's key, a difference beyond comparison), and the JSON
report's schema-3 fields. Unit tests, milliseconds each: mutation testing runs them (docs/mutation.md)."""

from __future__ import annotations

import argparse
import json
import math

import pytest

from lstm_replica.faces import check as cli
from lstm_replica.parity.compare import Difference
from lstm_replica.parity.configs import ALIASES, Config, ConfigKeysError, command_line_fields
from lstm_replica.parity.report import SCHEMA_VERSION, Report
from lstm_replica.parity.results import LEAF_GRADS, ConfigResult, Location, grad_key, gradient_of


def test_a_config_from_its_fields_and_torchs_words_for_two_of_them():
    given = {"input_size": 5, "hidden_size": 7, "seq_len": 9, "batch_size": 2, "bidirectional": True}
    config = Config.from_fields(given)
    assert (config.input_size, config.hidden_size, config.steps, config.batch) == (5, 7, 9, 2)
    assert config.bidirectional
    assert config == Config(input_size=5, hidden_size=7, steps=9, batch=2, bidirectional=True)
    assert Config.from_fields({}) == Config(), "no field given: nn.LSTM's defaults and the harness's sizes"
    assert ALIASES == {"seq_len": "steps", "batch_size": "batch"}


def test_an_unknown_key_names_every_key_accepted():
    with pytest.raises(ConfigKeysError) as raised:
        Config.from_fields({"input_size": 5, "hiden_size": 7, "layers": 2})
    message = str(raised.value)
    assert message.startswith("Expected Config keys from num_layers, bidirectional, proj_size, bias, "), message
    assert message.endswith(", label, scale, seq_len, batch_size, got hiden_size, layers"), message
    assert isinstance(raised.value, TypeError), "as a wrong keyword argument is"


@pytest.mark.parametrize(("alias", "name"), [("seq_len", "steps"), ("batch_size", "batch")])
def test_a_field_given_twice_under_two_names_is_refused(alias, name):
    with pytest.raises(ConfigKeysError, match=f"^Expected each Config field once, got both {alias} and {name}$"):
        Config.from_fields({alias: 3, name: 3})
    with pytest.raises(
        ConfigKeysError, match=r"^Expected each Config field once, got both seq_len and steps, batch_size and batch$"
    ):
        Config.from_fields({"seq_len": 3, "steps": 3, "batch_size": 2, "batch": 2})


def test_the_command_line_flags_are_the_config_fields():
    specs = {spec.name: spec for spec in command_line_fields()}
    settable = [name for name in Config.__dataclass_fields__ if name not in ("label", "scale")]
    assert list(specs) == settable, "every field a researcher sets, in the dataclass's order, and only those"
    assert specs["steps"].metadata["flags"] == ("--steps", "--seq-len")
    assert specs["batch"].metadata["flags"] == ("--batch", "--batch-size")
    assert specs["dtype"].metadata["flags"] == ("--your-dtype",)
    assert specs["hx_given"].metadata["flags"] == ("--hx",)
    assert specs["num_layers"].metadata["flags"] == ()
    assert specs["dtype"].metadata["default"] == "float32", "the command line's own set-up is float32 by default"
    assert specs["input_size"].metadata["sizes_yours"], "no size given: no configuration of yours"
    assert specs["hidden_size"].metadata["sizes_yours"]
    assert not specs["steps"].metadata["sizes_yours"]
    assert specs["num_layers"].metadata["default"] is None, "nn.LSTM's default"
    assert all(spec.metadata["help"] for spec in specs.values())


def _parsed(*argv: str) -> Config | None:
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    return cli._yours(parser.parse_args(["check", *argv]))


def test_the_command_lines_own_set_up_is_a_config():
    assert _parsed() is None, "no size: no configuration of yours"
    given = _parsed("--input-size", "5", "--hidden-size", "256", "--seq-len", "50", "--batch", "4", "--no-bias")
    assert given == Config(input_size=5, hidden_size=256, steps=50, batch=4, bias=False, dtype="float32")
    flags = ("--packed", "--no-hx", "--bidirectional", "--batch-first", "--num-layers", "3", "--dropout", "0.5")
    packed = _parsed("--input-size", "3", "--hidden-size", "4", "--your-dtype", "float64", *flags)
    assert packed == Config(
        input_size=3,
        hidden_size=4,
        dtype="float64",
        input_kind="packed",
        hx_given=False,
        bidirectional=True,
        batch_first=True,
        num_layers=3,
        dropout=0.5,
    )
    kinds = _parsed("--input-size", "3", "--hidden-size", "4", "--input-kind", "packed_equal", "--proj-size", "2")
    assert kinds == Config(input_size=3, hidden_size=4, input_kind="packed_equal", proj_size=2, dtype="float32")
    with pytest.raises(ValueError, match=r"^Expected both --input-size and --hidden-size"):
        _parsed("--input-size", "3")
    with pytest.raises(ValueError, match=r"^Expected both --input-size and --hidden-size"):
        _parsed("--hidden-size", "0")
    zero = _parsed("--input-size", "0", "--hidden-size", "4")
    assert zero == Config(input_size=0, hidden_size=4, dtype="float32"), "a size of 0 is given (and refused later)"


def test_a_gradients_key_is_built_and_read_in_one_place():
    assert grad_key("weight_ih_l0") == "grad weight_ih_l0"
    assert gradient_of("grad weight_hh_l1_reverse") == "weight_hh_l1_reverse"
    assert gradient_of("output") is None
    assert gradient_of("h_n") is None
    assert gradient_of("gradient") is None, "a word that starts like it is not a gradient"
    assert tuple(grad_key(leaf) for leaf in ("input", "h_0", "c_0")) == LEAF_GRADS


def test_a_difference_beyond_comparison_and_an_equal_one():
    apart = Difference.apart("output", "Expected output, got none", "calls 2-5")
    assert (apart.tensor, apart.note, apart.probe) == ("output", "Expected output, got none", "calls 2-5")
    assert not apart.bitwise
    assert not apart.within_tolerance
    assert math.isinf(apart.max_abs)
    assert math.isinf(apart.max_rel)
    assert math.isinf(apart.max_ulps)
    assert Difference.apart("raises", "x").probe == "", "call 1 by default"
    equal = Difference.equal("h_n", "no_grad")
    assert (equal.tensor, equal.probe, equal.note) == ("h_n", "no_grad", "")
    assert equal.bitwise
    assert equal.within_tolerance
    assert (equal.max_abs, equal.max_rel, equal.max_ulps, equal.mismatched) == (0.0, 0.0, 0.0, 0)
    assert Difference.equal("c_n").probe == ""


@pytest.mark.parametrize(
    ("location", "described"),
    [
        (Location("output"), "output, gate not isolable"),
        (
            Location("output", 3, 1, "reverse", 2, "f"),
            "output, time step 3, layer 1, direction reverse, batch index 2, gate f",
        ),
        (
            Location("h_n", "last", 0, "forward", None, "all gates"),
            "h_n, time step last, layer 0, direction forward, all gates",
        ),
        (Location("grad weight_ih_l0", None, 0, None, None, "i,g"), "grad weight_ih_l0, layer 0, gate i,g"),
        (Location("c_n", 0, note="only the state"), "c_n, time step 0, gate not isolable (only the state)"),
        (Location("output", cause="h and c exchanged"), "output, gate not isolable (likely cause: h and c exchanged)"),
        (
            Location("output", 0, 0, None, 0, "o", note="n", cause="c"),
            "output, time step 0, layer 0, batch index 0, gate o (n; likely cause: c)",
        ),
    ],
)
def test_a_location_in_words(location, described):
    assert location.describe() == described


def _report(matrix: str) -> Report:
    result = ConfigResult({"name": "c", "dtype": "float64"}, "bitwise", differences=[Difference.equal("output")])
    return Report("x", "module", "torch.nn.LSTM", "bitwise", {"torch": "2"}, results=[result], matrix=matrix)


@pytest.mark.parametrize(("matrix", "quick"), [("quick", True), ("default", False), ("thorough", False)])
def test_the_json_report_keeps_schema_3s_fields(matrix, quick):
    data = json.loads(json.dumps(_report(matrix).to_json(), default=str))
    assert data["schema_version"] == SCHEMA_VERSION == 3
    assert data["quick"] is quick, "schema 3's quick: the matrix was the quick screen"
    assert data["matrix"] == matrix
    assert data["exit_status"] == 0
    assert data["verdict"].startswith("QUICK SCREEN: " if quick else "REPLICA: bitwise identical to torch.nn.LSTM")
    (result,) = data["results"]
    assert result["uncompared"] == [], "schema 3's uncompared: the parameter map leaves none"
    assert result["status"] == "bitwise"
    assert result["config"] == {"name": "c", "dtype": "float64"}
    assert result["differences"][0]["tensor"] == "output"
    expected = {
        "schema_version", "candidate", "kind", "reference", "standard", "provenance", "tolerances", "results",
        "error", "traceback", "not_run", "stopped", "unsupported", "not_compared", "why_unsupported", "diagnosis",
        "quick", "matrix", "envelope", "ruled_out", "verdict", "exit_status",
    }  # fmt: skip
    assert set(data) == expected
    keys = list(data)
    assert keys[:2] == ["schema_version", "candidate"], keys
    assert keys[keys.index("quick") + 1] == "matrix", "quick where schema 3 had it: before matrix"
    assert keys[-2:] == ["verdict", "exit_status"], keys
    assert list(result)[list(result).index("uncompared") - 1] == "cell_errors", "uncompared after cell_errors"
    assert set(result) == {
        "config", "status", "reason", "differences", "checks", "location", "steps", "cell_errors", "uncompared",
        "audit", "skipped", "repeatability",
    }  # fmt: skip
