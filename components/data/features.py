"""The label and the feature columns: how labels are read and which columns are numeric or categorical.

The split component writes a FeatureSet next to the data (features.json) and every later component
reads it, so the kinds of the columns are decided once, from the validated schema.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from components.core.errors import DataError

POSITIVE = frozenset({"yes", "1", "true", "1.0"})
NEGATIVE = frozenset({"no", "0", "false", "0.0"})


@dataclasses.dataclass(frozen=True)
class FeatureSet:
    label: str
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return self.numeric + self.categorical

    def to_dict(self) -> dict:
        return {"label": self.label, "numeric": list(self.numeric), "categorical": list(self.categorical)}

    @classmethod
    def from_dict(cls, values: dict) -> "FeatureSet":
        return cls(values["label"], tuple(values["numeric"]), tuple(values["categorical"]))


def require_label(frame: pd.DataFrame, label: str) -> None:
    if label not in frame.columns:
        raise DataError(f"label column {label!r} is not in the data; its columns are "
                        f"{', '.join(map(str, frame.columns))}. Pass the right one with --label.")


def csv_lines(mask: np.ndarray, shown: int = 5) -> str:
    """`1 row (CSV line 12)`, `3 rows (CSV lines 2, 5 and 9)`, `40 rows (CSV lines 2, 3, 4, 5, 6 and 35 more)`:
    the rows where `mask` is set, by their line in the file (the header is line 1)."""
    lines = [str(i + 2) for i in np.flatnonzero(mask)]
    if len(lines) == 1:
        return f"1 row (CSV line {lines[0]})"
    head, rest = lines[:shown], len(lines) - shown
    listed = ", ".join(head) + (f" and {rest} more" if rest > 0 else "")
    if rest <= 0:
        listed = ", ".join(head[:-1]) + f" and {head[-1]}"
    return f"{len(lines)} rows (CSV lines {listed})"


def encode_labels(values: pd.Series, label: str, require_both: bool = True) -> np.ndarray:
    """Map yes/no, 1/0 and true/false (any case) to 1/0; anything else names the offending values.

    require_both=False skips the two-class check, for one chunk of a file read in pieces."""
    text = values.astype(str).str.strip().str.lower()
    missing = values.isna() | (text == "")
    if missing.any():
        raise DataError(f"label column {label!r} is empty on {csv_lines(missing.to_numpy())}: every row needs a "
                        f"label.")
    unknown = sorted(set(text) - POSITIVE - NEGATIVE)
    if unknown:
        raise DataError(f"label column {label!r} holds values {unknown[:5]} that are neither positive "
                        f"(yes/1/true) nor negative (no/0/false): a binary label is required.")
    encoded = text.isin(POSITIVE).to_numpy().astype(np.int64)
    if require_both:
        require_both_classes(encoded, label)
    return encoded


def require_both_classes(encoded: np.ndarray, label: str) -> None:
    if encoded.min() == encoded.max():
        only = "positive" if encoded[0] else "negative"
        raise DataError(f"label column {label!r} has one class only (all rows are {only}): training needs "
                        f"both classes.")


def canonical_labels(values: pd.Series) -> pd.Series:
    """Text labels in any accepted spelling (Yes, NO, true, 1...) become "yes"/"no", so one schema domain
    covers them all. Numeric labels, empty cells and unknown values are left as they are, for the schema
    check (or `encode_labels`) to report."""
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return values
    text = values.astype(str).str.strip().str.lower()
    return values.mask(text.isin(POSITIVE), "yes").mask(text.isin(NEGATIVE), "no")


def spec_from_schema(schema, label: str) -> FeatureSet:
    """INT and FLOAT features are numeric, BYTES categorical; the label is neither."""
    from tensorflow_metadata.proto.v0 import schema_pb2

    numeric, categorical = [], []
    for feature in schema.feature:
        if feature.name == label:
            continue
        if feature.type in (schema_pb2.INT, schema_pb2.FLOAT):
            numeric.append(feature.name)
        else:
            categorical.append(feature.name)
    return FeatureSet(label, tuple(numeric), tuple(categorical))


def feature_columns(frame: pd.DataFrame, spec: FeatureSet) -> dict[str, np.ndarray]:
    """Raw feature arrays with stable dtypes: float32 numerics, unicode categoricals."""
    missing = [c for c in spec.columns if c not in frame.columns]
    if missing:
        raise DataError(f"columns {missing} of the schema are not in the data: re-run validate.")
    columns: dict[str, np.ndarray] = {}
    for name in spec.numeric:
        values = pd.to_numeric(frame[name], errors="coerce")
        bad = values.isna() | ~np.isfinite(values)
        if bad.any():
            raise DataError(f"numeric column {name!r} has {int(bad.sum())} empty or non-numeric cells "
                            f"(e.g. {frame[name][bad].iloc[0]!r}): fix or drop those rows.")
        columns[name] = values.to_numpy(dtype=np.float32)
    for name in spec.categorical:
        if frame[name].isna().any():
            raise DataError(f"categorical column {name!r} has {int(frame[name].isna().sum())} empty cells: "
                            f"fill them (e.g. with 'unknown').")
        columns[name] = frame[name].astype(str).str.strip().to_numpy(dtype=str)
    return columns


