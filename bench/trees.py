"""Gradient-boosted tree baselines for bench/quality.py: LightGBM, XGBoost and CatBoost, and the best of them.

Each is fitted on the training rows of the split every benchmark model sees (bench/_common.Dataset.indices), with
boosting rounds chosen by early stopping on the validation rows (up to 2,000 rounds at learning rate 0.03, stopping
after 50 without improvement in validation log loss), categoricals handled natively by each library (LightGBM's and
XGBoost's pandas categories, CatBoost's ordered target statistics), raw numerics, and the calendar the data has as
ordered numbers, which trees cut into periods: the day of the year when a month-name column and a day-of-month column
are found (the pipeline's own detection, components.feature_kinds), else the month's number and the weekday's.
`best-tree` is, per seed, the tree with the lowest validation log loss: chosen on validation, scored on test.
"""
from __future__ import annotations

import time

import numpy as np
import pandas as pd

from bench._common import Dataset
from components.data import feature_kinds

TREES = ("lightgbm", "xgboost", "catboost")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ROUNDS, RATE, PATIENCE = 2000, 0.03, 50
THREADS = 1  # OpenMP threads spin against a busy shared CPU (as in components/teacher.py): one is faster there


def weekday_column(categorical: dict[str, np.ndarray]) -> str | None:
    """The text column whose values are weekday names (mon, Tue, friday...): the first found."""
    for name, values in categorical.items():
        prefixes = np.char.lower(np.char.strip(np.asarray(values, dtype=str))).astype("<U3")
        if np.isin(prefixes, WEEKDAYS).mean() >= 0.99 and len(np.unique(prefixes)) >= 2:
            return name
    return None


def calendar_columns(dataset: Dataset) -> dict[str, np.ndarray]:
    """The ordered calendar numbers this data allows: day of the year, or month and weekday numbers."""
    numeric = {n: dataset.columns[n] for n in dataset.spec.numeric}
    categorical = {n: dataset.columns[n] for n in dataset.spec.categorical}
    month, day = feature_kinds.calendar(numeric, categorical)
    if month and day:
        return {"day_of_year": feature_kinds.day_of_year(feature_kinds.month_index(categorical[month]), numeric[day])}
    out = {"month_number": feature_kinds.month_index(categorical[month])} if month else {}
    weekday = weekday_column(categorical)
    if weekday:
        prefixes = np.char.lower(np.char.strip(categorical[weekday])).astype("<U3")
        out["weekday_number"] = np.array([WEEKDAYS.index(p) for p in prefixes], np.float64)
    return out


def frame(dataset: Dataset) -> pd.DataFrame:
    """Raw numerics, categoricals as pandas categories (one category set for all rows), the calendar numbers."""
    out = pd.DataFrame({n: dataset.columns[n] for n in dataset.spec.numeric})
    for name in dataset.spec.categorical:
        out[name] = pd.Categorical(dataset.columns[name])
    for name, values in calendar_columns(dataset).items():
        out[name] = values
    return out


def fit_lightgbm(x: dict, y: dict, seed: int):
    import lightgbm as lgb

    model = lgb.LGBMClassifier(n_estimators=ROUNDS, learning_rate=RATE, num_leaves=31, subsample=0.8, subsample_freq=1,
                               colsample_bytree=0.8, random_state=seed, n_jobs=THREADS, verbose=-1)
    model.fit(x["train"], y["train"], eval_X=x["validation"], eval_y=y["validation"],
              callbacks=[lgb.early_stopping(PATIENCE, verbose=False)])
    return model, model.best_iteration_


def fit_xgboost(x: dict, y: dict, seed: int):
    import xgboost as xgb

    model = xgb.XGBClassifier(n_estimators=ROUNDS, learning_rate=RATE, max_depth=6, subsample=0.8,
                              colsample_bytree=0.8, tree_method="hist", enable_categorical=True, max_cat_to_onehot=1,
                              early_stopping_rounds=PATIENCE, eval_metric="logloss", random_state=seed,
                              n_jobs=THREADS)
    model.fit(x["train"], y["train"], eval_set=[(x["validation"], y["validation"])], verbose=False)
    return model, model.best_iteration + 1  # predict_proba uses the best iteration


def fit_catboost(x: dict, y: dict, seed: int):
    from catboost import CatBoostClassifier

    categorical = [n for n in x["train"].columns if isinstance(x["train"][n].dtype, pd.CategoricalDtype)]
    as_text = {split: part.astype({n: str for n in categorical}) for split, part in x.items()}
    model = CatBoostClassifier(iterations=ROUNDS, learning_rate=RATE, depth=6, random_seed=seed,
                               thread_count=THREADS, od_type="Iter", od_wait=PATIENCE, use_best_model=True,
                               allow_writing_files=False, verbose=False)
    model.fit(as_text["train"], y["train"], cat_features=categorical,
              eval_set=(as_text["validation"], y["validation"]))
    x.update(as_text)  # predictions read the same text columns
    return model, model.get_best_iteration() + 1


FITS = {"lightgbm": fit_lightgbm, "xgboost": fit_xgboost, "catboost": fit_catboost}


def log_loss(labels: np.ndarray, scores: np.ndarray) -> float:
    p = np.clip(scores, 1e-7, 1 - 1e-7)
    return float(-np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p)))


def fit_trees(dataset: Dataset, seed: int, names=TREES) -> dict[str, dict]:
    """Per tree: test labels and scores, validation log loss, rounds and seconds; plus `best-tree`, the one of
    them with the lowest validation log loss."""
    indices, table = dataset.indices(seed), frame(dataset)
    y = {split: dataset.labels[rows] for split, rows in indices.items()}
    out = {}
    for name in names:
        started = time.perf_counter()
        x = {split: table.iloc[rows].reset_index(drop=True) for split, rows in indices.items()}
        model, rounds = FITS[name](x, y, seed)
        valid = model.predict_proba(x["validation"])[:, 1]
        out[name] = {"labels": y["test"], "scores": model.predict_proba(x["test"])[:, 1], "rounds": int(rounds),
                     "valid_log_loss": log_loss(y["validation"], valid),
                     "seconds": round(time.perf_counter() - started, 2)}
    best = min(out, key=lambda n: out[n]["valid_log_loss"])
    out["best-tree"] = {**out[best], "chosen": best, "seconds": round(sum(r["seconds"] for r in out.values()), 2)}
    return out
