"""Per-split beat counts of MIT-BIH: what ``ecgnas data info mitbih`` prints.

For DS1 and DS2 the records are prepared (and cached) with the given config, so the counts
are those of the arrays training will see. The paced records are excluded from both splits
and are only counted from their annotations (records 102 and 104 have no MLII lead).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ecgnas.data import mitbih
from ecgnas.data.dataset import Progress, prepare_records
from ecgnas.data.labels import AAMI_CLASSES, aami_indices
from ecgnas.data.preprocess import PreprocessConfig
from ecgnas.data.splits import DS1, DS2, PACED


@dataclass(frozen=True)
class SplitSummary:
    """Counts for one split; ``[5]`` arrays are int64 in AAMI order N, S, V, F, Q.

    ``kept``, ``dropped_edge`` and ``missed`` are ``None`` for splits that are not prepared
    (the paced records).
    """

    name: str
    records: tuple[str, ...]
    annotated: np.ndarray
    kept: np.ndarray | None
    dropped_edge: np.ndarray | None
    missed: np.ndarray | None
    non_beat: int
    detections: int = 0
    unmatched_detections: int = 0


def summarize_mitbih(
    config: PreprocessConfig | None = None,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
) -> list[SplitSummary]:
    """Summaries of DS1, DS2 (prepared with ``config``) and the excluded paced records."""
    config = config or PreprocessConfig()
    out: list[SplitSummary] = []
    for name, records in (("DS1", DS1), ("DS2", DS2)):
        prepared = prepare_records(
            records, config, data_dir=data_dir, cache_dir=cache_dir, progress=progress
        )
        stats = [p.stats for p in prepared]
        out.append(
            SplitSummary(
                name=name,
                records=records,
                annotated=np.sum([s.annotated for s in stats], axis=0),
                kept=np.sum([s.kept for s in stats], axis=0),
                dropped_edge=np.sum([s.dropped_edge for s in stats], axis=0),
                missed=np.sum([s.missed for s in stats], axis=0),
                non_beat=sum(s.non_beat for s in stats),
                detections=sum(s.detections for s in stats),
                unmatched_detections=sum(s.unmatched_detections for s in stats),
            )
        )
    annotated = np.zeros(len(AAMI_CLASSES), dtype=np.int64)
    non_beat = 0
    for record in PACED:
        _, symbols = mitbih.read_annotations(record, data_dir)
        y = aami_indices(symbols)
        annotated += np.bincount(y[y >= 0], minlength=len(AAMI_CLASSES))
        non_beat += int((y < 0).sum())
    out.append(
        SplitSummary(
            name="PACED (excluded)",
            records=PACED,
            annotated=annotated,
            kept=None,
            dropped_edge=None,
            missed=None,
            non_beat=non_beat,
        )
    )
    return out


def format_summary(summaries: list[SplitSummary], config: PreprocessConfig) -> str:
    """A plain-text table of ``summaries`` (one block per split) and the config digest."""
    low, high = config.bandpass_hz
    band = f"{low:g}-{high:g} Hz" if config.bandpass else "off"
    lines = [
        f"MIT-BIH, preprocessing {config.digest()[:16]} "
        f"(rpeaks={config.rpeaks}, window={config.window_before}+{config.window_after} "
        f"samples at {config.fs:g} Hz, baseline={'on' if config.baseline else 'off'}, "
        f"bandpass={band}, "
        f"normalize={config.normalize})",
    ]
    header = f"  {'':<14}" + "".join(f"{c:>8}" for c in AAMI_CLASSES) + f"{'total':>9}"
    for s in summaries:
        lines.append("")
        lines.append(f"{s.name}: {len(s.records)} records ({' '.join(s.records)})")
        lines.append(header)
        rows: list[tuple[str, np.ndarray]] = [("annotated", s.annotated)]
        if s.kept is not None:
            rows.append(("kept", s.kept))
        if s.dropped_edge is not None:
            rows.append(("dropped: edge", s.dropped_edge))
        if s.missed is not None and config.rpeaks == "detector":
            rows.append(("missed by QRS", s.missed))
        for label, counts in rows:
            lines.append(
                f"  {label:<14}"
                + "".join(f"{int(v):>8,}" for v in counts)
                + f"{int(np.sum(counts)):>9,}"
            )
        if s.dropped_edge is not None:
            total = int(s.annotated.sum())
            dropped = int(s.dropped_edge.sum()) + int(s.missed.sum() if s.missed is not None else 0)
            lines.append(
                f"  dropped {dropped} of {total} annotated beats "
                f"({100.0 * dropped / max(total, 1):.3f} %)"
            )
        lines.append(f"  non-beat annotations (not used): {s.non_beat:,}")
        if config.rpeaks == "detector" and s.kept is not None:
            lines.append(
                f"  QRS detections: {s.detections:,}, unmatched (excluded): "
                f"{s.unmatched_detections:,}"
            )
    return "\n".join(lines)
