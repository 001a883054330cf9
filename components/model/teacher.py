"""Distillation from gradient-boosted trees (train.teacher, by default with the wide_deep family), at training time
only.

Each training row's label becomes (1 - w) x label + w x the probability LightGBM gives it, w = train.teacher_weight.
The trees see the raw columns and, when the calendar is found (components/data/feature_kinds.py), the day of the year
as one ordered number, which they cut into periods better than a net learns them; the net learns from their
probabilities as well as from the labels. Training rows are scored out of fold (trees score rows they trained on
overconfidently); rounds are chosen by early stopping on the validation split. The served model stays pure
TensorFlow: nothing of LightGBM is exported, and serving needs no tree library. LightGBM is in the runtime lock and
the trainer images (with OpenMP's runtime, libgomp1).
"""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

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
        values = pd.Series(feature_kinds.as_text(features[name]))
        frame[name] = pd.Categorical(values, categories=_by_count(values) if categories is None else categories[name])
    month, day = feature_kinds.calendar({n: features[n] for n in spec.numeric},
                                        {n: features[n] for n in spec.categorical}) \
        if categories is None else categories.get("__calendar__", (None, None))
    if month and day:
        frame["__day_of_year"] = feature_kinds.day_of_year(feature_kinds.month_index(features[month]), features[day])
    found = {n: frame[n].cat.categories for n in spec.categorical} | {"__calendar__": (month, day)}
    frame.columns = [f"f{i}" for i in range(frame.shape[1])]  # LightGBM refuses some characters in CSV headers
    return frame, found


def _by_count(values):
    """Categories most frequent first, ties in order of appearance: codes then follow the data, not the spelling
    (alphabetical codes would change LightGBM's splits when a category is renamed)."""
    counts = values.value_counts(sort=False)
    return counts.index[np.argsort(-counts.to_numpy(), kind="stable")]


def soft_labels(train: dict, labels: np.ndarray, validation: tuple[dict, np.ndarray], spec: FeatureSet,
                weight: float, seed: int) -> np.ndarray:
    """The training labels mixed with LightGBM's out-of-fold probabilities (float32, in [0, 1])."""
    try:
        import lightgbm as lgb
    except ImportError:
        raise UsageError("train.teacher=lightgbm needs LightGBM, which this environment lacks: install the lock "
                         "(make setup, or pip install -r requirements.lock), or set train.teacher='' (no "
                         "distillation).") from None
    frame, categories = _frame(train, spec)  # the validation rows are coded as the training rows are
    valid_frame, _ = _frame(validation[0], spec, categories)
    fold = np.random.default_rng(seed).permutation(len(labels)) % FOLDS

    params = {"objective": "binary", "learning_rate": 0.03, "num_leaves": 31, "bagging_fraction": 0.8,
              "bagging_freq": 1, "feature_fraction": 0.8, "seed": seed, "verbose": -1,
              "num_threads": 1}  # one OpenMP thread per fit: threads of one fit spin on a busy CPU

    def out_of_fold(k: int) -> None:  # LightGBM's own API: its scikit-learn one needs scikit-learn
        rows = fold != k
        train_set = lgb.Dataset(frame[rows], labels[rows])  # a validation set is binned by its training set's
        booster = lgb.train(params, train_set, num_boost_round=2000,
                            valid_sets=[lgb.Dataset(valid_frame, validation[1], reference=train_set)],
                            callbacks=[lgb.early_stopping(50, verbose=False)])
        teacher[~rows] = booster.predict(frame[~rows], num_iteration=booster.best_iteration)

    teacher = np.zeros(len(labels))
    # The folds' fits are independent and LightGBM releases the GIL: all at once, same result. On fewer cores
    # than folds the system shares them; one at a time per core, the last fold would run with a core idle.
    with ThreadPoolExecutor(max_workers=FOLDS) as pool:
        list(pool.map(out_of_fold, range(FOLDS)))
    log.info("teacher: LightGBM, %d folds, out-of-fold accuracy %.4f; labels mixed with its probabilities at "
             "weight %.2f", FOLDS, np.mean((teacher >= 0.5) == labels), weight)
    return ((1 - weight) * labels + weight * teacher).astype(np.float32)
