"""Wrong candidates the old matrix certified: each defect shown in plain use first, then rejected by the harness.

The plain-use tests compare a candidate with nn.LSTM (same weights, float64) in the ordinary use that exposes
its defect, without the harness; the harness tests ask that the default check (bitwise) and ``--tolerance``
both reject every one of them.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lstm_replica.parity import check
from lstm_replica.parity.backends import Backend, flags
from parity_tests.wrong_candidates import ADVERSARIAL, ADVERSARIAL_SUB_TOLERANCE
from parity_tests.wrong_candidates import adversarial as adv

F64 = torch.float64


def _pair(cls: type, *args: int, **kwargs: object) -> tuple[nn.LSTM, nn.Module]:
    """nn.LSTM and the candidate with the same weights (float64, so the native path is deterministic)."""
    torch.manual_seed(0)
    reference = nn.LSTM(*args, **kwargs, dtype=F64)
    return reference, cls.from_torch(reference)


def _x(*shape: int, dtype: torch.dtype = F64) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64).to(dtype)


def _differs(a: torch.Tensor, b: torch.Tensor, what: str) -> None:
    same = a.shape == b.shape and bool(((a == b) | (a.isnan() & b.isnan())).all())
    assert not same, f"{what}: expected the defect to show, but candidate and nn.LSTM agree"


def _param_grads(module: nn.Module, loss_of) -> list[torch.Tensor]:
    params = [p for p in module.parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss_of(module), params, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads, strict=True)]


def test_simd_tail_is_wrong_for_hidden_sizes_not_a_multiple_of_16():
    ref, cand = _pair(adv.SimdTail, 8, 40)
    x = _x(5, 2, 8)
    _differs(cand(x)[0], ref(x)[0], "output with hidden_size 40")
    ref, cand = _pair(adv.SimdTail, 8, 6)
    torch.testing.assert_close(cand(x)[0], ref(x)[0], rtol=0, atol=0, msg="hidden 6: no tail, must agree")


def test_big_batch_halves_swap_the_final_states():
    ref, cand = _pair(adv.BigBatchHalves, 3, 5)
    x = _x(4, 8, 3)
    _differs(cand(x)[1][0], ref(x)[1][0], "h_n for a batch of 8")


def test_decode_fast_path_is_wrong_for_one_step():
    ref, cand = _pair(adv.DecodeFastPath, 3, 5)
    x = _x(1, 2, 3)
    _differs(cand(x)[0], ref(x)[0], "output of a one-step input")


def test_long_sequence_truncation_cuts_gradients_past_256_steps():
    ref, cand = _pair(adv.LongSequenceTruncation, 2, 3)
    x = _x(300, 1, 2)
    grads = [torch.autograd.grad(m(x.requires_grad_())[0].sum(), x)[0] for m in (cand, ref)]
    _differs(grads[0], grads[1], "input gradient over 300 steps")


def test_fourth_layer_reuses_the_third_layers_weights():
    ref, cand = _pair(adv.FourthLayerReuse, 3, 5, num_layers=4)
    x = _x(4, 2, 3)
    _differs(cand(x)[0], ref(x)[0], "output of a 4-layer stack")


def test_clamped_cell_differs_once_the_cell_state_is_large():
    ref, cand = _pair(adv.ClampedCell, 3, 5)
    x, h0, c0 = _x(3, 2, 3), torch.zeros(1, 2, 5, dtype=F64), torch.full((1, 2, 5), 120.0, dtype=F64)
    _differs(cand(x, (h0, c0))[1][1], ref(x, (h0, c0))[1][1], "c_n from c_0 = 120")


def test_exp_tanh_overflows_to_nan():
    ref, cand = _pair(adv.ExpTanh, 3, 5)
    x, h0, c0 = _x(2, 1, 3), torch.zeros(1, 1, 5, dtype=F64), torch.full((1, 1, 5), 2000.0, dtype=F64)
    out = cand(x, (h0, c0))[0]
    assert out.isnan().any(), "expected NaN from exp(2c) overflowing"
    assert not ref(x, (h0, c0))[0].isnan().any(), "nn.LSTM stays finite there"


def test_zero_rows_are_taken_for_padding():
    ref, cand = _pair(adv.ZeroRowsAsPadding, 3, 5)
    x = _x(4, 2, 3)
    x[2] = 0.0
    _differs(cand(x)[0], ref(x)[0], "output when one time step is exactly zero")


def test_clipped_preactivations_differ_at_saturation():
    ref, cand = _pair(adv.ClippedPreactivations, 3, 5)
    x = _x(3, 2, 3) * 100
    _differs(cand(x)[0], ref(x)[0], "output with large inputs")


def test_nan_guard_hides_a_nan_that_nn_lstm_propagates():
    ref, cand = _pair(adv.NanGuard, 3, 5)
    x = _x(4, 2, 3)
    x[0, 0, 0] = float("nan")
    assert ref(x)[0][:, 0].isnan().all(), "nn.LSTM propagates the NaN through the sequence"
    _differs(cand(x)[0], ref(x)[0], "output of a sequence holding a NaN")


def test_warmup_cache_goes_stale_after_an_optimiser_step():
    ref, cand = _pair(adv.WarmupCache, 3, 5)
    x = _x(4, 2, 3)
    for _ in range(3):
        cand(x)
    for module in (ref, cand):
        with torch.no_grad():
            for p in module.parameters():
                p.add_(0.1)  # what an optimiser step does
    _differs(cand(x)[0], ref(x)[0], "output after the weights changed")


def test_state_buffers_overwrite_what_an_earlier_call_returned():
    _, cand = _pair(adv.StateBuffers, 3, 5)
    with torch.no_grad():
        h_first = cand(_x(4, 2, 3))[1][0]
        kept = h_first.clone()
        cand(_x(4, 2, 3) * 2)
    _differs(h_first, kept, "h_n of the first call after a second call")


def test_dropout_stays_on_after_eval():
    ref, cand = _pair(adv.DropoutStaysOn, 3, 5, num_layers=2, dropout=0.5)
    cand.train()
    cand.eval()
    ref.eval()
    x = _x(4, 2, 3)
    _differs(cand(x)[0], ref(x)[0], "eval-mode output after train() -> eval()")


@pytest.mark.parametrize("cls", [adv.DropoutAfterLastLayer, adv.OwnDropoutMasks])
def test_dropout_masks_differ_in_training(cls):
    ref, cand = _pair(cls, 3, 5, num_layers=2, dropout=0.5)
    x = _x(4, 2, 3)
    outputs = []
    for module in (cand.train(), ref.train()):
        torch.manual_seed(7)
        outputs.append(module(x)[0])
    _differs(outputs[0], outputs[1], "training-mode output under the same seed")


def test_buffer_weights_are_never_trained():
    ref, cand = _pair(adv.BufferWeights, 3, 5)
    assert sorted(cand.state_dict()) == sorted(ref.state_dict()), "the state_dict looks the same"
    names = {n for n, _ in cand.named_parameters()}
    assert "weight_hh_l0" not in names, "expected weight_hh_l0 to be a buffer, not a parameter"


def test_peepholes_leave_step_one_exact_and_change_training():
    ref, cand = _pair(adv.Peepholes, 3, 5)
    x = _x(4, 2, 3)
    torch.testing.assert_close(cand(x)[0], ref(x)[0], rtol=0, atol=0, msg="step 1 must be exact (zero peepholes)")
    for module in (ref, cand):
        opt = torch.optim.SGD(module.parameters(), lr=0.5)
        module(x)[1][1].sum().backward()
        opt.step()
    _differs(cand(x)[0], ref(x)[0], "output after one SGD step")


def test_max_norm_in_forward_changes_the_weights():
    _, cand = _pair(adv.MaxNormInForward, 3, 5)
    with torch.no_grad():
        cand.weight_ih_l0.mul_(20)
    before = cand.weight_ih_l0.detach().clone()
    cand(_x(2, 1, 3))
    _differs(cand.weight_ih_l0.detach(), before, "weight_ih_l0 after a forward")


def _seeded(cls: type, *args: int) -> nn.Module:
    torch.manual_seed(3)
    return cls(*args)


@pytest.mark.parametrize(("cls", "name"), [(adv.XavierInit, "weight_hh_l0"), (adv.ForgetBiasOne, "bias_ih_l0")])
def test_another_initialisation_for_the_same_seed(cls, name):
    ref, cand = _seeded(nn.LSTM, 30, 50), _seeded(cls, 30, 50)
    _differs(getattr(cand, name), getattr(ref, name), f"initial {name}")


def test_no_grad_input_shortcut_changes_weight_gradients():
    ref, cand = _pair(adv.NoGradInputShortcut, 3, 5)
    x = _x(6, 2, 3)  # does not require grad: the normal training case
    grads = [_param_grads(m, lambda m: m(x)[0].sum()) for m in (cand, ref)]
    _differs(grads[0][1], grads[1][1], "grad weight_hh_l0")


def test_state_only_loss_drops_every_gradient():
    ref, cand = _pair(adv.StateOnlyLossDropped, 3, 5)
    x = _x(6, 2, 3)
    grads = [_param_grads(m, lambda m: m(x)[1][0].sum()) for m in (cand, ref)]
    _differs(grads[0][0], grads[1][0], "grad weight_ih_l0 of a loss on h_n only")


def test_first_order_only_breaks_a_gradient_penalty():
    ref, cand = _pair(adv.FirstOrderOnly, 3, 5)
    results = []
    for module in (cand, ref):
        x = _x(5, 2, 3).requires_grad_()
        (gx,) = torch.autograd.grad(module(x)[0].sum(), x, create_graph=True)
        try:
            results.append(torch.autograd.grad((gx * gx).sum(), module.weight_hh_l0)[0])
        except RuntimeError:
            results.append(torch.full_like(module.weight_hh_l0, float("inf")))
    _differs(results[0], results[1], "gradient of a gradient penalty")


def test_inference_mode_path_drops_a_bias():
    ref, cand = _pair(adv.InferenceModePath, 3, 5)
    x = _x(4, 2, 3)
    with torch.inference_mode():
        _differs(cand(x)[0], ref(x)[0], "output under torch.inference_mode")


def test_assumes_contiguous_reads_a_transposed_input_wrongly():
    ref, cand = _pair(adv.AssumesContiguous, 3, 5)
    x = _x(2, 4, 3).transpose(0, 1)  # (L=4, N=2, 3), not contiguous
    _differs(cand(x)[0], ref(x)[0], "output for a transposed input")


def test_upcast_half_is_not_what_nn_lstm_computes_in_bfloat16():
    torch.manual_seed(0)
    ref = nn.LSTM(3, 5, dtype=torch.bfloat16)
    cand = adv.UpcastHalf.from_torch(ref)
    x = _x(6, 2, 3, dtype=torch.bfloat16)
    with flags(Backend("cpu", "native")):
        _differs(cand(x)[0], ref(x)[0], "bfloat16 output")


def test_reverse_hx_index_needs_three_features_at_once():
    ref, cand = _pair(adv.ReverseHxIndex, 3, 4, num_layers=2, bidirectional=True)
    x, h0, c0 = _x(5, 2, 3), _x(4, 2, 4), _x(4, 2, 4) + 1
    _differs(cand(x, (h0, c0))[0], ref(x, (h0, c0))[0], "bidirectional, 2 layers, hx given")
    torch.testing.assert_close(cand(x)[0], ref(x)[0], rtol=0, atol=0, msg="without hx it must agree")


def test_float32_zero_state_breaks_float64_cells_without_hx():
    torch.manual_seed(0)
    ref = nn.LSTMCell(3, 5, dtype=F64)
    cand = adv.Float32ZeroState.from_torch(ref)
    x = _x(2, 3)
    ref(x)
    with pytest.raises(RuntimeError, match="dtype"):
        cand(x)


def test_construction_time_weights_ignore_substituted_weights():
    torch.manual_seed(0)
    ref, cand = nn.LSTM(3, 5, dtype=F64), adv.ConstructionTimeWeights(3, 5, dtype=F64)
    cand.load_state_dict(ref.state_dict())  # in place: the kept tensors see it
    x = _x(4, 2, 3)
    outputs = []
    for module in (cand, ref):
        weights = {n: p.detach() * 1.5 for n, p in module.named_parameters()}
        outputs.append(torch.func.functional_call(module, weights, (x,))[0])
    _differs(outputs[0], outputs[1], "output under functional_call with other weights")


def test_flatten_replacing_parameters_leaves_the_optimiser_behind():
    ref, cand = _pair(adv.FlattenReplacesParameters, 3, 5)
    x = _x(4, 2, 3)
    for module in (cand, ref):
        opt = torch.optim.SGD(module.parameters(), lr=0.5)
        module.flatten_parameters()
        module(x)[0].sum().backward()
        opt.step()
    _differs(cand(x)[0], ref(x)[0], "output after flatten_parameters() and one SGD step")


def test_clearing_grad_in_forward_breaks_accumulation():
    ref, cand = _pair(adv.ClearsGradInForward, 3, 5)
    for module in (cand.train(), ref.train()):
        for scale in (1.0, 2.0):
            module(_x(4, 2, 3) * scale)[0].sum().backward()
    _differs(cand.weight_hh_l0.grad, ref.weight_hh_l0.grad, "gradient accumulated over two micro-batches")


def test_h_n_viewing_the_output_changes_with_it():
    _, cand = _pair(adv.HnViewOfOutput, 3, 5)
    with torch.no_grad():
        output, (h_n, _) = cand(_x(4, 2, 3))
        before = h_n.clone()
        output.mul_(2)
    _differs(h_n, before, "h_n after an in-place edit of output")


def test_state_gradient_is_cut_when_the_input_needs_none():
    ref, cand = _pair(adv.StateGradNeedsInputGrad, 3, 5)
    grads = []
    for module in (cand, ref):
        h0 = torch.zeros(1, 2, 5, dtype=F64, requires_grad=True)  # a learned initial state
        (g,) = torch.autograd.grad(module(_x(4, 2, 3), (h0, h0 * 1.0))[1][0].sum(), h0, allow_unused=True)
        grads.append(torch.zeros_like(h0) if g is None else g)
    _differs(grads[0], grads[1], "gradient of a learned initial state")


def test_broadcasting_hx_accepts_what_nn_lstm_refuses():
    ref, cand = _pair(adv.BroadcastsHx, 3, 5)
    x, hx = _x(4, 3, 3), (_x(1, 1, 5), _x(1, 1, 5))
    with pytest.raises(RuntimeError, match="hidden"):
        ref(x, hx)
    assert cand(x, hx)[0].shape == (4, 3, 5), "the candidate accepted the wrongly shaped hx"


@pytest.mark.certificate
@pytest.mark.parametrize("target", sorted(ADVERSARIAL))
def test_the_default_check_rejects(target):
    report = check(target, fail_fast=True)
    assert report.exit_status == 1, f"{target} ({ADVERSARIAL[target]}) was not rejected:\n{report.text()}"


@pytest.mark.certificate
@pytest.mark.parametrize("target", sorted(set(ADVERSARIAL) - ADVERSARIAL_SUB_TOLERANCE))
def test_the_tolerance_check_rejects(target):
    report = check(target, fail_fast=True, tolerance=True)
    assert report.exit_status == 1, f"{target} ({ADVERSARIAL[target]}) passed --tolerance:\n{report.text()}"
