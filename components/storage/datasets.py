"""tf.data input from the split files (.npz or gzip'd TFRecord shards); the readers of io's formats.

Rows come out as (features dict of raw columns, label). Sharding for multi-worker training is set
explicitly: by file for TFRecord shards, by data for .npz (a single file cannot be split by file).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from components import storage
from components.core import filenames
from components.core.errors import DataError
from components.data.features import FeatureSet


def _tf():
    import tensorflow as tf

    return tf


def split_format(split_dir: Path, split: str) -> str:
    directory = filenames.split_path(split_dir, split)
    if (directory / filenames.NPZ_NAME).exists():
        return "npz"
    if list(directory.glob("*.tfrecord.gz")):
        return "tfrecord"
    raise DataError(f"no split files in {directory}: expected {filenames.NPZ_NAME} or *.tfrecord.gz shards; "
                    f"re-run the split component.")


def load_npz_split(split_dir: Path, split: str, spec: FeatureSet) -> dict[str, np.ndarray]:
    path = filenames.split_path(split_dir, split) / filenames.NPZ_NAME
    arrays = storage.load_npz(path)
    missing = [c for c in (*spec.columns, spec.label) if c not in arrays]
    if missing:
        raise DataError(f"{path} lacks columns {missing}: it was not written by this split; re-run split.")
    return arrays


def parse_spec(spec: FeatureSet) -> dict:
    tf = _tf()
    parsing = {name: tf.io.FixedLenFeature([], tf.float32) for name in spec.numeric}
    parsing.update({name: tf.io.FixedLenFeature([], tf.string) for name in spec.categorical})
    parsing[spec.label] = tf.io.FixedLenFeature([], tf.int64)
    return parsing


def raw_batches(split_dir: Path, split: str, spec: FeatureSet, batch_size: int, shuffle_seed: int | None = None):
    """Batched (features, label) of one split; shuffled each epoch when a seed is given."""
    tf = _tf()
    fmt = split_format(split_dir, split)
    options = tf.data.Options()
    if fmt == "npz":
        arrays = load_npz_split(split_dir, split, spec)
        features = {name: arrays[name] for name in spec.columns}
        dataset = tf.data.Dataset.from_tensor_slices((features, arrays[spec.label]))
        if shuffle_seed is not None:
            dataset = dataset.shuffle(len(arrays[spec.label]), seed=shuffle_seed, reshuffle_each_iteration=True)
        dataset = dataset.batch(batch_size)
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    else:
        files = storage.tfrecord_files(filenames.split_path(split_dir, split), split)
        dataset = tf.data.Dataset.from_tensor_slices(files)
        dataset = dataset.interleave(lambda f: tf.data.TFRecordDataset(f, compression_type="GZIP"),
                                     cycle_length=min(4, len(files)), num_parallel_calls=tf.data.AUTOTUNE,
                                     deterministic=True)
        if shuffle_seed is not None:
            dataset = dataset.shuffle(10_000, seed=shuffle_seed, reshuffle_each_iteration=True)
        parsing = parse_spec(spec)
        dataset = dataset.batch(batch_size).map(lambda b: tf.io.parse_example(b, parsing),
                                                num_parallel_calls=tf.data.AUTOTUNE)
        dataset = dataset.map(lambda row: ({n: row[n] for n in spec.columns}, row[spec.label]))
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.FILE
    return dataset.with_options(options)


def tf_error_text(exc) -> str:
    """TensorFlow's message without its internal function names and op tags."""
    text = re.sub(r"\{\{[^}]*\}\}|\[Op:[^\]]*\]|name: ?$", "", exc.message.strip().splitlines()[0])
    return text.strip(" '") or type(exc).__name__


def to_numpy(dataset, source: Path) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Materialise a batched dataset (small splits: the test set, an adaptation sample)."""
    tf = _tf()
    features: dict[str, list] = {}
    labels = []
    try:
        for batch, label in dataset.as_numpy_iterator():
            for name, values in batch.items():
                features.setdefault(name, []).append(values)
            labels.append(label)
    except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as exc:
        raise DataError(f"split files in {source} are corrupt or truncated ({tf_error_text(exc)}): "
                        f"re-run the split component.") from None
    if not labels:
        raise DataError(f"the split in {source} is empty: re-run the split component with more data.")
    return {n: np.concatenate(v) for n, v in features.items()}, np.concatenate(labels)
