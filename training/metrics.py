"""Binary detection metrics in numpy: ROC, PR, AUC, AP, EER and scores at a threshold.

Conventions follow scikit-learn: label 1 is fake (positive), a score at or
above the threshold is called fake, tied scores share one threshold.
"""

from __future__ import annotations

import numpy as np


def _sorted_counts(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cumulative true and false positives at each distinct score, highest first."""
    y = np.asarray(y).astype(bool)
    s = np.asarray(s, dtype=np.float64)
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]
    tps = np.cumsum(y)[last]
    fps = (last + 1) - tps
    return tps, fps, s[last]


def roc_curve(y, s) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds), starting at (0, 0) with threshold +inf."""
    tps, fps, thr = _sorted_counts(y, s)
    tps, fps = np.r_[0, tps], np.r_[0, fps]
    return fps / max(fps[-1], 1), tps / max(tps[-1], 1), np.r_[np.inf, thr]


def roc_auc(y, s) -> float:
    y = np.asarray(y)
    if y.min() == y.max():
        return float("nan")
    fpr, tpr, _ = roc_curve(y, s)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def precision_recall_curve(y, s) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(precision, recall, thresholds) with thresholds rising, as scikit-learn orders them."""
    tps, fps, thr = _sorted_counts(y, s)
    precision = tps / np.maximum(tps + fps, 1)
    recall = tps / max(tps[-1], 1)
    return np.r_[precision[::-1], 1.0], np.r_[recall[::-1], 0.0], thr[::-1]


def average_precision(y, s) -> float:
    y = np.asarray(y)
    if not y.any():
        return float("nan")
    precision, recall, _ = precision_recall_curve(y, s)
    return float(-np.sum(np.diff(recall) * precision[:-1]))


def eer(y, s) -> tuple[float, float]:
    """Equal error rate and the threshold where false alarms and misses are closest."""
    fpr, tpr, thr = roc_curve(y, s)
    fnr = 1 - tpr
    i = int(np.nanargmin(np.abs(fnr - fpr)))
    return float((fpr[i] + fnr[i]) / 2), float(thr[i])


def at_threshold(y, s, threshold: float) -> dict:
    y = np.asarray(y).astype(bool)
    pred = np.asarray(s) >= threshold
    tp = int(np.sum(pred & y))
    fp = int(np.sum(pred & ~y))
    tn = int(np.sum(~pred & ~y))
    fn = int(np.sum(~pred & y))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "accuracy": (tp + tn) / max(len(y), 1),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "false_alarm_rate": fp / (fp + tn) if fp + tn else 0.0,
        "confusion": {"tn": tn, "fp": fp, "fn": fn, "tp": tp},
    }


def threshold_for_false_alarms(real_scores, target_fpr: float) -> float:
    """The lowest threshold that calls at most `target_fpr` of the real scores fake."""
    r = np.sort(np.asarray(real_scores, dtype=np.float64))[::-1]
    if len(r) == 0:
        raise ValueError("no real scores to calibrate on")
    allowed = int(np.floor(target_fpr * len(r)))
    # Everything strictly above r[allowed] is called fake: at most `allowed` reals.
    t = np.nextafter(r[allowed], np.inf) if allowed < len(r) else r[-1]
    return float(np.clip(t, 1e-6, 1 - 1e-6))


def summarize(y, s, threshold: float) -> dict:
    """Every metric of one level (frame, window or video) at the threshold."""
    y = np.asarray(y)
    e, e_thr = eer(y, s) if 0 < y.sum() < len(y) else (float("nan"), float("nan"))
    return {
        "n": int(len(y)),
        "n_fake": int(y.sum()),
        "roc_auc": roc_auc(y, s),
        "average_precision": average_precision(y, s),
        "eer": e,
        "eer_threshold": e_thr,
        "threshold": float(threshold),
        **at_threshold(y, s, threshold),
    }


def bootstrap_auc(y, s, units, resamples: int = 1000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile confidence interval of the ROC AUC, resampling whole units with replacement.

    Items of one unit (a video's photos, a DFDC pair's real and fake) are not
    independent, so they are drawn together. Draws that hold one class only
    have no AUC and are left out; (nan, nan) when no draw has both.
    """
    y, s = np.asarray(y), np.asarray(s, dtype=np.float64)
    keys, inverse = np.unique(np.asarray(units), return_inverse=True)
    members = [np.flatnonzero(inverse == k) for k in range(len(keys))]
    rng = np.random.default_rng(seed)
    aucs = []
    for _ in range(resamples):
        idx = np.concatenate([members[k] for k in rng.integers(0, len(keys), len(keys))])
        if 0 < y[idx].sum() < len(idx):
            aucs.append(roc_auc(y[idx], s[idx]))
    if not aucs:
        return float("nan"), float("nan")
    lo, hi = np.percentile(aucs, [50 * (1 - level), 50 * (1 + level)])
    return float(lo), float(hi)
