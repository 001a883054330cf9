"""The trainer's input: the training and validation splits as repeated batches, held in memory or streamed
from the split files, with the teacher's targets when one is distilled. No model code here.
"""
from __future__ import annotations

import dataclasses
import functools
import logging
import math
from pathlib import Path
from typing import Any

from components.config.grammars import AUTO
from components.config.train import TrainConfig
from components.core import filenames
from components.core.errors import UsageError
from components.data.features import FeatureSet
from components.model import teacher as teacher_lib
from components.model.preprocessing import Preprocessor
from components.storage import datasets

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class FitData:
    """Repeated datasets with explicit step counts: workers with uneven shards still take equal steps.
    A split in memory is validated from `validation_rows` (features, labels) instead of `validation`."""
    train: Any
    validation: Any
    steps: int
    validation_steps: int | None
    source: Path
    validation_rows: tuple | None = None


def placement(config: TrainConfig, rows: int, multi_worker: bool) -> tuple[bool, str]:
    """(hold the training split in memory?, the teacher distilled, '' for none).

    A split of at most cache_rows is preprocessed once and kept in memory: lookups and bins then cost nothing
    per epoch. Multi-worker input streams, each worker reading only its own shards, unless a teacher is
    distilled: its targets come from every training row, so then each worker holds the whole split."""
    fits = rows <= config.execution.cache_rows
    teacher = config.teacher(in_memory=fits)
    if config.distill.teacher == AUTO and config.family == "wide_deep" and not fits:
        log.info("teacher: none (train.teacher=auto: the training split's %d rows are above train.cache_rows %d, "
                 "so it is streamed)", rows, config.execution.cache_rows)
    if teacher and not fits:
        raise UsageError(f"train.teacher={teacher} scores every training row out of fold, so it needs the training "
                         f"split in memory: raise train.cache_rows above {rows} (now {config.execution.cache_rows}), "
                         f"or set train.teacher=''.")
    in_memory = fits and (not multi_worker or bool(teacher))
    log.info("input: %s", "preprocessed once, in memory" if in_memory else "streamed from the split files")
    return in_memory, teacher


def fit_data(config: TrainConfig, split_dir: Path, spec: FeatureSet, preprocessor, train_raw, counts: dict,
             global_batch: int, teacher: str, multi_worker: bool) -> FitData:
    """The training and validation input: batches of the split kept in memory, or streamed from its files."""
    steps = math.ceil(counts["train"]["rows"] / global_batch)
    validation_steps = math.ceil(counts["validation"]["rows"] / global_batch)
    # built only where used: a single worker holding the split validates in memory
    streamed_validation = functools.partial(streamed_batches, split_dir, "validation", spec, preprocessor,
                                            global_batch, None)
    if train_raw is None:
        return FitData(streamed_batches(split_dir, "train", spec, preprocessor, global_batch, config.fit.seed,
                                        full_batches=True), streamed_validation(), steps, validation_steps,
                       Path(split_dir))
    features, labels = train_raw
    # Read once: the teacher stops its rounds on it, and a single worker scores it in memory every epoch.
    validation = raw_split(split_dir, "validation", spec) if teacher or not multi_worker else None
    if teacher:  # training time only: the targets change, the exported model does not
        labels = teacher_lib.soft_labels(features, labels, validation, spec, config.distill.teacher_weight,
                                         config.fit.seed)
    train = shuffled_batches(preprocessor(features), labels, global_batch, config.fit.seed, full_batches=multi_worker)
    if multi_worker:  # every worker holds the same rows: each takes its share of every global batch
        return FitData(train, streamed_validation(), steps, validation_steps, Path(split_dir))
    return FitData(train, None, steps, None, Path(split_dir), (preprocessor(validation[0]), validation[1]))


def raw_split(split_dir: Path, split: str, spec: FeatureSet):
    """(raw feature columns, labels) of a whole split, in file order."""
    return datasets.to_numpy(datasets.raw_batches(split_dir, split, spec, 8192), filenames.split_path(split_dir, split))


def in_memory_split(split_dir: Path, split: str, spec: FeatureSet, preprocessor: Preprocessor):
    """(features matrix, labels) of a whole split, preprocessed once."""
    features, labels = raw_split(split_dir, split, spec)
    return preprocessor(features), labels


def shuffled_batches(features, labels, batch_size: int, shuffle_seed: int, full_batches: bool = False):
    """Shuffled (same seed and buffer as the streamed .npz input, so the same order), batched, repeated.
    `full_batches`: see streamed_batches; every worker shuffles alike (same seed), and the DATA policy gives
    each its share of each batch."""
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((features, labels))
    dataset = dataset.shuffle(len(labels), seed=shuffle_seed, reshuffle_each_iteration=True)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    batches = dataset.repeat().batch(batch_size, drop_remainder=True) if full_batches else \
        dataset.batch(batch_size).repeat()
    return batches.with_options(options).prefetch(tf.data.AUTOTUNE)


def streamed_batches(split_dir: Path, split: str, spec: FeatureSet, preprocessor: Preprocessor, batch_size: int,
                     shuffle_seed: int | None, full_batches: bool = False):
    """Preprocessed batches of a split read from its files, repeated. With `full_batches` (training), a pass's
    last rows continue into the next pass's batch instead of ending it as a smaller one: every worker's batch
    then has the same size at every step. Each worker reads only its own shards, whose row counts differ, and
    the wide_deep embeddings' sparse gradients are all-gathered across workers, which fails inside a multi-step
    execution (steps_per_execution) when the workers' batches differ in size."""
    import tensorflow as tf

    raw = datasets.raw_batches(split_dir, split, spec, batch_size, shuffle_seed).repeat()
    raw = raw.rebatch(batch_size, drop_remainder=True) if full_batches else raw
    return raw.map(lambda f, y: (preprocessor(f), y), num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
