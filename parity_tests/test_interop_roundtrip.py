"""The interop converters as pure data, no framework installed: round trips, rounding losses, refusals.

torch -> layout -> torch moves the weights bitwise for every layout; the biases too for ONNX (two biases, like
torch). Keras, TensorFlow and Flax keep one bias: going there folds ``b_ih + b_hh`` (one rounding per element,
measured here), coming back puts the bias in ``bias_ih`` and zeros in ``bias_hh`` (exact), so layout -> torch ->
layout is bitwise for all four (TensorFlow with ``forget_bias=0``; its default 1.0 rounds twice more, measured).
The layouts' documented cell equations, unrolled by hand on the converted arrays, reproduce nn.LSTM; the real
frameworks prove the same in ``test_interop_{keras,flax,onnx,tensorflow}.py``.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from lstm_replica import LSTM
from lstm_replica.interop import (
    check_onnx_attributes,
    config_from_state_dict,
    from_flax,
    from_keras,
    from_onnx,
    from_tensorflow,
    output_from_onnx,
    state_from_onnx,
    state_to_onnx,
    to_flax,
    to_keras,
    to_onnx,
    to_tensorflow,
)
from parity_tests._interop import DTYPE_IDS, DTYPES, SETUP_IDS, SETUPS, TOLERANCES, Setup, run_reference

# Folding b_ih + b_hh (and, for TensorFlow, forget_bias) rounds the biases. nn.LSTM on the native CPU path run with
# the folded biases against the original, the setups below, largest output / h_n / c_n difference measured:
# float32 1.2e-07, float64 1.7e-16 (an ulp or two of values below 1); checked under the framework tolerances.
# (On the default float32 CPU path, oneDNN's kernel adds b_ih + b_hh itself: there the difference measured 0.)
FOLDING_TOLERANCE = TOLERANCES

Converter = tuple[Callable[[nn.Module], Any], Callable[[Any, Setup], dict[str, Tensor]]]
CONVERTERS: dict[str, Converter] = {
    "keras": (to_keras, lambda arrays, setup: from_keras(arrays)),
    "tensorflow": (
        lambda lstm: to_tensorflow(lstm, forget_bias=0.0),
        lambda arrays, setup: from_tensorflow(arrays, bidirectional=setup.bidirectional, forget_bias=0.0),
    ),
    "flax": (to_flax, lambda arrays, setup: from_flax(arrays, bidirectional=setup.bidirectional)),
    "onnx": (to_onnx, lambda arrays, setup: from_onnx(arrays)),
}
ONE_BIAS = ("keras", "tensorflow", "flax")
ALWAYS_BIASED = ("tensorflow", "flax")  # their cells always hold a bias: zeros for bias=False


def _leaves(tree: Any) -> list[Tensor]:
    if isinstance(tree, dict):
        return [leaf for key in sorted(tree) for leaf in _leaves(tree[key])]
    if isinstance(tree, list):
        return [leaf for item in tree for leaf in _leaves(item)]
    return [tree]


def _as_numpy(tree: Any) -> Any:
    """The same tree with numpy leaves: what a framework hands back (``get_weights``, a Flax tree, ONNX arrays)."""
    if isinstance(tree, dict):
        return {key: _as_numpy(value) for key, value in tree.items()}
    if isinstance(tree, list):
        return [_as_numpy(item) for item in tree]
    return tree.numpy()


def _without_hh_bias(lstm: nn.LSTM) -> nn.LSTM:
    """The LSTM with its b_hh moved into b_ih exactly as a one-bias layout brings it in (b_ih + b_hh, zeros)."""
    with torch.no_grad():
        for name, parameter in lstm.named_parameters():
            if name.startswith("bias_hh"):
                getattr(lstm, name.replace("bias_hh", "bias_ih")).add_(parameter)
                parameter.zero_()
    return lstm


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("setup", SETUPS, ids=SETUP_IDS)
@pytest.mark.parametrize("framework", list(CONVERTERS))
def test_torch_to_layout_and_back_moves_weights_bitwise(framework: str, setup: Setup, dtype: torch.dtype) -> None:
    """Weights come back bitwise through numpy; biases bitwise (ONNX) or as b_ih + b_hh and zeros (one-bias layouts)."""
    to_layout, from_layout = CONVERTERS[framework]
    lstm = setup.lstm(dtype)
    original = lstm.state_dict()
    back = from_layout(_as_numpy(to_layout(lstm)), setup)
    config = config_from_state_dict(back)
    assert list(back) == list(nn.LSTM(**config).state_dict()), f"{framework}: expected nn.LSTM's keys, got {list(back)}"
    has_bias = setup.bias or framework in ALWAYS_BIASED
    assert config["bias"] == has_bias, f"{framework}: expected biases {has_bias}, got {config['bias']}"
    for key, value in back.items():
        assert value.dtype == dtype, f"{framework} {key}: expected {dtype}, got {value.dtype}"
        if key.startswith("weight") or framework == "onnx":
            expected = original[key]
        elif not setup.bias:
            expected = torch.zeros_like(value)
        elif key.startswith("bias_ih"):
            expected = original[key] + original[key.replace("bias_ih", "bias_hh")]
        else:
            expected = torch.zeros_like(value)
        assert torch.equal(value, expected), f"{framework} {key} ({setup.id}, {dtype}) is not bitwise what was expected"


@pytest.mark.parametrize("setup", SETUPS, ids=SETUP_IDS)
@pytest.mark.parametrize("framework", list(CONVERTERS))
def test_layout_to_torch_and_back_is_bitwise(framework: str, setup: Setup) -> None:
    """layout -> torch -> layout is pure data movement for every layout (TensorFlow with forget_bias=0)."""
    to_layout, from_layout = CONVERTERS[framework]
    arrays = to_layout(setup.lstm(torch.float32))
    state = from_layout(arrays, setup)
    rebuilt = nn.LSTM(**config_from_state_dict(state))
    rebuilt.load_state_dict(state)
    again = to_layout(rebuilt)
    for index, (before, after) in enumerate(zip(_leaves(arrays), _leaves(again), strict=True)):
        assert torch.equal(before, after), f"{framework} array {index} ({setup.id}) changed in the round trip"


@pytest.mark.parametrize("setup", SETUPS, ids=SETUP_IDS)
@pytest.mark.parametrize("framework", list(CONVERTERS))
def test_a_model_with_one_bias_round_trips_bitwise(framework: str, setup: Setup) -> None:
    """An nn.LSTM whose b_hh is zero (one brought in from a one-bias layout) survives torch -> layout -> torch whole."""
    to_layout, from_layout = CONVERTERS[framework]
    lstm = _without_hh_bias(setup.lstm(torch.float32))
    back = from_layout(to_layout(lstm), setup)
    for key, value in lstm.state_dict().items():
        assert torch.equal(back[key], value), f"{framework} {key} ({setup.id}) is not a bitwise copy"


@pytest.mark.parametrize("source", ["nn.LSTM", "lstm_replica.LSTM", "state_dict"])
@pytest.mark.parametrize("framework", list(CONVERTERS))
def test_converters_read_the_replica_and_state_dicts_as_nn_lstm(framework: str, source: str) -> None:
    to_layout, _ = CONVERTERS[framework]
    lstm = Setup(num_layers=2, bidirectional=True).lstm()
    given = {"nn.LSTM": lstm, "lstm_replica.LSTM": LSTM.from_torch(lstm), "state_dict": lstm.state_dict()}[source]
    for index, (got, expected) in enumerate(zip(_leaves(to_layout(given)), _leaves(to_layout(lstm)), strict=True)):
        assert torch.equal(got, expected), f"{framework} array {index} from {source} differs from nn.LSTM's"


def test_converted_arrays_share_no_memory_with_the_module() -> None:
    lstm = Setup().lstm()
    pointers = {parameter.data_ptr() for parameter in lstm.parameters()}
    for framework, (to_layout, from_layout) in CONVERTERS.items():
        arrays = to_layout(lstm)
        shared = [index for index, leaf in enumerate(_leaves(arrays)) if leaf.data_ptr() in pointers]
        assert not shared, f"{framework}: arrays {shared} share memory with the nn.LSTM's parameters"
        inputs = {leaf.data_ptr() for leaf in _leaves(arrays)}
        back = from_layout(arrays, Setup())
        assert not [key for key, value in back.items() if value.data_ptr() in inputs], f"{framework}: shared memory"


@pytest.mark.usefixtures("native_cpu")
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("setup", SETUPS[:2], ids=SETUP_IDS[:2])
@pytest.mark.parametrize("framework", ONE_BIAS)
def test_folding_the_two_biases_rounds_once_and_stays_within_tolerance(
    framework: str, setup: Setup, dtype: torch.dtype
) -> None:
    """One-bias layouts: b_ih + b_hh is rounded once (within half an ulp of the exact sum); nn.LSTM run with the
    folded bias stays within FOLDING_TOLERANCE of the original (largest measured: float32 1.2e-07, float64 1.7e-16)."""
    to_layout, from_layout = CONVERTERS[framework]
    lstm = setup.lstm(dtype)
    folded = nn.LSTM(**config_from_state_dict(state := from_layout(to_layout(lstm), setup)), dtype=dtype).eval()
    folded.load_state_dict(state)
    for key, bias in state.items():
        if key.startswith("bias_ih"):
            exact = lstm.state_dict()[key].double() + lstm.state_dict()[key.replace("ih", "hh")].double()
            half_ulp = torch.finfo(dtype).eps * exact.abs() / 2
            assert ((bias.double() - exact).abs() <= half_ulp).all(), f"{framework} {key}: more than half an ulp off"
    x, h_0, c_0 = setup.inputs(dtype)
    expected, got = run_reference(lstm, x, h_0, c_0), run_reference(folded, x, h_0, c_0)
    for name in expected:
        torch.testing.assert_close(
            got[name],
            expected[name],
            **FOLDING_TOLERANCE[dtype],
            msg=lambda report, name=name: f"{framework}: {name} with folded biases ({setup.id}, {dtype}):\n{report}",
        )


def test_tensorflow_forget_bias_is_folded_into_the_f_gate() -> None:
    """to_tensorflow subtracts forget_bias from the f block, from_tensorflow adds it back: i, j, o blocks untouched,
    the f block within one rounding of the original each way."""
    lstm = Setup().lstm(torch.float32)
    plain = to_tensorflow(lstm, forget_bias=0.0)[0]["bias"]
    shifted = to_tensorflow(lstm, forget_bias=1.0)[0]["bias"]
    hidden = lstm.hidden_size
    f_block = slice(2 * hidden, 3 * hidden)  # i, j, f, o
    assert torch.equal(shifted[f_block], plain[f_block] - 1.0), "Expected the f block to be b_f - forget_bias"
    others = torch.cat([shifted[: 2 * hidden], shifted[3 * hidden :]])
    assert torch.equal(others, torch.cat([plain[: 2 * hidden], plain[3 * hidden :]])), "i, j, o blocks changed"
    back = from_tensorflow([{"kernel": to_tensorflow(lstm)[0]["kernel"], "bias": shifted}])
    exact = lstm.bias_ih_l0 + lstm.bias_hh_l0
    torch.testing.assert_close(
        back["bias_ih_l0"],
        exact,
        rtol=0,
        atol=torch.finfo(torch.float32).eps * 2,  # |b| < 1: (b - 1) + 1 rounds twice, by at most an ulp of 1 each
        msg=lambda report: f"TensorFlow bias after forget_bias out and back in:\n{report}",
    )


def _unrolled(framework: str, arrays: Any, x: Tensor, h_0: Tensor, c_0: Tensor) -> Tensor:
    """One layer, one direction, run by the layout's documented equations on the converted arrays: (L, N, H)."""
    h, c, outputs = h_0[0], c_0[0], []
    hidden = h.shape[1]
    for x_t in x:  # x_t (N, H_in)
        if framework == "keras":
            kernel, recurrent, bias = arrays[0]
            z_i, z_f, z_g, z_o = (x_t @ kernel + h @ recurrent + bias).split(hidden, dim=1)  # each (N, H)
        elif framework == "tensorflow":
            cell = arrays[0]
            z_i, z_g, z_f, z_o = (torch.cat([x_t, h], dim=1) @ cell["kernel"] + cell["bias"]).split(hidden, dim=1)
            z_f = z_f + 1.0  # forget_bias
        elif framework == "flax":
            tree = arrays[0]
            z_i, z_f, z_g, z_o = (
                x_t @ tree[f"i{gate}"]["kernel"] + h @ tree[f"h{gate}"]["kernel"] + tree[f"h{gate}"]["bias"]
                for gate in "ifgo"
            )
        else:  # onnx: x W^T + h R^T + W_b + R_b, gates i, o, f, c
            node = arrays[0]
            w_b, r_b = node["B"][0].chunk(2)
            z_i, z_o, z_f, z_g = (x_t @ node["W"][0].T + h @ node["R"][0].T + w_b + r_b).split(hidden, dim=1)
        c = torch.sigmoid(z_f) * c + torch.sigmoid(z_i) * torch.tanh(z_g)
        h = torch.sigmoid(z_o) * torch.tanh(c)
        outputs.append(h)
    return torch.stack(outputs)  # (L, N, H)


