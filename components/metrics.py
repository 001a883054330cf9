"""Binary classification metrics from labels and positive-class probabilities (pure NumPy)."""
from __future__ import annotations

import numpy as np
import pandas as pd

EPSILON = 1e-7


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


def binary_metrics(labels: np.ndarray, probabilities: np.ndarray, threshold: float = 0.5) -> dict:
    """Loss (cross-entropy), accuracy, ROC AUC, precision, recall, F1 and the confusion matrix."""
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
    return {"loss": float(loss), "accuracy": (tp + tn) / len(labels), "auc": roc_auc(labels, positive),
            "precision": precision, "recall": recall, "f1": f1, "examples": int(len(labels)),
            "confusion_matrix": [[tn, fp], [fn, tp]]}
