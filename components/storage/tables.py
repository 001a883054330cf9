"""CSV input: delimiter detection and clear errors for files that are not CSV."""
from __future__ import annotations

import csv
import os
import re
from pathlib import Path

import pandas as pd

from components.core import progress
from components.core.errors import DataError
from components.data.columns import check_header, check_number_formats
from components.data.features import require_label

DELIMITERS = ",;\t|"
SNIFF_BYTES = 64 * 1024

def sniff_delimiter(path: str | os.PathLike) -> str:
    """Detect the delimiter from the head of the file; refuse binary, non-UTF-8 and header-only files."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"data file {path} is a directory: pass the CSV file inside it with --data.")
    if not path.is_file():
        raise DataError(f"data file {path} does not exist: pass an existing CSV with --data.")
    with open(path, "rb") as handle:
        head = handle.read(SNIFF_BYTES)
    if not head.strip():
        raise DataError(f"data file {path} is empty: it needs a header row and data rows.")
    _refuse_encoded(path, head)
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # a multi-byte character cut by the read size is fine
            raise _not_utf8(path) from None
        text = head[:exc.start].decode("utf-8")
    lines = [line for line in text.splitlines() if line.strip()][:200]
    if len(lines) < 2:
        raise DataError(f"data file {path} has a header but no data rows.")
    delimiter = _best_delimiter(lines)
    if delimiter is None:
        raise DataError(f"cannot detect the delimiter of {path}: expected one of "
                        f"{' '.join(repr(d) for d in DELIMITERS)} between the columns of its header.")
    return delimiter


# Leading bytes of files that are CSV only once decoded or decompressed: named, not called "binary".
COMPRESSED = {b"\x1f\x8b": "gzip", b"PK\x03\x04": "zip", b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz",
              b"\x28\xb5\x2f\xfd": "zstd"}
UTF16_BOMS = {b"\xff\xfe": "UTF-16 (little-endian)", b"\xfe\xff": "UTF-16 (big-endian)"}


def _refuse_encoded(path: Path, head: bytes) -> None:
    """Compressed and UTF-16 files are named as such, with the command that makes them plain UTF-8 CSV."""
    kind = next((name for magic, name in COMPRESSED.items() if head.startswith(magic)), None)
    if kind:
        raise DataError(f"data file {path} is {kind}-compressed: decompress it first (e.g. `{_unpack(kind)} "
                        f"{path}`) and pass the CSV inside with --data.")
    utf16 = next((name for bom, name in UTF16_BOMS.items() if head.startswith(bom)), None)
    if utf16 is None and b"\x00" in head[:200] and head[1:200:2].count(b"\x00") > 50:
        utf16 = "UTF-16 (little-endian, without a byte-order mark)"
    if utf16:
        raise DataError(f"data file {path} is {utf16} text: re-save it as UTF-8 (e.g. `iconv -f UTF-16 -t UTF-8 "
                        f"{path} > {path.stem}-utf8.csv`) and pass that file.")
    if b"\x00" in head:
        raise DataError(f"data file {path} looks binary (it holds NUL bytes): pass a text CSV file.")


def _unpack(kind: str) -> str:
    return {"gzip": "gunzip -k", "zip": "unzip", "bzip2": "bunzip2 -k", "xz": "unxz -k", "zstd": "unzstd"}[kind]


def _best_delimiter(lines: list[str]) -> str | None:
    """The delimiter that splits the header into the most columns and most rows into as many.

    Ragged rows do not hide the delimiter (they are reported later, with their line number).
    """
    best, best_score = None, (0.0, 0)
    for delimiter in DELIMITERS:
        widths = [len(row) for row in csv.reader(lines, delimiter=delimiter)]
        if widths[0] < 2:
            continue
        score = (sum(w == widths[0] for w in widths[1:]) / (len(widths) - 1), widths[0])
        if score > best_score:
            best, best_score = delimiter, score
    return best


def read_header(path: str | os.PathLike, delimiter: str) -> list[str]:
    """The header's column names, stripped and checked (a BOM is not part of the first name)."""
    with open(path, encoding="utf-8-sig", newline="", errors="replace") as handle:
        names = next(csv.reader(handle, delimiter=delimiter), [])
    return check_header(names, path)


