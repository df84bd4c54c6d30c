"""onnxruntime's LSTM operator against nn.LSTM: on an ONNX model built from ``to_onnx``, and on the replica exported.

(1) ``to_onnx``'s W, R, B, one ``LSTM`` node per layer (``direction="bidirectional"`` for two directions), the
states split by ``state_to_onnx`` and each node's ``Y`` reshaped into the next node's input, built with the ``onnx``
helper API and run by onnxruntime, give nn.LSTM's output, h_n and c_n. (2) torch's own legacy exporter turns
nn.LSTM into the same ``LSTM`` nodes with exactly ``to_onnx``'s W, R, B (bitwise); ``from_onnx`` reads them back.
(3) ``torch.onnx.export`` of ``lstm_replica.LSTM`` (its time loop unrolled into plain ops), by the default
exporter (needs ``onnxscript``) and the legacy TorchScript one, runs in onnxruntime as nn.LSTM.

float32 only: onnxruntime's LSTM kernel refuses float64 ("LSTM operator does not support double yet"). Largest
differences measured (onnxruntime 1.32.0, torch 2.13.0 CPU): built model 1.2e-07, exported replica 8.9e-08 (both
exporters); within
``TOLERANCES`` of ``parity_tests/_interop.py``. Skipped with a reason without onnx / onnxruntime.
"""

from __future__ import annotations

import io
import warnings
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from lstm_replica import LSTM
from lstm_replica.interop import (
    check_onnx_attributes,
    from_onnx,
    output_from_onnx,
    state_from_onnx,
    state_to_onnx,
    to_onnx,
)
from parity_tests._interop import HIDDEN_SIZE, SETUP_IDS, SETUPS, Setup, assert_matches, run_reference

onnx = pytest.importorskip("onnx", reason="onnx is not installed (pip install -e '.[interop]')")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install -e '.[interop]')")
helper, numpy_helper = onnx.helper, onnx.numpy_helper

OPSET = 17  # LSTM-14: layout attribute; onnxruntime 1.32 runs opsets up to 23


def _model(setup: Setup, nodes: list[dict[str, Tensor]]) -> onnx.ModelProto:
    """The ONNX graph of the stack: per layer an LSTM node, then Y (L, D, N, H) -> (L, N, D*H) for the next."""
    graph_nodes, initializers, inputs, outputs = [], [], [], []
    features = [nodes[0]["W"].shape[2]]
    inputs.append(helper.make_tensor_value_info("X", onnx.TensorProto.FLOAT, ["L", "N", features[0]]))
    initializers.append(numpy_helper.from_array(np.array([0, 0, -1], dtype=np.int64), "to_features"))
    x = "X"
    for layer, node in enumerate(nodes):
        names = {key: f"{key}_{layer}" for key in ("W", "R", "B", "h", "c", "Y", "Y_h", "Y_c")}
        initializers += [numpy_helper.from_array(node[key].numpy(), names[key]) for key in node]
        for state in ("h", "c"):
            inputs.append(
                helper.make_tensor_value_info(
                    names[state], onnx.TensorProto.FLOAT, [setup.num_directions, "N", HIDDEN_SIZE]
                )
            )
        lstm_inputs = [x, names["W"], names["R"], names["B"] if "B" in node else "", "", names["h"], names["c"]]
        direction = "bidirectional" if setup.bidirectional else "forward"
        lstm = helper.make_node(
            "LSTM",
            lstm_inputs,
            [names["Y"], names["Y_h"], names["Y_c"]],
            hidden_size=HIDDEN_SIZE,
            direction=direction,
        )
        check_onnx_attributes({a.name: helper.get_attribute_value(a) for a in lstm.attribute})
        graph_nodes.append(lstm)
        state_shape = [setup.num_directions, "N", HIDDEN_SIZE]  # (D, N, H)
        outputs += [
            helper.make_tensor_value_info(names[key], onnx.TensorProto.FLOAT, state_shape) for key in ("Y_h", "Y_c")
        ]
        if layer + 1 < len(nodes):
            graph_nodes += [
                helper.make_node("Transpose", [names["Y"]], [f"Y_t_{layer}"], perm=[0, 2, 1, 3]),  # (L, N, D, H)
                helper.make_node("Reshape", [f"Y_t_{layer}", "to_features"], [f"X_{layer + 1}"]),  # (L, N, D*H)
            ]
            x = f"X_{layer + 1}"
        else:
            y_shape = ["L", setup.num_directions, "N", HIDDEN_SIZE]  # (L, D, N, H)
            outputs.append(helper.make_tensor_value_info(names["Y"], onnx.TensorProto.FLOAT, y_shape))
    graph = helper.make_graph(graph_nodes, "lstm_stack", inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    onnx.checker.check_model(model)
    return model


def _session(model: bytes) -> Any:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # the CI machine's cores are shared
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def _run_built(setup: Setup, nodes: list[dict[str, Tensor]], x: Tensor, h_0: Tensor, c_0: Tensor) -> dict[str, Tensor]:
    feeds = {"X": x.numpy()}
    for layer, (h, c) in enumerate(
        zip(state_to_onnx(h_0, setup.num_layers), state_to_onnx(c_0, setup.num_layers), strict=True)
    ):
        feeds[f"h_{layer}"], feeds[f"c_{layer}"] = h.numpy(), c.numpy()
    session = _session(_model(setup, nodes).SerializeToString())
    results = dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds), strict=True))
    last = setup.num_layers - 1
    return {
        "output": output_from_onnx(results[f"Y_{last}"]),
        "h_n": state_from_onnx([results[f"Y_h_{k}"] for k in range(setup.num_layers)]),
        "c_n": state_from_onnx([results[f"Y_c_{k}"] for k in range(setup.num_layers)]),
    }


