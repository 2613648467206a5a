"""``BeatWatch``: a trial is stale when its heartbeat has not moved for ``grace_s`` on the
coordinator's own clock."""

from __future__ import annotations

from types import SimpleNamespace

from ecgnas.search.distributed._heartbeat import BeatWatch


def test_beat_watch_uses_its_own_clock_and_forgets_after_an_outage() -> None:
    watch = BeatWatch(grace_s=3.0)

    def trial(tid: int, beat: int | None) -> SimpleNamespace:
        return SimpleNamespace(number=tid, user_attrs={"heartbeat": beat, "worker": {"id": "w"}})

    assert watch.stale([trial(1, 0), trial(2, None)], now=100.0) == []
    assert watch.stale([trial(1, 1), trial(2, None)], now=102.0) == []
    stale = watch.stale([trial(1, 1), trial(2, None)], now=103.5)
    assert [t.number for t in stale] == [2]  # never beat: stale after grace too
    assert [t.number for t in watch.stale([trial(1, 1)], now=105.5)] == [1]
    watch.reset()
    assert watch.stale([trial(1, 1)], now=200.0) == []
