"""Keras callbacks of the train component: progress lines and history, learning rate for TensorBoard,
early stopping that survives a restart, and a clean stop on SIGTERM.

Callback classes are made inside factory functions so that importing this module does not load Keras.
"""
from __future__ import annotations

import logging
import signal
import time
from pathlib import Path
from typing import Mapping

from components import storage
from components.core import filenames, progress
from components.model.keras_compat import keras

log = logging.getLogger("components.steps.train")


class Preempted(Exception):
    """SIGTERM arrived during training; the state was saved."""


def learning_rate_to_logs():
    """Adds the learning rate to the epoch logs, so the TensorBoard callback after it plots it."""

    class LearningRateToLogs(keras().callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if logs is not None:
                logs["learning_rate"] = float(keras().backend.get_value(self.model.optimizer.learning_rate))

    return LearningRateToLogs()


def whole_split_validation(features, labels):
    """Adds val_loss and val_accuracy of a split held in memory to the epoch logs, in one traced call:
    the same values Keras' validation pass gives (mean cross-entropy, argmax accuracy over all rows)."""
    import tensorflow as tf

    class WholeSplitValidation(keras().callbacks.Callback):
        def on_train_begin(self, logs=None):
            # Reduced by hand: under a distribution strategy Keras refuses a loss that averages itself.
            model, cross_entropy = self.model, keras().losses.SparseCategoricalCrossentropy(reduction="none")

            def score(x, y):
                probabilities = model(x, training=False)
                hits = tf.equal(tf.argmax(probabilities, axis=-1), tf.cast(y, tf.int64))
                return tf.reduce_mean(cross_entropy(y, probabilities)), tf.reduce_mean(tf.cast(hits, tf.float32))

            self.score = tf.function(score, autograph=False)

        def on_epoch_end(self, epoch, logs=None):
            if logs is not None:
                loss, accuracy = self.score(features, labels)
                logs["val_loss"], logs["val_accuracy"] = float(loss), float(accuracy)

    return WholeSplitValidation()


def epoch_log(history_path: Path | None, epochs: int):
    """Logs each epoch and keeps history.json up to date epoch by epoch (chief only: history_path set).

    On a resumed run, entries from the resumed epoch on are replaced, so the history stays continuous.
    """

    class EpochLog(keras().callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.first_epoch, self.started = None, 0.0

        def on_epoch_begin(self, epoch, logs=None):
            if self.first_epoch is None:
                self.first_epoch = epoch
                if epoch > 0:
                    log.info("resuming train from epoch %d (checkpoint in the backup directory)", epoch + 1)
            self.started = time.monotonic()

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            seconds = time.monotonic() - self.started
            shown = " ".join(f"{k} {v:.4f}" for k, v in logs.items() if k != "learning_rate")
            log.info("epoch %d/%d: %s (%.1fs)", epoch + 1, epochs, shown, seconds)
            if history_path is not None:
                entries = storage.read_json(history_path) if history_path.exists() else []
                entries = [e for e in entries if e["epoch"] < epoch + 1]
                entries.append({"epoch": epoch + 1, "seconds": round(seconds, 3),
                                **{k: float(v) for k, v in logs.items()}})
                storage.write_json(history_path, entries)

    return EpochLog()


class CheckpointClock:
    """Decides once per epoch whether that epoch's end saves the resume state (checkpoint and early-stopping
    state together, so a restart finds them at the same epoch). On a small data set an epoch takes tens of
    milliseconds and a checkpoint about as long: saving every `every_secs` bounds the work a kill loses
    without paying for a save each epoch. 0 saves every epoch."""

    def __init__(self, every_secs: float):
        self.every_secs, self.last, self.epoch, self.decision = every_secs, time.monotonic(), None, False

    def due(self, epoch: int) -> bool:
        if epoch != self.epoch:
            now = time.monotonic()
            self.epoch, self.decision = epoch, now - self.last >= self.every_secs
            if self.decision:
                self.last = now
        return self.decision


def resumable_early_stopping(state_dir: Path, patience: int, chief: bool, clock: CheckpointClock):
    """EarlyStopping on val_loss whose counters and best weights are saved with each checkpoint and reloaded
    on a restart, so a resumed run stops where an uninterrupted one would. Only the chief writes the state;
    every worker reads it, so all workers take the same stop decision (collectives need that)."""
    state_file, weights_file = state_dir / filenames.STATE, state_dir / filenames.BEST_WEIGHTS

    class ResumableEarlyStopping(keras().callbacks.EarlyStopping):
        def on_train_begin(self, logs=None):
            super().on_train_begin(logs)
            self.saved_best_epoch = None
            if state_file.exists():
                state = storage.read_json(state_file)
                self.wait, self.best, self.best_epoch = state["wait"], state["best"], state["best_epoch"]
                self.saved_best_epoch = self.best_epoch
                if weights_file.exists():
                    arrays = storage.load_npz(weights_file)
                    self.best_weights = [arrays[f"w{i}"] for i in range(len(arrays))]

        def on_epoch_end(self, epoch, logs=None):
            super().on_epoch_end(epoch, logs)
            if clock.due(epoch):
                self.save_state(epoch)

        def save_state(self, epoch: int) -> None:
            """The state at the end of `epoch` (0-based), as the checkpoint of that epoch needs it."""
            if not chief:
                return
            if self.best_weights is not None and self.best_epoch != self.saved_best_epoch:
                storage.save_npz(weights_file, {f"w{i}": w for i, w in enumerate(self.best_weights)})
                self.saved_best_epoch = self.best_epoch
            storage.write_json(state_file, {"wait": self.wait, "best": float(self.best), "best_epoch": self.best_epoch,
                                       "epoch": epoch + 1})

    return ResumableEarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True)


def clocked_backup(backup_dir: Path, clock: CheckpointClock, save_freq):
    """BackupAndRestore whose epoch-end checkpoint is taken only when the clock says so."""

    class ClockedBackupAndRestore(keras().callbacks.BackupAndRestore):
        def on_epoch_end(self, epoch, logs=None):
            if clock.due(epoch):
                super().on_epoch_end(epoch, logs)

    return ClockedBackupAndRestore(str(backup_dir), save_freq=save_freq)


def stop_on_sigterm(backup, early_stopping, save: bool):
    """On SIGTERM (what Kubernetes sends before evicting a pod) stop training with Preempted, raised from
    the signal handler: no per-batch hook, which would cost more than the batch itself. `save_state()`
    then checkpoints the weights trained so far. Multi-worker runs do not save there: the other workers
    would not join the save; their last epoch checkpoint is complete."""

    class StopOnSigterm(keras().callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.epoch, self.previous, self.fired = 0, None, None

        def on_train_begin(self, logs=None):
            self.previous = signal.signal(signal.SIGTERM, self._handle)

        def _handle(self, signum, frame):
            # Remembered as well as raised: TensorFlow may wrap the exception on its way out (a TypeError
            # when the signal lands while a tf.function binds its inputs), so the caller asks `fired`.
            self.fired = f"SIGTERM during epoch {self.epoch + 1}"
            raise Preempted(self.fired)

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def save_state(self) -> None:
            if save:
                # Recorded as the end of the previous epoch: a restart redoes this epoch from its start
                # with the weights trained so far. tf_keras' _backup() ignores its epoch argument and saves
                # the counters it set at this epoch's start (which a restart would skip), so set them here:
                # the previous epoch, at its last step (what a step-wise checkpoint reads as "epoch done").
                early_stopping.save_state(self.epoch - 1)
                state = backup._training_state
                state._ckpt_saved_epoch.assign(self.epoch - 1)
                state._ckpt_saved_batch.assign((self.params or {}).get("steps", 1) - 1)
                backup._backup(epoch=self.epoch - 1)

        def on_train_end(self, logs=None):
            signal.signal(signal.SIGTERM, self.previous or signal.SIG_DFL)

    return StopOnSigterm()


def clear(state_dir: Path) -> None:
    for path in (state_dir / filenames.STATE, state_dir / filenames.BEST_WEIGHTS):
        path.unlink(missing_ok=True)


def step_line(epoch: int, epochs: int, step: int, steps: int | None, logs: Mapping[str, float],
              seconds: float) -> str:
    """'epoch 3/100: step 640/1000 (64%), loss 0.4123, accuracy 0.8120 (2.1s)'."""
    done = f"step {step}/{steps} ({100 * step / steps:.0f}%)" if steps else f"step {step}"
    shown = "".join(f", {k} {float(v):.4f}" for k, v in logs.items() if k in ("loss", "accuracy"))
    return f"epoch {epoch}/{epochs}: {done}{shown} ({seconds:.1f}s)"


def training_callbacks(epochs: int, chief: bool, env: Mapping[str, str] | None = None) -> list:
    """[a Keras callback logging steps within each epoch] when enabled on the chief, else []."""
    if not (progress.enabled(env) and chief):
        return []
    every = progress.interval(env)

    class StepProgress(keras().callbacks.Callback):
        # Keras calls batch hooks once per execution of steps_per_execution steps: lines come at most that often.
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch, self.ticker = epoch + 1, progress.Ticker(every)

        def on_train_batch_end(self, batch, logs=None):
            if self.ticker.due():
                steps = (self.params or {}).get("steps")
                progress.log.info("%s", step_line(self.epoch, epochs, batch + 1, steps, logs or {},
                                                  self.ticker.elapsed()))

    return [StepProgress()]


def epoch_callback(logs_dir: Path, histogram_freq: int):
    """Keras' TensorBoard callback with epochs counted from 1 (as the log and history.json count them), and
    the model's forward pass as the graph instead of the training loop (a while loop of steps_per_execution
    steps says little about the model)."""
    import tensorflow as tf

    from components.model.keras_compat import keras

    class EpochsFromOne(keras().callbacks.TensorBoard):
        def on_epoch_end(self, epoch, logs=None):
            # Histograms stay on epochs 1, 1 + freq, ... as before; only the step they are shown at moves.
            self._log_epoch_metrics(epoch + 1, logs)
            if self.histogram_freq and epoch % self.histogram_freq == 0:
                self._log_weights(epoch + 1)

        def _write_keras_model_train_graph(self):
            inputs = getattr(self.model, "inputs", None)
            if not inputs:
                return super()._write_keras_model_train_graph()
            forward = tf.function(lambda x: self.model(x, training=False), autograph=False)
            graph = forward.get_concrete_function(tf.TensorSpec(inputs[0].shape, inputs[0].dtype)).graph
            with self._train_writer.as_default(), tf.summary.record_if(True):
                tf.summary.graph(graph)

    return EpochsFromOne(str(logs_dir), histogram_freq=histogram_freq, write_graph=True)
