"""split as Beam pipelines (`--beam-pipeline-args`): the rows, shards and files of the local TFRecord split.

The file is cut into byte ranges that workers read in parallel, each range holding the lines that start in
it, parsed by pandas with the rules of storage.read_csv (our header, detected delimiter, leading spaces
skipped), so every cell is what the local path reads. Two jobs:

1. labels: each range's 0/1 labels, saved beside the output (1 byte a row). The driver concatenates them in
   file order and draws the split with split.stratified_indices and split.row_assignment, exactly as the
   streaming split does: the same seed and data give the same rows in each split and shard.
2. rows: each range encodes its rows (feature_columns, encode_examples: the local encoders) into one gzip'd
   part per split and shard; parts are grouped by shard and concatenated in file order into the final
   `<split>-0000k-of-0000N.tfrecord.gz` (concatenated gzip members are one valid gzip stream).

Workers write to the output's file system: on a cluster it must be shared (LOOPBACK: the same machine).
CSV rows with line breaks inside quotes are not supported here (a range starts at a line break).
"""
from __future__ import annotations

import io
import math
import re
import shutil
from pathlib import Path

import apache_beam as beam
import numpy as np

from components import storage
from components.beam import jobs
from components.core import filenames
from components.core.errors import DataError
from components.data.features import FeatureSet, encode_labels, feature_columns
from components.storage.tables import ragged_error

RANGE_MIN_BYTES = 256 * 1024      # small files still get several ranges (the parallel path is exercised)
RANGE_MAX_BYTES = 32 * 2**20      # a worker holds one range's rows at a time
RANGES_PER_WORKER = 4             # lets a fast worker take more ranges than a slow one


