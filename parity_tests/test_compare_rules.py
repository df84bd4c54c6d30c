"""How the harness compares two tensors: every field of a Difference, worked out by hand for small tensors.

The expected numbers are written out here from the rules in compare.py's docstring (bitwise is torch.equal,
within tolerance is ``|candidate - reference| <= atol + rtol * |reference|``, ulps count representable floats),
never computed by the functions under test. Float32 spacing: 2**-23 in [1, 2), 2**-22 in [2, 4), 2**-20 in [8, 16).
"""

from __future__ import annotations

import math

import pytest
import torch

from lstm_replica.parity.compare import (
    Difference,
    Tolerance,
    compare,
    differing,
    per_step,
    scaled,
    tolerance_for,
    ulp_distance,
)

INF = float("inf")
NAN = float("nan")
LOOSE = Tolerance(1e-6, 1e-7, "test row")
TIGHT = Tolerance(0.0, 1e-6, "test row: absolute only")


def fields(d: Difference) -> dict[str, object]:
    return {
        "tensor": d.tensor,
        "bitwise": d.bitwise,
        "within_tolerance": d.within_tolerance,
        "max_abs": d.max_abs,
        "max_rel": d.max_rel,
        "max_ulps": d.max_ulps,
        "note": d.note,
        "probe": d.probe,
        "mismatched": d.mismatched,
        "elements": d.elements,
        "worst_index": list(d.worst_index),
        "allowed": d.allowed,
    }


def assert_fields(d: Difference, **expected: object) -> None:
    got = fields(d)
    wrong = {k: (got[k], v) for k, v in expected.items() if got[k] != v}
    assert not wrong, f"Difference fields (got, expected): {wrong}"


def test_two_missing_tensors_are_the_same_and_carry_the_probe():
    assert_fields(
        compare("grad h_0", None, None, LOOSE, probe="no_grad"),
        tensor="grad h_0", bitwise=True, within_tolerance=True, max_abs=0.0, max_rel=0.0, max_ulps=0.0,
        note="", probe="no_grad", mismatched=0, elements=0, worst_index=[], allowed=0.0,
    )  # fmt: skip


def test_a_missing_gradient_equals_an_all_zero_one_on_either_side():
    zeros = torch.zeros(2, 3)
    for candidate, reference in ((None, zeros), (zeros, None)):
        assert_fields(
            compare("grad c_0", candidate, reference, LOOSE, probe="trained"),
            bitwise=True, within_tolerance=True, max_abs=0.0, max_ulps=0.0, mismatched=0, elements=6,
            probe="trained", note="",
        )  # fmt: skip


def test_a_missing_gradient_against_a_non_zero_one_is_named_either_way():
    grad = torch.tensor([0.0, 1.0])
    got_none = compare("grad weight_ih_l0", None, grad, LOOSE, probe="calls 2-4")
    assert_fields(
        got_none, tensor="grad weight_ih_l0", bitwise=False, within_tolerance=False, max_abs=INF, max_rel=INF, max_ulps=INF,
        note="Expected grad weight_ih_l0, got none", probe="calls 2-4",
    )  # fmt: skip
    got_one = compare("grad weight_ih_l0", grad, None, LOOSE, probe="trained")
    assert_fields(
        got_one, tensor="grad weight_ih_l0", bitwise=False, within_tolerance=False, max_abs=INF, max_rel=INF, max_ulps=INF,
        note="Expected no grad weight_ih_l0, got one", probe="trained",
    )  # fmt: skip


def test_shape_and_dtype_differences_are_infinite_and_named_with_the_probe():
    ref = torch.zeros(2, 3)
    shape = compare("h_n", torch.zeros(3, 2), ref, LOOSE, probe="no_grad")
    assert_fields(
        shape, tensor="h_n", bitwise=False, within_tolerance=False, max_abs=INF, max_rel=INF, max_ulps=INF,
        note="Expected h_n of shape (2, 3), got (3, 2)", probe="no_grad",
    )  # fmt: skip
    dtype = compare("h_n", torch.zeros(2, 3, dtype=torch.float64), ref, LOOSE, probe="no_grad")
    assert_fields(
        dtype, tensor="h_n", bitwise=False, within_tolerance=False, max_abs=INF, max_rel=INF, max_ulps=INF,
        note="Expected h_n of dtype torch.float32, got torch.float64", probe="no_grad",
    )  # fmt: skip


