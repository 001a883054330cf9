"""Synthetic data with the bank schema, any number of rows, streamed to disk.

Rows are resampled from the real bank data with jitter on the numeric columns, so categories, ranges,
correlations and the label's dependence on the features stay realistic, and the file passes the
committed schema. Memory stays flat: one chunk at a time.

    python bench/synth.py --rows 1000000 --out /tmp/bank-1e6.csv
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

BANK = Path(__file__).resolve().parents[1] / "data" / "bank.csv"


def jitter(rows: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    n = len(rows)
    rows["age"] = np.clip(rows["age"] + rng.integers(-2, 3, n), 18, 95)
    rows["balance"] = np.round(rows["balance"] * rng.lognormal(0, 0.1, n)).astype(np.int64)
    rows["duration"] = np.clip(np.round(rows["duration"] * rng.lognormal(0, 0.1, n)), 0, 36000).astype(np.int64)
    rows["day"] = np.clip(rows["day"] + rng.integers(-1, 2, n), 1, 31)
    return rows


def generate(path: Path, rows: int, seed: int = 0, chunk: int = 500_000) -> Path:
    """Write `rows` synthetic rows to `path` (atomically: a partial file never has the final name)."""
    base = pd.read_csv(BANK)
    rng = np.random.default_rng(seed)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(tmp, "w", encoding="utf-8") as handle:
        for start in range(0, rows, chunk):
            sample = base.iloc[rng.integers(0, len(base), min(chunk, rows - start))].reset_index(drop=True)
            jitter(sample, rng).to_csv(handle, header=start == 0, index=False)
    os.replace(tmp, path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, required=True, help="number of data rows")
    parser.add_argument("--out", type=Path, required=True, help="CSV file to write")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    started = time.monotonic()
    generate(args.out, args.rows, args.seed)
    size = args.out.stat().st_size / 1e6
    print(f"{args.rows} rows, {size:.0f} MB -> {args.out} in {time.monotonic() - started:.1f}s")


if __name__ == "__main__":
    main()
