"""How two tensors are compared: bitwise, within a stated tolerance, and by how many ulps.

Bitwise means ``torch.equal`` (same shape, dtype and every element). The
tolerances live in :data:`TOLERANCES`, one row per backend and dtype, each
with the reason for its size; an element is within tolerance when
``|candidate - reference| <= atol + rtol * |reference|``. A difference of
shape or dtype, or a NaN where the reference has a number, is named in the
difference's note.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

MEANINGFUL_ULPS = 1e6  # beyond this the values are simply far apart (or on both sides of zero): ulps say nothing


@dataclass(frozen=True)
class Tolerance:
    rtol: float
    atol: float
    why: str
    relative_to_largest: bool = False  # atol scaled by max(1, max |reference|) of the tensor: for half precision


# (backend, dtype) -> tolerance; "tf32" is the CUDA native/cudnn path with TF32 matmuls allowed
TOLERANCES: dict[tuple[str, torch.dtype], Tolerance] = {
    ("native", torch.float32): Tolerance(
        2e-5,
        2e-5,
        "re-associated sums (one matmul over [x, h], fused biases) move a step by a few ulps; "
        "200-step recurrences and gradients summed over time and batch compound that to ~1e-6..1e-5",
    ),
    ("native", torch.float64): Tolerance(
        1e-10,
        1e-10,
        "the same re-associations cost ~1e-16 per step in double; 1e-10 leaves room for long sequences",
    ),
    ("onednn", torch.float32): Tolerance(
        5e-5,
        5e-5,
        "oneDNN's fused LSTM kernel differs from the native path by ~1e-7 forward and ~5e-6 in gradients",
    ),
    ("onednn", torch.float64): Tolerance(
        1e-10,
        1e-10,
        "oneDNN has no double LSTM kernel, so double falls back to the native path",
    ),
    ("cudnn", torch.float32): Tolerance(
        1e-4,
        3e-4,
        "cuDNN fuses the gate arithmetic and sums each gradient over every step and sequence in its own "
        "order and blocking; measured on an H200 (cuDNN 9.19, torch 2.11): outputs within 5e-6, parameter "
        "gradients up to 1.6e-4 apart after training steps, so the absolute part scales with the tensor's "
        "largest magnitude",
        relative_to_largest=True,
    ),
    ("cudnn", torch.float64): Tolerance(1e-10, 1e-10, "double GEMMs on the GPU re-associate as on the CPU"),
    ("tf32", torch.float32): Tolerance(
        5e-3,
        5e-3,
        "TF32 matmuls keep 10 mantissa bits: ~5e-4 relative error per product before accumulation",
    ),
    ("tf32", torch.float64): Tolerance(1e-10, 1e-10, "TF32 applies to float32 only; double is unaffected"),
}
HALF: dict[torch.dtype, Tolerance] = {
    dtype: Tolerance(
        1e-1,
        1e-1,
        f"{name} keeps {bits} significant bits (eps {eps}): a re-associated sum moves a step by a few eps, and "
        "a gradient element is a sum over every step and sequence whose rounding is relative to its largest terms, "
        "not to itself (near-saturated gates make sigma' = s(1 - s) change by half with one ulp of s): the absolute "
        "tolerance is scaled by the tensor's largest magnitude",
        relative_to_largest=True,
    )
    for dtype, name, bits, eps in ((torch.float16, "float16", 11, "9.8e-4"), (torch.bfloat16, "bfloat16", 8, "7.8e-3"))
}
TOLERANCES |= {
    (backend, dtype): row for backend in ("native", "onednn", "cudnn", "tf32") for dtype, row in HALF.items()
}


def scaled(row: Tolerance, factor: float, why: str) -> Tolerance:
    """A tolerance ``factor`` times ``row``'s, for a probe whose sums are ``factor`` times larger (say why)."""
    return Tolerance(row.rtol * factor, row.atol * factor, f"{row.why}; x{factor:g}: {why}", row.relative_to_largest)


