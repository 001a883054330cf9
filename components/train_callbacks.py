"""Keras callbacks and summaries of the train component: progress lines, epoch history, hyperparameters."""
from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

from components import io
from components.model import keras

log = logging.getLogger("components.train")


def epoch_log(history_path: Path | None, epochs: int):
    """A callback instance; the class is made here so that importing this module does not load Keras."""

    class EpochLog(keras().callbacks.Callback):
        """Logs each epoch, adds the learning rate to the logs (TensorBoard plots it), and keeps
        history.json up to date epoch by epoch, so a resumed run's history covers every epoch."""

        def __init__(self, history_path: Path | None, epochs: int):
            super().__init__()
            self.history_path, self.epochs = history_path, epochs
            self.first_epoch, self.started = None, 0.0

        def on_epoch_begin(self, epoch, logs=None):
            if self.first_epoch is None:
                self.first_epoch = epoch
                if epoch > 0:
                    log.info("resuming train from epoch %d (checkpoint in the backup directory)", epoch + 1)
            self.started = time.monotonic()

        def on_epoch_end(self, epoch, logs=None):
            logs = logs if logs is not None else {}
            logs["learning_rate"] = float(keras().backend.get_value(self.model.optimizer.learning_rate))
            seconds = time.monotonic() - self.started
            shown = " ".join(f"{k} {v:.4f}" for k, v in logs.items() if k != "learning_rate")
            log.info("epoch %d/%d: %s (%.1fs)", epoch + 1, self.epochs, shown, seconds)
            if self.history_path is not None:
                entries = io.read_json(self.history_path) if self.history_path.exists() else []
                entries = [e for e in entries if e["epoch"] < epoch + 1]
                entries.append({"epoch": epoch + 1, "seconds": round(seconds, 3),
                                **{k: float(v) for k, v in logs.items()}})
                io.write_json(self.history_path, entries)

    return EpochLog(history_path, epochs)


def hparams_summary(logs_dir: Path, config, replicas: int, global_batch: int) -> None:
    """The run's hyperparameters for TensorBoard's HParams dashboard."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp

    values = {k: v for k, v in dataclasses.asdict(config).items() if isinstance(v, (int, float, str, bool))}
    values.update(replicas=replicas, global_batch=global_batch)
    with tf.summary.create_file_writer(str(logs_dir / "hparams")).as_default():
        hp.hparams(values)
