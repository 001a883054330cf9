"""The decision: the probability threshold above which the model answers "positive", chosen on the validation
split by a configurable rule, and optional temperature scaling fitted there too (pure NumPy).

Why on validation: the test split must stay unseen by every choice made in training, or its figures flatter the
model. Why a rule: on imbalanced data 0.5 is rarely the useful cut; which cut is useful depends on what a false
positive and a false negative cost, so the rule is the user's: max_f1 (default), accuracy, precision>=P (most
recall at that precision), recall>=R (most precision at that recall) or profit (payoffs of TN, FP, FN, TP).
"""
from __future__ import annotations

import dataclasses
import logging

import numpy as np

from components.config.grammars import parse_payoffs, parse_rule
from components.core.errors import UsageError

log = logging.getLogger(__name__)
@dataclasses.dataclass(frozen=True)
class Decision:
    threshold: float = 0.5
    rule: str = "fixed"
    temperature: float = 1.0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def confusion_by_threshold(labels: np.ndarray, scores: np.ndarray):
    """(thresholds, tp, fp, fn, tn) for every distinct score used as the threshold (predict positive at >=)."""
    order = np.argsort(-scores, kind="stable")
    sorted_scores, hits = scores[order], np.asarray(labels)[order] == 1
    last = np.r_[sorted_scores[1:] != sorted_scores[:-1], True]  # a threshold takes every row with its score
    tp, fp = np.cumsum(hits)[last], np.cumsum(~hits)[last]
    positives, negatives = int(hits.sum()), int((~hits).sum())
    return sorted_scores[last], tp, fp, positives - tp, negatives - fp


def choose_threshold(labels: np.ndarray, scores: np.ndarray, rule: str, payoffs: str = "0,0,0,1") -> float:
    """The threshold the rule prefers on these (validation) rows; ties go to the one nearest 0.5."""
    name, target = parse_rule(rule)
    thresholds, tp, fp, fn, tn = confusion_by_threshold(np.asarray(labels), np.asarray(scores, np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        precision, recall = np.nan_to_num(tp / (tp + fp)), np.nan_to_num(tp / (tp + fn))
        value = {"max_f1": lambda: np.nan_to_num(2 * precision * recall / (precision + recall)),
                 "accuracy": lambda: (tp + tn) / len(labels),
                 "precision": lambda: np.where(precision >= target, recall, -1.0),
                 "recall": lambda: np.where(recall >= target, precision, -1.0),
                 "profit": lambda: np.array(parse_payoffs(payoffs)) @ np.stack([tn, fp, fn, tp])}[name]()
    if value.max() < 0 and name in ("precision", "recall"):
        reached = (precision if name == "precision" else recall).max()
        raise UsageError(f"train.decision_rule={rule!r}: no threshold reaches {name} {target} on the validation "
                         f"split (at most {reached:.3f}); lower the target or use max_f1.")
    best = np.flatnonzero(value >= value.max() - 1e-12)
    return float(thresholds[best[np.argmin(np.abs(thresholds[best] - 0.5))]])


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, np.float64), 1e-7, 1 - 1e-7)
    return np.log(p) - np.log1p(-p)


def fit_temperature(labels: np.ndarray, scores: np.ndarray) -> float:
    """The T that minimises the cross-entropy of sigmoid(logit(p) / T) on these rows (golden-section search on
    log T in [-3, 3]): it changes no ranking and no rule's choice, only how far probabilities are from 0.5."""
    z, y = logit(scores), np.asarray(labels, np.float64)

    def loss(log_t: float) -> float:
        q = np.clip(1 / (1 + np.exp(-z / np.exp(log_t))), 1e-7, 1 - 1e-7)
        return float(-np.mean(y * np.log(q) + (1 - y) * np.log(1 - q)))

    low, high, ratio = -3.0, 3.0, (np.sqrt(5) - 1) / 2
    for _ in range(60):
        a, b = high - ratio * (high - low), low + ratio * (high - low)
        low, high = (low, b) if loss(a) < loss(b) else (a, high)
    return float(np.exp((low + high) / 2))


def apply_temperature(scores: np.ndarray, temperature: float) -> np.ndarray:
    return 1 / (1 + np.exp(-logit(scores) / temperature))


# A threshold chosen on a few dozen rows of a class is noise: max F1 on a weak model's 50 positives happily picks
# "everyone is positive" (F1 0.67 on balanced data). Below this many rows of the rarer class, keep 0.5.
MIN_ROWS_PER_CLASS = 100


def decide(labels: np.ndarray, scores: np.ndarray, rule: str, payoffs: str, temperature_scaling: bool) -> Decision:
    """Temperature first (when asked), then the threshold on the scaled scores: what serving will output."""
    rarer = int(min((np.asarray(labels) == 1).sum(), (np.asarray(labels) != 1).sum()))
    if rarer < MIN_ROWS_PER_CLASS:
        log.info("decision threshold 0.5: the validation split has %d rows of its rarer class, too few to choose "
                 "one by %s (%d needed)", rarer, rule, MIN_ROWS_PER_CLASS)
        return Decision()
    temperature = fit_temperature(labels, scores) if temperature_scaling else 1.0
    threshold = choose_threshold(labels, apply_temperature(scores, temperature), rule, payoffs)
    log.info("decision threshold %.4f (%s on %d validation rows)%s", threshold, rule, len(labels),
             f", temperature {temperature:.3f}" if temperature_scaling else "")
    return Decision(threshold, rule, temperature)
