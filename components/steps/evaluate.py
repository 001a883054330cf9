"""evaluate: score the test split with the exported SavedModel and with the deployed model (baseline).

Loads models from disk (what would be served), never the in-memory Keras model. Writes metrics.json,
ROC / precision-recall / confusion-matrix PNGs, and the same metrics and images to TensorBoard.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np

from components import storage
from components.config.sections import EvaluateConfig
from components.core import console, filenames
from components.core.interface import ComponentSpec, Input, Lookup, StepOutput
from components.data.features import FeatureSet
from components.evaluation import metrics, plots
from components.evaluation.metrics import TEST_METRICS, binary_metrics
from components.evaluation.scoring import Scorer
from components.registry import lookups
from components.reports import tensorboard
from components.steps.main import component_main
from components.storage import datasets, seen_rows

log = logging.getLogger(__name__)

SPEC = ComponentSpec(
    name="evaluate", image="trainer",
    description="Score the test split with the exported SavedModel (and the deployed one, if any); write metrics "
                "and plots.",
    inputs=(Input("model", StepOutput("train", filenames.MODEL), "SavedModel directory (train's model/)"),
            Input("split", StepOutput("split"), "the split component's output directory"),
            Input("baseline_model", Lookup(lookups.deployed_model), "the deployed SavedModel to compare with",
                  required=False)),
    result_file=filenames.METRICS, summarize=lambda record, output: summary_lines(record))


def compare_with_deployed(baseline_dir: Path, features: dict, labels, candidate_scores, batch_size: int,
                          threshold: float = 0.5) -> dict:
    """The deployed model and the candidate on the test rows the deployed model never trained on: on rows it
    saw, its score is inflated and the comparison dishonest. Each model decides at its own threshold (the
    candidate's is `threshold`; the deployed one's is in its columns record, 0.5 if it has none)."""
    seen = seen_rows.load_seen(baseline_dir)
    unseen = np.ones(len(labels), bool) if seen is None else ~np.isin(seen_rows.hashes(features), seen)
    note = (f"the deployed model records no training rows: compared on all {len(labels)} test rows" if seen is None
            else f"{int((~unseen).sum())} of {len(labels)} test rows were in the deployed model's training data "
                 f"and are left out of the comparison")
    if len(np.unique(labels[unseen])) < 2:
        return {"rows": int(unseen.sum()), "note": note + "; too few rows remain (both classes needed): not compared"}
    subset = {name: values[unseen] for name, values in features.items()}
    deployed = Scorer(baseline_dir, "the deployed model", deployed=True)
    baseline_scores, ours = deployed(subset, batch_size), candidate_scores[unseen]
    return {"rows": int(unseen.sum()), "note": note, "baseline_scores": baseline_scores, "labels": labels[unseen],
            "candidate_scores": ours,
            "baseline": binary_metrics(labels[unseen], baseline_scores, deployed.threshold),
            "candidate": binary_metrics(labels[unseen], ours, threshold),
            "difference_intervals": metrics.intervals(labels[unseen], ours, baseline_scores,
                                                      thresholds=(threshold, deployed.threshold))}


def same_rows(comparison: dict) -> tuple[dict, dict]:
    """The plots' curves and reliability bins of the candidate and the deployed model on the same rows (the
    ones the gate compares), each named with its row count."""
    base, ours, rows = comparison["baseline"], comparison["candidate"], comparison["rows"]
    shown = {name: "  ".join(f"{k} {found[k]:.4f}" for k in TEST_METRICS) for name, found in (("ours", ours),
                                                                                             ("base", base))}
    log.info("on the same %d test rows: candidate %s; deployed %s", rows, shown["ours"], shown["base"])
    labels = comparison.pop("labels")
    scored = {"candidate": (comparison.pop("candidate_scores"), ours),
              "deployed": (comparison.pop("baseline_scores"), base)}
    curves = {f"{name}, {rows} rows": (labels, scores, found["auc"]) for name, (scores, found) in scored.items()}
    calibration = {f"{name}, {rows} rows": {**metrics.reliability(labels, scores), "brier": found["brier"]}
                   for name, (scores, found) in scored.items()}
    return curves, calibration


def run(config: EvaluateConfig, inputs: dict, outputs: dict) -> dict:
    """inputs: model (SavedModel dir), split (split output), baseline_model (optional); outputs: output dir."""
    split_dir, out = Path(inputs["split"]), Path(outputs["output"])
    spec = FeatureSet.from_dict(storage.read_json(split_dir / filenames.FEATURES))
    features, labels = datasets.to_numpy(datasets.raw_batches(split_dir, "test", spec, config.batch_size),
                                         filenames.split_path(split_dir, "test"))

    # Test rows by their CSV names; each model maps them to its own signature inputs (its columns record).
    # "candidate" is the model as it serves: decided at its own threshold (chosen on validation in train,
    # its `label` output); the same metrics at 0.5 are "candidate_at_0.5".
    scorer = Scorer(inputs["model"], "the trained model")
    scores = scorer(features, config.batch_size)
    candidate = binary_metrics(labels, scores, scorer.threshold)
    candidate.update(decision=scorer.decision, intervals=metrics.intervals(labels, scores,
                                                                           thresholds=(scorer.threshold, 0.5)))
    log.info("candidate %s (test rows: %d; threshold %.4f, %s)",
             "  ".join(f"{k} {candidate[k]:.4f}" for k in TEST_METRICS),
             len(labels), scorer.threshold, scorer.decision.get("rule"))
    named = f"candidate, {len(labels)} rows"
    calibration = {named: {**metrics.reliability(labels, scores), "brier": candidate["brier"]}}
    curves = {named: (labels, scores, candidate["auc"])}
    own_calibration = next(iter(calibration.values()))
    baseline_dir, comparison = inputs.get("baseline_model"), None
    if baseline_dir:
        comparison = compare_with_deployed(Path(baseline_dir), features, labels, scores, config.batch_size,
                                           scorer.threshold)
        log.info("deployed model: %s", comparison["note"])
        if "baseline" in comparison:
            curves, calibration = same_rows(comparison)

    images = dict(zip(filenames.PLOTS, (plots.roc_png(curves), plots.precision_recall_png(curves),
                                         plots.confusion_png(candidate["confusion_matrix"], threshold=scorer.threshold),
                                         plots.reliability_png(calibration))))
    for name, png in images.items():
        storage.write_bytes(out / name, png)
    # test scalars at the final epoch's step, images, a PR curve
    tensorboard.write_test(out / filenames.LOGS, candidate, images, labels, scores,
                                tensorboard.final_epoch(inputs["model"]))
    summary = {"candidate": candidate, "candidate_at_0.5": binary_metrics(labels, scores),
               "calibration": own_calibration, "plotted_rows": len(next(iter(curves.values()))[0]),
               "baseline": (comparison or {}).get("baseline"), "comparison": comparison,
               "majority_rate": round(float(max(labels.mean(), 1 - labels.mean())), 6),
               "positive_rate": round(float(labels.mean()), 6),
               "deployed_version": str(baseline_dir) if baseline_dir else None, "test_rows": int(len(labels))}
    storage.write_json(out / filenames.METRICS, summary)
    return summary


def summary_lines(record: dict) -> list[str]:
    metrics = (record.get("result") or {}).get("candidate")
    return ["test metrics: " + "  ".join(f"{k} {metrics[k]:.4f}" for k in TEST_METRICS)] if metrics else []


def main(argv: Sequence[str] | None = None) -> int:
    return component_main(argv, SPEC, EvaluateConfig, run)


if __name__ == "__main__":
    raise SystemExit(console.entry(main))
