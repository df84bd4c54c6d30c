"""Checkpoints: replica models survive a save and load bit for bit, and a malicious file runs nothing.

Round trips rebuild the same model (type, configuration, every tensor
``torch.equal``, outputs bitwise on the native path); state_dicts move both
ways between ``nn.LSTM`` and the replica through files. Files whose pickle
would run code (``os.mkdir`` of a marker directory, reached by ``__reduce__``)
are shown to be live by unpickling them unsafely first, then refused by the
project's loaders with the marker left absent. A failed save leaves the
previous checkpoint intact.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn

from lstm_replica import LSTM, LSTMCell, LSTMClassifier
from lstm_replica import checkpoint as checkpoint_module
from lstm_replica.checkpoint import FORMAT, load_checkpoint, load_state_dict_file, save_checkpoint

MODELS: list[tuple[str, Callable[[], nn.Module], Callable[[], torch.Tensor]]] = [
    ("lstm", lambda: LSTM(3, 5), lambda: torch.randn(6, 2, 3)),
    (
        "lstm_two_layers_bidir_proj_float64",
        lambda: LSTM(3, 5, num_layers=2, bidirectional=True, proj_size=2, batch_first=True, dtype=torch.float64),
        lambda: torch.randn(2, 6, 3, dtype=torch.float64),
    ),
    ("lstm_no_bias_dropout", lambda: LSTM(3, 4, num_layers=2, bias=False, dropout=0.25), lambda: torch.randn(6, 3)),
    ("cell", lambda: LSTMCell(3, 4), lambda: torch.randn(2, 3)),
    ("classifier", lambda: LSTMClassifier(3, 6, 4, num_layers=2, bidirectional=True), lambda: torch.randn(5, 2, 3)),
    ("classifier_per_step", lambda: LSTMClassifier(3, 6, 4, per_step=True, proj_size=2), lambda: torch.randn(5, 3)),
]


@pytest.mark.parametrize(("name", "build", "make_input"), MODELS, ids=[m[0] for m in MODELS])
@pytest.mark.usefixtures("native_cpu")
def test_round_trip_is_bitwise(
    tmp_path: Path, name: str, build: Callable[[], nn.Module], make_input: Callable[[], torch.Tensor]
) -> None:
    model = build().eval()
    path = save_checkpoint(model, tmp_path / f"{name}.pt")
    loaded = load_checkpoint(path).eval()
    assert type(loaded) is type(model), f"Expected a {type(model).__name__}, got {type(loaded).__name__}"
    assert str(loaded) == str(model), f"Expected the configuration {model}, got {loaded}"
    saved, restored = model.state_dict(), loaded.state_dict()
    assert saved.keys() == restored.keys(), f"Expected parameters {list(saved)}, got {list(restored)}"
    differing = [k for k in saved if saved[k].dtype != restored[k].dtype or not torch.equal(saved[k], restored[k])]
    assert not differing, f"parameters changed by the round trip: {differing}"
    x = make_input()
    expected, got = torch.utils._pytree.tree_leaves(model(x)), torch.utils._pytree.tree_leaves(loaded(x))
    assert all(torch.equal(e, g) for e, g in zip(expected, got, strict=True)), f"{name}: outputs differ after loading"
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{name}.pt"], "a temporary file was left behind"


@pytest.mark.usefixtures("native_cpu")
def test_nn_lstm_state_dict_file_loads_into_replica_and_back(tmp_path: Path) -> None:
    reference = nn.LSTM(3, 5, num_layers=2, proj_size=2)
    torch.save(reference.state_dict(), tmp_path / "nn_lstm.pt")
    replica = load_state_dict_file(LSTM(3, 5, num_layers=2, proj_size=2), tmp_path / "nn_lstm.pt")
    x = torch.randn(4, 2, 3)
    assert torch.equal(reference(x)[0], replica(x)[0]), "replica loaded from nn.LSTM's state_dict computes otherwise"

    save_checkpoint(replica, tmp_path / "replica.pt")
    state_dict = torch.load(tmp_path / "replica.pt", weights_only=True)["state_dict"]
    back = nn.LSTM(3, 5, num_layers=2, proj_size=2)
    back.load_state_dict(state_dict, strict=True)
    assert torch.equal(back(x)[0], replica(x)[0]), "nn.LSTM loaded from the replica's checkpoint computes otherwise"


class Payload:
    """Unpickling this runs ``os.mkdir(marker)``: the stand-in for arbitrary code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Callable[[str], None], tuple[str]]:
        return os.mkdir, (str(self.marker),)


def write_raw_pickle(path: Path, marker: Path) -> None:
    path.write_bytes(pickle.dumps(Payload(marker), protocol=2))  # the protocol torch.load expects


def write_torch_file(path: Path, marker: Path) -> None:
    torch.save(Payload(marker), path)


def write_disguised_checkpoint(path: Path, marker: Path) -> None:
    """A well-formed checkpoint with the payload hidden among the tensors."""
    state_dict = {**LSTM(2, 3).state_dict(), "weight_ih_l0": Payload(marker)}
    payload = {"format": FORMAT, "version": 1, "kind": "LSTM", "config": {"input_size": 2, "hidden_size": 3}}
    torch.save({**payload, "state_dict": state_dict}, path)


def load_unsafely(path: Path) -> object:
    return torch.load(path, weights_only=False)


