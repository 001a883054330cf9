"""The reference recipe: the plain Keras script the pipeline is measured against.

pandas one-hot of the categoricals (`pd.get_dummies`), `StandardScaler` on the numerics, a Sequential of
2 hidden Dense layers of 30 ReLU units and a 2-unit softmax, Adam, sparse categorical cross-entropy,
batch 100, up to 100 epochs, EarlyStopping on val_loss (patience 2, best weights restored), `model.fit`
on NumPy arrays. Same split as the pipeline (`components.steps.split.stratified_indices`).

    python bench/reference.py [--data data/bank.csv --label deposit --seed 42]

The benchmarks import `prepare`, `build_model` and `fit`; run as a script it is the whole reference run
(read, split, preprocess, train, score) whose wall time `bench/speed.py` compares with the pipeline's.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd

from bench._common import BANK_CSV, Dataset

EPOCHS, BATCH, PATIENCE, UNITS, LAYERS = 100, 100, 2, 30, 2


def prepare(dataset: Dataset, indices: dict[str, np.ndarray]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{split: (X, y)}: dummies and scaler fitted on the training rows; other splits aligned to them."""
    from sklearn.preprocessing import StandardScaler

    spec = dataset.spec
    frame = pd.DataFrame({name: dataset.columns[name] for name in spec.columns})
    scaler = StandardScaler().fit(frame.loc[indices["train"], list(spec.numeric)])
    dummy_columns = None
    out = {}
    for split in ("train", "validation", "test"):
        rows = frame.loc[indices[split]]
        dummies = pd.get_dummies(rows[list(spec.categorical)], dtype=np.float32)
        dummy_columns = dummy_columns if dummy_columns is not None else dummies.columns
        dummies = dummies.reindex(columns=dummy_columns, fill_value=0.0)
        numeric = scaler.transform(rows[list(spec.numeric)]) if spec.numeric else np.zeros((len(rows), 0))
        x = np.concatenate([numeric, dummies.to_numpy()], axis=1).astype(np.float32)
        out[split] = (x, dataset.labels[indices[split]])
    return out


def build_model(width: int, seed: int):
    import tf_keras as keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input(shape=(width,))] +
                             [keras.layers.Dense(UNITS, activation="relu") for _ in range(LAYERS)] +
                             [keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def fit(model, data: dict, epochs: int = EPOCHS, callbacks=()):
    import tf_keras as keras

    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=PATIENCE, restore_best_weights=True)
    (x, y), validation = data["train"], data["validation"]
    return model.fit(x, y, batch_size=BATCH, epochs=epochs, validation_data=validation,
                     callbacks=[stop, *callbacks], verbose=0)


def test_scores(model, data: dict) -> tuple[np.ndarray, np.ndarray]:
    x, y = data["test"]
    return y, model.predict(x, batch_size=1024, verbose=0)[:, 1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=BANK_CSV, help="CSV of this kind (default: the bank data)")
    parser.add_argument("--label", default="deposit", help="label column (default: deposit)")
    parser.add_argument("--seed", type=int, default=42, help="split and training seed (default: 42)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    from components.evaluation.metrics import binary_metrics

    dataset = Dataset(args.data, args.label)
    data = prepare(dataset, dataset.indices(args.seed))
    model = build_model(data["train"][0].shape[1], args.seed)
    history = fit(model, data)
    metrics = binary_metrics(*test_scores(model, data))
    print(f"reference: {len(history.history['loss'])} epochs, test accuracy {metrics['accuracy']:.4f} "
          f"auc {metrics['auc']:.4f}, {time.perf_counter() - started:.1f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