def tolerance_for(backend: str, dtype: torch.dtype) -> Tolerance:
    """The row of :data:`TOLERANCES` for this backend and dtype."""
    key = (backend, dtype)
    if key not in TOLERANCES:
        msg = f"Expected a backend and dtype from the tolerance table, got {backend} / {dtype}"
        raise ValueError(msg)
    return TOLERANCES[key]


@dataclass(frozen=True)
class Difference:
    """How one candidate tensor differs from the reference's."""

    tensor: str
    bitwise: bool
    within_tolerance: bool
    max_abs: float
    max_rel: float
    max_ulps: float
    note: str = ""
    probe: str = ""  # which call or step of the check ("" : the first call, default weights)
    mismatched: int = 0  # elements that are not bitwise equal
    elements: int = 0
    worst_index: list[int] = field(default_factory=list)  # where the greatest absolute difference is
    allowed: float = 0.0  # the tolerance there: atol (scaled where stated) + rtol * |reference|

    @classmethod
    def apart(cls, tensor: str, note: str, probe: str = "") -> Difference:
        """Not comparable (missing, another shape or dtype, a raise): as far apart as can be, ``note`` saying why."""
        inf = float("inf")
        return cls(tensor, False, False, inf, inf, inf, note, probe)

    @classmethod
    def equal(cls, tensor: str, probe: str = "") -> Difference:
        """Bitwise equal (both absent, or ``torch.equal``)."""
        return cls(tensor, True, True, 0.0, 0.0, 0.0, probe=probe)


def _unravel(flat: int, shape: torch.Size) -> tuple[int, ...]:
    index = []
    for size in reversed(shape):
        index.append(flat % size)
        flat //= size
    return tuple(reversed(index))


def _ordered_bits(t: Tensor) -> Tensor:
    """Map floats to integers whose order is the floats' order (sign-magnitude to two's complement)."""
    int_dtype = {torch.float64: torch.int64, torch.float32: torch.int32}.get(t.dtype, torch.int16)  # 16-bit: int16
    bits = t.contiguous().view(int_dtype).to(torch.int64)
    sign_mask = torch.iinfo(int_dtype).max
    return torch.where(bits < 0, -(bits & sign_mask), bits)


def ulp_distance(a: Tensor, b: Tensor) -> Tensor:
    """Elementwise number of representable floats between ``a`` and ``b`` (float64 so it cannot overflow)."""
    oa, ob = _ordered_bits(a), _ordered_bits(b)
    same_sign = (oa >= 0) == (ob >= 0)
    apart = oa.abs().to(torch.float64) + ob.abs().to(torch.float64)
    return torch.where(same_sign, (oa - ob).abs().to(torch.float64), apart)


def differing(a: Tensor, b: Tensor) -> Tensor:
    """Elementwise "not bitwise equal", counting NaN in the same place as equal."""
    return (a != b) & ~(a.isnan() & b.isnan())


def _ulps(a: Tensor, b: Tensor) -> Tensor:
    """Elementwise ulps between two tensors: 0 where bitwise equal, NaN where only one of them is NaN."""
    one_nan = a.isnan() ^ b.isnan()
    return torch.where(differing(a, b), torch.where(one_nan, torch.nan, ulp_distance(a, b)), 0.0)


def meaningful_ulps(ulps: float) -> float | None:
    """``ulps`` where it says something, else None: the report's '-' (see :data:`MEANINGFUL_ULPS`).

    Beyond :data:`MEANINGFUL_ULPS` (or NaN, inf) the values are simply far apart or on both sides of zero,
    where :func:`ulp_distance` counts every float between them through zero. Every ulps figure shown, in
    the table, the cell-error line and the plot, goes through this one rule.
    """
    return ulps if ulps <= MEANINGFUL_ULPS else None


def _atol(tolerance: Tolerance, reference: Tensor) -> float:
    """The absolute tolerance for ``reference``: scaled by its largest finite magnitude where the row says so."""
    if not tolerance.relative_to_largest:
        return tolerance.atol
    finite = reference.to(torch.float64).abs().nan_to_num(0.0, 0.0, 0.0)
    return tolerance.atol * max(1.0, float(finite.max()))


