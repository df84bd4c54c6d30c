"""``lstm-replica check keras:LSTM``: Keras 3's own LSTM certified against nn.LSTM, and a misconfigured one rejected.

:class:`lstm_replica.targets.keras.KerasLSTM` runs ``keras.layers.LSTM`` (``Bidirectional`` for two
directions) on Keras's torch backend with ``nn.LSTM``'s constructor and call. First in plain use: given an
nn.LSTM's weights through the ``keras`` layout it computes that nn.LSTM's output and states (padded, packed,
unbatched), and its parameters are the Keras variables (an optimiser step changes what Keras holds). Then the
harness certifies it within tolerance, scoped to what Keras has; a Keras 2-style layer (``hard_sigmoid``) is shown
wrong in plain use, then rejected. Skipped with a reason where Keras 3 is not installed.
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

from lstm_replica.parity import check
from lstm_replica.parity.layouts import layout_adapter
from parity_tests._interop import TOLERANCES, keras_on_torch

keras = keras_on_torch()

from lstm_replica.targets.keras import KerasLSTM  # after the backend is set and checked


def _pair(dtype: torch.dtype = torch.float64, **kwargs: object) -> tuple[nn.LSTM, KerasLSTM]:
    """A seeded nn.LSTM and a KerasLSTM holding its weights (the ``keras`` layout: b_ih + b_hh folded)."""
    torch.manual_seed(0)
    reference = nn.LSTM(3, 5, dtype=dtype, **kwargs)  # type: ignore[arg-type]
    candidate = KerasLSTM(3, 5, dtype=dtype, **kwargs)  # type: ignore[arg-type]
    layout_adapter("keras")(candidate, reference)
    return reference, candidate


def _outputs(result: tuple[Tensor | PackedSequence, tuple[Tensor, Tensor]]) -> list[Tensor]:
    output, (h_n, c_n) = result
    return [output.data if isinstance(output, PackedSequence) else output, h_n, c_n]


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"num_layers": 2, "bidirectional": True}, {"batch_first": True}, {"bias": False}],
    ids=["plain", "layers2-bidir", "batch-first", "no-bias"],
)
def test_keras_lstm_computes_the_nn_lstm_whose_weights_it_holds(kwargs: dict[str, object]) -> None:
    reference, candidate = _pair(**kwargs)
    directions = 2 if kwargs.get("bidirectional") else 1
    layers = int(kwargs.get("num_layers", 1))  # type: ignore[call-overload]
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(4, 6, 3, generator=generator, dtype=torch.float64)  # (L, N, H_in), or (N, L, H_in) batch first
    batch = 4 if kwargs.get("batch_first") else 6
    h_0, c_0 = torch.randn(2, layers * directions, batch, 5, generator=generator, dtype=torch.float64)
    hx = (h_0, c_0)
    for got, want, name in zip(
        _outputs(candidate(x, hx)), _outputs(reference(x, hx)), ("output", "h_n", "c_n"), strict=True
    ):
        torch.testing.assert_close(got, want, **TOLERANCES[torch.float64], msg=lambda m, n=name: f"{n}: {m}")


def test_keras_lstm_takes_packed_and_unbatched_input_as_nn_lstm_does() -> None:
    reference, candidate = _pair(torch.float32, num_layers=2, bidirectional=True)
    generator = torch.Generator().manual_seed(2)
    padded = torch.randn(5, 3, 3, generator=generator)  # (L, N, H_in)
    packed = pack_padded_sequence(padded, torch.tensor([2, 5, 3]), enforce_sorted=False)
    got, want = candidate(packed), reference(packed)
    assert torch.equal(got[0].batch_sizes, want[0].batch_sizes), "packed output: batch sizes differ"
    assert torch.equal(got[0].unsorted_indices, want[0].unsorted_indices), "packed output: permutation differs"
    for a, b, name in zip(_outputs(got), _outputs(want), ("output", "h_n", "c_n"), strict=True):
        torch.testing.assert_close(a, b, **TOLERANCES[torch.float32], msg=lambda m, n=name: f"packed {n}: {m}")
    unbatched = padded[:, 0]  # (L, H_in)
    results = zip(_outputs(candidate(unbatched)), _outputs(reference(unbatched)), ("output", "h_n", "c_n"), strict=True)
    for a, b, name in results:
        torch.testing.assert_close(a, b, **TOLERANCES[torch.float32], msg=lambda m, n=name: f"unbatched {n}: {m}")


def test_keras_matmul_rounds_float64_torch_tensors_to_float32() -> None:
    """Keras 3.15's torch backend: ``ops.matmul`` casts two float64 tensors to ``result_type``, which is float32.

    Keras's fused LSTM path (no mask) multiplies with torch itself; its generic cell loop, which Keras runs for
    masked input (our packed sequences), multiplies with ``ops.matmul``: a float64 Keras LSTM then rounds each
    product to float32. The certificate finds it (below); this is the plain-use proof. Known upstream as
    keras-team/keras#23704 (``result_type`` demotes float64 to float32 on the torch backend).
    """
    a = torch.randn(3, 4, dtype=torch.float64)
    b = torch.randn(4, 8, dtype=torch.float64)
    product = keras.ops.matmul(a, b)
    if product.dtype == torch.float64:
        pytest.skip(f"keras {keras.__version__} multiplies float64 in float64: the rounding below is fixed")
    assert product.dtype == torch.float32, product.dtype
    assert not torch.equal(product.double(), a @ b), "Expected the float32 rounding to show"


def test_float64_packed_input_is_rejected_where_keras_rounds_to_float32() -> None:
    if keras.ops.matmul(torch.ones(1, 1, dtype=torch.float64), torch.ones(1, 1, dtype=torch.float64)).dtype == (
        torch.float64
    ):
        pytest.skip(f"keras {keras.__version__} multiplies float64 in float64")
    report = check(
        "keras:LSTM",
        tolerance=True,
        only_config=True,
        config={"input_size": 4, "hidden_size": 6, "input_kind": "packed", "dtype": "float64"},
    )
    assert report.exit_status == 1, report.text()
    result = report.results[0]
    assert result.status == "different", report.text()
    assert result.location is not None, report.text()
    assert result.location.tensor == "output", report.text()
    output = next(d for d in result.differences if d.tensor == "output" and not d.probe)
    assert output.max_abs > 1e-10, f"Expected a float32-sized difference in float64, got {output.max_abs}"


def test_the_parameters_are_the_keras_variables() -> None:
    _, candidate = _pair(dtype=torch.float32)
    cell = candidate._keras[0].cell
    variables = {"kernel": cell.kernel, "recurrent_kernel": cell.recurrent_kernel, "bias": cell.bias}
    before = {name: variable.value.detach().clone() for name, variable in variables.items()}
    optimiser = torch.optim.SGD(candidate.parameters(), lr=0.1)
    candidate(torch.randn(4, 2, 3))[0].sum().backward()
    optimiser.step()
    assert [name for name, _ in candidate.named_parameters()] == ["l0.kernel", "l0.recurrent_kernel", "l0.bias"]
    for name, variable in variables.items():
        assert getattr(candidate.l0, name) is variable.value, f"Expected l0.{name} to be Keras's variable"
        assert not torch.equal(variable.value, before[name]), f"Expected the step to change Keras's {name}"


def test_what_keras_lacks_is_refused_when_built() -> None:
    with pytest.raises(NotImplementedError, match=r"Expected proj_size 0 \(Keras's LSTM has no projection\), got 2"):
        KerasLSTM(3, 5, proj_size=2)
    with pytest.raises(NotImplementedError, match=r"Expected dropout 0 \(Keras's LSTM has no dropout between"):
        KerasLSTM(3, 5, num_layers=2, dropout=0.5)


def test_bad_input_raises_what_nn_lstm_raises() -> None:
    _, candidate = _pair()
    x = torch.randn(4, 6, 3, dtype=torch.float64)
    with pytest.raises(RuntimeError, match=r"Expected hidden\[0\] size \(1, 6, 5\), got \[1, 2, 5\]"):
        candidate(x, (torch.zeros(1, 2, 5, dtype=torch.float64), torch.zeros(1, 2, 5, dtype=torch.float64)))
    with pytest.raises(ValueError, match=r"LSTM: Expected input to be 2D or 3D, got 4D instead"):
        candidate(x.unsqueeze(0))


@pytest.mark.certificate
def test_the_keras_target_is_certified_within_tolerance_and_scoped() -> None:
    report = check("keras:LSTM", tolerance=True, quick=True)
    assert report.exit_status == 0, report.text()
    assert report.provenance["framework"].startswith("keras 3."), report.provenance
    for feature in ("initialisation", "proj_size", "dropout"):
        assert feature in report.unsupported, (feature, report.unsupported)
    assert "Glorot uniform" in report.why_unsupported["initialisation"], report.why_unsupported
    compared = {d.tensor for r in report.checked for d in r.differences}
    assert {"grad weight_ih_l0", "grad weight_hh_l0", "grad bias_ih_l0", "grad bias_hh_l0"} <= compared, compared
    assert any(d.probe.startswith("training step") for r in report.checked for d in r.differences), "no training"


@pytest.mark.certificate
def test_the_keras_target_is_not_bitwise() -> None:
    report = check("keras:LSTM", quick=True)
    assert report.exit_status == 1, report.text()


def keras_2_style(
    input_size: int, hidden_size: int, num_layers: int = 1, **kwargs: object
) -> KerasLSTM:  # a factory with nn.LSTM's parameter names, as `check` reads them
    """A Keras layer as Keras 2 and tf.keras 1.x defaulted: recurrent_activation hard_sigmoid."""
    options = {"recurrent_activation": "hard_sigmoid"}
    return KerasLSTM(input_size, hidden_size, num_layers, keras_options=options, **kwargs)  # type: ignore[arg-type]


def test_hard_sigmoid_is_wrong_in_plain_use() -> None:
    torch.manual_seed(0)
    reference, wrong = nn.LSTM(3, 5), keras_2_style(3, 5)
    layout_adapter("keras")(wrong, reference)
    x = torch.randn(4, 2, 3)
    difference = (wrong(x)[0] - reference(x)[0]).abs().max().item()
    assert difference > 1e-3, f"Expected hard_sigmoid to show in the output, got a largest difference of {difference}"


@pytest.mark.certificate
def test_hard_sigmoid_is_rejected() -> None:
    report = check(keras_2_style, weights="keras", tolerance=True, quick=True, unsupported=["initialisation"])
    assert report.exit_status == 1, report.text()
    assert "DEFECT" in report.diagnosis, report.diagnosis
