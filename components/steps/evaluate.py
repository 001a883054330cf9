"""evaluate: score the test split with the exported SavedModel and with the deployed model (baseline).

Loads models from disk (what would be served), never the in-memory Keras model. Writes metrics.json,
ROC / precision-recall / confusion-matrix PNGs, and the same metrics and images to TensorBoard.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

from components import artifacts, cli, datasets, lookups, plots, storage
from components.config import EvaluateConfig
from components.spec import ComponentSpec, Input, Lookup, StepOutput
from components.features import FeatureSpec
from components.metrics import binary_metrics
from components.scoring import Scorer

log = logging.getLogger(__name__)

SPEC = ComponentSpec(
    name="evaluate", image="trainer",
    description="Score the test split with the exported SavedModel (and the deployed one, if any); write metrics "
                "and plots.",
    inputs=(Input("model", StepOutput("train", artifacts.MODEL), "SavedModel directory (train's model/)"),
            Input("split", StepOutput("split"), "the split component's output directory"),
            Input("baseline_model", Lookup(lookups.deployed_model), "the deployed SavedModel to compare with",
                  required=False)))
SCALARS = ("loss", "accuracy", "auc", "precision", "recall", "f1")


def write_tensorboard(logs_dir: Path, metrics: dict, images: dict[str, bytes]) -> None:
    import tensorflow as tf

    with tf.summary.create_file_writer(str(logs_dir)).as_default():
        for name in SCALARS:
            tf.summary.scalar(f"test/{name}", metrics[name], step=0)
        for name, png in images.items():
            tf.summary.image(f"test/{name.removesuffix('.png')}", tf.image.decode_png(png)[None], step=0)


def run(config: EvaluateConfig, inputs: dict, outputs: dict) -> dict:
    """inputs: model (SavedModel dir), split (split output), baseline_model (optional); outputs: output dir."""
    split_dir, out = Path(inputs["split"]), Path(outputs["output"])
    spec = FeatureSpec.from_dict(storage.read_json(split_dir / artifacts.FEATURES))
    features, labels = datasets.to_numpy(datasets.raw_batches(split_dir, "test", spec, config.batch_size),
                                         artifacts.split_path(split_dir, "test"))

    # Test rows by their CSV names; each model maps them to its own signature inputs (its columns record).
    scores = {"candidate": Scorer(inputs["model"], "the trained model")(features, config.batch_size)}
    baseline_dir = inputs.get("baseline_model")
    if baseline_dir:
        scores["baseline"] = Scorer(baseline_dir, "the deployed model", deployed=True)(features, config.batch_size)
    results = {name: binary_metrics(labels, s) for name, s in scores.items()}
    for name, values in results.items():
        log.info("%-9s %s", name, "  ".join(f"{k} {values[k]:.4f}" for k in SCALARS))

    curves = {name: (labels, s, results[name]["auc"]) for name, s in scores.items()}
    images = dict(zip(artifacts.PLOTS, (plots.roc_png(curves), plots.precision_recall_png(curves),
                                         plots.confusion_png(results["candidate"]["confusion_matrix"]))))
    for name, png in images.items():
        storage.write_bytes(out / name, png)
    write_tensorboard(out / artifacts.LOGS, results["candidate"], images)
    summary = {"candidate": results["candidate"], "baseline": results.get("baseline"),
               "deployed_version": str(baseline_dir) if baseline_dir else None, "test_rows": int(len(labels))}
    storage.write_json(out / artifacts.METRICS, summary)
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    return cli.component_main(argv, SPEC, EvaluateConfig, run)


if __name__ == "__main__":
    raise SystemExit(main())
