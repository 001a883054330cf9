"""evaluate: score the test split with the exported SavedModel and with the deployed model (baseline).

Loads models from disk (what would be served), never the in-memory Keras model. Writes metrics.json,
ROC / precision-recall / confusion-matrix PNGs, and the same metrics and images to TensorBoard.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np

from components import artifacts, cli, datasets, lookups, plots, storage
from components.config import EvaluateConfig
from components.spec import ComponentSpec, Input, Lookup, StepOutput
from components.errors import DataError
from components.features import FeatureSpec
from components.metrics import binary_metrics

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


def load_scorer(model_dir: Path, what: str):
    import tensorflow as tf

    try:
        return tf.saved_model.load(str(model_dir)).signatures["serving_default"]
    except (OSError, ValueError, KeyError, tf.errors.OpError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{what} at {model_dir} is not a loadable SavedModel ({first_line}). If it is a "
                        f"deployed version, remove that version directory so the previous one serves.") from None


def score(scorer, features: dict[str, np.ndarray], batch_size: int) -> np.ndarray:
    """Positive-class probabilities, batch by batch, through the serving signature."""
    import tensorflow as tf

    rows = len(next(iter(features.values())))
    wanted = scorer.structured_input_signature[1]
    missing = sorted(set(wanted) - set(features))
    if missing:
        raise DataError(f"the model expects columns {missing} that the test split lacks: the deployed model "
                        f"was trained on other columns; use another --serving-dir or model name.")
    out = []
    for start in range(0, rows, batch_size):
        batch = {name: tf.constant(features[name][start:start + batch_size], dtype=spec.dtype)
                 for name, spec in wanted.items()}
        out.append(scorer(**batch)["positive_probability"].numpy())
    return np.concatenate(out)


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

    scores = {"candidate": score(load_scorer(Path(inputs["model"]), "the trained model"), features,
                                 config.batch_size)}
    baseline_dir = inputs.get("baseline_model")
    if baseline_dir:
        scores["baseline"] = score(load_scorer(Path(baseline_dir), "the deployed model"), features,
                                   config.batch_size)
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