def test_empty_tensors_are_bitwise():
    assert_fields(
        compare("output", torch.zeros(0, 3), torch.zeros(0, 3), TIGHT, probe="p"),
        tensor="output", bitwise=True, within_tolerance=True, max_abs=0.0, max_rel=0.0, max_ulps=0.0, elements=0,
        probe="p", note="", mismatched=0, worst_index=[], allowed=0.0,
    )  # fmt: skip


def test_every_number_of_a_difference_within_tolerance():
    reference = torch.tensor([[1.0, 2.0], [4.0, 8.0]])
    candidate = torch.tensor([[1.0, 2.0 + 2**-22], [4.0, 8.0 + 3 * 2**-20]])  # one ulp at [0, 1], three at [1, 1]
    assert_fields(
        compare("output", candidate, reference, LOOSE, probe="calls 2-4"),
        tensor="output", bitwise=False, within_tolerance=True, max_abs=3 * 2**-20, max_rel=3 * 2**-20 / 8,
        max_ulps=3.0, note="", probe="calls 2-4", mismatched=2, elements=4, worst_index=[1, 1],
        allowed=1e-7 + 1e-6 * 8.0,
    )  # fmt: skip


def test_beyond_tolerance_names_the_worst_element_and_what_was_allowed_there():
    reference = torch.tensor([[0.5, 2.0, 3.0], [-2.0, 6.0, 1.0]])
    candidate = reference.clone()
    candidate[0, 1] = 2.0 + 2**-22  # 2.4e-7: within the absolute 1e-6
    candidate[1, 0] = -2.0 - 2**-20  # 9.5e-7, also within
    candidate[1, 1] = 6.0 + 2**-17  # 7.6e-6: beyond, and the greatest
    d = compare("grad weight_hh_l0", candidate, reference, TIGHT)
    assert_fields(
        d, bitwise=False, within_tolerance=False, max_abs=2**-17, max_rel=2**-17 / 6.0, max_ulps=2**-17 / 2**-21,
        mismatched=3, elements=6, worst_index=[1, 1], allowed=1e-6, note="", probe="",
    )  # fmt: skip


def test_a_difference_of_exactly_the_bound_is_within_it():
    bound = Tolerance(0.0, 2**-20, "exactly representable")
    reference = torch.tensor([8.0, 1.0])
    assert compare("output", torch.tensor([8.0 + 2**-20, 1.0]), reference, bound).within_tolerance
    assert not compare("output", torch.tensor([8.0 + 2 * 2**-20, 1.0]), reference, bound).within_tolerance


def test_the_relative_part_reads_the_magnitude_of_a_negative_reference():
    row = Tolerance(1e-6, 0.0, "relative only")
    reference = torch.tensor([-8.0])
    candidate = torch.tensor([-8.0 - 2**-20])  # 1.2e-7 relative
    d = compare("output", candidate, reference, row)
    assert_fields(d, within_tolerance=True, max_abs=2**-20, max_rel=2**-20 / 8.0, allowed=8e-6)


def test_relative_difference_against_a_zero_reference_divides_by_the_smallest_normal():
    reference = torch.tensor([0.0, 1.0])
    candidate = torch.tensor([2.0**-100, 1.0])
    d = compare("output", candidate, reference, TIGHT)
    assert_fields(d, max_abs=2.0**-100, max_rel=2.0**-100 / 2.0**-126, within_tolerance=True, worst_index=[0])


def test_bitwise_equal_elements_count_as_nothing_even_when_their_difference_is_not_a_number():
    # inf - inf is NaN: an element equal on both sides must not become a difference
    reference = torch.tensor([INF, -INF, 1.0])
    d = compare("output", reference.clone(), reference, TIGHT)
    assert_fields(d, bitwise=True, within_tolerance=True, max_abs=0.0, max_rel=0.0, max_ulps=0.0, mismatched=0)
    candidate = torch.tensor([INF, -INF, 1.0 + 2**-23])
    d = compare("output", candidate, reference, TIGHT)
    assert_fields(
        d, bitwise=False, within_tolerance=True, max_abs=2**-23, max_rel=2**-23, max_ulps=1.0, mismatched=1,
        worst_index=[2],
    )  # fmt: skip


