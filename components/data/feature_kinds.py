"""What the training rows say about each column, beyond numeric or categorical (pure NumPy): the calendar
(a month column and a day-of-month column), sentinel codes in numerics (pdays = -1 for "never contacted"),
and heavy tails. Decided from the values, never from a column's name, so any CSV of this kind gets the same
treatment; whatever is not found is skipped with a log line.
"""
from __future__ import annotations

import dataclasses
import logging

import numpy as np

log = logging.getLogger(__name__)
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
SENTINEL_MIN_SHARE = 0.01  # a code in fewer rows than this is just a value
SKEW_FOR_LOG = 1.0         # above this skewness a column is log-scaled (balance, duration, campaign: 2-8 here)


@dataclasses.dataclass(frozen=True)
class NumericKind:
    """How one numeric column enters the network: sentinel codes become flags (and the median in the value),
    heavy tails a signed log."""
    sentinels: tuple[float, ...] = ()
    fill: float = 0.0
    log: bool = False


def month_column(categorical: dict[str, np.ndarray]) -> str | None:
    """The text column whose values are month names (jan, Feb, march...): the first found."""
    for name, values in categorical.items():
        prefixes = np.char.lower(np.char.strip(as_text(values))).astype("<U3")
        known = np.isin(prefixes, MONTHS)
        if known.mean() >= 0.99 and len(np.unique(prefixes[known])) >= 2:
            return name
    return None


def day_column(numeric: dict[str, np.ndarray]) -> str | None:
    """The numeric column that looks like a day of the month: whole numbers in 1..31 spread over the month
    (20+ distinct values, median 8..24: a count such as `campaign` also fits in 1..31 but piles up at 1-3);
    the one with the most distinct values if several do."""
    found = []
    for name, values in numeric.items():
        values = np.asarray(values, np.float64)
        if len(values) and np.all(values == np.round(values)) and values.min() >= 1 and values.max() <= 31 \
                and 8 <= np.median(values) <= 24:
            found.append((len(np.unique(values)), name))
    found = [item for item in found if item[0] >= 20]
    return max(found, key=lambda item: item[0])[1] if found else None


def calendar(numeric: dict[str, np.ndarray], categorical: dict[str, np.ndarray]) -> tuple[str | None, str | None]:
    """(month column, day column); a day is only looked for beside a month (alone, 1..31 says too little).
    What is not found is a debug line: the defaults adapt to any data without noise about what it lacks."""
    month = month_column(categorical)
    if month is None:
        log.debug("calendar features skipped: no text column holds month names")
        return None, None
    day = day_column(numeric)
    if day is None:
        log.debug("day-of-year features skipped: no numeric column looks like a day of the month (whole numbers "
                 "1..31)")
    return month, day


def numeric_kind(name: str, values: np.ndarray, candidates: tuple[float, ...]) -> NumericKind:
    """Sentinels: candidate codes found in at least 1% of rows at the column's edge (its min or max: an
    out-of-band code, not an ordinary value in the middle of the range)."""
    values = np.asarray(values, np.float64)
    edges = (values.min(), values.max()) if len(values) else ()
    codes = tuple(c for c in candidates if c in edges and np.mean(values == c) >= SENTINEL_MIN_SHARE)
    rest = values[~np.isin(values, codes)] if codes else values
    fill = float(np.median(rest)) if len(rest) else 0.0
    if codes:
        log.info("numeric column %s: value(s) %s in %.0f%% of rows read as a code (a flag, and the median %g "
                 "in the value)", name, list(codes), 100 * np.mean(np.isin(values, codes)), fill)
    heavy = len(rest) > 2 and rest.std() > 0 and abs(_skew(rest)) > SKEW_FOR_LOG
    return NumericKind(codes, fill, bool(heavy))


def _skew(values: np.ndarray) -> float:
    centred = values - values.mean()
    return float(np.mean(centred ** 3) / np.mean(centred ** 2) ** 1.5)


def day_of_year(month_index: np.ndarray, day: np.ndarray) -> np.ndarray:
    """month (0-11) x 31 + day: an ordered date without its year (the order the campaign's periods follow)."""
    return np.asarray(month_index, np.float64) * 31 + np.asarray(day, np.float64)


def month_index(values: np.ndarray) -> np.ndarray:
    prefixes = np.char.lower(np.char.strip(as_text(values))).astype("<U3")
    lookup = {m: i for i, m in enumerate(MONTHS)}
    return np.array([lookup.get(p, 0) for p in prefixes], np.float64)


def piecewise_edges(values: np.ndarray, bins: int) -> np.ndarray:
    """Quantile edges for a piecewise-linear encoding (at most bins + 1, distinct)."""
    return np.unique(np.quantile(np.asarray(values, np.float64), np.linspace(0, 1, bins + 1)))


def as_text(values) -> np.ndarray:
    """Unicode strings from str, bytes (tf.string as NumPy gives) or numbers: bytes are UTF-8 (`técnico`),
    which NumPy's own astype(str) would decode as ASCII."""
    values = np.asarray(values)
    if values.dtype.kind == "S":
        return np.char.decode(values, "utf-8")
    if values.dtype.kind == "O":
        return np.array([v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values.ravel()],
                        dtype=str).reshape(values.shape)
    return values.astype(str)
