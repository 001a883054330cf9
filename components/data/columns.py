"""Column names and cell spellings as CSVs in the wild have them: checked once, mapped for TensorFlow.

A CSV column may be called `emp.var.rate`, `call duration`, `p/days`, `1st`, `class` or `état`; TensorFlow
signature inputs and Keras layer names may not. The data keeps its own names everywhere (split files,
features.json); only the model's edges use `signature_names`, a deterministic mapping that the exported
model records (model/assets.extra/columns.json) so that evaluate, push and any scoring code feed rows by CSV name.
"""
from __future__ import annotations

import keyword
import re
import unicodedata

import pandas as pd

from components.core.errors import DataError

_NOT_TF = re.compile(r"[^A-Za-z0-9_]+")
# Numbers as spreadsheets write them for people: 1,234 / 1.234.567 / 1 234,5 / 3,14 (decimal comma).
_GROUPED = re.compile(r"^[-+]?\d{1,3}([,.' \u00a0\u202f]\d{3})+([.,]\d+)?$")
_DECIMAL_COMMA = re.compile(r"^[-+]?\d*,\d+$")
_PLAIN = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def tf_name(column: str) -> str:
    """A name TensorFlow accepts as a signature input and Keras as part of a layer name: ASCII letters,
    digits and '_', starting with a letter; accents are dropped (é -> e) rather than the letter."""
    ascii_text = unicodedata.normalize("NFKD", column).encode("ascii", "ignore").decode("ascii")
    name = _NOT_TF.sub("_", ascii_text).strip("_") or "column"
    if not name[0].isalpha():
        name = "c_" + name
    return name + "_" if keyword.iskeyword(name) else name


def signature_names(columns) -> dict[str, str]:
    """CSV name -> unique TensorFlow name, in column order; a clash (`a.b` and `a_b`) gets a suffix _2, _3."""
    taken: set[str] = set()
    names = {}
    for column in columns:
        base = candidate = tf_name(column)
        number = 1
        while candidate in taken:
            number += 1
            candidate = f"{base}_{number}"
        taken.add(candidate)
        names[column] = candidate
    return names


def check_header(names: list[str], path) -> list[str]:
    """Header names, stripped; a name given twice is an error (pandas would silently rename it `x.1`, and a
    second label column would become a feature)."""
    # An empty name (the index column of DataFrame.to_csv) keeps pandas' usual name for it.
    stripped = [name.strip() or f"Unnamed: {number}" for number, name in enumerate(names)]
    seen: set[str] = set()
    for name in stripped:
        if name in seen:
            raise DataError(f"column {name!r} appears twice in the header of {path}: rename or drop one of them "
                            f"(every column needs its own name).")
        seen.add(name)
    return stripped


def check_number_formats(frame: pd.DataFrame, path, skip: str = "") -> None:
    """Text columns whose every cell is a number, some written with thousands separators or a decimal
    comma, are numbers the file spelled for people: say so rather than treating them as categories."""
    for name in frame.columns:
        if name == skip or frame[name].dtype != object:
            continue
        cells = frame[name].dropna().astype(str).str.strip()
        cells = cells[cells != ""]
        if cells.empty:
            continue
        formatted = cells.str.match(_GROUPED) | cells.str.match(_DECIMAL_COMMA)
        if formatted.any() and (formatted | cells.str.match(_PLAIN)).all():
            example = cells[formatted].iloc[0]
            raise DataError(f"column {name!r} of {path} holds numbers written with thousands separators or decimal "
                            f"commas (e.g. {example!r}): write them without separators and with a decimal point "
                            f"(e.g. 1234.5), or quote them as text if they are codes.")