def test_nan_in_the_same_place_on_both_sides_is_bitwise():
    reference = torch.tensor([NAN, 1.0, 2.0])
    d = compare("c_n", reference.clone(), reference, TIGHT)
    assert_fields(
        d, bitwise=True, within_tolerance=True, max_abs=0.0, max_rel=0.0, max_ulps=0.0, mismatched=0, elements=3,
        note="",
    )  # fmt: skip


def test_nan_where_the_reference_has_a_number_is_an_infinite_named_difference():
    reference = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    candidate = torch.tensor([[1.0, 2.0], [NAN, 4.0]])
    d = compare("h_n", candidate, reference, LOOSE, probe="stressed")
    assert_fields(
        d, bitwise=False, within_tolerance=False, max_abs=INF, max_rel=INF, max_ulps=INF, mismatched=1, elements=4,
        worst_index=[1, 0], allowed=1e-7 + 1e-6 * 3.0,
        note="NaN in 1 of 4 elements where the reference has a number", probe="stressed",
    )  # fmt: skip


def test_a_number_where_the_reference_has_nan_is_infinite_and_allows_nothing():
    reference = torch.tensor([1.0, NAN, 3.0])
    candidate = torch.tensor([1.0, 2.0, 3.0])
    d = compare("h_n", candidate, reference, LOOSE)
    assert_fields(
        d, bitwise=False, within_tolerance=False, max_abs=INF, max_rel=INF, max_ulps=INF, mismatched=1,
        worst_index=[1], allowed=0.0, note="",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("reference", "candidate", "within"),
    [
        # largest magnitude 100: atol 1e-3 becomes 0.1
        ([100.0, 1.0], [100.0, 1.05], True),
        ([100.0, 1.0], [100.0, 1.2], False),
        # largest magnitude 0.5: atol is never shrunk below itself, nor scaled above it
        ([0.5, 0.25], [0.5, 0.25 + 0.0009], True),
        ([0.5, 0.25], [0.5, 0.25 + 0.0015], False),
        # an infinite reference element does not scale the bound to infinity: the largest finite one (2) does
        ([INF, 2.0], [INF, 2.0 + 0.0015], True),
        ([INF, 2.0], [INF, 2.0 + 0.0025], False),
        # neither does a NaN one
        ([NAN, 2.0], [NAN, 2.0 + 0.0015], True),
    ],
)
def test_a_half_precision_row_scales_its_absolute_part_by_the_largest_finite_magnitude(reference, candidate, within):
    row = Tolerance(0.0, 1e-3, "half", relative_to_largest=True)
    ref, cand = torch.tensor(reference, dtype=torch.float64), torch.tensor(candidate, dtype=torch.float64)
    got = compare("output", cand, ref, row)
    assert got.within_tolerance is within, f"reference {reference}, candidate {candidate}: {got}"
    unscaled = compare("output", cand, ref, Tolerance(0.0, 1e-3, "half"))
    if reference[0] == 100.0:
        assert not unscaled.within_tolerance, "without relative_to_largest the absolute part is not scaled"


def test_the_scaled_absolute_part_is_what_is_reported_as_allowed():
    row = Tolerance(1e-3, 1e-3, "half", relative_to_largest=True)
    reference = torch.tensor([-50.0, 2.0], dtype=torch.float64)
    candidate = torch.tensor([-50.0, 3.0], dtype=torch.float64)
    d = compare("output", candidate, reference, row)
    assert_fields(d, within_tolerance=False, max_abs=1.0, worst_index=[1], allowed=1e-3 * 50.0 + 1e-3 * 2.0)