@pytest.mark.parametrize("framework", list(CONVERTERS))
def test_documented_cell_equations_on_converted_arrays_reproduce_nn_lstm(framework: str) -> None:
    """Each layout's equations (its module docstring), unrolled step by step in float64, give nn.LSTM's output."""
    setup = Setup()
    lstm = setup.lstm(torch.float64)
    to_layout = to_tensorflow if framework == "tensorflow" else CONVERTERS[framework][0]  # forget_bias 1.0
    x, h_0, c_0 = setup.inputs(torch.float64)
    expected = run_reference(lstm, x, h_0, c_0)["output"]
    torch.testing.assert_close(
        _unrolled(framework, to_layout(lstm), x, h_0, c_0),
        expected,
        **TOLERANCES[torch.float64],
        msg=lambda report: f"{framework}'s documented equations on the converted arrays:\n{report}",
    )


@pytest.mark.parametrize("framework", list(CONVERTERS))
def test_projection_is_refused(framework: str) -> None:
    to_layout, _ = CONVERTERS[framework]
    with pytest.raises(ValueError, match=r"Expected an LSTM without projection \(proj_size=0\)"):
        to_layout(nn.LSTM(4, 6, proj_size=3))


def test_non_lstm_sources_are_refused() -> None:
    with pytest.raises(TypeError, match=r"Expected an nn\.LSTM or lstm_replica\.LSTM, got GRU"):
        to_keras(nn.GRU(3, 4))
    with pytest.raises(TypeError, match=r"Expected an nn\.LSTM, an lstm_replica\.LSTM or a state_dict, got list"):
        to_onnx([])


