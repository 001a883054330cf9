"""Which rows a model has seen: a 64-bit identity per row, from its feature values.

Evaluate compares a candidate with the deployed model on test rows; if the deployed model trained on some
of them (another seed, or new data that still holds old rows) its score there is inflated. Push keeps the
identities of the rows a version trained on (train + validation) in the version, and evaluate compares the
two models only on test rows the deployed one never saw.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from components.core import filenames
from components.data.features import FeatureSet
from components.storage import datasets
from components.storage.files import atomic_file


def _canonical(values: np.ndarray) -> np.ndarray:
    """One spelling per value whatever the split format: npz and TFRecord give float32 numbers and text as
    str or bytes."""
    values = np.asarray(values)
    if values.dtype.kind in "USO":
        return np.array([v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values], dtype=object)
    return values.astype(np.float32).astype(np.float64)


def hashes(features: dict[str, np.ndarray]) -> np.ndarray:
    """uint64 per row over the feature columns (by name, so their order does not matter)."""
    frame = pd.DataFrame({name: _canonical(features[name]) for name in sorted(features)})
    return pd.util.hash_pandas_object(frame, index=False).to_numpy(np.uint64)


def seen_by_training(split_dir: Path, spec: FeatureSet, batch_size: int = 8192) -> np.ndarray:
    """The sorted unique identities of the train and validation rows, read batch by batch (memory: 8 bytes
    a row)."""
    parts = []
    for split in ("train", "validation"):
        for batch, _ in datasets.raw_batches(split_dir, split, spec, batch_size).as_numpy_iterator():
            parts.append(hashes(batch))
    return np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.uint64)


def save(path: Path, identities: np.ndarray) -> None:
    with atomic_file(path) as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, identities.astype(np.uint64), allow_pickle=False)


def load_seen(version_dir: Path) -> np.ndarray | None:
    """The rows a pushed version trained on; None if it was pushed before versions recorded them."""
    path = Path(version_dir) / filenames.SEEN_ROWS
    return np.load(path, allow_pickle=False) if path.is_file() else None
