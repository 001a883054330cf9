"""Distillation from gradient-boosted trees (train.teacher=lightgbm), at training time only.

Each training row's label becomes (1 - w) x label + w x the probability LightGBM gives it, w = train.teacher_weight.
The trees see the raw columns and, when the calendar is found (components/data/feature_kinds.py), the day of the year
as one ordered number, which they cut into periods better than a net learns them; the net learns from their
probabilities as well as from the labels. Training rows are scored out of fold (trees score rows they trained on
overconfidently); rounds are chosen by early stopping on the validation split. The served model stays pure
TensorFlow: nothing of LightGBM is exported. LightGBM is in requirements-dev.lock, not in the trainer's lock.
"""
from __future__ import annotations

import logging

import numpy as np

from components.core.errors import UsageError
from components.data import feature_kinds
from components.data.features import FeatureSet

log = logging.getLogger(__name__)
FOLDS = 5


def _frame(features: dict, spec: FeatureSet, categories: dict | None = None):
    import pandas as pd

    frame = pd.DataFrame({n: np.asarray(features[n], np.float64) for n in spec.numeric})
    for name in spec.categorical:
        values = pd.Series(np.asarray(features[name]).astype(str))
        frame[name] = pd.Categorical(values, categories=None if categories is None else categories[name])
    month, day = feature_kinds.calendar({n: features[n] for n in spec.numeric},
                                        {n: features[n] for n in spec.categorical}) \
        if categories is None else categories.get("__calendar__", (None, None))
    if month and day:
        frame["__day_of_year"] = feature_kinds.day_of_year(feature_kinds.month_index(features[month]), features[day])
    return frame, (month, day)


def soft_labels(train: dict, labels: np.ndarray, validation: tuple[dict, np.ndarray], spec: FeatureSet,
                weight: float, seed: int) -> np.ndarray:
    """The training labels mixed with LightGBM's out-of-fold probabilities (float32, in [0, 1])."""
    try:
        import lightgbm as lgb
    except ImportError:
        raise UsageError("train.teacher=lightgbm needs LightGBM, which the trainer's lock leaves out: install "
                         "requirements-dev.lock, or set train.teacher='' (no distillation).") from None
    frame, calendar = _frame(train, spec)
    categories = {n: frame[n].cat.categories for n in spec.categorical} | {"__calendar__": calendar}
    valid_frame, _ = _frame(validation[0], spec, categories)
    fold = np.random.default_rng(seed).permutation(len(labels)) % FOLDS
    teacher = np.zeros(len(labels))
    for k in range(FOLDS):
        model = lgb.LGBMClassifier(n_estimators=2000, learning_rate=0.03, num_leaves=31, subsample=0.8,
                                   subsample_freq=1, colsample_bytree=0.8, random_state=seed, verbose=-1,
                                   n_jobs=1)  # OpenMP threads spin against a busy CPU: one thread is faster there
        model.fit(frame[fold != k], labels[fold != k], eval_set=[(valid_frame, validation[1])],
                  callbacks=[lgb.early_stopping(50, verbose=False)])
        teacher[fold == k] = model.predict_proba(frame[fold == k])[:, 1]
    log.info("teacher: LightGBM, %d folds, out-of-fold accuracy %.4f; labels mixed with its probabilities at "
             "weight %.2f", FOLDS, np.mean((teacher >= 0.5) == labels), weight)
    return ((1 - weight) * labels + weight * teacher).astype(np.float32)