def test_wrong_shapes_and_unknown_tensors_are_refused_with_the_expected_shape() -> None:
    lstm = Setup().lstm()
    keras_weights = to_keras(lstm)
    with pytest.raises(ValueError, match=r"Expected 2, 3, 4 or 6 arrays .* got counts \[5\]"):
        from_keras([[*keras_weights[0], keras_weights[0][0], keras_weights[0][0]]])
    with pytest.raises(ValueError, match=r"Expected weight_hh of shape \(28, 7\) in Keras cell 0.*got \(28, 6\)"):
        from_keras([[keras_weights[0][0], keras_weights[0][1][:6], keras_weights[0][2]]])
    with pytest.raises(ValueError, match=r"Expected exactly kernel and bias .* got \['bias', 'kernel', 'w_f_diag'\]"):
        from_tensorflow([{**to_tensorflow(lstm)[0], "w_f_diag": torch.zeros(7)}])
    tree = to_flax(lstm)[0]
    with pytest.raises(ValueError, match="Expected a Flax LSTMCell tree"):
        from_flax([{**tree, "ii": {**tree["ii"], "bias": torch.zeros(7)}}])
    with pytest.raises(ValueError, match=r"Expected hf.kernel of shape \(7, 7\) in Flax cell 0, got \(6, 7\)"):
        from_flax([{**tree, "hf": {**tree["hf"], "kernel": tree["hf"]["kernel"][:6]}}])
    with pytest.raises(ValueError, match=r"Expected Flax cells for whole layers \(2 per layer\), got 1"):
        from_flax([tree], bidirectional=True)
    node = to_onnx(lstm)[0]
    with pytest.raises(ValueError, match=r"Expected B of shape \(1, 56\) in ONNX node 0, got \(1, 28\)"):
        from_onnx([{**node, "B": node["B"][:, :28]}])


