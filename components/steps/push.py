"""push: the gate, then an atomic, versioned copy into a TensorFlow Serving layout, with the model's lineage.

Core: `decide` (metrics and thresholds in, checks out). A blessed model is published by
components/versions.py: copied beside its final place and renamed to <serving_dir>/<model_name>/<version>/
under a lock, so a reader never sees a half-copied version and two pipelines never take the same number.
A model whose files equal the newest version's is not pushed again.
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Sequence

from components import storage
from components.config.sections import PushConfig
from components.core import console, filenames
from components.core.errors import DataError, GateRefused
from components.core.interface import DATA, RUN_INFO, SERVING_DIR, ComponentSpec, Input, Output, StepOutput
from components.evaluation import scoring
from components.evaluation.metrics import TEST_METRICS
from components.registry import lookups, versions
from components.reports import model_card, tensorboard
from components.steps.main import component_main

log = logging.getLogger(__name__)

SPEC = ComponentSpec(
    name="push", image="trainer",
    description="Gate the model on its test metrics; push a blessed model to <serving-dir>/<model-name>/<version>/; "
                "exit 6 when refused.",
    inputs=(Input("model", StepOutput("train", filenames.MODEL), "SavedModel directory (train's model/)"),
            Input("metrics", StepOutput("evaluate"), "the evaluate component's output directory"),
            Input("split", StepOutput("split"), "the split component's output directory: the rows the model "
                                                "trained on (kept with the version), the label balance (the model "
                                                "card)", required=False),
            Input("run_info", RUN_INFO, "the run's run.json (run id, data, config), kept as the version's lineage",
                  required=False)),
    outputs=(Output("serving_dir", SERVING_DIR, "TensorFlow Serving model base directory"),),
    result_file=filenames.GATE_JSON, exit_codes=(3, 6, 75),
    summarize=lambda record, output: summary_lines(record, output))


@dataclasses.dataclass(frozen=True)
class Check:
    name: str
    value: float
    threshold: float
    strict: bool = False  # the value must exceed the threshold, not only reach it

    @property
    def margin(self) -> float:
        return self.value - self.threshold

    @property
    def passed(self) -> bool:
        return self.margin > 0 if self.strict else self.margin >= 0


def decide(metrics: dict, config: PushConfig, best: dict | None = None) -> list[Check]:
    """Absolute thresholds; a ranking better than chance (PR AUC above the positive share, which a random
    ranking scores; accuracy against the majority share would refuse a good model whose threshold trades
    accuracy for recall on rare positives); against the deployed model on
    test rows it never trained on, not worse by more than `baseline_tolerance` as far as the data can tell;
    and not worse than the best version ever blessed (`best`: its lineage), so quality cannot slide a
    little at a time."""
    candidate = metrics["candidate"]
    checks = [Check("accuracy", candidate["accuracy"], config.min_accuracy),
              Check("auc", candidate["auc"], config.min_auc),
              Check("balanced accuracy", candidate["balanced_accuracy"], config.min_balanced_accuracy),
              Check("PR AUC vs positive share", candidate["pr_auc"], metrics["positive_rate"], strict=True)]
    if metrics.get("baseline"):
        checks += [vs_deployed(metrics, name, config.baseline_tolerance) for name in ("accuracy", "auc")]
    if best and (best.get("test_metrics") or {}).get("auc") is not None:
        checks.append(vs_best(candidate, best, config.baseline_tolerance))
    return checks


def vs_deployed(metrics: dict, name: str, tolerance: float) -> Check:
    """The upper end of the 95% bootstrap interval of (candidate - deployed) on the same rows must reach
    -tolerance: a difference the data cannot tell from zero is not a regression. Without an interval, the
    difference itself."""
    comparison = metrics["comparison"]
    interval = (comparison.get("difference_intervals") or {}).get(name)
    if interval:
        # 0.0 - tolerance: a zero tolerance shows as 0.0000, not -0.0000
        return Check(f"{name} vs deployed (upper 95% bound of the difference)", interval[1], 0.0 - tolerance)
    return Check(f"{name} vs deployed (difference)", comparison["candidate"][name] - metrics["baseline"][name],
                 0.0 - tolerance)


def vs_best(candidate: dict, best: dict, tolerance: float) -> Check:
    """The candidate's test AUC interval must reach the best blessed version's recorded test AUC."""
    high = (candidate.get("intervals") or {}).get("auc", [candidate["auc"]] * 2)[1]
    return Check(f"auc vs best version {best.get('version')} (upper 95% bound)", high,
                 best["test_metrics"]["auc"] - tolerance)


def best_version(serving_dir: Path, model_name: str) -> dict | None:
    """The lineage of the version with the highest recorded test AUC, or None when there is none."""
    found = [versions.read_lineage(Path(serving_dir) / model_name / str(number))
             for number in lookups.versions(Path(serving_dir) / model_name)]
    found = [lineage for lineage in found if (lineage.get("test_metrics") or {}).get("auc") is not None]
    return max(found, key=lambda lineage: lineage["test_metrics"]["auc"], default=None)


def gate_text(checks: list[Check], blessed: bool, metrics: dict) -> str:
    comparison = metrics.get("comparison") or {}
    lines = [f"gate: {'BLESSED' if blessed else 'REFUSED'}",
             f"deployed model compared: {metrics.get('deployed_version') or 'none (first push)'}"]
    if comparison:
        lines.append(f"comparison rows: {comparison['rows']} ({comparison['note']})")
    width = max(len(c.name) for c in checks) + 2
    lines += ["", f"{'check':<{width}}{'value':>8}{'threshold':>11}{'margin':>9}  verdict"]
    lines += [f"{c.name:<{width}}{c.value:>8.4f}{c.threshold:>11.4f}{c.margin:>+9.4f}  {'pass' if c.passed else 'FAIL'}"
              for c in checks]
    intervals = metrics["candidate"].get("intervals") or {}
    lines += [f"95% interval of test {name}: [{lo:.4f}, {hi:.4f}]" for name, (lo, hi) in intervals.items()]
    lines += [f"95% interval of {name} minus deployed: [{lo:+.4f}, {hi:+.4f}]"
              for name, (lo, hi) in (comparison.get("difference_intervals") or {}).items()]
    return "\n".join(lines) + "\n"


def read_metrics(path: Path) -> dict:
    """metrics.json with the numbers the gate needs; a missing or non-numeric one names the key and the fix."""
    metrics = storage.read_json(path)
    wanted = ["positive_rate", *(f"candidate.{key}" for key in ("accuracy", "auc", "pr_auc", "balanced_accuracy"))]
    if isinstance(metrics, dict) and metrics.get("baseline"):
        wanted += [f"{part}.{key}" for part in ("baseline", "comparison.candidate") for key in ("accuracy", "auc")]
    for where in wanted:
        node = metrics
        for part in where.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, (int, float)) or isinstance(node, bool):
            raise DataError(f"{path} has no number at {where} (found {node!r}): it was not written by evaluate "
                            f"(or by an older version of it); re-run evaluate.")
    if not isinstance(metrics["candidate"].get("confusion_matrix"), list):
        raise DataError(f"{path} has no candidate.confusion_matrix: it was not written by evaluate; re-run evaluate.")
    return metrics


def lineage(metrics: dict, checks: list[Check], run_info: dict | None) -> dict:
    """What made this version, for `python -m components.models show`."""
    keep = (*TEST_METRICS, "examples", "intervals")
    return {"run": run_info,
            "test_metrics": {k: metrics["candidate"][k] for k in keep if k in metrics["candidate"]},
            "gate": [dict(dataclasses.asdict(c), passed=c.passed) for c in checks],
            "baseline": {"version": metrics.get("deployed_version"), "metrics": metrics.get("baseline"),
                         "comparison_rows": (metrics.get("comparison") or {}).get("rows")}}


def data_change(serving_dir: Path, model_name: str, run: dict | None) -> str | None:
    """Said out loud when this run's data is not the data of the version it would replace (a model name
    shared on purpose with push.model_name; by default each CSV has its own)."""
    deployed = lookups.latest_version(serving_dir, model_name)
    before = (versions.read_lineage(deployed).get("run") or {}) if deployed else {}
    if not run or not before or before.get("data_sha256") == run.get("data_sha256"):
        return None
    return (f"data changed: this run trained on {run.get('params', {}).get(DATA.name)} (sha256 "
            f"{str(run.get('data_sha256'))[:12]}); version {deployed.name} on "
            f"{before.get('params', {}).get(DATA.name)} "
            f"(sha256 {str(before.get('data_sha256'))[:12]})")


def card_files(config: PushConfig, inputs: dict, metrics: dict):
    """The model card's files for the version's final lineage: its facts from evaluate's metrics and plots,
    the split's summary and the model's column record."""
    summary = Path(inputs["split"]) / filenames.SPLIT_SUMMARY if inputs.get("split") else None
    split = storage.read_json(summary) if summary and summary.is_file() else None
    record = scoring.column_record(Path(inputs["model"]))
    columns = {"label": record.get("label"), "columns": list(scoring.model_inputs(Path(inputs["model"])))}
    plots = {name: (Path(inputs["metrics"]) / name).read_bytes() for name in filenames.PLOTS
             if (Path(inputs["metrics"]) / name).is_file()}

    def documents(final: dict) -> dict[str, str]:
        card = model_card.facts({**final, "model_name": config.model_name}, metrics, split, columns,
                                (config.intended_use, config.not_for))
        return {filenames.MODEL_CARD_MD: model_card.markdown(card),
                filenames.MODEL_CARD_HTML: model_card.html(card, plots)}
    return documents


def run(config: PushConfig, inputs: dict, outputs: dict) -> dict:
    """inputs: model (SavedModel dir), metrics (evaluate output dir), run_info (optional); outputs: output dir,
    serving_dir."""
    metrics_dir, out = Path(inputs["metrics"]), Path(outputs["output"])
    metrics = read_metrics(metrics_dir / filenames.METRICS)
    # Only a model that loads and says which CSV column feeds which input may be served: checked before the gate.
    columns = scoring.model_inputs(Path(inputs["model"]))
    scoring.Scorer(inputs["model"], "the model to push")  # it loads, and its signature takes those columns
    checks = decide(metrics, config, best_version(Path(outputs["serving_dir"]), config.model_name))
    blessed = all(c.passed for c in checks)
    run_info = storage.read_json(inputs["run_info"]) if inputs.get("run_info") and Path(inputs["run_info"]).is_file() \
        else None
    change = data_change(Path(outputs["serving_dir"]), config.model_name, run_info)
    if change:
        log.warning("%s", change)
    note = f"{change}\n" if change else ""
    storage.write_text(out / filenames.GATE_TXT, gate_text(checks, blessed, metrics) + note)
    tensorboard.write_gate(out / filenames.LOGS, blessed)
    result = {"blessed": blessed, "checks": [dict(dataclasses.asdict(c), margin=c.margin, passed=c.passed)
                                             for c in checks], "pushed_to": None, "identical_to": None,
              "inputs": columns}
    if not blessed:
        storage.write_json(out / filenames.GATE_JSON, result)
        failed = ", ".join(f"{c.name} {c.value:.4f} {'<=' if c.strict else '<'} {c.threshold:.4f}"
                           for c in checks if not c.passed)
        raise GateRefused(f"model not pushed: {failed}. Report: {out / filenames.GATE_TXT}")
    version, new = versions.publish(Path(inputs["model"]), Path(outputs["serving_dir"]), config.model_name,
                                    lineage(metrics, checks, run_info), seen_rows_file(inputs.get("split")),
                                    card_files(config, inputs, metrics))
    result["pushed_to" if new else "identical_to"] = str(version)
    storage.write_json(out / filenames.GATE_JSON, result)
    if new:
        log.info("blessed; pushed to %s", version)
    else:
        log.info("blessed, but nothing pushed: identical to version %s (%s)", version.name, version)
    return result


def seen_rows_file(split_dir) -> Path | None:
    return Path(split_dir) / filenames.SEEN_ROWS if split_dir else None


def summary_lines(record: dict, output: Path) -> list[str]:
    """The gate's verdict, and where the version went (or why nothing was pushed)."""
    result = record.get("result") or {}
    if result.get("dry_run"):
        return ["dry run: manifests written, nothing submitted"]
    if result.get("identical_to"):
        return [f"gate: BLESSED, nothing pushed: identical to version {Path(result['identical_to']).name} "
                f"({result['identical_to']})"]
    if record["status"] in ("succeeded", "cached"):
        return [f"gate: BLESSED, pushed to {result['pushed_to']}"]
    return [f"gate: REFUSED, nothing pushed (see {output / filenames.GATE_TXT})"]


def main(argv: Sequence[str] | None = None) -> int:
    return component_main(argv, SPEC, PushConfig, run)


if __name__ == "__main__":
    raise SystemExit(console.entry(main))
