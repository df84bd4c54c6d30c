"""Wrong only past the old matrix's bounds: each defect shown in plain use, then met and rejected by the default run.

Each candidate of ``wrong_candidates/bounds.py`` equals nn.LSTM bitwise at the old bound (width 256, batch 64,
4 layers, 1000 steps) and differs one past it. The default run's configurations (its seed derived from the
candidate's source) include one past each bound; checking those configurations is checking the default run's
(any configuration that differs makes its verdict NOT A REPLICA), at a fraction of the cost. That every seed
draws them is ``test_envelope_and_seeds.py``'s.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from lstm_replica.parity import check, configurations
from lstm_replica.parity.configs import Config
from parity_tests.wrong_candidates import BOUNDS
from parity_tests.wrong_candidates import bounds as b

F64 = torch.float64

# candidate -> (constructor arguments and input shape at the bound, the same one past it)
AT_AND_PAST: dict[type, tuple[dict[str, object], dict[str, object]]] = {
    b.WideInputTiles: ({"args": (256, 5), "x": (3, 2, 256)}, {"args": (257, 5), "x": (3, 2, 257)}),
    b.WideHiddenTiles: ({"args": (3, 256), "x": (3, 2, 3)}, {"args": (3, 257), "x": (3, 2, 3)}),
    b.BatchOver64Rows: ({"args": (3, 5), "x": (3, 64, 3)}, {"args": (3, 5), "x": (3, 65, 3)}),
    b.FifthLayerReuse: (
        {"args": (3, 5), "num_layers": 4, "x": (3, 2, 3)},
        {"args": (3, 5), "num_layers": 5, "x": (3, 2, 3)},
    ),
    b.LongSequenceChunks: ({"args": (3, 5), "x": (1000, 2, 3)}, {"args": (3, 5), "x": (1001, 2, 3)}),
    b.LongFloat64InFloat32: ({"args": (3, 5), "x": (1000, 2, 3)}, {"args": (3, 5), "x": (1002, 2, 3)}),
}

# candidate -> which configurations of a run lie past its bound
PAST: dict[type, Callable[[Config], bool]] = {
    b.WideInputTiles: lambda c: (
        c.input_size > b.TILE or (c.num_layers > 1 and c.num_directions * c.output_size > b.TILE)
    ),
    b.WideHiddenTiles: lambda c: c.hidden_size > b.TILE,
    b.BatchOver64Rows: lambda c: c.batch > b.ROWS,
    b.FifthLayerReuse: lambda c: c.num_layers > b.LAYERS,
    b.LongSequenceChunks: lambda c: c.steps > b.STEPS,
    b.LongFloat64InFloat32: lambda c: c.steps > b.STEPS and c.dtype == "float64",
}


def _outputs(cls: type, case: dict[str, object]) -> tuple[torch.Tensor, torch.Tensor]:
    """nn.LSTM's and the candidate's output for the same float64 weights and input."""
    torch.manual_seed(0)
    reference = nn.LSTM(*case["args"], num_layers=case.get("num_layers", 1), dtype=F64)  # type: ignore[misc]
    candidate = cls.from_torch(reference)
    x = torch.randn(*case["x"], generator=torch.Generator().manual_seed(1), dtype=F64)  # type: ignore[misc]
    with torch.no_grad():
        return candidate(x)[0], reference(x)[0]


def test_every_bounds_candidate_is_in_the_catalogue():
    assert {t.rpartition(":")[2] for t in BOUNDS} == {cls.__name__ for cls in AT_AND_PAST}


@pytest.mark.parametrize("cls", list(AT_AND_PAST), ids=lambda cls: cls.__name__)
def test_the_defect_shows_one_past_the_bound_and_not_at_it(cls: type) -> None:
    at, past = AT_AND_PAST[cls]
    got, expected = _outputs(cls, at)
    torch.testing.assert_close(got, expected, rtol=0, atol=0, msg=f"{cls.__name__} at the old bound {at}")
    got, expected = _outputs(cls, past)
    assert not torch.equal(got, expected), f"{cls.__name__} equals nn.LSTM one past the bound ({past})"


@pytest.mark.certificate
@pytest.mark.parametrize("cls", list(AT_AND_PAST), ids=lambda cls: cls.__name__)
def test_the_default_run_meets_and_rejects_it(cls: type) -> None:
    beyond = [c.name for c in configurations(cls) if PAST[cls](c)]
    assert beyond, f"the default run of {cls.__name__} has no configuration past its bound"
    report = check(cls, configs=beyond, fail_fast=True)
    assert report.exit_status == 1, f"{cls.__name__} ({BOUNDS[f'{cls.__module__}:{cls.__name__}']}):\n{report.text()}"
