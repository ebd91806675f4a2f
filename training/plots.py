"""ROC, precision-recall and confusion-matrix figures for an evaluation report (PNG, headless)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from training.metrics import precision_recall_curve, roc_curve  # noqa: E402


def save_plots(out: Path, curves: dict[str, tuple[np.ndarray, np.ndarray]], report: dict) -> list[Path]:
    """`curves`: level -> (labels, scores); `report`: level -> summarize() output."""
    levels = [lv for lv, (y, _) in curves.items() if len(y) and 0 < np.sum(y) < len(y)]
    paths = []
    fig, ax = plt.subplots(figsize=(5, 5))
    for lv in levels:
        fpr, tpr, _ = roc_curve(*curves[lv])
        ax.plot(fpr, tpr, label=f"{lv} (AUC {report[lv]['roc_auc']:.3f})")
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    ax.legend(loc="lower right")
    paths.append(_save(fig, out / "roc.png"))

    fig, ax = plt.subplots(figsize=(5, 5))
    for lv in levels:
        precision, recall, _ = precision_recall_curve(*curves[lv])
        ax.step(recall, precision, where="post", label=f"{lv} (AP {report[lv]['average_precision']:.3f})")
    ax.set(xlabel="recall", ylabel="precision", title="precision-recall", ylim=(0, 1.02))
    ax.legend(loc="lower left")
    paths.append(_save(fig, out / "pr.png"))

    fig, axes = plt.subplots(1, len(report), figsize=(4 * len(report), 3.6), squeeze=False)
    for ax, (lv, r) in zip(axes[0], report.items()):
        c = r["confusion"]
        m = np.array([[c["tn"], c["fp"]], [c["fn"], c["tp"]]])
        ax.imshow(m, cmap="Blues")
        for (i, j), v in np.ndenumerate(m):
            ax.text(j, i, str(v), ha="center", va="center", color="black")
        ax.set(xticks=[0, 1], yticks=[0, 1], xticklabels=["real", "fake"], yticklabels=["real", "fake"],
               xlabel="predicted", ylabel="true", title=f"{lv} @ {r['threshold']:.3f}")
    paths.append(_save(fig, out / "confusion.png"))
    return paths


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
