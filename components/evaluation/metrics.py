"""Binary classification metrics from labels and positive-class probabilities (pure NumPy)."""
from __future__ import annotations

import numpy as np
import pandas as pd

EPSILON = 1e-7

# The test metrics every report shows, in this order (log lines, TensorBoard, the summary, a version's lineage).
# balanced accuracy and PR AUC: on 11% positives, accuracy at a threshold says little (docs/registry.md).
TEST_METRICS = ("accuracy", "auc", "pr_auc", "balanced_accuracy", "precision", "recall", "f1", "loss")


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve as the Mann-Whitney statistic (ties count one half)."""
    positives = labels == 1
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = pd.Series(scores).rank(method="average").to_numpy()
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def roc_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(-scores, kind="stable")
    hits = labels[order] == 1
    tpr = np.concatenate([[0.0], np.cumsum(hits) / max(hits.sum(), 1)])
    fpr = np.concatenate([[0.0], np.cumsum(~hits) / max((~hits).sum(), 1)])
    return fpr, tpr


def precision_recall_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(-scores, kind="stable")
    hits = labels[order] == 1
    true_pos = np.cumsum(hits)
    precision = true_pos / np.arange(1, len(hits) + 1)
    recall = true_pos / max(hits.sum(), 1)
    return recall, precision


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """PR AUC as average precision: the precision at each distinct score, weighted by the recall it adds (tied
    scores are one threshold, as in scikit-learn). A random ranking scores the positive share; a perfect one 1."""
    scores = np.asarray(scores)
    order = np.argsort(-scores, kind="stable")
    hits, ranked = np.asarray(labels)[order] == 1, scores[order]
    if not hits.any():
        return float("nan")
    last = np.r_[ranked[1:] != ranked[:-1], True]  # a threshold takes every row with its score
    true_pos = np.cumsum(hits)[last]
    precision = true_pos / np.arange(1, len(hits) + 1)[last]
    return float(np.sum(np.diff(np.r_[0.0, true_pos / true_pos[-1]]) * precision))


def binary_metrics(labels: np.ndarray, probabilities: np.ndarray, threshold: float = 0.5) -> dict:
    """Loss (cross-entropy), accuracy, balanced accuracy, ROC AUC, PR AUC, precision, recall, F1 and the
    confusion matrix."""
    labels = np.asarray(labels).astype(np.int64)
    positive = np.clip(np.asarray(probabilities, dtype=np.float64), EPSILON, 1 - EPSILON)
    predicted = (positive >= threshold).astype(np.int64)
    tp = int(((predicted == 1) & (labels == 1)).sum())
    tn = int(((predicted == 0) & (labels == 0)).sum())
    fp = int(((predicted == 1) & (labels == 0)).sum())
    fn = int(((predicted == 0) & (labels == 1)).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    loss = -np.mean(labels * np.log(positive) + (1 - labels) * np.log(1 - positive))
    specificity = tn / (tn + fp) if tn + fp else 0.0
    return {"loss": float(loss), "accuracy": (tp + tn) / len(labels), "auc": roc_auc(labels, positive),
            "pr_auc": average_precision(labels, positive), "balanced_accuracy": (recall + specificity) / 2,
            "precision": precision, "recall": recall, "f1": f1, "examples": int(len(labels)),
            "confusion_matrix": [[tn, fp], [fn, tp]], "threshold": float(threshold),
            "brier": float(np.mean((positive - labels) ** 2))}


def reliability(labels: np.ndarray, scores: np.ndarray, bins: int = 10) -> dict:
    """Calibration in equal-width probability bins: mean predicted vs observed positive rate and the row count
    per bin, and the expected calibration error (the row-weighted mean gap)."""
    labels, scores = np.asarray(labels, np.float64), np.asarray(scores, np.float64)
    which = np.minimum((scores * bins).astype(int), bins - 1)
    rows = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore"):
        predicted = np.bincount(which, scores, bins) / rows
        observed = np.bincount(which, labels, bins) / rows
    gaps = np.nan_to_num(np.abs(predicted - observed)) * rows
    def listed(values):  # empty bins as null: JSON has no NaN
        return [None if np.isnan(v) else round(float(v), 6) for v in values]

    return {"predicted": listed(predicted), "observed": listed(observed),
            "rows": rows.tolist(), "ece": float(gaps.sum() / max(len(labels), 1))}


def _accuracy(labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> float:
    return float(((scores >= threshold).astype(np.int64) == labels).mean())


def _auc(labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> float:
    return roc_auc(labels, scores)  # threshold-free


INTERVAL_METRICS = {"accuracy": _accuracy, "auc": _auc}


def intervals(labels: np.ndarray, scores: np.ndarray, baseline: np.ndarray | None = None, resamples: int = 200,
              seed: int = 0, level: float = 0.95, thresholds: tuple[float, float] = (0.5, 0.5)) -> dict[str,
                                                                                                        list[float]]:
    """Percentile-bootstrap intervals of accuracy and AUC; with `baseline`, of the paired difference
    scores - baseline on the same resampled rows (what the gate's comparison is worth on this many rows).
    `thresholds`: each model's own decision threshold (scores', baseline's), as its accuracy is counted."""
    labels = np.asarray(labels).astype(np.int64)
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {name: [] for name in INTERVAL_METRICS}
    for _ in range(resamples):
        rows = rng.integers(0, len(labels), len(labels))
        for name, metric in INTERVAL_METRICS.items():
            value = metric(labels[rows], scores[rows], thresholds[0])
            if baseline is not None:
                value -= metric(labels[rows], baseline[rows], thresholds[1])
            draws[name].append(value)
    tail = (1 - level) / 2 * 100
    return {name: [round(float(np.nanpercentile(values, tail)), 4), round(float(np.nanpercentile(values, 100 - tail)),
                                                                          4)]
            for name, values in draws.items()}
