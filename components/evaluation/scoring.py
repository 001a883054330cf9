"""Scoring rows given by their CSV column names with an exported SavedModel: what evaluate uses, and any
code that serves the model.

The serving signature's inputs carry TensorFlow names (`emp.var.rate` -> `emp_var_rate`); the model records
the mapping from CSV names in model/assets.extra/columns.json (and as its `columns()` function), so callers
never need to know how names were sanitised.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from components.core import filenames
from components.core.errors import DataError
from components.registry import integrity


class Scorer:
    """A loaded SavedModel's serving signature, fed by CSV column name."""

    def __init__(self, model_dir: str | Path, what: str = "the model", deployed: bool = False):
        self.model_dir, self.what = Path(model_dir), what
        if deployed:  # a pushed version: its bytes must be the ones the gate pushed before its graph runs
            integrity.verify(self.model_dir)
        self.signature = _load_signature(self.model_dir, what)
        self.wanted = self.signature.structured_input_signature[1]
        self.record = column_record(self.model_dir)  # {} for a model exported before the record existed
        self.inputs = model_inputs(self.model_dir, self.wanted, self.record)
        self.decision = model_decision(self.record)
        self.threshold = float(self.decision["threshold"])  # what the model's `label` output applies

    def takes_text(self) -> dict[str, bool]:
        """CSV column -> True where the model takes it as text (a string input), False for numbers."""
        return {column: self.wanted[name].dtype.name == "string" for column, name in self.inputs.items()}

    def check(self, features: dict[str, np.ndarray]) -> None:
        """Every column the model takes is given, with the kind (text or number) it was trained on."""
        missing = sorted(c for c in self.inputs if c not in features)
        if missing:
            raise DataError(f"{self.what} at {self.model_dir} expects columns {missing} that the data lacks: it was "
                            f"trained on other columns; use another --serving-dir or model name.")
        for column, wants_text in self.takes_text().items():
            text = np.asarray(features[column]).dtype.kind in "USO"
            if text != wants_text:
                raise DataError(
                    f"column {column!r} is {'text' if text else 'numeric'} in the data but {self.what} at "
                    f"{self.model_dir} was trained on it as {'numbers' if text else 'text'}: the column's type "
                    f"changed; use another --serving-dir or model name, or fix the data.")

    def __call__(self, features: dict[str, np.ndarray], batch_size: int = 1024) -> np.ndarray:
        """Positive-class probabilities of rows given as {CSV column: values}, batch by batch."""
        import tensorflow as tf

        self.check(features)
        rows = len(np.asarray(features[next(iter(self.inputs))]))
        out = []
        for start in range(0, rows, batch_size):
            batch = {name: tf.constant(np.asarray(features[column])[start:start + batch_size],
                                       dtype=self.wanted[name].dtype) for column, name in self.inputs.items()}
            out.append(self.signature(**batch)["positive_probability"].numpy())
        return np.concatenate(out) if out else np.zeros(0, np.float32)


def column_record(model_dir: Path) -> dict:
    """The model's columns.json (CSV column -> input, label, decision), read once; {} when it has none."""
    path = Path(model_dir) / filenames.MODEL_COLUMNS
    if not path.exists():
        return {}
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(record, dict) or not isinstance(record["inputs"], dict):
            raise TypeError("not a mapping of inputs")
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{path} is not a valid column record ({exc!r}): re-run train to export the model "
                        f"again.") from None
    return record


def model_inputs(model_dir: Path, wanted: dict | None = None, record: dict | None = None) -> dict[str, str]:
    """CSV column -> signature input name, as the model recorded it. A model exported before the record
    existed took its inputs by their CSV names."""
    record = column_record(model_dir) if record is None else record
    if not record:
        if wanted is None:
            raise DataError(f"the model at {model_dir} does not record its input columns ({filenames.MODEL_COLUMNS} "
                            f"is missing): re-run train to export it again.")
        return {name: name for name in wanted}
    inputs = record["inputs"]
    if wanted is not None and sorted(inputs.values()) != sorted(wanted):
        raise DataError(f"{Path(model_dir) / filenames.MODEL_COLUMNS} names inputs {sorted(inputs.values())} but the "
                        f"model's signature takes {sorted(wanted)}: the model directory was altered; re-run train.")
    return inputs


def model_decision(record: dict) -> dict:
    """The model's decision threshold, rule and temperature as its column record holds them; a model exported
    before thresholds were chosen on validation decides at 0.5."""
    decision = record.get("decision")
    if not isinstance(decision, dict) or not 0 <= float(decision.get("threshold", -1)) <= 1:
        return {"threshold": 0.5, "rule": "fixed", "temperature": 1.0}
    return decision


def _load_signature(model_dir: Path, what: str):
    import tensorflow as tf

    try:
        return tf.saved_model.load(str(model_dir)).signatures["serving_default"]
    except (OSError, ValueError, KeyError, tf.errors.OpError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{what} at {model_dir} is not a loadable SavedModel ({first_line}). If it is a "
                        f"deployed version, remove that version directory so the previous one serves.") from None