def byte_ranges(path: Path, parallelism: int) -> list[tuple[int, int, int]]:
    """(number, start, end) covering the data after the header line."""
    with open(path, "rb") as handle:
        handle.readline()
        first = handle.tell()
    size = path.stat().st_size - first
    count = max(1, math.ceil(size / RANGE_MAX_BYTES), min(parallelism * RANGES_PER_WORKER,
                                                          math.ceil(size / RANGE_MIN_BYTES)))
    bounds = [first + size * k // count for k in range(count + 1)]
    return [(k, bounds[k], bounds[k + 1]) for k in range(count)]


def read_range(path: str, start: int, end: int) -> tuple[int, bytes]:
    """The lines whose first byte lies in [start, end), and the offset of the first: a line cut by `start`
    belongs to the range before."""
    with open(path, "rb") as handle:
        handle.seek(max(start - 1, 0))
        if start > 0 and handle.read(1) != b"\n":
            handle.readline()
        at = handle.tell()
        if at >= end:
            return at, b""
        block = handle.read(end - at)
        return at, block if block.endswith(b"\n") else block + handle.readline()


class RangeReader:
    """Reads one byte range as a DataFrame by storage.read_csv's rules; picklable (sent to workers)."""

    def __init__(self, path: Path, delimiter: str, header: list[str]):
        self.path, self.delimiter, self.header = str(path), delimiter, header

    def frame(self, start: int, end: int, usecols=None):
        import pandas as pd

        at, block = read_range(self.path, start, end)
        if not block.strip():
            return None
        try:
            return pd.read_csv(io.BytesIO(block), sep=self.delimiter, skipinitialspace=True, encoding="utf-8",
                               header=None, names=self.header, usecols=usecols)
        except UnicodeDecodeError:
            raise DataError(f"{jobs.NOT_UTF8} {self.path}") from None
        except pd.errors.ParserError as exc:  # pandas counts lines from the range's start: count from the file's
            before = lines_before(self.path, at)
            message = re.sub(r"line (\d+)", lambda m: f"line {int(m.group(1)) + before}", str(exc).strip())
            raise ragged_error(self.path, message) from None


def lines_before(path: str, offset: int) -> int:
    with open(path, "rb") as handle:
        return sum(block.count(b"\n") for block in iter(lambda: handle.read(min(1 << 20, offset - handle.tell())),
                                                        b""))


class SaveLabels(beam.DoFn):
    def __init__(self, reader: RangeReader, label: str, scratch: Path):
        self.reader, self.label, self.scratch = reader, label, str(scratch)

    def process(self, item):
        number, start, end = item
        frame = self.reader.frame(start, end, usecols=[self.label])
        labels = np.empty(0, np.int8) if frame is None else \
            encode_labels(frame[self.label], self.label, require_both=False).astype(np.int8)
        np.save(Path(self.scratch) / f"labels-{number:06d}.npy", labels)
        yield number


class WriteParts(beam.DoFn):
    """One range's rows -> a gzip'd TFRecord part per (split, shard); yields ((split, shard), (range, part))."""

    def __init__(self, reader: RangeReader, spec: FeatureSet, shards: int, scratch: Path):
        self.reader, self.spec, self.shards, self.scratch = reader, spec.to_dict(), shards, str(scratch)

    def process(self, item):
        import tensorflow as tf

        from components.storage.splits import encode_examples  # on the worker, beside TensorFlow

        number, start, end, first_row = item
        frame = self.reader.frame(start, end)
        if frame is None:
            return
        spec = FeatureSet.from_dict(self.spec)
        columns = feature_columns(frame, spec)
        columns[spec.label] = encode_labels(frame[spec.label], spec.label, require_both=False)
        rows = slice(first_row, first_row + len(frame))
        split_of_row = np.load(Path(self.scratch) / "split_of_row.npy", mmap_mode="r")[rows]
        shard_of_row = np.load(Path(self.scratch) / "shard_of_row.npy", mmap_mode="r")[rows]
        for split_number, name in enumerate(filenames.SPLITS):
            for shard in range(self.shards):
                mine = np.flatnonzero((split_of_row == split_number) & (shard_of_row == shard))
                if not len(mine):
                    continue
                part = Path(self.scratch) / "parts" / f"{name}-{shard:05d}-{number:06d}.tfrecord.gz"
                with tf.io.TFRecordWriter(str(part), options="GZIP") as writer:
                    for record in encode_examples({c: v[mine] for c, v in columns.items()}):
                        writer.write(record)
                yield (split_number, shard), (number, str(part))


class MergeShard(beam.DoFn):
    """A shard's parts, in file order, concatenated into its final file."""

    def __init__(self, directories: list[Path], shards: int):
        self.directories, self.shards = [str(d) for d in directories], shards

    def process(self, item):
        (split_number, shard), parts = item
        name = filenames.SPLITS[split_number]
        target = Path(self.directories[split_number]) / storage.tfrecord_shard_name(name, shard, self.shards)
        with open(target, "wb") as out:
            for _, part in sorted(parts):
                with open(part, "rb") as source:
                    shutil.copyfileobj(source, out, 1 << 20)
                Path(part).unlink()
        yield str(target)


def parallelism(flags: list[str]) -> int:
    from apache_beam.options.pipeline_options import FlinkRunnerOptions

    value = jobs.pipeline_options(flags).view_as(FlinkRunnerOptions).parallelism
    return value if value and value > 0 else 2


def labels_job(reader: RangeReader, ranges, label: str, flags: list[str], scratch: Path) -> list[np.ndarray]:
    """Job 1: each range's 0/1 labels, in file order (1 byte a row, on the driver)."""
    def build(pipeline):
        _ = (pipeline | "Ranges" >> beam.Create(ranges) | "Spread" >> beam.Reshuffle()
             | "SaveLabels" >> beam.ParDo(SaveLabels(reader, label, scratch)))

    jobs.run(build, flags, f"the Beam split's label job on {reader.path}", data=reader.path,
                    job="bankpipe-split-labels")
    return [np.load(scratch / f"labels-{number:06d}.npy").astype(np.int64) for number, _, _ in ranges]


def rows_job(reader: RangeReader, ranges, counts, spec: FeatureSet, directories: list[Path], shards: int,
             flags: list[str], scratch: Path) -> None:
    """Job 2: every row encoded and written to its split and shard (drawn by the driver, saved in scratch)."""
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).tolist()
    items = [(number, start, end, first) for (number, start, end), first in zip(ranges, starts)]
    (scratch / "parts").mkdir(exist_ok=True)

    def build(pipeline):
        _ = (pipeline | "Ranges" >> beam.Create(items) | "Spread" >> beam.Reshuffle()
             | "WriteParts" >> beam.ParDo(WriteParts(reader, spec, shards, scratch))
             | "ByShard" >> beam.GroupByKey()
             | "MergeShards" >> beam.ParDo(MergeShard(directories, shards)))

    jobs.run(build, flags, f"the Beam split's row job on {reader.path}", data=reader.path,
                    job="bankpipe-split-rows")
