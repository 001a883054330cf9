"""Shared fixtures: the real bank data, small stratified samples of it, and finished pipeline runs."""
from __future__ import annotations

import os

# Set before TensorFlow is imported by any test: quiet C++ logs; tf_keras as Keras (see components/core/console.py).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

from pathlib import Path

import pandas as pd
import pytest

from tests.helpers import BANK_CSV, BANK_SCHEMA, sample_bank


@pytest.fixture(scope="session")
def bank_frame() -> pd.DataFrame:
    return pd.read_csv(BANK_CSV)


@pytest.fixture
def small_bank_csv(tmp_path, bank_frame) -> Path:
    path = tmp_path / "bank_small.csv"
    sample_bank(bank_frame, 1000).to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def trained_small(tmp_path_factory, bank_frame):
    """(root, split_dir, train result): 4 epochs on a 2,000-row stratified sample, split as .npz."""
    from components.config.sections import SplitConfig
    from components.config.train import TrainConfig
    from components.steps import split, train

    root = tmp_path_factory.mktemp("trained")
    csv = root / "bank.csv"
    sample_bank(bank_frame, 2000).to_csv(csv, index=False)
    split_dir = root / "split"
    split.run(SplitConfig(), {"data": csv, "schema": BANK_SCHEMA}, {"output": split_dir})
    result = train.run(TrainConfig.of(epochs=4, patience=10), {"split": split_dir}, {"output": root / "train"})
    return root, split_dir, result


