"""Our numpy metrics agree with scikit-learn's on known and random inputs."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from training import metrics as m


def _cases():
    rng = np.random.default_rng(0)
    yield np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])
    yield np.array([0, 1, 0, 1, 1, 0]), np.array([0.5, 0.5, 0.2, 0.9, 0.5, 0.1])  # ties across classes
    for _ in range(5):
        y = rng.integers(0, 2, 300)
        yield y, np.round(rng.random(300) * 0.8 + 0.3 * y, 2)


@pytest.mark.parametrize("y,s", list(_cases()))
def test_curves_and_areas_match_scikit_learn(y, s):
    assert m.roc_auc(y, s) == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)
    assert m.average_precision(y, s) == pytest.approx(skm.average_precision_score(y, s), abs=1e-12)
    fpr, tpr, thr = m.roc_curve(y, s)
    sk_fpr, sk_tpr, sk_thr = skm.roc_curve(y, s, drop_intermediate=False)
    np.testing.assert_allclose(fpr, sk_fpr)
    np.testing.assert_allclose(tpr, sk_tpr)
    np.testing.assert_allclose(thr[1:], sk_thr[1:])
    p, r, t = m.precision_recall_curve(y, s)
    sk_p, sk_r, sk_t = skm.precision_recall_curve(y, s)
    np.testing.assert_allclose(p, sk_p)
    np.testing.assert_allclose(r, sk_r)
    np.testing.assert_allclose(t, sk_t)


@pytest.mark.parametrize("threshold", [0.2, 0.5, 0.77])
def test_threshold_metrics_match_scikit_learn(threshold):
    y, s = list(_cases())[3]
    pred = (s >= threshold).astype(int)
    r = m.at_threshold(y, s, threshold)
    assert r["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert r["precision"] == pytest.approx(skm.precision_score(y, pred, zero_division=0))
    assert r["recall"] == pytest.approx(skm.recall_score(y, pred))
    assert r["f1"] == pytest.approx(skm.f1_score(y, pred))
    tn, fp, fn, tp = skm.confusion_matrix(y, pred).ravel()
    assert r["confusion"] == {"tn": tn, "fp": fp, "fn": fn, "tp": tp}


def test_eer_of_separable_and_inverted_scores():
    y = np.array([0, 0, 0, 1, 1, 1])
    assert m.eer(y, np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9]))[0] == 0.0
    assert m.eer(y, np.array([0.9, 0.8, 0.7, 0.3, 0.2, 0.1]))[0] == 1.0


@pytest.mark.parametrize("target", [0.0, 0.01, 0.05, 0.2])
def test_calibrated_threshold_keeps_false_alarms_under_target(target):
    real = np.random.default_rng(1).random(500)
    t = m.threshold_for_false_alarms(real, target)
    assert np.mean(real >= t) <= target
    assert np.mean(real >= t * 0.98) > 0 or target == 0.0
