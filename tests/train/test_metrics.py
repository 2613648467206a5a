from __future__ import annotations

import math

import numpy as np
import pytest

from ecgnas.train.metrics import (
    AAMI4,
    classification_metrics,
    cohen_kappa,
    confusion_matrix,
    metrics_from_confusion,
    per_record_metrics,
)

# rows = reference N, S, V, F; columns = prediction
CM = np.array(
    [
        [90, 5, 3, 2],  # 100 N
        [4, 14, 2, 0],  # 20 S
        [1, 1, 27, 1],  # 30 V
        [2, 0, 3, 5],  # 10 F
    ]
)


def test_confusion_matrix_counts_pairs() -> None:
    y_true = np.array([0, 0, 1, 2, 2, 3])
    y_pred = np.array([0, 1, 1, 2, 0, 3])
    cm = confusion_matrix(y_true, y_pred, 4)
    expected = np.zeros((4, 4), dtype=int)
    for t, p in zip(y_true, y_pred):
        expected[t, p] += 1
    assert cm.tolist() == expected.tolist()
    with pytest.raises(ValueError):
        confusion_matrix(np.array([0, 4]), np.array([0, 1]), 4)


def test_per_class_metrics_by_hand() -> None:
    m = metrics_from_confusion(CM, AAMI4)
    total = 160
    # S: TP 14, FN 6, FP 6 (5+0+1), TN 160-14-6-6
    assert m.se[1] == pytest.approx(14 / 20)
    assert m.ppv[1] == pytest.approx(14 / 20)
    assert m.sp[1] == pytest.approx((total - 26) / (total - 26 + 6))
    assert m.f1[1] == pytest.approx(2 * 14 / (2 * 14 + 6 + 6))
    # V: TP 27, FN 3, FP 8 (3+2+3)
    assert m.se[2] == pytest.approx(27 / 30)
    assert m.ppv[2] == pytest.approx(27 / 35)
    assert m.f1[2] == pytest.approx(54 / (54 + 8 + 3))
    # F: TP 5, FN 5, FP 3
    assert m.f1[3] == pytest.approx(10 / (10 + 3 + 5))
    assert m.support.tolist() == [100, 20, 30, 10]
    assert m.accuracy == pytest.approx((90 + 14 + 27 + 5) / total)
    assert m.macro_f1 == pytest.approx(np.mean(m.f1))


def test_kappa_and_jkappa_by_hand() -> None:
    m = metrics_from_confusion(CM, AAMI4)
    total = 160
    po = (90 + 14 + 27 + 5) / total
    rows = CM.sum(axis=1)
    cols = CM.sum(axis=0)
    pe = sum(rows[i] * cols[i] for i in range(4)) / total**2
    kappa = (po - pe) / (1 - pe)
    assert m.kappa == pytest.approx(kappa)
    j = 14 / 20 + 27 / 30 + 14 / 20 + 27 / 35
    assert m.jkappa == pytest.approx(kappa / 2 + j / 8)
    perfect = metrics_from_confusion(np.diag([10, 10, 10, 10]), AAMI4)
    assert perfect.jkappa == pytest.approx(1.0)
    assert perfect.macro_f1 == pytest.approx(1.0)
    assert math.isnan(cohen_kappa(np.zeros((4, 4), dtype=int)))


def test_absent_class_is_nan_and_left_out_of_macro() -> None:
    y_true = np.array([0, 0, 0, 2, 2])
    y_pred = np.array([0, 0, 2, 2, 2])
    m = classification_metrics(y_true, y_pred, AAMI4)
    assert math.isnan(m.se[1]) and math.isnan(m.se[3])
    assert m.macro_classes == ("N", "V")
    assert m.macro_f1 == pytest.approx(np.mean([2 * 2 / (4 + 1), 2 * 2 / (4 + 1)]))
    d = m.to_dict()
    assert d["per_class"]["S"]["se"] is None
    assert d["per_class"]["V"]["support"] == 2


def test_never_predicted_class_has_zero_f1() -> None:
    m = classification_metrics(np.array([0, 1, 1]), np.array([0, 0, 0]), AAMI4)
    assert m.f1[1] == 0.0
    assert math.isnan(m.ppv[1])
    # j counts the undefined +P_S as 0
    assert m.jkappa == pytest.approx(m.kappa / 2 + (0 + 0) / 8)


def test_per_record_sums_to_gross() -> None:
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 4, 500)
    y_pred = np.where(rng.random(500) < 0.8, y_true, rng.integers(0, 4, 500))
    records = rng.choice([100, 101, 203], 500)
    per = per_record_metrics(y_true, y_pred, records)
    assert list(per) == ["100", "101", "203"]
    total = sum(m.confusion for m in per.values())
    assert total.tolist() == classification_metrics(y_true, y_pred).confusion.tolist()
