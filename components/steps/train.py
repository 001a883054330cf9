"""train: the Keras model on the split, under the tf.distribute strategy the process sees.

The core is components/loop.py (imported when the step runs: TensorFlow is heavy and runners only
need the spec). `run` picks the strategy from TF_CONFIG and the devices; only the chief writes the model,
logs and history, other workers train the same steps in scratch space.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Sequence

from components import storage
from components.config.train import TrainConfig
from components.core import console, filenames
from components.core.errors import InfraError, TrainingError, UsageError
from components.core.interface import ComponentSpec, Input, StepOutput
from components.reports import tensorboard
from components.steps.main import component_main
from components.storage import datasets
from components.training import strategy as strategy_lib

log = logging.getLogger(__name__)

SPEC = ComponentSpec(
    name="train", image="trainer", distributed=True,
    description="Train the Keras model on a split under a tf.distribute strategy; export a SavedModel taking "
                "raw columns. Reads TF_CONFIG for multi-worker training.",
    inputs=(Input("split", StepOutput("split"), "the split component's output directory"),),
    exit_codes=(3, 5, 75))


def check_shards(split_dir: Path, workers: int) -> None:
    """Multi-worker input is sharded by file for TFRecords: every worker needs at least one shard."""
    if workers > 1 and datasets.split_format(split_dir, "train") == "tfrecord":
        shards = len(storage.tfrecord_files(split_dir / "train", "train"))
        if shards < workers:
            raise UsageError(f"the training split has {shards} TFRecord shard(s) for {workers} workers: "
                             f"re-run split with --shards {workers} or more (workers would starve).")


def run(config: TrainConfig, inputs: dict, outputs: dict, tf_config: dict | None = None) -> dict:
    """inputs: split (the split component's output); outputs: output dir (model/, logs/, backup/)."""
    from components.training import loop  # TensorFlow loads only when a step trains (not for --help)

    choice, strategy = strategy_lib.select(config.execution.strategy, tf_config, config.execution.cpu_replicas)
    chief = strategy_lib.is_chief(tf_config)
    out, split_dir = Path(outputs["output"]), Path(inputs["split"])
    check_shards(split_dir, strategy_lib.cluster_size(tf_config))
    # Other workers run the same steps (collectives need them) but write into scratch space.
    workdir = out if chief else Path(tempfile.mkdtemp(prefix="train-worker-"))
    try:
        fit = loop.fit_model(config, split_dir, workdir, strategy, chief, backup_root=out)
        loop.export(fit.module, fit.signature, workdir / filenames.MODEL)
    except TrainingError:
        if chief:  # the trial failed for good (an interrupted one stays open: it resumes)
            tensorboard.end_session(out / filenames.LOGS, False, _history(out))
        raise
    finally:
        if not chief:
            shutil.rmtree(workdir, ignore_errors=True)
    result = {"strategy": choice.name, "replicas": strategy.num_replicas_in_sync, "chief": chief,
              "epochs_this_session": len(fit.history.get("loss", [])), "teacher": fit.teacher}
    if chief:
        tensorboard.end_session(out / filenames.LOGS, True, _history(out))
        result.update(best_of(out))
        log.info("model exported to %s (best epoch %s of %d)%s", out / filenames.MODEL, result["best_epoch"],
                 result["epochs_run"], epoch_limit_hint(result["best_epoch"], result["epochs_run"], config.fit.epochs))
    return result


def epoch_limit_hint(best_epoch: int | None, epochs_run: int, max_epochs: int) -> str:
    """When the last allowed epoch was the best, early stopping never fired: more epochs would likely help."""
    if best_epoch is not None and best_epoch == epochs_run >= max_epochs:
        return f" (the epoch limit stopped a model still improving: raise --epochs, now {max_epochs})"
    return ""


def _history(out: Path) -> list[dict]:
    return storage.read_json(out / filenames.HISTORY) if (out / filenames.HISTORY).exists() else []


def best_of(out: Path) -> dict:
    """The epoch count and the best epoch (lowest validation loss) from history.json."""
    epochs = _history(out)
    best = min(epochs, key=lambda e: e["val_loss"]) if epochs else None
    return {"epochs_run": len(epochs), "best_epoch": best and best["epoch"],
            "best": {k: v for k, v in (best or {}).items() if k != "epoch"}}


def main(argv: Sequence[str] | None = None) -> int:
    # Only the chief's result is the step's: the other workers' would describe their scratch space.
    return component_main(argv, SPEC, TrainConfig, run,
                              run_kwargs=lambda: {"tf_config": _tf_config(os.environ.get("TF_CONFIG"))},
                              keep_result=lambda result: result["chief"])


def _tf_config(text: str | None) -> dict | None:
    if not text:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InfraError(f"TF_CONFIG is not valid JSON ({exc}): {text[:200]!r}") from None


if __name__ == "__main__":
    raise SystemExit(console.entry(main))