@pytest.mark.parametrize(
    ("dtype", "one", "step"),
    [
        (torch.float16, 1.0, 2**-10),
        (torch.bfloat16, 1.0, 2**-7),
        (torch.float32, 1.0, 2**-23),
        (torch.float64, 1.0, 2**-52),
    ],
)
def test_ulps_count_representable_values_in_every_dtype(dtype, one, step):
    a = torch.tensor([one, -one, one], dtype=dtype)
    b = torch.tensor([one + 3 * step, -one - step, one], dtype=dtype)
    assert torch.equal(ulp_distance(a, b), torch.tensor([3.0, 1.0, 0.0], dtype=torch.float64))
    d = compare("output", b, a, Tolerance(0.0, 0.0, "none"))
    assert_fields(d, max_ulps=3.0, max_abs=3 * step, mismatched=2, elements=3)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_ulps_across_zero_add_both_distances_from_it(dtype):
    tiniest = torch.nextafter(torch.zeros(1, dtype=dtype), torch.ones(1, dtype=dtype))
    assert torch.equal(ulp_distance(tiniest, -tiniest), torch.tensor([2.0], dtype=torch.float64))
    assert torch.equal(ulp_distance(-3 * tiniest, 2 * tiniest), torch.tensor([5.0], dtype=torch.float64))
    assert torch.equal(ulp_distance(-tiniest, -3 * tiniest), torch.tensor([2.0], dtype=torch.float64))
    zero = torch.zeros(1, dtype=dtype)
    assert torch.equal(ulp_distance(-zero, zero), torch.tensor([0.0], dtype=torch.float64)), "-0.0 and 0.0"
    assert torch.equal(ulp_distance(zero, -tiniest), torch.tensor([1.0], dtype=torch.float64))


def test_ulps_between_the_largest_floats_of_opposite_sign_do_not_overflow():
    big = torch.tensor([torch.finfo(torch.float64).max], dtype=torch.float64)
    # 2**63 - 2**52 - 1 ordered values on each side of zero: only a float64 sum holds both
    expected = 2.0 * (2**63 - 2**52 - 1)
    assert ulp_distance(big, -big).item() == expected


def test_differing_counts_nan_beside_nan_as_equal_and_nan_beside_a_number_as_different():
    a = torch.tensor([NAN, NAN, 1.0, 1.0, -0.0])
    b = torch.tensor([NAN, 1.0, NAN, 2.0, 0.0])
    assert differing(a, b).tolist() == [False, True, True, True, False]


def test_per_step_reports_each_steps_largest_difference_and_ulps():
    reference = torch.tensor([[[1.0, 2.0]], [[1.0, 2.0]], [[1.0, 2.0]]])  # (L=3, N=1, F=2)
    candidate = torch.tensor([[[1.0, 2.0]], [[1.0 + 2**-23, 2.0 + 2 * 2**-22]], [[1.0, 2.0 - 2**-23]]])
    abs_steps, ulp_steps = per_step(candidate, reference)
    assert abs_steps == [0.0, 2 * 2**-22, 2**-23], f"max abs per step: {abs_steps}"
    assert ulp_steps == [0.0, 2.0, 1.0], f"ulps per step: {ulp_steps}"


def test_per_step_marks_a_one_sided_nan_as_not_a_number_and_a_shared_one_as_equal():
    reference = torch.tensor([[NAN, 1.0], [1.0, 1.0]])
    candidate = torch.tensor([[NAN, 1.0], [NAN, 1.0]])
    abs_steps, ulp_steps = per_step(candidate, reference)
    assert (abs_steps[0], ulp_steps[0]) == (0.0, 0.0), f"step 0 has NaN on both sides: {abs_steps}, {ulp_steps}"
    assert math.isnan(abs_steps[1]), f"step 1 has NaN on one side: max abs {abs_steps}"
    assert math.isnan(ulp_steps[1]), f"step 1 has NaN on one side: ulps {ulp_steps}"


def test_tolerance_for_reads_the_table_and_refuses_an_unknown_row():
    native = tolerance_for("native", torch.float32)
    assert (native.rtol, native.atol, native.relative_to_largest) == (2e-5, 2e-5, False)
    cudnn = tolerance_for("cudnn", torch.float32)
    assert (cudnn.rtol, cudnn.atol, cudnn.relative_to_largest) == (1e-4, 3e-4, True)
    with pytest.raises(ValueError, match=r"^Expected a backend and dtype from the tolerance table, got mps / torch\.float32$"):  # fmt: skip
        tolerance_for("mps", torch.float32)


def test_a_scaled_row_multiplies_both_parts_and_says_why():
    row = Tolerance(1e-5, 2e-5, "base reason", relative_to_largest=True)
    got = scaled(row, 4, "four times the sums")
    assert got == Tolerance(4e-5, 8e-5, "base reason; x4: four times the sums", True), got
    half = scaled(Tolerance(1e-5, 3e-5, "r"), 0.5, "half")
    assert half == Tolerance(5e-6, 1.5e-5, "r; x0.5: half", False), half