def test_onnx_peepholes_are_refused_unless_zero() -> None:
    node = to_onnx(Setup().lstm())[0]
    assert from_onnx([{**node, "P": torch.zeros(1, 21)}]).keys() == from_onnx([node]).keys(), "zero P must pass"
    with pytest.raises(ValueError, match=r"Expected no peepholes \(P absent or zeros\)"):
        from_onnx([{**node, "P": torch.ones(1, 21)}])


def test_onnx_attributes_nn_lstm_computes_pass() -> None:
    check_onnx_attributes({"hidden_size": 7, "direction": b"bidirectional", "layout": 1, "input_forget": 0})
    check_onnx_attributes({"activations": [b"Sigmoid", b"Tanh", b"Tanh"] * 2, "direction": "bidirectional"})


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"direction": b"reverse"}, "Expected direction forward or bidirectional"),
        ({"activations": [b"HardSigmoid", b"Tanh", b"Tanh"]}, "Expected activations"),
        ({"clip": 3.0}, "Expected no clip"),
        ({"input_forget": 1}, "Expected no input_forget"),
    ],
    ids=["reverse", "hard_sigmoid", "clip", "input_forget"],
)
def test_onnx_attributes_nn_lstm_lacks_are_refused(attributes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_onnx_attributes(attributes)


def test_onnx_states_and_output_move_between_layouts_bitwise() -> None:
    setup = Setup(num_layers=2, bidirectional=True)
    _, h_0, _ = setup.inputs(torch.float32)
    per_node = state_to_onnx(h_0, setup.num_layers)
    assert [tuple(s.shape) for s in per_node] == [(2, 3, 7)] * 2, "Expected (D, N, H) per node"
    assert torch.equal(state_from_onnx([s.numpy() for s in per_node]), h_0), "Expected the states back bitwise"
    y = torch.randn(6, 2, 3, 7)  # (L, D, N, H)
    output = output_from_onnx(y.numpy())
    assert torch.equal(output[..., :7], y[:, 0]), "Expected the forward direction's features first"
    assert torch.equal(output[..., 7:], y[:, 1]), "Expected the reverse direction's features second"


def test_config_from_state_dict_rebuilds_nn_lstm() -> None:
    for lstm in (nn.LSTM(4, 6, num_layers=3, bidirectional=True, bias=False), nn.LSTM(4, 6, num_layers=2, proj_size=2)):
        config = config_from_state_dict(lstm.state_dict())
        rebuilt = nn.LSTM(**config)
        rebuilt.load_state_dict(lstm.state_dict())
        for key in config:
            assert getattr(rebuilt, key) == getattr(lstm, key), f"{key}: expected {getattr(lstm, key)}"


def test_converters_import_no_framework() -> None:
    """The converters run where only torch is installed: importing them loads no framework."""
    frameworks = ("keras", "tensorflow", "jax", "flax", "onnx", "onnxruntime")
    code = (
        "import sys, lstm_replica.interop\n"
        f"loaded = [name for name in {frameworks!r} if name in sys.modules]\n"
        "assert not loaded, f'imported {loaded}'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"Expected no framework imported by lstm_replica.interop, got {result.stderr}"


def test_numpy_arrays_are_read_as_given() -> None:
    kernel = np.arange(5 * 28, dtype=np.float32).reshape(5, 28)
    recurrent = np.arange(7 * 28, dtype=np.float32).reshape(7, 28)
    state = from_keras([[kernel, recurrent]])
    assert torch.equal(state["weight_ih_l0"], torch.from_numpy(kernel.T.copy())), "Expected kernel.T as weight_ih"
    kernel[0, 0] = -1.0
    assert state["weight_ih_l0"][0, 0] == 0.0, "Expected a copy, got memory shared with the numpy array"
