"""The protocol probes (lstm_replica/parity/probes/protocol.py): each wrong candidate's defect in plain use against
PyTorch's own module first, then the certificate rejecting it by that probe; the replicas pass them bitwise."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from lstm_replica import LSTM, LSTMCell
from lstm_replica.parity.backends import Backend, flags
from lstm_replica.parity.build import Candidate, build_pair
from lstm_replica.parity.candidates import as_factory
from lstm_replica.parity.compare import tolerance_for
from lstm_replica.parity.configs import Config
from lstm_replica.parity.orchestrate import check, configurations
from lstm_replica.parity.probes.context import ProbeLog, Probing
from lstm_replica.parity.probes.protocol import protocol_probes
from parity_tests.wrong_candidates import protocol as wrong

F64 = torch.float64
PRO = "parity_tests.wrong_candidates.protocol:"


@pytest.fixture(autouse=True)
def _native() -> Iterator[None]:
    with flags(Backend("cpu", "native")):
        yield


def _x(*shape: int, dtype: torch.dtype = F64, seed: int = 1) -> Tensor:
    return torch.randn(*shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))


def _module_pair(cls: type[LSTM], dtype: torch.dtype = F64, **kwargs: object) -> tuple[nn.LSTM, LSTM]:
    torch.manual_seed(0)
    reference = nn.LSTM(3, 5, dtype=dtype, **kwargs)
    return reference, cls.from_torch(reference)


def _same(got: Tensor | None, expected: Tensor | None, what: str) -> None:
    assert got is not None, f"{what}: Expected a tensor from the candidate, got None"
    assert expected is not None, f"{what}: Expected a tensor from PyTorch's module, got None"
    assert got.dtype == expected.dtype, f"{what}: Expected dtype {expected.dtype}, got {got.dtype}"
    torch.testing.assert_close(got, expected, rtol=0, atol=0, msg=lambda m: f"{what}: {m}")


def _differs(got: Tensor | None, expected: Tensor | None, what: str) -> None:
    same = got is not None and expected is not None and got.dtype == expected.dtype and torch.equal(got, expected)
    assert not same, f"{what}: the candidate equals PyTorch's here; the defect did not show"


# --- each defect in plain use ----------------------------------------------------------------------------


def test_autocast_half_state_computes_in_bfloat16_where_nn_lstm_keeps_float32() -> None:
    reference, candidate = _module_pair(wrong.AutocastHalfState, torch.float32)
    x = _x(4, 2, 3, dtype=torch.float32)
    _same(candidate(x)[0], reference(x)[0], "output without autocast")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got, expected = candidate(x), reference(x)
    assert expected[0].dtype == torch.float32, "nn.LSTM's native path keeps a float32 output under autocast"
    _differs(got[0], expected[0], "output under bfloat16 autocast")
    _differs(got[1][1], expected[1][1], "c_n under bfloat16 autocast")


def test_autocast_off_cell_computes_in_float32_where_nn_lstmcell_casts() -> None:
    torch.manual_seed(0)
    reference = nn.LSTMCell(3, 5)
    candidate = wrong.AutocastOffCell.from_torch(reference)
    x, h, c = (
        _x(2, 3, dtype=torch.float32),
        _x(2, 5, dtype=torch.float32, seed=2),
        _x(2, 5, dtype=torch.float32, seed=3),
    )
    _same(candidate(x, (h, c))[0], reference(x, (h, c))[0], "h without autocast")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        _differs(candidate(x, (h, c))[0], reference(x, (h, c))[0], "h under bfloat16 autocast")


def test_frozen_lower_layer_loses_the_input_gradient() -> None:
    reference, candidate = _module_pair(wrong.FrozenLayersWithoutGraph, num_layers=2)
    grads = []
    for freeze in (False, True):
        for module in (candidate, reference):
            for name, p in module.named_parameters():
                p.requires_grad_(not (freeze and name.endswith("_l0")))
            x = _x(4, 2, 3).requires_grad_()
            module(x)[0].sum().backward()
            grads.append(x.grad)
    _same(grads[0], grads[1], "input gradient, nothing frozen")
    assert grads[3] is not None, "nn.LSTM gives the input a gradient through a frozen layer 0"
    _differs(grads[2], grads[3], "input gradient with layer 0 frozen")


def test_construction_dtype_results_stay_float32_after_double() -> None:
    reference, candidate = _module_pair(wrong.ConstructionDtypeResults, torch.float32)
    x = _x(4, 2, 3, dtype=torch.float32)
    _same(candidate(x)[0], reference(x)[0], "output as built")
    reference.double()
    candidate.double()
    _differs(candidate(x.double())[0], reference(x.double())[0], "output after .double()")


def test_memoised_weights_ignore_a_parametrization_registered_after_use() -> None:
    reference, candidate = _module_pair(wrong.MemoisedWeights)
    x = _x(4, 2, 3)
    _same(candidate(x)[0], reference(x)[0], "output before the parametrization")

    class Halved(nn.Module):
        def forward(self, weight: Tensor) -> Tensor:
            return weight * 0.5

    for module in (reference, candidate):
        parametrize.register_parametrization(module, "weight_hh_l0", Halved())
    _differs(candidate(x)[0], reference(x)[0], "output with weight_hh_l0 parametrized")


def test_eval_weight_cache_misses_an_in_place_change() -> None:
    reference, candidate = _module_pair(wrong.EvalWeightCache)
    reference.eval()
    candidate.eval()
    x = _x(4, 2, 3)
    with torch.no_grad():
        _same(candidate(x)[0], reference(x)[0], "first no-grad call in eval mode")
        for module in (reference, candidate):
            for p in module.parameters():
                p.mul_(0.5)
        _differs(candidate(x)[0], reference(x)[0], "no-grad call after the weights changed in place")


def test_old_style_function_is_exact_under_autograd_and_refused_by_torch_func() -> None:
    reference, candidate = _module_pair(wrong.OldStyleFunction)
    x = _x(4, 2, 3)
    for module in (reference, candidate):
        module(x)[0].sum().backward()
    for (name, mine), theirs in zip(candidate.named_parameters(), reference.parameters(), strict=True):
        _same(mine.grad, theirs.grad, f"grad {name} under autograd")

    def grads(module: nn.Module) -> dict[str, Tensor]:
        params = {n: p.detach() for n, p in module.named_parameters()}
        loss = lambda p: torch.func.functional_call(module, p, (x,))[0].sum()
        return torch.func.grad(loss)(params)

    assert grads(reference), "nn.LSTM runs under torch.func.grad"
    with pytest.raises(RuntimeError, match="setup_context"):
        grads(candidate)


def test_dropout_only_with_grad_drops_nothing_under_no_grad() -> None:
    reference, candidate = _module_pair(wrong.DropoutOnlyWithGrad, num_layers=2, dropout=0.5)
    reference.train()
    candidate.train()
    x = _x(4, 2, 3)
    results = []
    for grad in (True, False):
        with torch.set_grad_enabled(grad):
            for module in (candidate, reference):
                torch.manual_seed(5)
                results.append(module(x)[0])
    _same(results[0], results[1], "train mode with grad, the same dropout seed")
    _differs(results[2], results[3], "train mode under no_grad (Monte-Carlo dropout), the same seed")


def test_non_leaf_input_detached_gives_an_embedding_no_gradient() -> None:
    reference, candidate = _module_pair(wrong.NonLeafInputDetached)
    tokens = torch.tensor([[0, 2], [1, 1], [3, 0], [2, 4]])  # (L, N)
    tables = []
    for module in (candidate, reference):
        x = _x(4, 2, 3).requires_grad_()
        module(x)[0].sum().backward()
        tables.append(x.grad)
    _same(tables[0], tables[1], "gradient of a leaf input")
    grads = []
    for module in (candidate, reference):
        table = _x(5, 3, seed=4).requires_grad_()
        module(nn.functional.embedding(tokens, table))[0].sum().backward()
        grads.append(table.grad)
    assert grads[1] is not None, "nn.LSTM gives the embedding table a gradient"
    _differs(grads[0], grads[1], "gradient of the embedding table")


# --- the certificate rejects each, by its probe ----------------------------------------------------------


def _first(target: str, wanted: Callable[[Config], bool]) -> str:
    """The first quick configuration of ``target`` that the probe applies to."""
    return next(c.name for c in configurations(target, quick=True) if wanted(c))


def _float32(c: Config) -> bool:
    return c.dtype == "float32"


def _layers(c: Config) -> bool:
    return c.num_layers > 1


def _dropping(c: Config) -> bool:
    return c.num_layers > 1 and c.dropout > 0


def _padded(c: Config) -> bool:
    return c.input_kind != "packed"


def _any(c: Config) -> bool:
    return True


REJECTED = [
    ("AutocastHalfState", _float32, "autocast bfloat16"),
    ("AutocastOffCell", _float32, "autocast bfloat16"),
    ("FrozenLayersWithoutGraph", _layers, "frozen: layer 0"),
    ("ConstructionDtypeResults", _any, "after .float()"),
    ("MemoisedWeights", _any, "parametrization registered"),
    ("EvalWeightCache", _any, "eval cache: weights changed in place"),
    ("OldStyleFunction", _padded, "torch.func.vjp"),
    ("DropoutOnlyWithGrad", _dropping, "train mode, no_grad (Monte-Carlo dropout)"),
    ("NonLeafInputDetached", _any, "input from an embedding look-up"),
]


@pytest.mark.certificate
@pytest.mark.parametrize(("name", "wanted", "probe"), REJECTED, ids=[r[0] for r in REJECTED])
def test_the_check_rejects_it_by_its_probe(name: str, wanted: Callable[[Config], bool], probe: str) -> None:
    target = PRO + name
    config = _first(target, wanted)
    report = check(target, configs=[config], fail_fast=True)
    assert report.exit_status == 1, report.text()
    failing = {d.probe for r in report.results for d in r.differences if not d.bitwise}
    assert probe in failing, f"{name} in {config}: Expected {probe!r} among the failing probes, got {sorted(failing)}"


# --- the replicas pass them, and they were compared ------------------------------------------------------

MODULE_PROBES = {
    "train mode, no_grad (Monte-Carlo dropout)",
    "train mode, inference_mode (Monte-Carlo dropout)",
    "eval cache: first call",
    "eval cache: weights changed in place",
    "eval cache: input rewritten in place",
    "eval cache: train mode, same input",
    "eval cache: eval mode again",
    "input from an embedding look-up",
    "input computed, state as views of a wider buffer",
    "autocast bfloat16",
    "autocast float16",
    "frozen: layer 0",
    "torch.func.vjp",
    "torch.func.vmap",
    "after .double()",
    "after .double(), new weights loaded",
    "parametrization registered",
}
CELL_PROBES = MODULE_PROBES - {"torch.func.vmap", "after .double()", "after .double(), new weights loaded"}
CELL_PROBES -= {"parametrization registered"}
OWN = Config(num_layers=2, dropout=0.25, dtype="float32", batch=3, steps=5, input_size=4, hidden_size=6)


@pytest.mark.parametrize(
    ("target", "weights", "expected"),
    [
        ("lstm_replica:LSTM", None, MODULE_PROBES),
        ("lstm_replica:LSTMCell", None, CELL_PROBES),
        (
            "examples/researcher_cell.py:BitwiseResearcherCell",
            "examples/researcher_cell.py:copy_weights_bitwise",
            CELL_PROBES | {"frozen: the gate-f tensors"},
        ),
    ],
    ids=["replica", "cell", "per-gate-cell"],
)
def test_the_replicas_pass_the_protocol_probes_bitwise(target: str, weights: str | None, expected: set[str]) -> None:
    """One configuration every probe applies to: float32 (autocast), two layers with dropout, hx, padded input."""
    report = check(target, config=OWN, only_config=True, weights=weights)
    assert report.exit_status == 0, report.text()
    compared = {d.probe for r in report.results for d in r.differences}
    assert expected <= compared, f"not compared: {sorted(expected - compared)}"
    failing = [(d.probe, d.tensor) for r in report.results for d in r.differences if not d.bitwise]
    assert not failing, failing


@pytest.mark.parametrize(("cls", "kind"), [(LSTM, "module"), (LSTMCell, "cell")])
def test_the_probes_leave_the_pair_as_they_found_it(cls: type[nn.Module], kind: str) -> None:
    config = Config(num_layers=2, dropout=0.25, dtype="float32", steps=5)
    pair = build_pair(Candidate(as_factory(cls), kind), config, "cpu", 0)
    ctx = Probing(pair, config, "cpu", tolerance_for("native", torch.float32), torch.Generator().manual_seed(0))
    log = ProbeLog()
    protocol_probes(ctx, log)
    assert log.differences, "nothing was compared"
    assert all(d.bitwise for d in log.differences), [d for d in log.differences if not d.bitwise]
    for side in (pair.candidate, pair.reference):
        for module in side.modules:
            assert not module.training, "left in train mode"
            assert not parametrize.is_parametrized(module), "a parametrization was left registered"
        for name, p in side.parameters.items():
            assert p.requires_grad, f"{name}: left frozen"
            assert p.grad is None, f"{name}: left with a .grad"
            assert p.dtype == torch.float32, f"{name}: left in {p.dtype}"
            _same(p.detach(), pair.reference_initial[name], f"{name} after the probes")