MALICIOUS = [
    ("raw_pickle", write_raw_pickle, lambda path: pickle.loads(path.read_bytes())),
    ("torch_save_file", write_torch_file, load_unsafely),
    ("disguised_checkpoint", write_disguised_checkpoint, load_unsafely),
]
LOADERS = [
    ("load_checkpoint", lambda path: load_checkpoint(path)),
    ("load_state_dict_file", lambda path: load_state_dict_file(LSTM(2, 3), path)),
]


@pytest.mark.parametrize(("kind", "write", "unsafe_load"), MALICIOUS, ids=[m[0] for m in MALICIOUS])
@pytest.mark.parametrize(("loader_name", "loader"), LOADERS, ids=[name for name, _ in LOADERS])
def test_malicious_pickle_is_refused_and_nothing_runs(
    tmp_path: Path,
    kind: str,
    write: Callable[[Path, Path], None],
    unsafe_load: Callable[[Path], object],
    loader_name: str,
    loader: Callable[[Path], object],
) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / f"{kind}.pt"
    write(path, marker)

    unsafe_load(path)  # on purpose, into tmp_path: proves the file really runs code when trusted
    assert marker.is_dir(), f"the {kind} payload did not run even when unpickled unsafely; the test proves nothing"
    marker.rmdir()

    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        loader(path)
    assert not marker.exists(), f"{loader_name} ran code from a {kind} file"


def test_failed_save_keeps_the_previous_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = save_checkpoint(LSTM(2, 3), tmp_path / "model.pt")
    before = path.read_bytes()

    def broken_save(obj: object, handle: object) -> None:
        handle.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint_module.torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(LSTM(2, 3), path)
    monkeypatch.undo()
    assert path.read_bytes() == before, "a failed save damaged the existing checkpoint"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"], "a failed save left a temporary file"
    assert isinstance(load_checkpoint(path), LSTM)


def test_checkpoint_gets_the_permissions_open_would_give(tmp_path: Path) -> None:
    ordinary = tmp_path / "ordinary"
    ordinary.write_bytes(b"")
    path = save_checkpoint(LSTM(2, 3), tmp_path / "model.pt")
    assert path.stat().st_mode == ordinary.stat().st_mode, (
        f"Expected mode {oct(ordinary.stat().st_mode)}, got {oct(path.stat().st_mode)}"
    )


def test_bare_state_dict_is_not_a_checkpoint(tmp_path: Path) -> None:
    torch.save(LSTM(2, 3).state_dict(), tmp_path / "bare.pt")
    with pytest.raises(
        ValueError, match=r"Expected an lstm-replica-checkpoint file .* got a dict with keys \['bias_hh_l0'"
    ):
        load_checkpoint(tmp_path / "bare.pt")


def test_unknown_kind_and_newer_version_are_refused(tmp_path: Path) -> None:
    base = {"format": FORMAT, "version": 1, "kind": "GRU", "config": {}, "state_dict": {}}
    torch.save(base, tmp_path / "gru.pt")
    with pytest.raises(
        ValueError, match=r"Expected a model kind in \['LSTM', 'LSTMCell', 'LSTMClassifier'\].*got 'GRU'"
    ):
        load_checkpoint(tmp_path / "gru.pt")
    torch.save({**base, "version": 2}, tmp_path / "v2.pt")
    with pytest.raises(ValueError, match="Expected lstm-replica-checkpoint version 1, got version 2"):
        load_checkpoint(tmp_path / "v2.pt")


@pytest.mark.parametrize("kind", ["LSTM", "LSTMCell", "LSTMClassifier"])
def test_unknown_config_keys_are_refused(tmp_path: Path, kind: str) -> None:
    config = {"input_size": 3, "hidden_size": 4, "bogus": 1}
    torch.save({"format": FORMAT, "version": 1, "kind": kind, "config": config, "state_dict": {}}, tmp_path / "c.pt")
    with pytest.raises(ValueError, match=rf"Expected {kind} constructor arguments .* got unknown \['bogus'\]"):
        load_checkpoint(tmp_path / "c.pt")


def test_tensors_that_do_not_fit_the_config_are_refused(tmp_path: Path) -> None:
    path = save_checkpoint(LSTM(2, 3), tmp_path / "model.pt")
    payload = torch.load(path, weights_only=True)
    payload["config"]["hidden_size"] = 4
    torch.save(payload, path)
    with pytest.raises(
        RuntimeError,
        match=r"size mismatch for weight_ih_l0: copying a param with shape torch.Size\(\[12, 2\]\) from checkpoint, the shape in current model is torch.Size\(\[16, 2\]\)",
    ):
        load_checkpoint(path)
    with pytest.raises(RuntimeError, match=r"Missing key\(s\) in state_dict: \"weight_ih_l0_reverse\""):
        load_state_dict_file(LSTM(2, 3, bidirectional=True), _bare_state_dict(tmp_path))


def _bare_state_dict(tmp_path: Path) -> Path:
    torch.save(LSTM(2, 3).state_dict(), tmp_path / "bare.pt")
    return tmp_path / "bare.pt"


def test_truncated_file_is_an_error(tmp_path: Path) -> None:
    path = save_checkpoint(LSTM(2, 3), tmp_path / "model.pt")
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(RuntimeError, match="PytorchStreamReader failed"):
        load_checkpoint(path)


def test_only_replica_models_are_saved(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="Expected an lstm_replica LSTM, LSTMCell or LSTMClassifier, got LSTM"):
        save_checkpoint(nn.LSTM(2, 3), tmp_path / "nn.pt")
    assert not any(tmp_path.iterdir()), "a refused save left a file"
