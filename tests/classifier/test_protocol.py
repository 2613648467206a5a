"""The final-model protocol on tiny inputs: the seed rule, the DS2 bootstrap, the atomic ship."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from ecgnas.classifier import bundle as bundle_mod
from ecgnas.classifier import load_classifier, read_contract, save_bundle, ship_bundle
from ecgnas.classifier.protocol import bootstrap_difference, choose_seed
from ecgnas.errors import ConfigError, DataError, RunError


def _seeds(*scores: float) -> list[dict[str, float]]:
    # DS2 scores run the other way, so a rule that looked at DS2 would pick another seed
    return [
        {"seed": i, "ds1_val_macro_f1": s, "ds2_macro_f1": 1.0 - s} for i, s in enumerate(scores)
    ]


def test_the_seed_with_the_best_ds1_validation_score_is_chosen() -> None:
    assert choose_seed(_seeds(0.5, 0.7, 0.6))["seed"] == 1
    assert choose_seed(_seeds(0.9))["seed"] == 0


def test_a_tie_goes_to_the_first_seed_given() -> None:
    assert choose_seed(_seeds(0.6, 0.7, 0.7, 0.5))["seed"] == 1
    tied = _seeds(0.7, 0.7)
    assert choose_seed(tied[::-1])["seed"] == 1


def test_no_seed_to_choose_from_is_a_run_error() -> None:
    with pytest.raises(RunError, match="no finished seed"):
        choose_seed([])


def _hand_macro_f1(y: np.ndarray, pred: np.ndarray, n: int) -> float:
    f1s = []
    for c in range(n):
        tp = int(np.sum((y == c) & (pred == c)))
        fp = int(np.sum((y != c) & (pred == c)))
        fn = int(np.sum((y == c) & (pred != c)))
        if tp + fn:  # classes with reference beats only
            f1s.append(2 * tp / (2 * tp + fp + fn))
    return float(np.mean(f1s))


def _toy_predictions(rng: np.random.Generator) -> dict[str, np.ndarray]:
    records = np.repeat(np.array(["100", "103", "105", "111"]), [6, 4, 5, 3])
    y = rng.integers(0, 4, size=records.size)
    pred = np.where(rng.random(records.size) < 0.6, y, rng.integers(0, 4, size=records.size))
    return {"y": y, "pred": pred, "record": records}


def test_the_bootstrap_matches_a_direct_computation() -> None:
    rng = np.random.default_rng(3)
    pairs = [(_toy_predictions(rng), _toy_predictions(rng)) for _ in range(2)]
    lo, hi = bootstrap_difference(pairs, n_boot=25, seed=7)
    # the same draws, done by hand: one resample of the 4 records shared by all pairs
    draw = np.random.default_rng(7)
    names = ["100", "103", "105", "111"]
    diffs = []
    for _ in range(25):
        chosen = draw.choice(names, size=4, replace=True)
        d = []
        for a, b in pairs:
            ia = np.concatenate([np.flatnonzero(a["record"] == r) for r in chosen])
            ib = np.concatenate([np.flatnonzero(b["record"] == r) for r in chosen])
            d.append(
                _hand_macro_f1(a["y"][ia], a["pred"][ia], 4)
                - _hand_macro_f1(b["y"][ib], b["pred"][ib], 4)
            )
        diffs.append(np.mean(d))
    want = np.percentile(diffs, [2.5, 97.5])
    assert (lo, hi) == pytest.approx(tuple(want), abs=1e-12)
    assert lo <= hi


def test_the_bootstrap_of_a_model_against_itself_is_zero() -> None:
    a = _toy_predictions(np.random.default_rng(0))
    assert bootstrap_difference([(a, a)], n_boot=10) == (0.0, 0.0)


# --- shipping --------------------------------------------------------------------------------


def _two_bundles(tmp_path: Path, make_tiny) -> tuple[Path, Path]:
    """An old bundle at ``assets/classifier`` (with a stray file) and a new one elsewhere."""
    model, contract = make_tiny("manual", temperature=1.5)
    old = save_bundle(tmp_path / "assets" / "classifier", model.state_dict(), contract, "# old\n")
    (old / "stray.txt").write_text("left from an older release")
    model2, contract2 = make_tiny("ecg1d:3,1,0,2,4,1", temperature=2.0)
    new = save_bundle(tmp_path / "run" / "bundle", model2.state_dict(), contract2, "# new\n")
    return old, new


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_ship_replaces_the_old_bundle_wholly(tmp_path: Path, make_tiny) -> None:
    old, new = _two_bundles(tmp_path, make_tiny)
    assert ship_bundle(new, old) == old
    assert _snapshot(old) == _snapshot(new)  # the stray file of the old bundle is gone
    assert load_classifier(old).temperature == 2.0
    assert [p.name for p in old.parent.iterdir()] == ["classifier"]  # no temporary left
    assert oct(old.stat().st_mode & 0o777) == "0o755"


def _no_exchange(a: Path, b: Path) -> bool:
    return False  # as on a system without renameat2: the two-rename fallback runs


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two-renames"])
def test_ship_interrupted_while_copying_leaves_the_old_bundle_whole(
    tmp_path: Path, make_tiny, monkeypatch: pytest.MonkeyPatch, exchange: bool
) -> None:
    old, new = _two_bundles(tmp_path, make_tiny)
    before = _snapshot(old)
    if not exchange:
        monkeypatch.setattr(bundle_mod, "_exchange", _no_exchange)
    real_copyfile = shutil.copyfile
    copied: list[str] = []

    def copy_then_die(src: Path, dst: Path) -> None:
        if copied:  # the second file: the process "dies" half-way through the copy
            raise KeyboardInterrupt
        copied.append(str(src))
        real_copyfile(src, dst)

    monkeypatch.setattr(bundle_mod.shutil, "copyfile", copy_then_die)
    with pytest.raises(KeyboardInterrupt):
        ship_bundle(new, old)
    assert _snapshot(old) == before
    assert [p.name for p in old.parent.iterdir()] == ["classifier"]


def test_ship_failing_at_the_swap_leaves_the_old_bundle_whole(
    tmp_path: Path, make_tiny, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = _two_bundles(tmp_path, make_tiny)
    before = _snapshot(old)
    monkeypatch.setattr(bundle_mod, "_exchange", _no_exchange)
    real_replace = os.replace

    def replace_fails_into_target(src: Path, dst: Path) -> None:
        if Path(dst) == old and ".old-" not in Path(src).name:  # moving the new one in
            raise OSError("disk gone")
        real_replace(src, dst)

    monkeypatch.setattr(bundle_mod.os, "replace", replace_fails_into_target)
    with pytest.raises(OSError, match="disk gone"):
        ship_bundle(new, old)
    assert _snapshot(old) == before  # put back
    assert [p.name for p in old.parent.iterdir()] == ["classifier"]


def test_the_exchange_swaps_two_directories_in_one_step(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "x").write_text("a")
    (b / "x").write_text("b")
    if not bundle_mod._exchange(a, b):
        pytest.skip("renameat2(RENAME_EXCHANGE) not available here")
    assert (a / "x").read_text() == "b" and (b / "x").read_text() == "a"


def test_ship_refuses_a_bad_source_and_a_foreign_target(tmp_path: Path, make_tiny) -> None:
    old, new = _two_bundles(tmp_path, make_tiny)
    before = _snapshot(old)
    (new / "model.safetensors").write_bytes(b"not the weights")
    with pytest.raises(DataError, match="SHA-256"):
        ship_bundle(new, old)
    assert _snapshot(old) == before
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not a classifier bundle"):
        ship_bundle(old, foreign)
    assert (foreign / "keep.txt").read_text() == "mine"


def test_ship_into_a_new_place_and_the_default_target_is_the_shipped_bundle(
    tmp_path: Path, make_tiny
) -> None:
    _, new = _two_bundles(tmp_path, make_tiny)
    fresh = ship_bundle(new, tmp_path / "elsewhere" / "bundle")
    assert read_contract(fresh) == read_contract(new)
    assert bundle_mod.shipped_bundle_path().parent.name == "assets"
    assert bundle_mod.shipped_bundle_path().parent.parent.name == "ecgnas"


def test_a_joint_arch_is_tuned_and_trained_on_beats_at_its_own_rate(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``run_model`` loads DS1 with the arch's data genes (here 96 Hz), not the recipe's
    128 Hz: the final model's contract (and DS2) use the arch's rate, so training on the
    recipe's beats would test the model on beats it never saw the like of."""
    from ecgnas.classifier import protocol, recipe, tune
    from ecgnas.classifier.recipes import get_recipe
    from ecgnas.train.models import parse_arch

    arch = parse_arch("ecgjoint:4,1,0,6,0,6,1,0,0,1,0,1,0")  # fs gene 0: 96 Hz
    setup, _ = get_recipe("r3")
    assert setup.preprocess.fs == 128.0
    loaded: list[float] = []

    class Stop(Exception):
        pass

    def fake_load(s, data_dir=None, cache_dir=None):
        loaded.append(s.preprocess.fs)
        return "beats"

    def fake_tune(*args, **kwargs):
        assert kwargs["beats"] == "beats"
        raise Stop

    monkeypatch.setattr(recipe, "load_ds1", fake_load)
    monkeypatch.setattr(tune, "tune", fake_tune)
    with pytest.raises(Stop):
        protocol.run_model("nas", arch, setup, tmp_path, trials=1, seeds=[0])
    assert loaded == [96.0]