@pytest.mark.parametrize("setup", SETUPS, ids=SETUP_IDS)
def test_onnx_model_built_from_converted_weights_computes_nn_lstm(setup: Setup) -> None:
    lstm = setup.lstm(torch.float32)
    x, h_0, c_0 = setup.inputs(torch.float32)
    got = _run_built(setup, to_onnx(lstm), x, h_0, c_0)
    assert_matches(got, run_reference(lstm, x, h_0, c_0), "onnxruntime LSTM (built model)", setup.id)


def test_a_wrong_gate_order_is_caught() -> None:
    """The comparison can fail: torch's gate order i, f, g, o given to ONNX unconverted differs from nn.LSTM."""
    setup = Setup()
    lstm = setup.lstm(torch.float32)
    nodes = [{"W": lstm.weight_ih_l0.detach()[None], "R": lstm.weight_hh_l0.detach()[None], "B": to_onnx(lstm)[0]["B"]}]
    x, h_0, c_0 = setup.inputs(torch.float32)
    with pytest.raises(AssertionError, match=r"onnxruntime LSTM output differs from nn\.LSTM's"):
        assert_matches(_run_built(setup, nodes, x, h_0, c_0), run_reference(lstm, x, h_0, c_0), "onnxruntime LSTM", "")


def _export(module: nn.Module, inputs: tuple[Tensor, Tensor, Tensor], **options: Any) -> bytes:
    """``module(x, (h_0, c_0))`` exported to ONNX for those shapes, inputs named x, h_0, c_0."""
    x, h_0, c_0 = inputs
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # torch.onnx.export warns by design here, none of it about the result: the legacy exporter that it is
        # deprecated and that Python bools in the replica's call checks are traced as constants (the shapes are
        # fixed); the default exporter about the flat-weight list the module reassigns during tracing.
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (x, (h_0, c_0)), buffer, input_names=["x", "h_0", "c_0"], **options)
    return buffer.getvalue()


def test_torch_exports_nn_lstm_with_exactly_the_converted_weights() -> None:
    """torch's legacy exporter writes nn.LSTM as LSTM nodes: their W, R, B are to_onnx's, bitwise, both layers."""
    setup = Setup(num_layers=2, bidirectional=True)
    lstm = setup.lstm(torch.float32)
    x, h_0, c_0 = setup.inputs(torch.float32)
    model = onnx.load_from_string(_export(lstm, (x, h_0, c_0), dynamo=False))
    initializers = {
        tensor.name: torch.from_numpy(numpy_helper.to_array(tensor).copy()) for tensor in model.graph.initializer
    }
    exported = [
        {key: initializers[name] for key, name in zip(("W", "R", "B"), node.input[1:4], strict=True)}
        for node in model.graph.node
        if node.op_type == "LSTM"
    ]
    expected = to_onnx(lstm)
    assert len(exported) == len(expected), f"Expected {len(expected)} LSTM nodes, got {len(exported)}"
    for layer, (got, want) in enumerate(zip(exported, expected, strict=True)):
        for key in want:
            assert torch.equal(got[key], want[key]), f"torch's exported {key} of layer {layer} is not to_onnx's"
    back = from_onnx(exported)
    for key, value in lstm.state_dict().items():
        assert torch.equal(back[key], value), f"from_onnx of torch's export: {key} is not nn.LSTM's"


@pytest.mark.parametrize("dynamo", [True, False], ids=["default-exporter", "legacy-exporter"])
@pytest.mark.parametrize("setup", SETUPS[:2], ids=SETUP_IDS[:2])
def test_exported_replica_runs_in_onnxruntime_as_nn_lstm(setup: Setup, dynamo: bool) -> None:
    if dynamo:
        pytest.importorskip("onnxscript", reason="torch.onnx.export's default (dynamo) exporter needs onnxscript")
    lstm = setup.lstm(torch.float32)
    replica = LSTM.from_torch(lstm)
    session = _session(_export(replica, setup.inputs(torch.float32, seed=3), dynamo=dynamo))
    x, h_0, c_0 = setup.inputs(torch.float32)  # not the traced inputs: the graph computes, it does not replay
    output, h_n, c_n = session.run(None, {"x": x.numpy(), "h_0": h_0.numpy(), "c_0": c_0.numpy()})
    got = {"output": torch.from_numpy(output), "h_n": torch.from_numpy(h_n), "c_n": torch.from_numpy(c_n)}
    exporter = "default" if dynamo else "legacy"
    assert_matches(got, run_reference(lstm, x, h_0, c_0), f"lstm_replica.LSTM exported ({exporter})", setup.id)