def compare(
    tensor: str, candidate: Tensor | None, reference: Tensor | None, tolerance: Tolerance, probe: str = ""
) -> Difference:
    """Compare one candidate tensor with the reference's (None: no gradient reached it, the same as zeros)."""
    if candidate is None and reference is None:
        return Difference.equal(tensor, probe)
    if candidate is None and reference is not None and not reference.any():
        candidate = torch.zeros_like(reference)
    if reference is None and candidate is not None and not candidate.any():
        reference = torch.zeros_like(candidate)
    if reference is None:
        return Difference.apart(tensor, f"Expected no {tensor}, got one", probe)
    if candidate is None:
        return Difference.apart(tensor, f"Expected {tensor}, got none", probe)
    if candidate.shape != reference.shape:
        note = f"Expected {tensor} of shape {tuple(reference.shape)}, got {tuple(candidate.shape)}"
        return Difference.apart(tensor, note, probe)
    if candidate.dtype != reference.dtype:
        note = f"Expected {tensor} of dtype {reference.dtype}, got {candidate.dtype}"
        return Difference.apart(tensor, note, probe)
    a, b = candidate.detach().cpu(), reference.detach().cpu()
    if a.numel() == 0:
        return Difference.equal(tensor, probe)
    if torch.equal(a, b):  # bitwise equal, the common case: what the measurement below would find, at a fraction
        allowed = (_atol(tolerance, b) + tolerance.rtol * b.flatten()[:1].to(torch.float64).abs()).nan_to_num(0.0)
        worst_index = list(_unravel(0, a.shape))
        return Difference(tensor, True, True, 0.0, 0.0, 0.0, "", probe, 0, a.numel(), worst_index, float(allowed[0]))
    nan = int((a.isnan() & ~b.isnan()).sum())
    note = f"NaN in {nan} of {a.numel()} elements where the reference has a number" if nan else ""
    one_nan = a.isnan() ^ b.isnan()  # NaN on one side only: an infinite difference (and NaN != NaN in a report)
    diff = (a.to(torch.float64) - b.to(torch.float64)).abs()
    diff = torch.where(differing(a, b), diff, torch.zeros_like(diff)).masked_fill(one_nan, float("inf"))
    rel = diff / b.to(torch.float64).abs().clamp_min(torch.finfo(b.dtype).tiny)
    rel = torch.where(differing(a, b), rel, torch.zeros_like(rel)).masked_fill(one_nan, float("inf"))
    bound = _atol(tolerance, b) + tolerance.rtol * b.to(torch.float64).abs()
    within = (diff <= bound) | ~differing(a, b)
    worst = int(diff.flatten().argmax())
    return Difference(
        tensor,
        bitwise=not bool(differing(a, b).any()),  # NaN where the reference has NaN counts as equal
        within_tolerance=bool(within.all()),
        max_abs=float(diff.max()),
        max_rel=float(rel.max()),
        max_ulps=float(_ulps(a, b).nan_to_num(float("inf")).max()),
        note=note,
        probe=probe,
        mismatched=int(differing(a, b).sum()),
        worst_index=list(_unravel(worst, a.shape)),
        allowed=float(bound.flatten()[worst].nan_to_num(0.0)),  # NaN where the reference is NaN: nothing allowed
        elements=a.numel(),
    )


def per_step(candidate: Tensor, reference: Tensor) -> tuple[list[float], list[float]]:
    """Max abs difference and max ulps at each time step of two time-major tensors ``(L, ...)``."""
    a, b = candidate.detach().cpu(), reference.detach().cpu()
    mask = differing(a, b)
    diff = torch.where(mask, (a.to(torch.float64) - b.to(torch.float64)).abs(), 0.0).flatten(1)  # (L, rest)
    ulps = _ulps(a, b).flatten(1)  # (L, rest)
    return diff.amax(1).tolist(), ulps.amax(1).tolist()
