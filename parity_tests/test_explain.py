"""``lstm-replica explain``: the traced shapes are those of real ``nn.LSTM`` / ``nn.Linear`` tensors.

Every configuration is traced through the replica and checked against an
``nn.LSTM`` + ``nn.Linear`` of the same configuration: parameter names, shapes
and counts, the outputs' shapes, and the per-step shapes against the final
states of the layer and direction they belong to. The CLI is checked for its
text table, its JSON and its exit status 2 on arguments ``nn.LSTM`` rejects.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lstm_replica import LSTMClassifier
from lstm_replica.faces.cli import main
from lstm_replica.faces.explain import Explanation, trace_classifier

# (constructor kwargs, seq_len, batch_size)
CONFIGS = [
    pytest.param({"input_size": 5, "hidden_size": 256, "num_classes": 10}, 7, 3, id="seed-5-256-10"),
    pytest.param({"input_size": 3, "hidden_size": 8, "num_classes": 4, "num_layers": 2}, 5, 2, id="layers2"),
    pytest.param({"input_size": 4, "hidden_size": 6, "num_classes": 3, "bidirectional": True}, 4, 2, id="bidir"),
    pytest.param({"input_size": 4, "hidden_size": 6, "num_classes": 3, "proj_size": 2}, 3, 4, id="proj"),
    pytest.param({"input_size": 4, "hidden_size": 6, "num_classes": 3, "batch_first": True}, 5, 2, id="batch-first"),
    pytest.param(
        {"input_size": 3, "hidden_size": 8, "num_classes": 4, "num_layers": 3, "bidirectional": True},
        4,
        3,
        id="layers3-bidir",
    ),
    pytest.param(
        {"input_size": 4, "hidden_size": 6, "num_classes": 3, "num_layers": 2, "bidirectional": True, "proj_size": 3},
        3,
        2,
        id="layers2-bidir-proj",
    ),
    pytest.param(
        {
            "input_size": 2,
            "hidden_size": 5,
            "num_classes": 7,
            "num_layers": 3,
            "bidirectional": True,
            "proj_size": 4,
            "batch_first": True,
        },
        6,
        1,
        id="layers3-bidir-proj-batch-first",
    ),
    pytest.param({"input_size": 1, "hidden_size": 1, "num_classes": 1}, 1, 1, id="all-ones"),
    pytest.param(
        {"input_size": 32, "hidden_size": 16, "num_classes": 2, "num_layers": 2, "proj_size": 15}, 2, 5, id="wide-input"
    ),
]


def _build(config: dict[str, Any], seq_len: int, batch: int) -> tuple[LSTMClassifier, Tensor, Tensor]:
    model = LSTMClassifier(**config)
    layout = (batch, seq_len) if model.lstm.batch_first else (seq_len, batch)
    input = torch.randn(*layout, config["input_size"])  # (L, N, H_in) or (N, L, H_in)
    target = torch.arange(batch) % config["num_classes"]  # (N,)
    return model, input, target


def _reference(config: dict[str, Any]) -> tuple[nn.LSTM, nn.Linear]:
    lstm_kwargs = {k: v for k, v in config.items() if k != "num_classes"}
    lstm = nn.LSTM(**lstm_kwargs)
    features = (lstm.proj_size or lstm.hidden_size) * (2 if lstm.bidirectional else 1)
    return lstm, nn.Linear(features, config["num_classes"])


def _shape_of(explanation: Explanation, section: str, tensor: str) -> torch.Size:
    return torch.Size(explanation.row(section, tensor).shape)


def _check(what: str, got: tuple[int, ...] | torch.Size, expected: torch.Size) -> None:
    assert torch.Size(got) == expected, f"{what}: explain reports {tuple(got)}, the real tensor is {tuple(expected)}"


@pytest.mark.parametrize(("config", "seq_len", "batch"), CONFIGS)
def test_parameters_are_those_of_nn_lstm_and_linear(config: dict[str, Any], seq_len: int, batch: int) -> None:
    model, input, target = _build(config, seq_len, batch)
    explanation = trace_classifier(model, input, target)
    ref_lstm, ref_head = _reference(config)
    expected = [(f"lstm.{n}", p) for n, p in ref_lstm.named_parameters()]
    expected += [(f"head.{n}", p) for n, p in ref_head.named_parameters()]
    reported = [r for s in explanation.sections for r in s.rows if r.params is not None]
    assert len(reported) == len(expected), (
        f"explain lists {len(reported)} parameters, nn.LSTM + nn.Linear have {len(expected)}"
    )
    for row, (name, param) in zip(reported, expected, strict=True):
        assert row.formula.split(":")[0] == name, f"parameter row {row.tensor} names {row.formula!r}, expected {name}"
        _check(name, row.shape, param.shape)
        assert row.params == param.numel(), f"{name}: explain counts {row.params}, numel() is {param.numel()}"
    lstm_total = sum(p.numel() for p in ref_lstm.parameters())
    head_total = sum(p.numel() for p in ref_head.parameters())
    assert (explanation.lstm_params, explanation.head_params) == (lstm_total, head_total), (
        f"explain counts nn.LSTM {explanation.lstm_params} + nn.Linear {explanation.head_params}, "
        f"sum(p.numel()) gives {lstm_total} + {head_total}"
    )
    assert explanation.total_params == lstm_total + head_total


@pytest.mark.usefixtures("native_cpu")
@pytest.mark.parametrize(("config", "seq_len", "batch"), CONFIGS)
def test_shapes_are_those_of_the_real_tensors(config: dict[str, Any], seq_len: int, batch: int) -> None:
    model, input, target = _build(config, seq_len, batch)
    explanation = trace_classifier(model, input, target)
    ref_lstm, ref_head = _reference(config)
    output, (h_n, c_n) = ref_lstm(input)
    directions = 2 if ref_lstm.bidirectional else 1

    titles = [s.title for s in explanation.sections]
    expected_titles = ["input"]
    expected_titles += [
        f"layer {layer}, {direction}"
        for layer in range(ref_lstm.num_layers)
        for direction in ("forward", "reverse")[:directions]
    ]
    expected_titles += ["LSTM result", "head"]
    assert titles == expected_titles, f"sections {titles}, expected one per layer and direction: {expected_titles}"

    _check("input", _shape_of(explanation, "input", "input"), input.shape)
    _check("output", _shape_of(explanation, "LSTM result", "output"), output.shape)
    _check("h_n", _shape_of(explanation, "LSTM result", "h_n"), h_n.shape)
    _check("c_n", _shape_of(explanation, "LSTM result", "c_n"), c_n.shape)

    for k, title in enumerate(expected_titles[1:-2]):
        layer = k // directions
        w_ih = getattr(ref_lstm, f"weight_ih_l{layer}")
        steps = seq_len, batch
        h, c = h_n[k].shape, c_n[k].shape  # this layer-direction's final states: (N, H_out), (N, H_cell)
        expected_rows = {
            "x": torch.Size((*steps, w_ih.shape[1])),
            "ih": torch.Size((*steps, w_ih.shape[0])),
            "x_t": torch.Size((batch, w_ih.shape[1])),
            "ih_t": torch.Size((batch, w_ih.shape[0])),
            "h_{t-1}": h,
            "c_{t-1}": c,
            "hh_t": torch.Size((batch, w_ih.shape[0])),
            "gates_t": torch.Size((batch, w_ih.shape[0])),
            **dict.fromkeys(("i_t", "f_t", "g_t", "o_t", "f_t * c_{t-1}", "i_t * g_t", "c_t", "tanh(c_t)"), c),
            "h_t": h,
        }
        if ref_lstm.proj_size:
            expected_rows["o_t * tanh(c_t)"] = c
        shown = [r.tensor for s in explanation.sections if s.title == title for r in s.rows if r.params is None]
        assert sorted(shown) == sorted(expected_rows), f"{title} shows {shown}, expected {list(expected_rows)}"
        for tensor, shape in expected_rows.items():
            _check(f"{title}: {tensor}", _shape_of(explanation, title, tensor), shape)

    h_top = torch.cat([h_n[-2], h_n[-1]], dim=-1) if ref_lstm.bidirectional else h_n[-1]
    logits = ref_head(h_top)
    _check("h_top", _shape_of(explanation, "head", "h_top"), h_top.shape)
    _check("logits", _shape_of(explanation, "head", "logits"), logits.shape)
    _check("p", _shape_of(explanation, "head", "p"), F.softmax(logits, dim=1).shape)
    _check("y", _shape_of(explanation, "head", "y"), target.shape)
    _check("loss", _shape_of(explanation, "head", "loss"), F.cross_entropy(logits, target).shape)


@pytest.mark.parametrize(("config", "seq_len", "batch"), CONFIGS)
def test_gate_rows_partition_the_weights_in_order_i_f_g_o(config: dict[str, Any], seq_len: int, batch: int) -> None:
    model, input, target = _build(config, seq_len, batch)
    gates = trace_classifier(model, input, target).gates
    hidden = config["hidden_size"]
    got = [(g.gate, g.start, g.stop, g.activation) for g in gates]
    expected = [
        ("i", 0, hidden, "sigmoid"),
        ("f", hidden, 2 * hidden, "sigmoid"),
        ("g", 2 * hidden, 3 * hidden, "tanh"),
        ("o", 3 * hidden, 4 * hidden, "sigmoid"),
    ]
    assert got == expected, f"gate rows {got}, expected {expected} (weight_ih has {4 * hidden} rows)"


@pytest.mark.parametrize(("config", "seq_len", "batch"), CONFIGS[1:])
def test_traced_pass_is_the_classifier_forward(config: dict[str, Any], seq_len: int, batch: int) -> None:
    model, input, target = _build(config, seq_len, batch)
    traced: list[Tensor] = []
    model.head.register_forward_hook(lambda _module, _args, logits: traced.append(logits))
    trace_classifier(model, input, target)
    (traced_logits,) = traced
    expected = model(input)
    assert torch.equal(traced_logits, expected), (
        f"logits of the traced pass differ from model(input) by up to {(traced_logits - expected).abs().max()}"
    )


def test_cli_table_for_the_seed_question(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "--input-size", "5", "--hidden-size", "256", "--num-classes", "10"]) == 0
    out = capsys.readouterr().out
    for expected in (
        "rows     0:256  i_t  input gate      sigmoid",
        "rows  768:1024  o_t  output gate     sigmoid",
        "Addition. c_t = f_t * c_{t-1} + i_t * g_t is element-wise",
        "a separate Linear(256, 10)",
    ):
        assert expected in out, f"expected {expected!r} in the output:\n{out}"
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["tensor", "formula"])
    footer = next(i for i, line in enumerate(lines) if line.split()[:1] == ["total"])
    assert lines[footer].split()[-1] == "271,882", f"total line {lines[footer]!r}, expected 271,882 parameters"
    shape_column = lines[header].index("shape")
    params_end = len(lines[header])
    for line in lines[header + 2 : footer - 1]:
        if line.startswith("  "):  # a tensor row; section titles are not indented
            assert line[shape_column - 2 : shape_column + 1] == "  (", f"shape not at column {shape_column}: {line!r}"
            if line[-1].isdigit():
                assert len(line) == params_end, f"params not right-aligned at column {params_end}: {line!r}"


def test_cli_json(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["explain", "--input-size", "3", "--hidden-size", "6", "--num-classes", "4", "--num-layers", "2"]
    assert main([*argv, "--bidirectional", "--proj-size", "2", "--batch-first", "--seq-len", "3", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    ref_lstm, ref_head = _reference(
        {"input_size": 3, "hidden_size": 6, "num_classes": 4, "num_layers": 2, "bidirectional": True, "proj_size": 2}
    )
    total = sum(p.numel() for p in ref_lstm.parameters()) + sum(p.numel() for p in ref_head.parameters())
    assert data["total_params"] == total, f"JSON total_params {data['total_params']}, sum(p.numel()) gives {total}"
    assert data["input_shape"] == [3, 3, 3], f"JSON input_shape {data['input_shape']}, expected (N, L, H_in) [3, 3, 3]"
    head = next(s for s in data["sections"] if s["title"] == "head")
    logits = next(r for r in head["rows"] if r["tensor"] == "logits")
    assert logits["shape"] == [3, 4], f"JSON logits shape {logits['shape']}, expected [3, 4]"


@pytest.mark.parametrize(
    ("argv", "lstm_kwargs"),
    [
        pytest.param(["--proj-size", "256"], {"proj_size": 256}, id="proj-size-not-below-hidden"),
        pytest.param(["--proj-size", "-1"], {"proj_size": -1}, id="negative-proj-size"),
        pytest.param(["--hidden-size", "0"], {"hidden_size": 0}, id="zero-hidden"),
        pytest.param(["--input-size", "0"], {"input_size": 0}, id="zero-input"),
        pytest.param(["--num-layers", "0"], {"num_layers": 0}, id="zero-layers"),
    ],
)
def test_cli_rejects_what_nn_lstm_rejects(
    argv: list[str], lstm_kwargs: dict[str, int], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ValueError) as rejected:  # noqa: PT011 - the message is compared below
        nn.LSTM(**{"input_size": 5, "hidden_size": 256, **lstm_kwargs})
    assert main(["explain", *argv]) == 2
    captured = capsys.readouterr()
    expected = f"lstm-replica explain: error: {rejected.value}\n"
    assert captured.err == expected, f"expected nn.LSTM's message {expected!r} on stderr, got {captured.err!r}"
    assert captured.out == "", f"nothing should be printed on stdout, got {captured.out!r}"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(["--num-classes", "0"], "Expected num_classes greater than zero, got 0", id="zero-classes"),
        pytest.param(["--seq-len", "0"], "expected a positive integer, got 0", id="zero-seq-len"),
        pytest.param(["--batch-size", "-2"], "expected a positive integer, got -2", id="negative-batch"),
        pytest.param(["--hidden-size", "many"], "invalid int value: 'many'", id="not-an-int"),
    ],
)
def test_cli_rejects_bad_sizes_with_exit_2(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        status = main(["explain", *argv])
    except SystemExit as exit_:  # argparse's own errors
        status = exit_.code
    assert status == 2, f"exit status {status} for {argv}, expected 2"
    err = capsys.readouterr().err
    assert message in err, f"expected {message!r} on stderr, got {err!r}"
    assert "Traceback" not in err, f"a traceback leaked: {err}"
