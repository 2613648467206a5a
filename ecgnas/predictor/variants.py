"""The DCL predictor and every comparison predictor, behind ``make_predictor``.

======================  ===========================  ==========  ===========================
name                    encoder                      CLP         fine-tuning (CLF) loss
======================  ===========================  ==========  ===========================
``dcl``                 GIN (soft view)              yes         pairwise ranking
``clf_only``            GIN, from scratch            no          pairwise ranking
``clp_mse``             GIN                          yes         MSE (standardised scores)
``gin_mse``             GIN, from scratch (NPENAS)   no          MSE (standardised scores)
``path_mlp``            MLP on the path encoding     no          MSE (as in BANANAS)
``path_mlp_rank``       MLP on the path encoding     no          pairwise ranking
``onehot_mlp_rank``     MLP on one-hot ops           no          pairwise ranking
``onehot_mlp_mse``      MLP on one-hot ops           no          MSE (standardised scores)
``dcl_eff``             GIN, effective cells         yes         pairwise ranking
======================  ===========================  ==========  ===========================

All share one trainer (``ecgnas.predictor.finetune.fit_scorer``) and differ only in the table
above and in their ``CLFSettings`` (``VARIANTS``; the benchmark report lists them). The
pre-trained encoder of ``dcl`` and ``clp_mse`` comes from the ``EncoderStore`` (cache, then
the encoders shipped with the package, else CLP now), keyed by (space, ``CLPSettings``,
``clp_seed``). ``clp_seed`` defaults to 0, independent of the predictor ``seed``: CLP uses no
labels, so one encoder per space serves every search run, as a pre-trained model would.

A predictor is a pure function of ``(seed, archs, scores)``: ``fit`` always retrains from
the pre-trained (or fresh) weights, so refits during a search do not depend on history.
``fit`` and ``score`` run in one torch thread (``encoder.torch_threads``): fastest for these
tiny models on shared cores, and independent of the caller's thread setting.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np

from ecgnas.errors import ConfigError
from ecgnas.predictor.base import Scores
from ecgnas.predictor.finetune import CLFSettings, FittedScorer
from ecgnas.predictor.pretrain import CLPSettings, Pretrained
from ecgnas.predictor.registry import PREDICTOR_NAMES, predictor_entry
from ecgnas.spaces.base import Arch, SearchSpace

log = logging.getLogger(__name__)

#: default pre-training settings (NB201: all 15,625 cells, 30 epochs = 1,830 steps)
DEFAULT_CLP = CLPSettings()
#: per-space changes to ``DEFAULT_CLP``: a pool of the whole ECG space (117,649 cells) or of
#: 50,000 NB101 cells or joint ECG archs (sampled), with fewer epochs, so that every space
#: gets 2-4 thousand CLP steps
CLP_BY_SPACE: dict[str, dict[str, Any]] = {
    "ecg1d": {"pool_size": 120_000, "epochs": 8},
    "nb101": {"pool_size": 50_000, "epochs": 10, "n_mutants": 4},
    "ecgjoint": {"pool_size": 50_000, "epochs": 10, "n_mutants": 4},
}


def default_clp(space: str) -> CLPSettings:
    """The CLP settings of ``space`` (the shipped encoders were trained with them, seed 0)."""
    return replace(DEFAULT_CLP, **CLP_BY_SPACE.get(space, {}))


#: per-space changes to the CLF head of the DCL predictors (``dcl_family``: a pre-trained
#: GIN and a ranking loss), keyed by the space their encoder was pre-trained on
#: (``space.clp_space``). On the joint ECG space a linear head with a coupled L2 prior
#: (``CLFSettings.l2``, converged at lr 1e-2) ranked the ECG benchmark table 0.06-0.09 tau
#: better than the MLP head at 40-100 labels, on every tuning seed: the table's signal is
#: noisy and carried by a few macro genes, which an MLP fitted to 20-100 labels overfits
#: (``reports/predictor_hard_view.md``, "A linear head").
DCL_HEAD_BY_SPACE: dict[str, dict[str, Any]] = {
    "ecgjoint": {"head_hidden": 0, "l2": 0.1, "lr": 1e-2},
}


def dcl_family(variant: Variant) -> bool:
    """Whether ``variant`` is a DCL predictor: a pre-trained GIN fine-tuned by a ranking loss
    (``dcl``, ``dcl_eff``), whose head ``DCL_HEAD_BY_SPACE`` may set per space."""
    return variant.encoder == "gin" and variant.pretrained and variant.clf.loss == "rank"


#: hidden width of the MLP encoders (path / one-hot)
MLP_HIDDEN = 64


@dataclass(frozen=True)
class Variant:
    """What distinguishes one predictor: its input encoding, CLP or not, and its CLF."""

    encoder: str  # "gin", "path" or "onehot"
    pretrained: bool
    clf: CLFSettings
    summary: str


def _variant(name: str) -> Variant:
    entry = predictor_entry(name)
    return Variant(entry.encoder, entry.pretrained, CLFSettings(**entry.clf), entry.summary)


#: the settings every variant fits with, by name (the table is ``ecgnas.predictor.registry``)
VARIANTS: dict[str, Variant] = {name: _variant(name) for name in PREDICTOR_NAMES}

_SETTING_NAMES = ("clf", "clp", "clp_seed", "cache_dir", "pretrained")


def onehot_features(space: SearchSpace, archs: Sequence[Arch], width: int) -> np.ndarray:
    """float32 ``[len(archs), width * n_ops (+ width * (width - 1) / 2)]``.

    One-hot op of each of the first ``width`` positions of ``Arch.ops`` (positions past an
    arch's length stay zero, longer archs are cut), followed, for vertex spaces (archs with
    a ``matrix``), by the upper triangle of the adjacency matrix in the top-left
    ``width x width`` corner.
    """
    n_ops = len(space.op_names)
    vertex = any(a.matrix for a in archs)
    tri = np.triu_indices(width, 1)
    n_tri = len(tri[0]) if vertex else 0
    out = np.zeros((len(archs), width * n_ops + n_tri), dtype=np.float32)
    for row, arch in enumerate(archs):
        ops = arch.ops[:width]
        out[row, np.arange(len(ops)) * n_ops + np.asarray(ops, dtype=np.int64)] = 1.0
        if vertex and arch.matrix:
            m = np.zeros((width, width), dtype=np.float32)
            k = min(width, len(arch.matrix))
            m[:k, :k] = np.asarray(arch.matrix, dtype=np.float32)[:k, :k]
            out[row, width * n_ops :] = m[tri]
    return out


def uses_hard_view(setting: bool | None, space: SearchSpace) -> bool:
    """Whether CLF's head reads the hard view: ``setting``, or when ``None`` whether ``space``
    has macro genes (a non-empty ``macro_sizes``, as ``ecgjoint``)."""
    if setting is None:
        return bool(space.macro_sizes)
    return setting


def _with_hard_view(make: Callable[[], Any], state: dict[str, Any] | None) -> Callable[[], Any]:
    """``make`` wrapped in a ``DualViewEncoder``, its soft encoder loaded with ``state``."""
    from ecgnas.predictor.encoder import DualViewEncoder

    def dual() -> Any:
        soft = make()
        if state is not None:
            soft.load_state_dict(state)
        return DualViewEncoder(soft)

    return dual


class VariantPredictor:
    """One named predictor (``Predictor`` protocol). Build it with ``make_predictor``."""

    def __init__(
        self,
        name: str,
        space: SearchSpace,
        seed: int,
        variant: Variant,
        clp: CLPSettings,
        clp_seed: int,
        cache_dir: str | os.PathLike[str] | None,
        pretrained: Pretrained | None,
    ) -> None:
        self.name = name
        self.space = space
        self.seed = int(seed)
        self.variant = variant
        self.clp = clp
        self.clp_seed = int(clp_seed)
        self.cache_dir = cache_dir
        self._pretrained = pretrained
        self._scorer: FittedScorer | None = None
        self._width = 0  # one-hot width, fixed at fit time

    @property
    def clf(self) -> CLFSettings:
        return self.variant.clf

    def pretrained(self) -> Pretrained:
        """The CLP encoder (loaded, shipped or trained on first use)."""
        if self._pretrained is None:
            from ecgnas.predictor.store import EncoderStore

            self._pretrained = EncoderStore(self.cache_dir).get(
                self.space.clp_space, self.clp, self.clp_seed
            )
        return self._pretrained

    def _inputs(self, archs: Sequence[Arch]) -> Any:
        import torch

        from ecgnas.predictor.encoder import ArchTensors
        from ecgnas.predictor.finetune import FeatureTensors

        kind = self.variant.encoder
        if kind == "gin":
            return ArchTensors.build(self.space, self._effective(archs))
        if kind == "path":
            return FeatureTensors(
                torch.from_numpy(self.space.path_encoding(archs).astype(np.float32))
            )
        return FeatureTensors(torch.from_numpy(onehot_features(self.space, archs, self._width)))

    def _effective(self, archs: Sequence[Arch]) -> Sequence[Arch]:
        """``archs``, each as its effective cell when ``clf.effective`` (cell spaces only)."""
        from ecgnas.spaces.cell import CellSpace, effective_ops

        space = self.space
        if not self.clf.effective or not isinstance(space, CellSpace):
            return archs
        return [space.make(effective_ops(a.ops, space.none_index)) for a in archs]

    def fit(self, archs: Sequence[Arch], scores: Scores) -> None:
        """Train on the evaluated archs (``ConfigError`` if fewer than 2 or lengths differ)."""
        from ecgnas.predictor.encoder import build_encoder, torch_threads
        from ecgnas.predictor.finetune import FeatureMLP, fit_scorer

        y = np.asarray(scores, dtype=np.float64)
        if len(archs) != len(y):
            raise ConfigError(f"{len(archs)} archs but {len(y)} scores")
        if len(archs) < 2:
            raise ConfigError(f"predictor {self.name!r} needs at least 2 evaluated archs")
        if not np.all(np.isfinite(y)):
            raise ConfigError("predictor scores must be finite")
        kind = self.variant.encoder
        state = None
        if kind == "gin":
            enc_settings = self.clp.encoder
            if self.variant.pretrained:
                pre = self.pretrained()
                state = pre.state
                enc_settings = pre.settings.encoder
            n_types = self.space.n_node_types

            def make() -> Any:
                return build_encoder(n_types, enc_settings)

            emb_dim = enc_settings.emb_dim
            if uses_hard_view(self.clf.hard_view, self.space):
                make, state = _with_hard_view(make, state), None
                emb_dim += self.space.path_length
        else:
            if kind == "onehot":
                self._width = max(len(a.ops) for a in archs)
            in_dim = (
                self.space.path_length
                if kind == "path"
                else int(onehot_features(self.space, archs[:1], self._width).shape[1])
            )

            def make() -> Any:
                return FeatureMLP(in_dim, MLP_HIDDEN)

            emb_dim = MLP_HIDDEN
        with torch_threads(1):
            self._scorer = fit_scorer(
                make, emb_dim, self._inputs(archs), y, self.clf, self.seed, encoder_state=state
            )

    def score(self, archs: Sequence[Arch]) -> np.ndarray:
        """float64 ``[len(archs)]``, higher = predicted better (``RuntimeError`` before ``fit``)."""
        if self._scorer is None:
            raise RuntimeError(f"predictor {self.name!r}: call fit() before score()")
        if len(archs) == 0:
            return np.zeros(0, dtype=np.float64)
        from ecgnas.predictor.encoder import torch_threads

        with torch_threads(1):
            return self._scorer.score(self._inputs(archs))

    def score_members(self, archs: Sequence[Arch]) -> np.ndarray:
        """float64 ``[clf.members, len(archs)]``: each ensemble member's score (``score`` is
        their mean; their spread is the ensemble's uncertainty). ``RuntimeError`` before ``fit``."""
        if self._scorer is None:
            raise RuntimeError(f"predictor {self.name!r}: call fit() before score_members()")
        if len(archs) == 0:
            return np.zeros((self.clf.members, 0), dtype=np.float64)
        from ecgnas.predictor.encoder import torch_threads

        with torch_threads(1):
            return self._scorer.score_members(self._inputs(archs))


