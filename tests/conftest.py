"""Shared fixtures: the real bank data, small stratified samples of it, and finished pipeline runs."""
from __future__ import annotations

import os

# Set before TensorFlow is imported by any test: quiet C++ logs; tf_keras as Keras (see components/core/console.py).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BANK_CSV = ROOT / "data" / "bank.csv"
BANK_SCHEMA = ROOT / "data" / "schema.pbtxt"


@pytest.fixture(scope="session")
def bank_frame() -> pd.DataFrame:
    return pd.read_csv(BANK_CSV)


def sample_bank(frame: pd.DataFrame, rows: int, seed: int = 0) -> pd.DataFrame:
    """A stratified sample that keeps every category seen in the full data where possible."""
    return frame.groupby("deposit", group_keys=False).apply(
        lambda g: g.sample(n=rows // 2, random_state=seed)).reset_index(drop=True)


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


def run_pipeline(*argv: str) -> int:
    import pipeline

    return pipeline.main(list(argv))


# The same rows, written as files in the wild are: every path (in memory, streamed, sampled) must agree on them.
CSV_VARIANTS = ("plain", "label_spellings", "padded_header", "bom", "crlf", "invalid_utf8", "duplicated_header")


def variant_csv(frame: pd.DataFrame, kind: str, path: Path) -> Path:
    frame = frame.copy()
    if kind == "label_spellings":
        spellings = {"yes": [" yes ", "YES", "1", "True"], "no": ["no ", "NO", "0", " false"]}
        frame["deposit"] = [spellings[v][i % 4] for i, v in enumerate(frame["deposit"])]
    text = frame.to_csv(index=False)
    if kind == "padded_header":
        text = ", ".join(f" {name} " for name in frame.columns) + "\n" + text.split("\n", 1)[1]
    if kind == "duplicated_header":
        text = text.replace("balance", "age", 1)
    data = text.encode("utf-8")
    if kind == "bom":
        data = b"\xef\xbb\xbf" + data
    if kind == "crlf":
        data = data.replace(b"\n", b"\r\n")
    if kind == "invalid_utf8":  # past the 64 KB that delimiter detection reads: found by the readers themselves
        lines = data.split(b"\n")
        lines[1500] = lines[1500].replace(b"married", b"marri\xe9d")
        data = b"\n".join(lines)
    path.write_bytes(data)
    return path
