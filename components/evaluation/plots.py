"""PNG plots of the evaluation: ROC curve, precision-recall curve, confusion matrix."""
from __future__ import annotations

import io as bytes_io

import numpy as np

from components.evaluation import metrics as metrics_lib


def _figure():
    # A bare Figure renders with Agg on savefig: no pyplot, so no display backend to pick and no global
    # figure registry to close (and ~1 s less to import).
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 4.5), dpi=100)
    return fig, fig.subplots()


def _png(fig) -> bytes:
    buffer = bytes_io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def roc_png(curves: dict[str, tuple[np.ndarray, np.ndarray, float]]) -> bytes:
    """curves: name -> (labels, scores, auc)."""
    fig, ax = _figure()
    for name, (labels, scores, auc) in curves.items():
        fpr, tpr = metrics_lib.roc_curve(labels, scores)
        ax.plot(fpr, tpr, label=f"{name} (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label="chance")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC curve (test split)")
    ax.legend(loc="lower right")
    return _png(fig)


def precision_recall_png(curves: dict[str, tuple[np.ndarray, np.ndarray, float]]) -> bytes:
    fig, ax = _figure()
    for name, (labels, scores, _) in curves.items():
        recall, precision = metrics_lib.precision_recall_curve(labels, scores)
        ax.plot(recall, precision, label=name)
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall curve (test split)", ylim=(0, 1.02))
    ax.legend(loc="lower left")
    return _png(fig)


def confusion_png(matrix: list[list[int]], class_names: tuple[str, str] = ("no", "yes"),
                  threshold: float = 0.5) -> bytes:
    fig, ax = _figure()
    values = np.asarray(matrix)
    ax.imshow(values, cmap="Blues")
    for (row, col), count in np.ndenumerate(values):
        ax.text(col, row, str(count), ha="center", va="center",
                color="white" if count > values.max() / 2 else "black", fontsize=14)
    ax.set_xticks([0, 1], labels=[f"predicted {c}" for c in class_names])
    ax.set_yticks([0, 1], labels=[f"actual {c}" for c in class_names])
    ax.set_title(f"Confusion matrix (test split, {int(values.sum())} rows, threshold {threshold:.3g})")
    return _png(fig)


def reliability_png(curves: dict[str, dict]) -> bytes:
    """Reliability diagram: observed positive rate against mean predicted probability per bin (the diagonal is
    perfect calibration); curves: name -> metrics.reliability(...) plus "brier"."""
    fig, ax = _figure()
    for name, bins in curves.items():
        points = [(p, o) for p, o in zip(bins["predicted"], bins["observed"]) if p is not None]
        ax.plot(*zip(*points), marker="o", label=f"{name} (Brier {bins['brier']:.3f}, ECE {bins['ece']:.3f})")
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label="perfectly calibrated")
    ax.set(xlabel="mean predicted probability", ylabel="observed positive rate", xlim=(0, 1), ylim=(0, 1),
           title="Reliability diagram (test split)")
    ax.legend(loc="upper left", fontsize=8)
    return _png(fig)
