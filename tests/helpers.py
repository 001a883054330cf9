"""What tests share besides fixtures: the bank data's paths, samples of it, CSV variants, running the pipeline."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
BANK_CSV = ROOT / "data" / "bank.csv"
BANK_SCHEMA = ROOT / "data" / "schema.pbtxt"


def sample_bank(frame: pd.DataFrame, rows: int, seed: int = 0) -> pd.DataFrame:
    """A stratified sample that keeps every category seen in the full data where possible."""
    return frame.groupby("deposit", group_keys=False).apply(
        lambda g: g.sample(n=rows // 2, random_state=seed)).reset_index(drop=True)


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