def _merge(cls: type, base: Any, value: Any, what: str) -> Any:
    if value is None:
        return base
    if isinstance(value, cls):
        return value
    if not isinstance(value, dict):
        raise ConfigError(f"{what} settings must be a mapping, not {type(value).__name__}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(value) - known)
    if unknown:
        raise ConfigError(f"unknown {what} setting(s) {unknown}; known: {sorted(known)}")
    try:
        if cls is CLPSettings:
            return CLPSettings.from_json({**base.to_json(), **value})
        return replace(base, **value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"bad {what} settings {value}: {exc}") from exc


def make_predictor(name: str, space: SearchSpace, seed: int, **settings: Any) -> VariantPredictor:
    """The predictor called ``name`` (one of ``PREDICTOR_NAMES``) for ``space``.

    settings (all optional):
        ``clf``: a ``CLFSettings`` or a dict of fields overriding the variant's defaults
        (for the DCL predictors, with ``DCL_HEAD_BY_SPACE``'s changes for the space);
        ``clp``: a ``CLPSettings`` or a dict overriding ``default_clp(space.clp_space.name)``
        (the encoder is pre-trained on ``space.clp_space``);
        ``clp_seed``: seed of the pre-trained encoder (default 0);
        ``cache_dir``: the ecgnas cache directory for encoders;
        ``pretrained``: a ``Pretrained`` encoder to use instead of the store's.

    ``ConfigError`` for an unknown name or setting.
    """
    if name not in VARIANTS:
        raise ConfigError(f"unknown predictor {name!r}; known: {', '.join(PREDICTOR_NAMES)}")
    unknown = sorted(set(settings) - set(_SETTING_NAMES))
    if unknown:
        raise ConfigError(
            f"unknown predictor setting(s) {unknown}; known: {', '.join(_SETTING_NAMES)}"
        )
    variant = VARIANTS[name]
    base = variant.clf
    if dcl_family(variant):
        base = replace(base, **DCL_HEAD_BY_SPACE.get(space.clp_space.name, {}))
    clf = _merge(CLFSettings, base, settings.get("clf"), "CLF")
    clp = _merge(CLPSettings, default_clp(space.clp_space.name), settings.get("clp"), "CLP")
    pretrained = settings.get("pretrained")
    if pretrained is not None and not isinstance(pretrained, Pretrained):
        raise ConfigError("'pretrained' must be a Pretrained encoder")
    return VariantPredictor(
        name,
        space,
        seed,
        replace(variant, clf=clf),
        clp,
        int(settings.get("clp_seed", 0)),
        settings.get("cache_dir"),
        pretrained,
    )


def describe(name: str, space: SearchSpace | None = None, **settings: Any) -> dict[str, Any]:
    """The variant's settings as plain data (for reports): its CLF settings as
    ``make_predictor(name, space, ..., **settings)`` resolves them when ``space`` is given
    (per-space head, overrides), else the variant's own."""
    v = VARIANTS[name]
    clf = v.clf if space is None else make_predictor(name, space, 0, **settings).clf
    return {
        "encoder": v.encoder,
        "pretrained": v.pretrained,
        "clf": asdict(clf),
        "summary": v.summary,
    }
