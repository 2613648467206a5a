"""Classifier bundles: round trip, atomic replacement, and every refusal (no pickle, ever)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from ecgnas import load_classifier
from ecgnas.classifier import (
    CONTRACT_FILE,
    WEIGHTS_FILE,
    save_bundle,
    sha256_file,
)
from ecgnas.errors import ConfigError, DataError


def _inputs(n: int = 17) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 1, 256)).astype(np.float32)
    rr = (rng.random((n, 6)) + 0.5).astype(np.float32)
    return x, rr


def _edit_contract(bundle: Path, **changes: object) -> None:
    path = bundle / CONTRACT_FILE
    obj = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None:
            obj.pop(key)
        else:
            obj[key] = value
    path.write_text(json.dumps(obj))


@pytest.mark.parametrize("arch", ["manual", "ecg1d:3,2,0,4,5,6"])
def test_round_trip_gives_identical_outputs(tmp_path: Path, arch: str, make_tiny) -> None:
    model, contract = make_tiny(arch, temperature=1.7)
    path = save_bundle(tmp_path / "b", model.state_dict(), contract, "# card\n")
    assert sorted(p.name for p in path.iterdir()) == ["MODEL_CARD.md", CONTRACT_FILE, WEIGHTS_FILE]
    clf = load_classifier(path)
    x, rr = _inputs()
    with torch.no_grad():
        want = model(torch.from_numpy(x), torch.from_numpy(rr)).numpy()
    got = clf.logits(x, rr)
    assert np.array_equal(got, want)
    probs = clf.probabilities(got)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-6)
    want_p = torch.softmax(torch.from_numpy(want) / 1.7, dim=1).numpy()
    np.testing.assert_allclose(probs, want_p, atol=1e-6)
    saved = json.loads((path / CONTRACT_FILE).read_text())
    assert saved["format"] == "ecgnas-classifier" and saved["format_version"] == 1
    assert saved["weights_sha256"] == sha256_file(path / WEIGHTS_FILE)
    assert saved["preprocessing"]["lead"] == "MLII" and saved["preprocessing"]["fs"] == 360.0
    assert {"ecgnas", "torch", "numpy", "wfdb"} <= set(saved["versions"])
    assert clf.temperature == 1.7 and clf.classes == ("N", "S", "V", "F")


def test_wrong_sha256_is_refused(tiny_bundle) -> None:
    path, _ = tiny_bundle
    _edit_contract(path, weights_sha256="0" * 64)
    with pytest.raises(DataError, match="SHA-256 .* does not match"):
        load_classifier(path)


def test_modified_weights_are_refused(tiny_bundle) -> None:
    path, _ = tiny_bundle
    data = bytearray((path / WEIGHTS_FILE).read_bytes())
    data[-1] ^= 0xFF
    (path / WEIGHTS_FILE).write_bytes(bytes(data))
    with pytest.raises(DataError, match="corrupt or replaced"):
        load_classifier(path)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"temperature": None}, "missing key.*temperature"),
        ({"arch": None}, "missing key.*arch"),
        ({"format_version": 2}, "unsupported format_version 2"),
        ({"format": "something-else"}, "not an ecgnas classifier bundle"),
        ({"temperature": -1.0}, "temperature must be a positive number"),
        ({"temperature": "1.0"}, "'temperature' must be an integer or a number"),
        ({"class_names": ["N"]}, "class_names"),
        ({"arch": {"space": "manual", "ops": [9, 9, 9, 9, 9, 9]}}, "not valid"),
    ],
)
def test_bad_contracts_are_refused(tiny_bundle, changes: dict, message: str) -> None:
    path, _ = tiny_bundle
    _edit_contract(path, **changes)
    with pytest.raises(DataError, match=message):
        load_classifier(path)


def test_preprocessing_that_does_not_match_its_digest_is_refused(tiny_bundle) -> None:
    path, _ = tiny_bundle
    obj = json.loads((path / CONTRACT_FILE).read_text())
    obj["preprocessing"]["config"]["normalize"] = "robust"
    (path / CONTRACT_FILE).write_text(json.dumps(obj))
    with pytest.raises(DataError, match="digest does not match"):
        load_classifier(path)


def test_a_pickle_in_place_of_the_weights_is_refused_without_unpickling(
    tiny_bundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, model = tiny_bundle
    calls: list[str] = []
    monkeypatch.setattr(torch, "load", lambda *a, **k: calls.append("torch.load"))
    monkeypatch.setattr(pickle, "load", lambda *a, **k: calls.append("pickle.load"))
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: calls.append("pickle.loads"))
    # a pickle with the hash the contract expects (an attacker who also edited the contract)
    torch.save(model.state_dict(), path / WEIGHTS_FILE)
    _edit_contract(path, weights_sha256=sha256_file(path / WEIGHTS_FILE))
    with pytest.raises(DataError, match="not a readable safetensors file"):
        load_classifier(path)
    assert calls == []


def test_missing_pieces_are_refused(tiny_bundle, tmp_path: Path) -> None:
    path, _ = tiny_bundle
    with pytest.raises(DataError, match="not a directory"):
        load_classifier(tmp_path / "nowhere")
    with pytest.raises(DataError, match="no contract.json"):
        load_classifier(tmp_path)
    (path / CONTRACT_FILE).write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        load_classifier(path)


def test_weights_that_do_not_fit_the_arch_are_refused(tiny_bundle) -> None:
    path, _ = tiny_bundle
    obj = json.loads((path / CONTRACT_FILE).read_text())
    obj["arch"]["ops"] = [1, 0, 0, 0, 0, 0]  # twice the filters: other tensor shapes
    (path / CONTRACT_FILE).write_text(json.dumps(obj))
    with pytest.raises(DataError, match="do not fit the model"):
        load_classifier(path)


def test_save_replaces_a_bundle_atomically_and_never_a_foreign_directory(
    tiny_bundle, make_tiny, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, model = tiny_bundle
    _, contract = make_tiny(temperature=2.0)
    save_bundle(path, model.state_dict(), contract, "# v2\n")
    assert load_classifier(path).temperature == 2.0
    # a crash while writing leaves the previous bundle intact and no temporary directory
    import safetensors.torch

    def boom(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.torch, "save_file", boom)
    with pytest.raises(OSError, match="disk full"):
        save_bundle(path, model.state_dict(), make_tiny(temperature=3.0)[1], "# v3\n")
    assert load_classifier(path).temperature == 2.0
    assert sorted(p.name for p in path.parent.iterdir()) == ["bundle"]
    monkeypatch.undo()
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="not a classifier bundle"):
        save_bundle(foreign, model.state_dict(), contract, "# card\n")
    assert (foreign / "notes.txt").read_text() == "keep me"


def test_cli_prints_one_line_and_exits_2_for_a_bad_bundle(
    tiny_bundle, cli, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path, _ = tiny_bundle
    _edit_contract(path, weights_sha256="f" * 64)
    for argv in (
        ["predict", str(tmp_path / "100"), "--bundle", str(path)],
        ["export", "--bundle", str(path), "--format", "onnx", "--out", str(tmp_path / "m.onnx")],
    ):
        assert cli(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and "SHA-256" in err[0]
    assert not (tmp_path / "m.onnx").exists()


def test_shipped_bundles_are_chosen_by_name_and_the_default_is_unchanged() -> None:
    from ecgnas.classifier import BUNDLES, read_contract, resolve_bundle, shipped_bundle_path

    assert set(BUNDLES) == {"default", "tiny"}
    assert resolve_bundle() == resolve_bundle("default") == shipped_bundle_path()
    assert shipped_bundle_path().name == "classifier"
    assert load_classifier().path == shipped_bundle_path()  # load_classifier() as before
    tiny = load_classifier("tiny")
    assert tiny.path == shipped_bundle_path("tiny") and tiny.path.name == "classifier_tiny"
    assert tiny.contract == read_contract(shipped_bundle_path("tiny"))
    assert tiny.classes == ("N", "S", "V", "F") and tiny.arch.key() == "tiny:1,1,1,0"
    assert tiny.contract["ensemble"]["members"] == 3
    params = sum(p.numel() for p in tiny.model.parameters())
    assert params == 4998 <= 5000  # every member counts
    assert tiny.contract["metrics"]["ds2_test"]["what"].startswith("DS2-test")
    card = (tiny.path / "MODEL_CARD.md").read_text()
    assert "## Footprint" in card and "**4,998**" in card and "µs" in card


def test_an_unknown_bundle_name_is_a_one_line_error_and_paths_stay_paths(
    tiny_bundle, cli, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch
) -> None:
    from ecgnas.classifier import resolve_bundle

    with pytest.raises(
        ConfigError, match=r"unknown bundle 'nope' \(shipped bundles: default, tiny"
    ):
        load_classifier("nope")
    assert cli(["predict", "100", "--bundle", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: unknown bundle 'nope'")
    path, _ = tiny_bundle  # tmp_path / "bundle"
    assert load_classifier(str(path)).path == path  # a path with a separator
    monkeypatch.chdir(tmp_path)
    assert resolve_bundle("bundle") == Path("bundle")  # an existing directory by a bare name
    assert load_classifier("bundle").name == "tiny"
    assert resolve_bundle(Path("tiny")) == Path("tiny")  # a Path is never a name
