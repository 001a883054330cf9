"""split: a seeded, stratified train/validation/test split, written as .npz or sharded TFRecord.

Core: `stratified_indices` (pure NumPy). `run` reads the CSV and the validated schema, encodes the label
as 0/1, and writes each split plus features.json (column kinds) and split.json (counts, label balance).
"""
from __future__ import annotations

import contextlib
import gzip
import logging
import shutil
from pathlib import Path
from typing import Sequence

import numpy as np

from components import storage
from components.config import grammars
from components.config.sections import SplitConfig
from components.core import console, filenames
from components.core.errors import DataError, UsageError
from components.core.interface import DATA, ComponentSpec, Input, StepOutput
from components.data.features import (
    FeatureSet,
    encode_labels,
    feature_columns,
    require_both_classes,
    require_label,
    spec_from_schema,
)
from components.steps.main import component_main
from components.storage import seen_rows
from components.storage.tables import checked_head

log = logging.getLogger(__name__)

SPEC = ComponentSpec(
    name="split", image="data",
    description="Split a validated CSV into train/validation/test sets (stratified, seeded) as .npz or sharded "
                "TFRecord.",
    inputs=(Input("data", DATA, "CSV file (the delimiter is detected)"),
            Input("schema", StepOutput("validate", filenames.SCHEMA), "the schema validate used (its schema.pbtxt)")),
    result_file=filenames.SPLIT_SUMMARY)


def stratified_indices(labels: np.ndarray, config: SplitConfig) -> dict[str, np.ndarray]:
    """Shuffle each class with the seed, cut it by the fractions, so every split keeps the label balance."""
    rng = np.random.default_rng(config.seed)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in filenames.SPLITS}
    for value in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == value))
        n_train = int(round(len(members) * config.train_fraction))
        n_val = int(round(len(members) * config.validation_fraction))
        cuts = {"train": members[:n_train], "validation": members[n_train:n_train + n_val],
                "test": members[n_train + n_val:]}
        for name, part in cuts.items():
            if len(part) < config.min_rows_per_class:
                raise DataError(f"too few rows to split: class {value} gets {len(part)} row(s) in {name} "
                                f"(at least {config.min_rows_per_class} needed; the data has {len(labels)} rows). "
                                f"Use more data or larger fractions.")
            parts[name].append(part)
    # Shuffle across classes too, so batches and TFRecord shards mix both labels.
    return {name: rng.permutation(np.concatenate(chunks)) for name, chunks in parts.items()}


def summarise(labels: np.ndarray, indices: dict[str, np.ndarray]) -> dict:
    summary = {}
    for name, index in indices.items():
        positives = int(labels[index].sum())
        summary[name] = {"rows": len(index), "positive": positives, "negative": len(index) - positives,
                         "positive_fraction": round(positives / len(index), 4)}
    return summary


def write_split(directory: Path, name: str, columns: dict[str, np.ndarray], config: SplitConfig) -> None:
    if config.format == "npz":
        storage.save_npz(directory / filenames.NPZ_NAME, columns)
    else:
        storage.write_tfrecord_shards(directory, name, columns, config.shards)


def split_in_memory(config: SplitConfig, data: Path, feature_set: FeatureSet, out: Path):
    """Small files: load, shuffle each split as a whole, write. Returns the 0/1 labels."""
    frame = storage.read_csv(data)
    require_label(frame, config.label)
    labels = encode_labels(frame[config.label], config.label)
    columns = feature_columns(frame, feature_set)
    columns[feature_set.label] = labels
    indices = stratified_indices(labels, config)
    for name, index in indices.items():
        with storage.atomic_dir(filenames.split_path(out, name)) as tmp:
            write_split(tmp, name, {col: values[index] for col, values in columns.items()}, config)
        log.info("%-10s %8d rows -> %s (%s)", name, len(index), filenames.split_path(out, name), config.format)
    return labels, indices


