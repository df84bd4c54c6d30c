"""``lstm-replica check flax:LSTMCell``: Flax's own cells certified against nn.LSTMCell, and a carry slip rejected.

:class:`lstm_replica.targets.flax.FlaxLSTMCell` runs ``flax.linen.LSTMCell`` (``OptimizedLSTMCell``) one
step per call through JAX on the CPU, forward and backward (``jax.vjp``). First in plain use: given an
nn.LSTMCell's weights through the ``per-gate-t`` layout it computes that cell's ``(h, c)`` and gradients. Then the
harness certifies both Flax cells within tolerance, scoped to what the bridge has; a port that hands Flax the
carry as torch orders it, ``(h, c)`` instead of Flax's ``(c, h)``, is shown wrong in plain use, then rejected.
Skipped with a reason where Flax is not installed.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from lstm_replica.parity import check
from lstm_replica.parity.layouts import layout_adapter
from parity_tests._interop import TOLERANCES

pytest.importorskip("flax", reason="Flax is not installed (pip install -e '.[interop]')")

from lstm_replica.targets.flax import FlaxLSTMCell, FlaxOptimizedLSTMCell  # after the skip: JAX inside


class CarryAsTorchOrdersIt(FlaxLSTMCell):
    """The slip: Flax's cell handed ``(h, c)`` as its carry (it reads ``(c, h)``), and its result read likewise."""

    def _step(self, x: Any, h: Any, c: Any, *leaves: Any) -> tuple[Any, Any]:
        h_next, c_next = super()._step(x, c, h, *leaves)  # the base passes (its c, its h) = (h, c) to Flax
        return c_next, h_next


def _pair(cell: type[FlaxLSTMCell], dtype: torch.dtype) -> tuple[nn.LSTMCell, FlaxLSTMCell]:
    torch.manual_seed(0)
    reference, candidate = nn.LSTMCell(3, 5, dtype=dtype), cell(3, 5, dtype=dtype)
    layout_adapter("per-gate-t")(candidate, reference)
    return reference, candidate


@pytest.mark.parametrize("cell", [FlaxLSTMCell, FlaxOptimizedLSTMCell])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
def test_flax_cells_compute_the_nn_lstm_cell_whose_weights_they_hold(
    cell: type[FlaxLSTMCell], dtype: torch.dtype
) -> None:
    reference, candidate = _pair(cell, dtype)
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(4, 3, generator=generator, dtype=dtype).requires_grad_()
    hx = (torch.randn(4, 5, generator=generator, dtype=dtype), torch.randn(4, 5, generator=generator, dtype=dtype))
    got, want = candidate(x, hx), reference(x, hx)
    for a, b, name in zip(got, want, ("h", "c"), strict=True):
        torch.testing.assert_close(a, b, **TOLERANCES[dtype], msg=lambda m, n=name: f"{n}: {m}")
    grads = torch.autograd.grad(sum(t.sum() for t in got), [x, candidate.W_xi, candidate.W_hf, candidate.b_g])
    expected = torch.autograd.grad(sum(t.sum() for t in want), [x, reference.weight_ih, reference.weight_hh])
    torch.testing.assert_close(grads[0], expected[0], **TOLERANCES[dtype], msg=lambda m: f"grad input: {m}")
    torch.testing.assert_close(grads[1], expected[1][:5].t(), **TOLERANCES[dtype], msg=lambda m: f"grad W_xi: {m}")
    torch.testing.assert_close(grads[2], expected[2][5:10].t(), **TOLERANCES[dtype], msg=lambda m: f"grad W_hf: {m}")
    one = (x[0].detach(), (hx[0][0], hx[1][0]))  # (H_in,), (H,) each
    for a, b, name in zip(candidate(one[0], one[1]), reference(one[0], one[1]), ("h", "c"), strict=True):
        torch.testing.assert_close(a, b, **TOLERANCES[dtype], msg=lambda m, n=name: f"unbatched {n}: {m}")


def test_the_initial_weights_are_flax_s_draws() -> None:
    torch.manual_seed(0)
    candidate = FlaxLSTMCell(3, 5)
    assert all(not getattr(candidate, f"b_{gate}").detach().any() for gate in "ifgo"), "Flax's biases start at 0"
    kernel = candidate.W_hi.detach().double()
    torch.testing.assert_close(kernel.t() @ kernel, torch.eye(5, dtype=torch.float64), rtol=0, atol=1e-5)


def test_what_the_bridge_lacks_is_refused_when_built() -> None:
    with pytest.raises(NotImplementedError, match=r"Expected bias=True \(Flax's LSTMCell always has"):
        FlaxLSTMCell(3, 5, bias=False)
    with pytest.raises(NotImplementedError, match=r"Expected float32 or float64 .*, got torch.bfloat16"):
        FlaxLSTMCell(3, 5, dtype=torch.bfloat16)


@pytest.mark.certificate
@pytest.mark.parametrize("target", ["flax:LSTMCell", "flax:OptimizedLSTMCell"])
def test_the_flax_targets_are_certified_within_tolerance_and_scoped(target: str) -> None:
    report = check(target, tolerance=True, quick=True)
    assert report.exit_status == 0, report.text()
    assert report.kind == "cell", report.kind
    assert report.provenance["framework"].startswith("flax "), report.provenance
    for feature in ("initialisation", "double_backward", "no_bias", "bfloat16"):
        assert feature in report.unsupported, (feature, report.unsupported)
    compared = {d.tensor for r in report.checked for d in r.differences}
    assert {"grad l0.weight_ih", "grad l0.weight_hh", "grad l0.bias_ih", "grad l0.bias_hh"} <= compared, compared


def test_the_carry_slip_is_wrong_in_plain_use() -> None:
    reference, wrong = _pair(CarryAsTorchOrdersIt, torch.float64)
    x = torch.randn(4, 3, dtype=torch.float64)
    hx = (torch.randn(4, 5, dtype=torch.float64), torch.randn(4, 5, dtype=torch.float64))
    difference = (wrong(x, hx)[1] - reference(x, hx)[1]).abs().max().item()
    assert difference > 1e-2, f"Expected the swapped carry to show in c, got a largest difference of {difference}"


@pytest.mark.certificate
def test_the_carry_slip_is_rejected() -> None:
    report = check(
        CarryAsTorchOrdersIt, weights="per-gate-t", tolerance=True, quick=True, unsupported=["initialisation"]
    )
    assert report.exit_status == 1, report.text()
