"""Every file format the pipeline reads or writes, in one place, and atomic writes.

A write goes to a hidden sibling first and is renamed into place, so a killed process never leaves a
half-written artifact under the final name. Heavy libraries (TensorFlow, protobuf schemas) are imported
inside the functions that need them, so that light components and tests start fast.
"""
from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import shutil
import uuid
import zipfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd

from components.errors import DataError, InfraError

DELIMITERS = ",;\t|"
SNIFF_BYTES = 64 * 1024


# --- atomic writes -----------------------------------------------------------------------------------

def _aside(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path; on success it replaces `path` in one rename, on failure it is removed."""
    path = Path(path)
    _make_parent(path)
    tmp = _aside(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise InfraError(f"could not write {path}: {exc.strerror or exc}. Check free space and "
                         f"permissions of {path.parent}.") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory that becomes `path` (replacing any old one) only on success."""
    path = Path(path)
    _make_parent(path)
    tmp = _aside(path)
    tmp.mkdir()
    try:
        yield tmp
        old = _aside(path) if path.exists() else None
        if old:
            os.rename(path, old)
        os.rename(tmp, path)
        if old:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise InfraError(f"could not write {path}: {exc.strerror or exc}. Check free space and "
                         f"permissions of {path.parent}.") from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def remove_stale_temporaries(directory: Path) -> list[Path]:
    """Remove temporary siblings left by killed writers (their process is gone); returns what was removed."""
    removed = []
    for path in Path(directory).glob(".*.tmp-*"):
        pid = path.name.rsplit(".tmp-", 1)[1].split("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _make_parent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InfraError(f"cannot create directory {path.parent}: {exc.strerror or exc}.") from exc


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_file(path) as tmp:
        tmp.write_bytes(data)


def write_json(path: str | os.PathLike, value: Any) -> None:
    write_text(path, json.dumps(value, indent=2, sort_keys=True, default=_json_default) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"missing file {path}: did the component that writes it run?") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path} is not valid JSON ({exc}); delete it and re-run its component.") from None


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- CSV ---------------------------------------------------------------------------------------------

def sniff_delimiter(path: str | os.PathLike) -> str:
    """Detect the delimiter from the head of the file; refuse binary, non-UTF-8 and header-only files."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file {path} does not exist (or is not a file): pass an existing CSV with --data.")
    with open(path, "rb") as handle:
        head = handle.read(SNIFF_BYTES)
    if not head.strip():
        raise DataError(f"data file {path} is empty: it needs a header row and data rows.")
    if b"\x00" in head:
        raise DataError(f"data file {path} looks binary (it holds NUL bytes): pass a text CSV file.")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # a multi-byte character cut by the read size is fine
            raise DataError(f"data file {path} is not UTF-8 text (bad byte at offset {exc.start}): "
                            f"re-save it as UTF-8.") from None
        text = head[:exc.start].decode("utf-8")
    lines = [line for line in text.splitlines() if line.strip()][:200]
    if len(lines) < 2:
        raise DataError(f"data file {path} has a header but no data rows.")
    delimiter = _best_delimiter(lines)
    if delimiter is None:
        raise DataError(f"cannot detect the delimiter of {path}: expected one of "
                        f"{' '.join(repr(d) for d in DELIMITERS)} between the columns of its header.")
    return delimiter


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


def read_csv(path: str | os.PathLike) -> pd.DataFrame:
    """Read a whole CSV (with a detected delimiter) into a DataFrame; malformed rows raise DataError."""
    delimiter = sniff_delimiter(path)
    try:
        frame = pd.read_csv(path, sep=delimiter, skipinitialspace=True, encoding="utf-8")
    except pd.errors.ParserError as exc:
        raise DataError(f"{path} has ragged rows: {exc}. Every row needs as many fields as the header.") \
            from None
    except UnicodeDecodeError as exc:
        raise DataError(f"data file {path} is not UTF-8 text ({exc.reason}): re-save it as UTF-8.") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    if frame.empty:
        raise DataError(f"data file {path} has a header but no data rows.")
    return frame


# --- split files: npz and TFRecord --------------------------------------------------------------------

def save_npz(path: str | os.PathLike, columns: dict[str, np.ndarray]) -> None:
    with atomic_file(path) as tmp:
        with open(tmp, "wb") as handle:  # a file object stops numpy from appending another ".npz"
            np.savez_compressed(handle, **columns)


def load_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Load every array of an .npz; pickled objects are refused, never unpickled."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except FileNotFoundError:
        raise DataError(f"split file {path} is missing: re-run the split component.") from None
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise DataError(f"{path} holds pickled Python objects, which are refused for safety: write "
                            f"plain numeric and string arrays (np.savez_compressed).") from None
        raise DataError(f"{path} is not a valid .npz file ({exc}): re-run the split component.") from None
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise DataError(f"{path} is corrupt or truncated ({exc}): re-run the split component.") from None


def tfrecord_shard_name(split: str, shard: int, shards: int) -> str:
    return f"{split}-{shard:05d}-of-{shards:05d}.tfrecord.gz"


def write_tfrecord_shards(directory: Path, split: str, columns: dict[str, np.ndarray], shards: int) -> None:
    """Write rows round-robin into `shards` gzip'd TFRecord files of tf.train.Example."""
    import tensorflow as tf

    rows = len(next(iter(columns.values())))
    for shard in range(shards):
        index = np.arange(shard, rows, shards)
        with atomic_file(directory / tfrecord_shard_name(split, shard, shards)) as tmp:
            with tf.io.TFRecordWriter(str(tmp), options="GZIP") as writer:
                for i in index:
                    writer.write(_example(columns, i).SerializeToString())


def _example(columns: dict[str, np.ndarray], i: int):
    import tensorflow as tf

    feature = {}
    for name, values in columns.items():
        value = values[i]
        if values.dtype.kind in "US":
            feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[str(value).encode()]))
        elif values.dtype.kind in "iub":
            feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))
        else:
            feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=[float(value)]))
    return tf.train.Example(features=tf.train.Features(feature=feature))


def tfrecord_files(directory: Path, split: str) -> list[str]:
    files = sorted(str(p) for p in Path(directory).glob(f"{split}-*-of-*.tfrecord.gz"))
    if not files:
        raise DataError(f"no TFRecord shards for split {split!r} in {directory}: re-run the split component.")
    return files


# --- schema and statistics protos (text format for schemas, so people can review them) ---------------

def load_schema(path: str | os.PathLike):
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"schema file {path} does not exist: pass an existing .pbtxt with --schema, or "
                        f"omit --schema to infer one from the data.") from None
    try:
        return text_format.Parse(text, schema_pb2.Schema())
    except text_format.ParseError as exc:
        raise DataError(f"schema file {path} is not a valid TFDV schema: {exc}.") from None


def save_proto_text(path: str | os.PathLike, message) -> None:
    from google.protobuf import text_format

    write_text(path, text_format.MessageToString(message))


def save_proto_binary(path: str | os.PathLike, message) -> None:
    write_bytes(path, message.SerializeToString())


def load_statistics(path: str | os.PathLike):
    from tensorflow_metadata.proto.v0 import statistics_pb2

    stats = statistics_pb2.DatasetFeatureStatisticsList()
    stats.ParseFromString(Path(path).read_bytes())
    return stats
