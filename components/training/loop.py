"""The trainer's core: the Keras model under a tf.distribute strategy, with TensorBoard, early stopping and
resume; no flags, no step paths. components/steps/train.py is the step around it (spec, run, CLI).

`train_and_evaluate(config, split_dir, workdir, strategy)` is the tested core; `export` writes the SavedModel
whose signature takes raw columns.
"""
from __future__ import annotations

import logging
import math
import signal
import threading
from pathlib import Path
from typing import Any, NamedTuple, Sequence

from components import storage
from components.config.train import TrainConfig
from components.core import filenames
from components.core.errors import DataError, InfraError, TrainingError
from components.data.features import FeatureSet
from components.model.decision import decide
from components.model.keras_compat import keras
from components.model.mlp import build_classifier
from components.model.preprocessing import Preprocessor
from components.model.serving import serving_module, training_values
from components.model.wide_deep import WideDeepPreprocessor, build_wide_deep
from components.reports import tensorboard
from components.storage import datasets
from components.training import callbacks as callbacks_lib
from components.training import inputs

log = logging.getLogger(__name__)
ADAPT_ROWS = 200_000  # means, variances and vocabularies settle long before this many rows


class Fit(NamedTuple):
    module: Any
    signature: Any
    history: dict
    teacher: str


def fit_model(config: TrainConfig, split_dir: Path, workdir: Path, strategy, chief: bool = True,
                       backup_root: Path | None = None, extra_callbacks: Sequence = ()):
    """Fit on the train split with early stopping on validation; returns the serving module, its signature,
    the history and the teacher distilled ('' for none).

    workdir receives logs/ and history.json (non-chief workers pass a scratch directory); backup_root
    (default workdir) the checkpoints and early-stopping state, which every worker must share.
    extra_callbacks run after all of ours (bench/speed.py times whole epochs with one).
    """
    import tensorflow as tf

    keras().utils.set_random_seed(config.fit.seed)
    config = with_checkpoint_steps(config)
    spec = FeatureSet.from_dict(storage.read_json(Path(split_dir) / filenames.FEATURES))
    counts = storage.read_json(Path(split_dir) / filenames.SPLIT_SUMMARY)["splits"]
    replicas = strategy.num_replicas_in_sync
    global_batch = config.fit.batch_size * replicas if config.fit.per_replica_batch else config.fit.batch_size
    log.info("global batch %d (%d per replica x %d replicas)", global_batch, global_batch // replicas, replicas)

    backup_root = Path(backup_root or workdir)
    multi_worker = isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
    in_memory, teacher = inputs.placement(config, counts["train"]["rows"], multi_worker)
    # Kept in memory, the training split is read once: its first rows are the adaptation sample.
    train_raw = inputs.raw_split(split_dir, "train", spec) if in_memory else None
    sample = ({name: values[:ADAPT_ROWS] for name, values in train_raw[0].items()} if in_memory else
              datasets.to_numpy(datasets.raw_batches(split_dir, "train", spec, ADAPT_ROWS).take(1),
                                filenames.split_path(split_dir, "train"))[0])
    preprocessor = WideDeepPreprocessor(spec, config) if config.family == "wide_deep" else Preprocessor(spec, config)
    preprocessor.adapt(sample)
    seen = training_values(sample, spec)
    del sample

    with strategy.scope():
        # XLA only on a single replica: a distributed step's collectives stay outside XLA on CPU workers.
        jit = config.execution.jit_compile and replicas == 1 and not multi_worker
        classifier = (build_wide_deep(preprocessor.layout, config, jit) if config.family == "wide_deep" else
                      build_classifier(preprocessor.width, config, jit_compile=jit))
        # The optimizer's slots exist before the first step: a tf.function whose first trace creates variables is
        # traced a second time, and the training loop's trace is the largest part of the first epoch.
        classifier.optimizer.build(classifier.trainable_variables)
    if chief:
        tensorboard.start_session(Path(workdir) / filenames.LOGS, tensorboard.hparam_values(
            config, replicas, global_batch, tensorboard.data_digest(Path(split_dir))))
    data = inputs.fit_data(config, split_dir, spec, preprocessor, train_raw, counts, global_batch, teacher,
                           multi_worker)
    del train_raw
    history = _fit(classifier, config, data, workdir, backup_root, chief, strategy, list(extra_callbacks))
    check_progress(history, counts["train"]["positive_fraction"], config)
    decision = decide_on_validation(classifier, preprocessor, split_dir, spec, config)
    module, signature = serving_module(preprocessor, classifier, spec, decision, seen)
    return Fit(module, signature, history, teacher)


def decide_on_validation(classifier, preprocessor, split_dir: Path, spec: FeatureSet, config: TrainConfig):
    """The decision threshold (and temperature) from the validation split only: the test split stays unseen.
    Read batch by batch, so a streamed split is never held whole."""
    import numpy as np

    scores, labels = [], []
    for features, y in datasets.raw_batches(split_dir, "validation", spec, 8192):
        scores.append(classifier(preprocessor(features), training=False).numpy()[:, 1])
        labels.append(y.numpy())
    return decide(np.concatenate(labels), np.concatenate(scores), config.decision.decision_rule,
                  config.decision.payoffs,
                               config.decision.temperature_scaling)


def with_checkpoint_steps(config: TrainConfig) -> TrainConfig:
    """Keras runs callbacks once per execution of `steps_per_execution` steps, so BackupAndRestore can only
    save between executions: with `checkpoint_every_steps`, the steps per execution become the largest
    divisor of it that is not above the configured value, and checkpoints land exactly every N steps."""
    every = config.execution.checkpoint_every_steps
    if not every:
        return config
    steps = max(d for d in range(1, min(every, config.execution.steps_per_execution) + 1) if every % d == 0)
    return config.with_values(steps_per_execution=steps)


def check_progress(history: dict, positive_fraction: float, config: TrainConfig) -> None:
    """Fail when training diverged, or learned nothing beyond always predicting the label balance."""
    losses = history.get("loss", [])
    if any(not math.isfinite(v) for v in losses):
        raise TrainingError(f"training diverged (loss {losses[-1]}): lower the learning rate (now "
                            f"{config.fit.learning_rate}: --set train.learning_rate={config.fit.learning_rate / 10:g}) "
                            f"or check the data for extreme values (validate/report.html shows each column's range).")
    val_losses = history.get("val_loss", [])
    p = min(max(positive_fraction, 1e-6), 1 - 1e-6)
    prior_loss = -(p * math.log(p) + (1 - p) * math.log(1 - p))
    if val_losses and min(val_losses) > 0.98 * prior_loss:
        raise TrainingError(f"training made no progress: best validation loss {min(val_losses):.4f} is no better "
                            f"than {prior_loss:.4f}, the loss of always predicting the label balance. Check the "
                            f"data for extreme values (validate/report.html shows each column's range) or change "
                            f"the learning rate (now {config.fit.learning_rate}: e.g. --set "
                            f"train.learning_rate={config.fit.learning_rate / 10:g}).")


def _fit(classifier, config: TrainConfig, data: inputs.FitData, workdir: Path, backup_root: Path, chief: bool,
         strategy, extra_callbacks: list) -> dict:
    import tensorflow as tf

    k = keras()
    multi_worker = isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
    # Workers must all save at the same epochs (their clocks differ), and step checkpoints need the
    # early-stopping state of every epoch: both save it every epoch.
    execution = config.execution
    clock = callbacks_lib.CheckpointClock(0 if multi_worker or execution.checkpoint_every_steps
                                          else execution.checkpoint_secs)
    backup = callbacks_lib.clocked_backup(backup_root / filenames.BACKUP, clock,
                                          execution.checkpoint_every_steps // execution.steps_per_execution or "epoch")
    early_stopping = callbacks_lib.resumable_early_stopping(backup_root / filenames.EARLY_STOPPING,
                                                            config.fit.patience, chief,
                                                            clock)
    # Keras' validation pass sets up an iterator and a test loop every epoch (~10 ms, as long as the
    # training steps of a bank epoch); a split in memory is scored in one call, before the callbacks
    # that read val_loss.
    validation = [callbacks_lib.whole_split_validation(*data.validation_rows)] if data.validation_rows else []
    callbacks = [
        k.callbacks.TerminateOnNaN(),
        *validation,
        # Epoch state (early stopping, history) is written before the checkpoint: after a kill between
        # the two, the restart redoes that epoch and overwrites it, so the history never has a gap.
        early_stopping,
        # after the validation pass, which it reads; the learning rate it sets is saved with the optimizer
        *([k.callbacks.ReduceLROnPlateau(factor=0.5, patience=config.fit.reduce_lr_patience, verbose=0)]
          if config.fit.reduce_lr_patience else []),
        callbacks_lib.learning_rate_to_logs(),
        callbacks_lib.epoch_log(Path(workdir) / filenames.HISTORY if chief else None, config.fit.epochs),
        *callbacks_lib.training_callbacks(config.fit.epochs, chief),  # steps within an epoch, when asked for
        # BackupAndRestore and TensorBoard send non-chief workers' writes to temporary directories.
        backup,
        callbacks_lib.epoch_callback(Path(workdir) / filenames.LOGS, config.execution.histogram_freq),
        *extra_callbacks,
    ]
    sigterm = callbacks_lib.stop_on_sigterm(backup, early_stopping, save=not multi_worker)
    main_thread = threading.current_thread() is threading.main_thread()
    previous_handler = signal.getsignal(signal.SIGTERM) if main_thread else None
    try:
        history = classifier.fit(
            data.train, validation_data=data.validation, steps_per_epoch=data.steps,
            validation_steps=data.validation_steps, epochs=config.fit.epochs,
            callbacks=callbacks + [sigterm] if main_thread else callbacks, verbose=0)
    except Exception as exc:
        raise _fit_error(exc, sigterm, multi_worker, data.source, backup_root) from None
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous_handler or signal.SIG_DFL)
    if chief:
        callbacks_lib.clear(backup_root / filenames.EARLY_STOPPING)
    return history.history


def _fit_error(exc: Exception, sigterm, multi_worker: bool, source, backup_root: Path) -> Exception:
    """What a failed fit means: stopped by SIGTERM (75, state saved), damaged data (3), a lost peer worker
    (75, retryable); anything else is raised as it is."""
    import tensorflow as tf

    if sigterm.fired is not None:  # whatever TensorFlow made of the Preempted raised in the signal handler
        sigterm.save_state()
        return InfraError(f"training stopped: {sigterm.fired}; the checkpoint in {backup_root / filenames.BACKUP} "
                          f"is complete. Re-run the same command (same --run-id) to resume.")
    if isinstance(exc, (tf.errors.DataLossError, tf.errors.InvalidArgumentError)):
        return DataError(f"cannot read the training data in {source}: {datasets.tf_error_text(exc)}. Re-run the "
                         f"split component.")
    if multi_worker and isinstance(exc, (tf.errors.UnavailableError, tf.errors.AbortedError,
                                         tf.errors.CancelledError)):
        # "Collective ops is aborted by: ... heartbeat timeout": a peer died. Retryable: every worker restarts
        # and resumes from the last epoch checkpoint, which all of them saved together.
        return InfraError(f"another training worker was lost ({datasets.tf_error_text(exc)}); every worker must "
                          f"restart and resume from the checkpoint in {backup_root / filenames.BACKUP}. Re-run "
                          f"(on Kubernetes the Job retries exit 75 by itself).")
    return exc


def export(module, signature, path: Path) -> None:
    import tensorflow as tf

    with storage.atomic_dir(path) as tmp:
        tf.saved_model.save(module, str(tmp), signatures={"serving_default": signature})
        # Beside the graph (TensorFlow Serving's assets.extra): readable without TensorFlow, by evaluate, push
        # and any scoring code that has rows by their CSV column names.
        storage.write_text(tmp / filenames.MODEL_COLUMNS, module.columns().numpy().decode("utf-8"))
