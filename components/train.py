"""train: the Keras model under a tf.distribute strategy, with TensorBoard, early stopping and resume.

`train_and_evaluate(config, split_dir, workdir, strategy)` is the tested core; `run` adds the strategy
choice and the chief-only export of a SavedModel whose signature takes raw columns.
"""
from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Sequence

from components import artifacts, cli, datasets, io, strategy as strategy_lib
from components.config import TrainConfig
from components.errors import DataError, InfraError, TrainingError
from components.features import FeatureSpec
from components.model import Preprocessor, build_classifier, keras, serving_module
from components.train_callbacks import epoch_log, hparams_summary

log = logging.getLogger(__name__)
ADAPT_ROWS = 1_000_000  # means, variances and vocabularies settle long before this many rows


def train_and_evaluate(config: TrainConfig, split_dir: Path, workdir: Path, strategy, chief: bool = True):
    """Fit on the train split with early stopping on validation; returns (serving module, signature, history).

    workdir receives logs/, backup/ and history.json (non-chief workers pass a scratch directory).
    """
    import tensorflow as tf

    keras().utils.set_random_seed(config.seed)
    spec = FeatureSpec.from_dict(io.read_json(Path(split_dir) / artifacts.FEATURES))
    counts = io.read_json(Path(split_dir) / artifacts.SPLIT_SUMMARY)["splits"]
    replicas = strategy.num_replicas_in_sync
    global_batch = config.batch_size * replicas if config.per_replica_batch else config.batch_size
    log.info("global batch %d (%d per replica x %d replicas)", global_batch, global_batch // replicas, replicas)

    preprocessor = Preprocessor(spec)
    sample, _ = datasets.to_numpy(datasets.raw_batches(split_dir, "train", spec, ADAPT_ROWS).take(1))
    preprocessor.adapt(sample)
    del sample

    def prepared(split: str, shuffle_seed: int | None):
        raw = datasets.raw_batches(split_dir, split, spec, global_batch, shuffle_seed)
        return raw.map(lambda f, y: (preprocessor(f), y), num_parallel_calls=tf.data.AUTOTUNE) \
                  .repeat().prefetch(tf.data.AUTOTUNE)

    with strategy.scope():
        classifier = build_classifier(preprocessor.width, config)
    logs_dir, backup_dir = Path(workdir) / artifacts.LOGS, Path(workdir) / artifacts.BACKUP
    if chief:
        hparams_summary(logs_dir, config, replicas, global_batch)
    callbacks = [
        keras().callbacks.TerminateOnNaN(),
        keras().callbacks.EarlyStopping(monitor="val_loss", patience=config.patience, restore_best_weights=True),
        epoch_log(Path(workdir) / artifacts.HISTORY if chief else None, config.epochs),
        # BackupAndRestore and TensorBoard send non-chief workers' writes to temporary directories.
        keras().callbacks.BackupAndRestore(str(backup_dir)),
        keras().callbacks.TensorBoard(str(logs_dir), histogram_freq=config.histogram_freq, write_graph=True),
    ]
    try:
        history = classifier.fit(
            prepared("train", config.seed), validation_data=prepared("validation", None),
            steps_per_epoch=math.ceil(counts["train"]["rows"] / global_batch),
            validation_steps=math.ceil(counts["validation"]["rows"] / global_batch),
            epochs=config.epochs, callbacks=callbacks, verbose=0)
    except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as exc:
        raise DataError(f"cannot read the split in {split_dir}: {exc.message.splitlines()[0]}. "
                        f"Re-run the split component.") from None
    losses = history.history.get("loss", [])
    if any(not math.isfinite(v) for v in losses):
        raise TrainingError(f"training diverged (loss {losses[-1]}): lower --learning-rate (now "
                            f"{config.learning_rate}) or check the data for extreme values.")
    module, signature = serving_module(preprocessor, classifier, spec)
    return module, signature, history.history


def export(module, signature, path: Path) -> None:
    import tensorflow as tf

    with io.atomic_dir(path) as tmp:
        tf.saved_model.save(module, str(tmp), signatures={"serving_default": signature})


def run(config: TrainConfig, inputs: dict, outputs: dict, tf_config: dict | None = None) -> dict:
    """inputs: split (the split component's output); outputs: output dir (model/, logs/, backup/)."""
    choice, strategy = strategy_lib.select(config.strategy, tf_config, config.cpu_replicas)
    chief = strategy_lib.is_chief(tf_config)
    out = Path(outputs["output"])
    # Other workers run the same steps (collectives need them) but write into scratch space.
    workdir = out if chief else Path(tempfile.mkdtemp(prefix="train-worker-"))
    try:
        module, signature, history = train_and_evaluate(config, Path(inputs["split"]), workdir, strategy, chief)
        export(module, signature, workdir / artifacts.MODEL)
    finally:
        if not chief:
            shutil.rmtree(workdir, ignore_errors=True)
    result = {"strategy": choice.name, "replicas": strategy.num_replicas_in_sync, "chief": chief,
              "epochs_run": len(history.get("loss", [])), "final": {k: v[-1] for k, v in history.items()}}
    if chief:
        best = min(range(len(history["val_loss"])), key=history["val_loss"].__getitem__)
        result["best_epoch_of_this_session"] = best
        log.info("model exported to %s", out / artifacts.MODEL)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    arg_parser = cli.parser("python -m components.train", "Train the Keras model on a split under a "
                            "tf.distribute strategy; export a SavedModel taking raw columns. Reads "
                            "TF_CONFIG for multi-worker training.", TrainConfig)
    arg_parser.add_argument("--split", required=True, help="the split component's output directory")
    arg_parser.add_argument("--output", required=True, help="output directory for this component")
    args = cli.parse(arg_parser, argv)
    cli.quiet_tensorflow()

    def main_() -> None:
        config = cli.config_lib.from_flags(TrainConfig, args)
        tf_config = _tf_config(os.environ.get("TF_CONFIG"))
        result = run(config, {"split": args.split}, {"output": args.output}, tf_config)
        if result["chief"]:
            cli.write_result(args.output, result)

    return cli.run_cli(main_, args.debug)


def _tf_config(text: str | None) -> dict | None:
    if not text:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InfraError(f"TF_CONFIG is not valid JSON ({exc}): {text[:200]!r}") from None


if __name__ == "__main__":
    raise SystemExit(main())