def row_assignment(indices: dict[str, np.ndarray], rows: int, shards: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's split (its number in filenames.SPLITS) and shard, for writers that go through the file in
    order (streaming, Beam): the rows and shards the in-memory split writes, whatever the order."""
    split_of_row, shard_of_row = np.empty(rows, np.int8), np.empty(rows, np.int32)
    for number, index in enumerate(indices.values()):
        split_of_row[index] = number
        shard_of_row[index] = np.arange(len(index)) % shards  # balanced shards, as write_tfrecord_shards
    return split_of_row, shard_of_row


def split_streaming(config: SplitConfig, data: Path, feature_set: FeatureSet, out: Path):
    """Big files, in two passes over chunks: labels first (1 byte a row) to draw the stratified split,
    then rows to their split's shards. Rows keep their file order within a shard; training shuffles."""
    if config.format != "tfrecord":
        raise UsageError(f"{data} is larger than stream_threshold_mb ({config.stream_threshold_mb:.0f} MB): "
                         f"split it with --format tfrecord (an .npz split is held in memory).")
    labels = np.concatenate([encode_labels(chunk[config.label], config.label, require_both=False)
                             for chunk in storage.read_csv_chunks(data, config.chunk_rows, usecols=[config.label])])
    require_both_classes(labels, config.label)
    indices = stratified_indices(labels, config)
    split_of_row, shard_of_row = row_assignment(indices, len(labels), config.shards)
    with contextlib.ExitStack() as stack:
        dirs = [stack.enter_context(storage.atomic_dir(filenames.split_path(out, n))) for n in filenames.SPLITS]
        writers = [storage.TFRecordShards(d, n, config.shards) for d, n in zip(dirs, filenames.SPLITS)]
        start = 0
        for chunk in storage.read_csv_chunks(data, config.chunk_rows):
            rows = slice(start, start + len(chunk))
            columns = feature_columns(chunk, feature_set)
            columns[feature_set.label] = labels[rows]
            for number, writer in enumerate(writers):
                mine = split_of_row[rows] == number
                writer.write({c: v[mine] for c, v in columns.items()}, shard_of_row[rows][mine])
            start += len(chunk)
            log.info("streamed %d of %d rows", start, len(labels))
        for writer in writers:
            writer.close()
    return labels, indices


def split_with_beam(config: SplitConfig, data: Path, feature_set: FeatureSet, out: Path):
    """--beam-pipeline-args: the streaming split's rows and shards, written by Beam workers reading the file in
    parallel (components/split.py); the driver holds only the labels and their draw, as the streaming split."""
    from components.beam import split

    flags = grammars.parse_flags(config.beam_pipeline_args)
    head = checked_head(data, config.label)
    reader = split.RangeReader(data, storage.sniff_delimiter(data), list(head.columns))
    ranges = split.byte_ranges(data, split.parallelism(flags))
    scratch = out / ".beam-scratch"
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        per_range = split.labels_job(reader, ranges, config.label, flags, scratch)
        labels = np.concatenate(per_range)
        require_both_classes(labels, config.label)
        indices = stratified_indices(labels, config)
        for name, values in zip(("split_of_row", "shard_of_row"), row_assignment(indices, len(labels), config.shards)):
            np.save(scratch / f"{name}.npy", values)
        with contextlib.ExitStack() as stack:
            dirs = [stack.enter_context(storage.atomic_dir(filenames.split_path(out, n))) for n in filenames.SPLITS]
            split.rows_job(reader, ranges, [len(part) for part in per_range], feature_set, dirs, config.shards, flags,
                                scratch)
            for directory, name in zip(dirs, filenames.SPLITS):  # a shard no row went to is an empty file, as locally
                for shard in range(config.shards):
                    path = directory / storage.tfrecord_shard_name(name, shard, config.shards)
                    if not path.exists():
                        storage.write_bytes(path, gzip.compress(b""))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    for name, index in indices.items():
        log.info("%-10s %8d rows -> %s (tfrecord, Beam)", name, len(index), filenames.split_path(out, name))
    return labels, indices


def run(config: SplitConfig, inputs: dict, outputs: dict) -> dict:
    """inputs: data (CSV), schema (the validated .pbtxt); outputs: output dir."""
    data, out = Path(inputs["data"]), Path(outputs["output"])
    feature_set: FeatureSet = spec_from_schema(storage.load_schema(inputs["schema"]), config.label)
    big = data.is_file() and data.stat().st_size / 1e6 > config.stream_threshold_mb
    way = split_with_beam if config.beam_pipeline_args else split_streaming if big else split_in_memory
    labels, indices = way(config, data, feature_set, out)
    summary = {"format": config.format, "seed": config.seed, "streamed": big or bool(config.beam_pipeline_args),
               "shards": config.shards if config.format == "tfrecord" else None,
               "splits": summarise(labels, indices)}
    storage.write_json(out / filenames.FEATURES, feature_set.to_dict())
    # The identities of the rows a model of this split trains on: push keeps them with the version, so that a
    # later evaluate scores the deployed model only on rows it never saw.
    seen_rows.save(out / filenames.SEEN_ROWS, seen_rows.seen_by_training(out, feature_set))
    storage.write_json(out / filenames.SPLIT_SUMMARY, summary)
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    return component_main(argv, SPEC, SplitConfig, run)


if __name__ == "__main__":
    raise SystemExit(console.entry(main))
