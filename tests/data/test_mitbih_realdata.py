"""The real MIT-BIH data: the published AAMI beat counts, the CLI summary, the detector."""

from __future__ import annotations

import numpy as np
import pytest

from ecgnas.cli import main
from ecgnas.data import mitbih
from ecgnas.data.beats import record_beats
from ecgnas.data.dataset import concat_beats, prepare_records
from ecgnas.data.mitbih import read_record
from ecgnas.data.preprocess import PreprocessConfig
from ecgnas.data.splits import DS1, DS2

pytestmark = pytest.mark.realdata

# Annotated AAMI beats (N, S, V, F, Q) and the beats whose 90 + 166 sample window falls off
# the record (dropped), per split.
EXPECTED = {
    "DS1": ([45866, 944, 3788, 415, 8], [18, 0, 0, 1, 0]),
    "DS2": ([44259, 1837, 3221, 388, 7], [19, 0, 1, 0, 0]),
}


@pytest.fixture(scope="module")
def prepared(real_data_dir, shared_cache_dir):
    return {
        name: prepare_records(recs, data_dir=real_data_dir, cache_dir=shared_cache_dir)
        for name, recs in (("DS1", DS1), ("DS2", DS2))
    }


@pytest.mark.parametrize("split", ["DS1", "DS2"])
def test_published_aami_counts(prepared, split) -> None:
    annotated_want, dropped_want = EXPECTED[split]
    stats = [p.stats for p in prepared[split]]
    annotated = np.sum([s.annotated for s in stats], axis=0)
    dropped = np.sum([s.dropped_edge for s in stats], axis=0)
    kept = np.sum([s.kept for s in stats], axis=0)
    assert annotated.tolist() == annotated_want
    assert dropped.tolist() == dropped_want
    assert kept.tolist() == (np.array(annotated_want) - dropped_want).tolist()
    assert dropped.sum() / annotated.sum() < 0.001
    beats = concat_beats(prepared[split], PreprocessConfig())
    assert beats.class_counts().tolist() == kept.tolist()
    assert beats.x.shape == (int(kept.sum()), 1, 256)
    assert np.isfinite(beats.x).all() and np.isfinite(beats.rr).all()
    assert set(beats.record.tolist()) == set(DS1 if split == "DS1" else DS2)


def test_record_114_uses_mlii_not_channel_0(real_data_dir) -> None:
    import wfdb

    rec = read_record("114", real_data_dir)
    raw = wfdb.rdrecord(str(real_data_dir / "mitdb" / "114"))
    assert raw.sig_name == ["V5", "MLII"]
    np.testing.assert_allclose(rec.signal, raw.p_signal[:, 1])


def test_cli_info_prints_the_counts(real_data_dir, shared_cache_dir, prepared, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(
            [
                "data",
                "info",
                "mitbih",
                "--data-dir",
                str(real_data_dir),
                "--cache-dir",
                str(shared_cache_dir),
            ]
        )
    out = capsys.readouterr().out
    assert exc.value.code == 0
    assert "  annotated       45,866     944   3,788     415       8   51,021" in out
    assert "  kept            44,240   1,837   3,220     388       7   49,692" in out
    assert "  dropped: edge       18       0       0       1       0       19" in out
    assert "PACED (excluded): 4 records (102 104 107 217)" in out
    assert f"preprocessing config hash: {PreprocessConfig().digest()}" in out


def test_no_ds2_record_is_touched_when_loading_ds1(
    real_data_dir, shared_cache_dir, prepared, monkeypatch
) -> None:
    touched: set[str] = set()
    monkeypatch.setattr(mitbih, "on_record_access", lambda r, d: touched.add(r))
    prepare_records(DS1, data_dir=real_data_dir, cache_dir=shared_cache_dir, allowed=DS1)
    assert touched == set(DS1)


def test_xqrs_matches_reference_beats_of_record_100(real_data_dir) -> None:
    rec = read_record("100", real_data_dir)
    beats = record_beats(rec, PreprocessConfig(rpeaks="detector"))
    s = beats.stats
    matched = s.annotated.sum() - s.missed.sum()
    assert matched / s.annotated.sum() > 0.99
    assert s.unmatched_detections <= 5
    # labels come from the reference annotations: 33 S beats in record 100
    assert s.kept[1] + s.dropped_edge[1] + s.missed[1] == 33
