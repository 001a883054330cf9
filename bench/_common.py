"""Shared by the benchmarks: the data, the one split every model sees, the machine, and the outputs.

Every model in a benchmark is trained on the split `components.steps.split.stratified_indices` makes (seeded,
stratified 80/10/10): the pipeline's trainer reads it as split files, the other models as arrays.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import numpy as np
import pandas as pd

from components import storage
from components.config.sections import SplitConfig
from components.core import filenames
from components.data.features import FeatureSet, encode_labels, feature_columns
from components.steps.split import stratified_indices, summarise

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
BANK_CSV = ROOT / "data" / "bank.csv"


def infer_spec(frame: pd.DataFrame, label: str) -> FeatureSet:
    """Numeric pandas dtypes are numeric features, everything else categorical (what the inferred schema
    of validate decides for a CSV like this one)."""
    numeric = tuple(c for c in frame.columns if c != label and pd.api.types.is_numeric_dtype(frame[c]))
    categorical = tuple(c for c in frame.columns if c != label and c not in numeric)
    return FeatureSet(label, numeric, categorical)


class Dataset:
    """A CSV as raw columns + 0/1 labels, and its seeded splits (as index arrays)."""

    def __init__(self, path: Path, label: str):
        self.frame = storage.read_csv(path)
        self.spec = infer_spec(self.frame, label)
        self.columns = feature_columns(self.frame, self.spec)
        self.labels = encode_labels(self.frame[label], label)

    def indices(self, seed: int) -> dict[str, np.ndarray]:
        return stratified_indices(self.labels, SplitConfig(label=self.spec.label, seed=seed))

    def write_split(self, seed: int, out: Path) -> Path:
        """The split component's output (npz) for this seed, without its validation step."""
        indices = self.indices(seed)
        columns = {**self.columns, self.spec.label: self.labels}
        for name, index in indices.items():
            storage.save_npz(filenames.split_path(out, name) / filenames.NPZ_NAME,
                        {c: v[index] for c, v in columns.items()})
        storage.write_json(out / filenames.FEATURES, self.spec.to_dict())
        storage.write_json(out / filenames.SPLIT_SUMMARY, {"format": "npz", "seed": seed, "shards": None,
                                                      "splits": summarise(self.labels, indices)})
        return out


def machine() -> dict:
    import psutil

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"nproc": os.cpu_count(), "cpu": cpu, "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(), "platform": platform.platform()}


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def write_json(name: str, value: dict, out_dir: Path = RESULTS) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / name
    path.write_text(json.dumps(value, indent=2, default=float) + "\n")
    return path


def quiet_tensorflow() -> None:
    import logging

    import tensorflow as tf

    tf.get_logger().setLevel(logging.ERROR)


def parser(doc: str, seeds: list[int]) -> argparse.ArgumentParser:
    """The flags every benchmark shares: the data, its label, the seeds (split and training together)."""
    result = argparse.ArgumentParser(description=doc.split("\n\n")[0], epilog="\n\n".join(doc.split("\n\n")[1:]),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    result.add_argument("--data", type=Path, default=BANK_CSV, help="CSV of this kind (default: the bank data)")
    result.add_argument("--label", default="deposit", help="label column (default: deposit)")
    result.add_argument("--seeds", type=int, nargs="+", default=seeds, help="split+training seeds")
    return result
