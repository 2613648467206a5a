"""Beat-classification metrics in the AAMI EC57 style.

All functions take integer class labels ``0..n_classes-1`` in the order of ``class_names``
(ecgnas uses ``N, S, V, F`` and optionally ``Q``). The confusion matrix has the *reference*
class on rows and the *predicted* class on columns.

Per class ``c`` (one-vs-rest on the confusion matrix ``C``):

* sensitivity (recall) ``Se = TP / (TP + FN)``
* positive predictivity (precision) ``+P = TP / (TP + FP)``
* specificity ``Sp = TN / (TN + FP)``
* ``F1 = 2 Se +P / (Se + +P)``; support = number of reference beats of the class.

A ratio whose denominator is 0 is reported as ``nan`` (not 0), so that a class absent from
a record does not pretend to be classified badly; ``macro_f1`` averages the F1 of the classes
with support > 0 (classes without reference beats are left out and named in the result).

The *j-kappa index* follows Mar et al. (IEEE TBME 58(8), 2011):
``j = Se_S + Se_V + +P_S + +P_V`` and ``jkappa = kappa / 2 + j / 8`` (range ``[-0.5, 1]``;
1 is perfect), where ``kappa`` is Cohen's kappa of the whole confusion matrix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

AAMI4 = ("N", "S", "V", "F")
AAMI5 = ("N", "S", "V", "F", "Q")


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """int64 ``[n_classes, n_classes]``; rows = reference, columns = prediction."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true {y_true.shape} and y_pred {y_pred.shape} differ in shape")
    if y_true.size and (
        min(y_true.min(), y_pred.min()) < 0 or max(y_true.max(), y_pred.max()) >= n_classes
    ):
        raise ValueError(f"labels must lie in 0..{n_classes - 1}")
    flat = y_true * n_classes + y_pred
    return np.bincount(flat, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def cohen_kappa(cm: np.ndarray) -> float:
    """Cohen's kappa of a confusion matrix (``nan`` for an empty matrix)."""
    total = cm.sum()
    if total == 0:
        return float("nan")
    po = np.trace(cm) / total
    pe = float((cm.sum(axis=0) * cm.sum(axis=1)).sum()) / total**2
    if pe == 1.0:
        return 1.0 if po == 1.0 else 0.0
    return float((po - pe) / (1.0 - pe))


@dataclass(frozen=True)
class ClassMetrics:
    """Metrics of one confusion matrix (see the module docstring for definitions)."""

    class_names: tuple[str, ...]
    confusion: np.ndarray
    se: np.ndarray
    ppv: np.ndarray
    sp: np.ndarray
    f1: np.ndarray
    support: np.ndarray
    accuracy: float
    macro_f1: float
    kappa: float
    jkappa: float
    macro_classes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, object]:
        """JSON-ready dict (``nan`` becomes ``None``)."""

        def clean(v: float) -> float | None:
            return None if np.isnan(v) else float(v)

        per_class = {
            name: {
                "se": clean(self.se[i]),
                "ppv": clean(self.ppv[i]),
                "sp": clean(self.sp[i]),
                "f1": clean(self.f1[i]),
                "support": int(self.support[i]),
            }
            for i, name in enumerate(self.class_names)
        }
        return {
            "class_names": list(self.class_names),
            "per_class": per_class,
            "confusion": self.confusion.tolist(),
            "accuracy": clean(self.accuracy),
            "macro_f1": clean(self.macro_f1),
            "macro_classes": list(self.macro_classes),
            "kappa": clean(self.kappa),
            "jkappa": clean(self.jkappa),
        }


def metrics_from_confusion(cm: np.ndarray, class_names: Sequence[str] = AAMI4) -> ClassMetrics:
    """All metrics from a confusion matrix (rows reference, columns prediction)."""
    cm = np.asarray(cm, dtype=np.int64)
    names = tuple(class_names)
    if cm.shape != (len(names), len(names)):
        raise ValueError(f"confusion matrix {cm.shape} does not match {len(names)} classes")
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    total = cm.sum()
    fn = support - tp
    fp = predicted - tp
    tn = total - tp - fn - fp
    se = _ratio(tp, tp + fn)
    ppv = _ratio(tp, tp + fp)
    sp = _ratio(tn, tn + fp)
    f1 = _ratio(2 * tp, 2 * tp + fp + fn)
    present = support > 0
    # a present class that is never predicted has ppv nan but F1 = 0 (2TP/(2TP+FN) with TP=0)
    macro = float(np.nanmean(f1[present])) if present.any() else float("nan")
    kappa = cohen_kappa(cm)
    jkappa = float("nan")
    if "S" in names and "V" in names:
        s, v = names.index("S"), names.index("V")
        parts = np.array([se[s], se[v], ppv[s], ppv[v]])
        j = float(np.nansum(parts))  # an undefined +P (never predicted) counts as 0
        jkappa = kappa / 2.0 + j / 8.0
    return ClassMetrics(
        class_names=names,
        confusion=cm,
        se=se,
        ppv=ppv,
        sp=sp,
        f1=f1,
        support=support,
        accuracy=float(tp.sum() / total) if total else float("nan"),
        macro_f1=macro,
        kappa=kappa,
        jkappa=jkappa,
        macro_classes=tuple(n for n, p in zip(names, present) if p),
    )


def classification_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str] = AAMI4
) -> ClassMetrics:
    """Gross metrics over all beats."""
    return metrics_from_confusion(confusion_matrix(y_true, y_pred, len(class_names)), class_names)


def per_record_metrics(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    records: np.ndarray,
    class_names: Sequence[str] = AAMI4,
) -> dict[str, ClassMetrics]:
    """Metrics of each record separately, keyed by record name (as ``str``), sorted."""
    records = np.asarray(records)
    out: dict[str, ClassMetrics] = {}
    for rec in sorted(np.unique(records).tolist(), key=str):
        mask = records == rec
        out[str(rec)] = classification_metrics(y_true[mask], y_pred[mask], class_names)
    return out