def _not_utf8(path: str | os.PathLike) -> DataError:
    """Name the first line that is not UTF-8, with its bad bytes: the same message whatever read it."""
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                bad = line[exc.start:exc.end]
                return DataError(f"data file {path} is not UTF-8 text: line {number} holds the byte(s) {bad!r} "
                                 f"(column {exc.start + 1} of that line). Re-save the file as UTF-8.")
    return DataError(f"data file {path} is not UTF-8 text: re-save it as UTF-8.")


def not_utf8_error(path: str | os.PathLike) -> DataError:
    """The error naming the first line of `path` that is not UTF-8 (for readers that cannot tell the line)."""
    return _not_utf8(path)


def _reader(path: str | os.PathLike, **kwargs):
    """pandas' reader with the detected delimiter and the checked header names (so pandas never renames a
    duplicate `x` to `x.1`, and a header name with spaces around it is found by its stripped name)."""
    delimiter = sniff_delimiter(path)
    return pd.read_csv(path, sep=delimiter, skipinitialspace=True, encoding="utf-8", header=0,
                       names=read_header(path, delimiter), **kwargs)


def read_csv(path: str | os.PathLike) -> pd.DataFrame:
    """Read a whole CSV (with a detected delimiter) into a DataFrame; malformed rows raise DataError."""
    try:
        frame = _reader(path)
    except pd.errors.ParserError as exc:
        raise _ragged(path, exc) from None
    except UnicodeDecodeError:
        raise _not_utf8(path) from None
    if frame.empty:
        raise DataError(f"data file {path} has a header but no data rows.")
    return frame


def read_csv_chunks(path: str | os.PathLike, rows: int, usecols: list[str] | None = None):
    """Stream a CSV (detected delimiter) as DataFrames of `rows` rows: for files larger than memory. The
    same names, errors and messages as read_csv, whatever the size."""
    try:
        # progress.counted logs the rows read so far every few seconds when progress is on
        yield from progress.counted(_reader(path, chunksize=rows, usecols=usecols), f"reading {path}")
    except pd.errors.ParserError as exc:
        raise _ragged(path, exc) from None
    except UnicodeDecodeError:
        raise _not_utf8(path) from None
    except ValueError as exc:  # usecols naming a column the header lacks
        if usecols and "usecols" in str(exc).lower():
            raise DataError(f"columns {usecols} are not all in the header of {path}: pass the right --label.") \
                from None
        raise


RAGGED = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def _ragged(path: str | os.PathLike, exc: Exception) -> DataError:
    """One line, without pandas' wording, with the fix: the summary of a run keeps a message's first line."""
    return ragged_error(path, str(exc))


def ragged_error(path: str | os.PathLike, text: str) -> DataError:
    found = RAGGED.search(text)
    if found is None:
        detail = " ".join(text.split()).rstrip(".")
        return DataError(f"{path} has ragged rows ({detail}): every row needs as many fields as the header; fix "
                         f"that row (a stray delimiter, or a quote left open).")
    width, line, saw = found.groups()
    return DataError(f"{path} has ragged rows: line {line} has {saw} fields but the header has {width}; every row "
                     f"needs as many fields as the header: fix that row (a stray delimiter, or a field with the "
                     f"delimiter in it that needs quotes).")


HEAD_ROWS = 10_000  # enough rows to see thousands separators or decimal commas in a column


def checked_head(path: str | os.PathLike, label: str) -> pd.DataFrame:
    """The file's first rows, after the checks every reader makes before a pass over the whole file (the
    label column is there, numbers are not spelled for people): a Beam job then fails early, not late."""
    head = next(read_csv_chunks(path, HEAD_ROWS))
    require_label(head, label)
    check_number_formats(head, path, skip=label)
    return head
