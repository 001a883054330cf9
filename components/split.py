"""split: a seeded, stratified train/validation/test split, written as .npz or sharded TFRecord.

Core: `stratified_indices` (pure NumPy). `run` reads the CSV and the validated schema, encodes the label
as 0/1, and writes each split plus features.json (column kinds) and split.json (counts, label balance).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np

from components import artifacts, cli, io
from components.config import SplitConfig
from components.errors import DataError
from components.features import FeatureSpec, encode_labels, feature_columns, require_label, spec_from_schema

log = logging.getLogger(__name__)


def stratified_indices(labels: np.ndarray, config: SplitConfig) -> dict[str, np.ndarray]:
    """Shuffle each class with the seed, cut it by the fractions, so every split keeps the label balance."""
    rng = np.random.default_rng(config.seed)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in artifacts.SPLITS}
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
        io.save_npz(directory / artifacts.NPZ_NAME, columns)
    else:
        io.write_tfrecord_shards(directory, name, columns, config.shards)


def run(config: SplitConfig, inputs: dict, outputs: dict) -> dict:
    """inputs: data (CSV), schema (the validated .pbtxt); outputs: output dir."""
    frame = io.read_csv(inputs["data"])
    require_label(frame, config.label)
    spec: FeatureSpec = spec_from_schema(io.load_schema(inputs["schema"]), config.label)
    labels = encode_labels(frame[config.label], config.label)
    columns = feature_columns(frame, spec)
    columns[spec.label] = labels
    indices = stratified_indices(labels, config)

    out = Path(outputs["output"])
    for name, index in indices.items():
        with io.atomic_dir(artifacts.split_path(out, name)) as tmp:
            write_split(tmp, name, {col: values[index] for col, values in columns.items()}, config)
        log.info("%-10s %6d rows -> %s (%s)", name, len(index), artifacts.split_path(out, name), config.format)
    summary = {"format": config.format, "seed": config.seed, "shards": config.shards if config.format ==
               "tfrecord" else None, "splits": summarise(labels, indices)}
    io.write_json(out / artifacts.FEATURES, spec.to_dict())
    io.write_json(out / artifacts.SPLIT_SUMMARY, summary)
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    arg_parser = cli.parser("python -m components.split", "Split a validated CSV into train/validation/test "
                            "sets (stratified, seeded) as .npz or sharded TFRecord.", SplitConfig)
    arg_parser.add_argument("--data", required=True, help="CSV file (the delimiter is detected)")
    arg_parser.add_argument("--schema", required=True, help="the schema validate used (its schema.pbtxt)")
    arg_parser.add_argument("--output", required=True, help="output directory for this component")
    args = cli.parse(arg_parser, argv)
    cli.quiet_tensorflow()

    def main_() -> None:
        config = cli.config_lib.from_flags(SplitConfig, args)
        inputs = {"data": args.data, "schema": args.schema}
        cli.write_result(args.output, run(config, inputs, {"output": args.output}))

    return cli.run_cli(main_, args.debug)


if __name__ == "__main__":
    raise SystemExit(main())
