"""Scoring ECG archs on DS1 cross-validation at a chosen fidelity: the full recipe, or a
cheap proxy of it for search.

A ``Fidelity`` is the full recipe (``recipe``, DS1 record-wise ``folds``-fold CV, pooled
out-of-fold macro-F1, ``ecgnas.classifier.cv``) with some of its costs cut: fewer folds and
epochs, fewer N beats per epoch, a narrower network (``width_divisor``), a lower sampling
rate (``fs``: an ``ecgjoint`` arch is then trained at that rate whatever its own), a larger
batch. ``FULL`` cuts nothing. ``reports/ecg_proxy.md`` measures how well each proxy ranks
archs against ``FULL`` (``scripts/ecg_proxy.py``) and ``PROXY`` is the one chosen there.

``CVEvaluator`` is the search evaluator of kind ``mitbih_cv``: it scores any ECG arch
(``ecgjoint`` included) at a fidelity, keeping each prepared DS1 beat set in memory so that
candidates that share a sampling rate and window share the preprocessing. Only DS1 is read.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from ecgnas.classifier.recipe import Hyperparams, Setup, load_ds1, setup_for
from ecgnas.classifier.recipes import get_recipe
from ecgnas.errors import ConfigError, check_fields
from ecgnas.evaluate import DirLike, Evaluator, EvaluatorSpec, Result, evaluator_kind
from ecgnas.spaces.base import Arch, SearchSpace

if TYPE_CHECKING:
    from ecgnas.classifier.cv import CVResult
    from ecgnas.data.dataset import BeatSet

log = logging.getLogger(__name__)


SIGNALS: Final = ("macro_f1", "macro_f1_nsv", "mean_auc", "balanced_accuracy")
"""What a fidelity's score can be, from the pooled out-of-fold predictions: macro-F1 over
N, S, V, F (the recipe's own score); macro-F1 over N, S, V (F, 1 % of DS1's beats, is the
noisiest class); the mean one-vs-rest ROC AUC of the calibrated probabilities over the
classes; the mean per-class sensitivity. With ``val_majority`` the N beats scored are a
uniform sample (F1 counts weighted up; AUC and sensitivity unweighted)."""

SIGNAL_NAMES: Final = {
    "macro_f1": "macro-F1",
    "macro_f1_nsv": "macro-F1 over N, S, V",
    "mean_auc": "mean one-vs-rest AUC",
    "balanced_accuracy": "balanced accuracy",
}
"""How reports name each of ``SIGNALS``."""


@dataclass(frozen=True)
class Fidelity:
    """How an arch is scored: the named recipe with these cuts (``None``: the recipe's).

    recipe: the base recipe (``ecgnas.classifier.recipes``). folds: DS1 CV folds.
    epochs: fixed training epochs per fold. max_majority: N beats per epoch (``0``: all).
    width_divisor: the cell network's width is divided by this (at least 2 channels).
    fs: train an ``ecgjoint`` arch at this sampling rate (one of its ``fs`` choices).
    batch_size: beats per step (the learning rate is scaled by ``batch_size / recipe's``).
    fast: fixed-shape batches and one validation pass per fold (``cv.fit_fold``); off for
    ``FULL``, which is then exactly the recipe. val_majority: score this many held-out N
    beats per fold (weighted up; ``cv.cross_validate``), None for all. signal: the score
    reported (one of ``SIGNALS``; the full recipe's is ``macro_f1``).
    """

    recipe: str = "r3"
    folds: int | None = None
    epochs: int | None = None
    max_majority: int | None = None
    width_divisor: int = 1
    fs: float | None = None
    batch_size: int | None = None
    fast: bool = True
    val_majority: int | None = None
    signal: str = "macro_f1"

    def __post_init__(self) -> None:
        get_recipe(self.recipe)
        if self.folds is not None and self.folds < 2:
            raise ConfigError(f"a fidelity needs at least 2 folds, got {self.folds}")
        if self.epochs is not None and self.epochs < 1:
            raise ConfigError(f"epochs must be >= 1, got {self.epochs}")
        if self.width_divisor < 1:
            raise ConfigError(f"width_divisor must be >= 1, got {self.width_divisor}")
        if self.batch_size is not None and self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.signal not in SIGNALS:
            raise ConfigError(f"signal must be one of {', '.join(SIGNALS)}, got {self.signal!r}")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Fidelity:
        return cls(**check_fields(cls, obj, "fidelity key(s)"))

    def plan(self, arch: Arch) -> tuple[Arch, Setup, Hyperparams]:
        """The arch actually trained (its ``fs`` gene set to ``fs``), the setup (with the
        arch's data choices applied) and the hyperparameters of this fidelity."""
        setup, hp = get_recipe(self.recipe)
        arch = _at_fs(arch, self.fs)
        setup = setup_for(arch, setup)
        changes: dict[str, Any] = {}
        if self.folds is not None:
            changes["folds"] = self.folds
        if self.max_majority is not None:
            changes["max_majority"] = self.max_majority or None
        if self.epochs is not None:
            changes["min_epochs"] = min(setup.min_epochs, self.epochs)
            changes["max_epochs"] = max(setup.max_epochs, self.epochs)
            hp = replace(hp, epochs=self.epochs)
        if self.batch_size is not None:
            hp = replace(hp, batch_size=self.batch_size, lr=hp.lr * self.batch_size / hp.batch_size)
        if self.width_divisor > 1 and arch.space in ("ecg1d", "ecgjoint"):
            changes["width"] = max(2, _width(arch) // self.width_divisor)
        return arch, replace(setup, **changes), hp


FULL: Final = Fidelity(fast=False)
"""The full recipe (``r3``: 5-fold DS1 CV, 8 epochs, 12,000 N beats per epoch)."""

FIDELITIES: Final[dict[str, Fidelity]] = {
    "full": FULL,
    "full_p8": Fidelity(recipe="r3p8", fast=False),
    "full_h": Fidelity(recipe="r3h", fast=False),
    "full_mp": Fidelity(recipe="r3mp", fast=False),
    "full_mph": Fidelity(recipe="r3mph", fast=False),
    "e1k2": Fidelity(folds=2, epochs=1, max_majority=4000),
    "e2k2": Fidelity(folds=2, epochs=2, max_majority=4000),
    "e1k2_n2v": Fidelity(folds=2, epochs=1, max_majority=2000, val_majority=2000),
    "e2k2_n2v": Fidelity(folds=2, epochs=2, max_majority=2000, val_majority=2000),
    "e2k2_n2v_ba": Fidelity(
        folds=2, epochs=2, max_majority=2000, val_majority=2000, signal="balanced_accuracy"
    ),
    "e2k2_n2v_auc": Fidelity(
        folds=2, epochs=2, max_majority=2000, val_majority=2000, signal="mean_auc"
    ),
    "e3k2_n2v": Fidelity(folds=2, epochs=3, max_majority=2000, val_majority=2000),
    "e3k2_n2v_ba": Fidelity(
        folds=2, epochs=3, max_majority=2000, val_majority=2000, signal="balanced_accuracy"
    ),
    "e2k3_n2v": Fidelity(folds=3, epochs=2, max_majority=2000, val_majority=2000),
    "e1k5_n1k": Fidelity(folds=5, epochs=1, max_majority=1000, val_majority=1000),
    "e2k5_n1k": Fidelity(folds=5, epochs=2, max_majority=1000, val_majority=1000),
    "e2k2_n2v_w2": Fidelity(
        folds=2, epochs=2, max_majority=2000, val_majority=2000, width_divisor=2
    ),
    "e2k2_n2v_fs96": Fidelity(folds=2, epochs=2, max_majority=2000, val_majority=2000, fs=96),
    "e2k2_b256": Fidelity(folds=2, epochs=2, max_majority=4000, batch_size=256),
}
"""Named fidelities: ``eXkY`` trains X epochs on Y-fold DS1 CV (4,000 N beats per epoch);
``_n2v`` trains on 2,000 N beats per epoch and scores 2,000 held-out N beats per fold
(weighted up to the fold's count), ``_n1k`` 1,000 of each; ``_ba`` reports balanced
accuracy (the mean per-class sensitivity) instead of macro-F1, ``_auc`` the mean one-vs-rest
AUC; ``_w2`` halves the width; ``_fs96`` trains every arch at
96 Hz; ``_b256`` takes batches of 256 (learning rate doubled); ``full_p8`` is the full
recipe with the cell network pooling over 8 time bins (recipe ``r3p8``), ``full_h`` with
the manual baselines' head on it (recipe ``r3h``). ``reports/ecg_proxy.md``
measures each against ``full``."""

PROXY: Final = "e2k2_n2v_ba"
"""The search proxy (the name in ``FIDELITIES``), chosen in ``reports/ecg_proxy.md``: of
the fidelities at about 10 CPU-s a candidate, the one whose ranking of 40 sampled joint
archs agrees best with the full recipe's (the balanced accuracy of ``e2k2_n2v``). Measured
later over every pairing of three proxy seeds with two full-recipe seeds (the report's
"Reliability"), that agreement was a lucky draw (0.188 on average against 0.374 for seed 0
with seed 0), and ``e3k2_n2v_ba`` ranks better (0.267) at 15 CPU-s: the proxy to take when
the benchmark table is next rebuilt (the table and every ECG benchmark figure use this one)."""


def get_fidelity(name: str) -> Fidelity:
    """The named fidelity (``ConfigError`` listing the names for an unknown one)."""
    try:
        return FIDELITIES[name]
    except KeyError:
        known = ", ".join(FIDELITIES)
        raise ConfigError(f"unknown fidelity {name!r}; known: {known}") from None


def _width(arch: Arch) -> int:
    if arch.space == "ecgjoint":
        from ecgnas.spaces.ecgjoint import ECGJointSpace

        return ECGJointSpace().net_choices(arch).width
    from ecgnas.spaces.ecg1d_model import ECGModelConfig

    return ECGModelConfig().width


def _at_fs(arch: Arch, fs: float | None) -> Arch:
    """``arch`` with its ``fs`` gene set to ``fs`` (``ecgjoint`` only; others unchanged)."""
    if fs is None or arch.space != "ecgjoint":
        return arch
    from ecgnas.spaces.ecgjoint import MACRO, ECGJointSpace

    space = ECGJointSpace()
    values = space.values(arch)
    values["fs"] = int(fs) if float(fs).is_integer() else fs
    if values["fs"] not in dict(MACRO)["fs"]:
        raise ConfigError(
            f"fidelity fs {fs:g} is not one of the ecgjoint rates {dict(MACRO)['fs']}"
        )
    return space.make(arch.ops[:6], **values)


def cv_signals(cv: CVResult) -> dict[str, float]:
    """Every signal of ``SIGNALS`` for a cross-validation result (``nan`` as 0)."""
    from scipy.stats import rankdata

    from ecgnas.classifier.calibration import softmax

    scored = cv.pred >= 0
    probs = np.zeros((len(cv.y), len(cv.setup.classes)))
    for fold in cv.folds:
        mask = np.isin(cv.record, fold.split.val) & scored
        probs[mask] = softmax(fold.val_logits, fold.temperature)
    y, p = cv.y[scored], probs[scored]
    aucs = []
    for c in range(p.shape[1]):
        pos = y == c
        if 0 < pos.sum() < len(y):
            ranks = rankdata(p[:, c])
            aucs.append(
                (ranks[pos].sum() - pos.sum() * (pos.sum() + 1) / 2) / (pos.sum() * (~pos).sum())
            )
    f1 = np.nan_to_num(cv.metrics.f1)
    se = np.nan_to_num(cv.metrics.se)
    return {
        "macro_f1": cv.score,
        "macro_f1_nsv": float(np.mean(f1[:3])),
        "mean_auc": float(np.mean(aucs)) if aucs else 0.0,
        "balanced_accuracy": float(np.mean(se)),
    }


class BeatCache:
    """DS1 beat sets by preprocessing config, loaded once per process (DS1 only)."""

    def __init__(self, data_dir: DirLike = None, cache_dir: DirLike = None) -> None:
        self.data_dir = data_dir
        self.cache_dir = cache_dir
        self._sets: dict[str, BeatSet] = {}

    def get(self, setup: Setup) -> BeatSet:
        import json

        key = json.dumps([setup.preprocess.to_json(), list(setup.classes)], sort_keys=True)
        if key not in self._sets:
            self._sets[key] = load_ds1(setup, self.data_dir, self.cache_dir)
        return self._sets[key]


def score(
    arch: Arch,
    fidelity: Fidelity,
    seed: int = 0,
    *,
    beats: BeatCache | None = None,
    device: str = "cpu",
) -> CVResult:
    """The pooled out-of-fold DS1-CV result of ``arch`` at ``fidelity`` (training seed
    ``seed``)."""
    from ecgnas.classifier.cv import cross_validate

    cache = beats or BeatCache()
    trained, setup, hp = fidelity.plan(arch)
    return cross_validate(
        trained,
        hp,
        setup,
        seed,
        beats=cache.get(setup),
        device=device,
        fast=fidelity.fast,
        val_majority=fidelity.val_majority,
        watch=False,  # one held-out pass per fold; scores are the same as watching
    )


def s_by_record(cv: CVResult) -> dict[str, list[int]]:
    """Per DS1 record with S beats or S calls: ``[S beats, of them called S, other beats
    called S]`` from the pooled out-of-fold predictions (``{}`` without an ``S`` class)."""
    names = list(cv.metrics.class_names)
    if "S" not in names:
        return {}
    s = names.index("S")
    out: dict[str, list[int]] = {}
    for rec in np.unique(cv.record):
        m = cv.record == rec
        true_s, called_s = cv.y[m] == s, cv.pred[m] == s
        counts = [
            int(true_s.sum()),
            int((true_s & called_s).sum()),
            int((~true_s & called_s).sum()),
        ]
        if counts[0] or counts[2]:
            out[str(rec)] = counts
    return out


def scored_row(
    arch: Arch, fidelity: str, seed: int = 0, *, beats: BeatCache | None = None
) -> dict[str, Any]:
    """One JSON row of ``arch`` scored at the named ``fidelity`` under training seed ``seed``:
    its score (the fidelity's signal), every signal, macro-F1 and per-class F1 (``None``
    where a class has no beats), the pooled confusion matrix (rows true, columns predicted,
    in the recipe's class order), the S beats per record (``s_by_record``), wall and CPU
    seconds, and the joint-space values of an ``ecgjoint`` arch. The row format of the ECG
    table and the proxy and shortlist runs (rows made before 2026-12-03 lack ``confusion``
    and ``s_records``)."""
    fid = get_fidelity(fidelity)
    t0, c0 = time.perf_counter(), time.process_time()
    cv = score(arch, fid, seed, beats=beats)
    signals = cv_signals(cv)
    row: dict[str, Any] = {
        "arch": arch.key(),
        "ops": list(arch.ops),
        "fidelity": fidelity,
        "seed": seed,
        "score": signals[fid.signal],
        "signal": fid.signal,
        "signals": signals,
        "macro_f1": cv.score,
        "f1": {k: (None if np.isnan(v) else float(v)) for k, v in cv.per_class_f1().items()},
        "confusion": cv.metrics.confusion.astype(int).tolist(),
        "s_records": s_by_record(cv),
        "seconds": time.perf_counter() - t0,
        "cpu_seconds": time.process_time() - c0,
    }
    if arch.space == "ecgjoint":
        from ecgnas.spaces.ecgjoint import ECGJointSpace

        row["values"] = ECGJointSpace().values(arch)
    return row


class CVEvaluator:
    """``evaluate(arch)``: the DS1-CV pooled signal of ``arch`` at a fidelity (its ``signal``:
    macro-F1, balanced accuracy, ...; kind ``mitbih_cv``).

    ``cost_seconds`` is the measured wall time of the whole cross-validation (what a
    device-day budget counts); ``metrics`` hold the per-class F1 and the parameter count.
    """

    def __init__(
        self,
        space: SearchSpace,
        fidelity: Fidelity,
        *,
        seed: int = 0,
        device: str = "cpu",
        beats: BeatCache | None = None,
    ) -> None:
        from ecgnas.train.models import ECG_SPACES

        if space.name not in ECG_SPACES:
            raise ConfigError(
                f"the mitbih_cv evaluator needs an ECG space ({', '.join(ECG_SPACES)}), "
                f"got {space.name!r}"
            )
        self.space = space
        self.fidelity = fidelity
        self.seed = seed
        self.device = device
        self.beats = beats or BeatCache()
        self.dataset = "mitbih"

    def evaluate(self, arch: Arch) -> Result:
        if not self.space.is_valid(arch):
            raise ConfigError(f"not a {self.space.name} arch: {arch.to_json()}")
        t0 = time.perf_counter()
        cv = score(arch, self.fidelity, self.seed, beats=self.beats, device=self.device)
        signals = cv_signals(cv)
        seconds = time.perf_counter() - t0
        n_params = sum(
            int(v.numel())
            for k, v in cv.folds[0].state_dict.items()
            if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))
        )
        metrics: dict[str, float | str] = {
            "signal": f"DS1-CV pooled {self.fidelity.signal}, {self.fidelity.folds or 'recipe'} folds",
            "cost_kind": "measured",
            "device": self.device,
            "params": float(n_params),
        }
        for name, f1 in cv.per_class_f1().items():
            metrics[f"cv_f1_{name}"] = 0.0 if math.isnan(f1) else float(f1)
        metrics.update({f"cv_{k}": v for k, v in signals.items()})
        value = signals[self.fidelity.signal]
        log.info("%s: DS1-CV %s %.4f in %.1f s", arch.key(), self.fidelity.signal, value, seconds)
        return Result(score=value, cost_seconds=seconds, metrics=metrics)


def build_cv_evaluator(
    spec: EvaluatorSpec, data_dir: DirLike = None, cache_dir: DirLike = None
) -> Evaluator:
    """The evaluator of a ``cv_spec`` (``EvaluatorFactory``)."""
    try:
        fidelity = Fidelity.from_json(dict(spec.get("fidelity", {})))
    except TypeError as exc:
        raise ConfigError(f"bad fidelity in the evaluator spec: {exc}") from exc
    space = evaluator_kind(spec).space_of(spec)
    cache = BeatCache(
        data_dir if data_dir is not None else spec.get("data_dir"),
        cache_dir if cache_dir is not None else spec.get("cache_dir"),
    )
    return CVEvaluator(
        space,
        fidelity,
        seed=int(spec.get("seed", 0)),
        device=str(spec.get("device", "cpu")),
        beats=cache,
    )


def cv_spec(space: str, fidelity: Fidelity, *, seed: int = 0, device: str = "cpu") -> EvaluatorSpec:
    """The spec of a ``CVEvaluator``; workers read DS1 from their own data directory."""
    return {
        "evaluator": "mitbih_cv",
        "space": space,
        "fidelity": fidelity.to_json(),
        "seed": int(seed),
        "device": device,
    }
