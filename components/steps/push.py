"""push: the gate, then an atomic, versioned copy into a TensorFlow Serving layout.

Core: `decide` (metrics and thresholds in, checks and a verdict out). A blessed model is copied beside
its final place and renamed to <serving_dir>/<model_name>/<version>/ under a lock, so a reader never
sees a half-copied version and two pipelines never take the same version number.
"""
from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import logging
import shutil
from pathlib import Path
from typing import Sequence

from components import artifacts, cli, integrity, lookups, scoring, storage
from components.config import PushConfig
from components.spec import SERVING_DIR, ComponentSpec, Input, Output, StepOutput
from components.errors import DataError, GateRefused, InfraError

log = logging.getLogger(__name__)

SPEC = ComponentSpec(
    name="push", image="trainer",
    description="Gate the model on its test metrics; push a blessed model to <serving-dir>/<model-name>/<version>/; "
                "exit 6 when refused.",
    inputs=(Input("model", StepOutput("train", artifacts.MODEL), "SavedModel directory (train's model/)"),
            Input("metrics", StepOutput("evaluate"), "the evaluate component's output directory")),
    outputs=(Output("serving_dir", SERVING_DIR, "TensorFlow Serving model base directory"),))


@dataclasses.dataclass(frozen=True)
class Check:
    name: str
    value: float
    threshold: float

    @property
    def margin(self) -> float:
        return self.value - self.threshold

    @property
    def passed(self) -> bool:
        return self.margin >= 0


def decide(candidate: dict, baseline: dict | None, config: PushConfig) -> list[Check]:
    """Absolute thresholds always; against the deployed model, no worse than `baseline_tolerance`."""
    checks = [Check("accuracy", candidate["accuracy"], config.min_accuracy),
              Check("auc", candidate["auc"], config.min_auc)]
    if baseline:
        for name in ("accuracy", "auc"):
            checks.append(Check(f"{name} vs deployed", candidate[name], baseline[name] - config.baseline_tolerance))
    return checks


def report(checks: list[Check], blessed: bool, deployed_version: str | None) -> str:
    lines = [f"gate: {'BLESSED' if blessed else 'REFUSED'}",
             f"deployed model compared: {deployed_version or 'none (first push)'}", "",
             f"{'check':<22}{'value':>8}{'threshold':>11}{'margin':>9}  verdict"]
    lines += [f"{c.name:<22}{c.value:>8.4f}{c.threshold:>11.4f}{c.margin:>+9.4f}  {'pass' if c.passed else 'FAIL'}"
              for c in checks]
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def _locked(model_root: Path):
    try:
        model_root.mkdir(parents=True, exist_ok=True)
        handle = open(model_root / artifacts.PUSH_LOCK, "w")
    except OSError as exc:
        raise InfraError(f"cannot write to the serving directory {model_root}: {exc.strerror or exc}. "
                         f"Check its permissions and free space.") from exc
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def push_model(model_dir: Path, serving_dir: Path, model_name: str) -> Path:
    """Copy beside the target, then rename into the next free version number (under a lock)."""
    model_root = Path(serving_dir) / model_name
    with _locked(model_root):
        for stale in storage.remove_stale_temporaries(model_root):
            log.warning("removed %s, left by a push that was killed", stale)
        version = (lookups.versions(model_root) or [0])[-1] + 1
        target = model_root / str(version)
        with storage.atomic_dir(target) as tmp:
            shutil.copytree(model_dir, tmp, dirs_exist_ok=True)
            integrity.record(tmp)  # inside the atomic copy: no reader ever sees the version without it
    return target


def read_metrics(path: Path) -> dict:
    """metrics.json with the numbers the gate needs; a missing or non-numeric one names the key and the fix."""
    metrics = storage.read_json(path)
    sections = ("candidate", "baseline") if isinstance(metrics, dict) and metrics.get("baseline") else ("candidate",)
    for section in sections:
        for key in ("accuracy", "auc"):
            value = metrics.get(section, {}).get(key) if isinstance(metrics.get(section), dict) else None
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise DataError(f"{path} has no number at {section}.{key} (found {value!r}): it was not written by "
                                f"evaluate; re-run evaluate.")
    return metrics


def run(config: PushConfig, inputs: dict, outputs: dict) -> dict:
    """inputs: model (SavedModel dir), metrics (evaluate output dir); outputs: output dir, serving_dir."""
    metrics = read_metrics(Path(inputs["metrics"]) / artifacts.METRICS)
    # A served model must say which CSV column feeds which input: refuse one that does not, before the gate.
    columns = scoring.model_inputs(Path(inputs["model"]))
    checks = decide(metrics["candidate"], metrics.get("baseline"), config)
    blessed = all(c.passed for c in checks)
    text = report(checks, blessed, metrics.get("deployed_version"))
    out = Path(outputs["output"])
    storage.write_text(out / artifacts.GATE_TXT, text)
    result = {"blessed": blessed, "checks": [dict(dataclasses.asdict(c), margin=c.margin, passed=c.passed)
                                             for c in checks], "pushed_to": None, "inputs": columns}
    if not blessed:
        storage.write_json(out / artifacts.GATE_JSON, result)
        failed = ", ".join(f"{c.name} {c.value:.4f} < {c.threshold:.4f}" for c in checks if not c.passed)
        raise GateRefused(f"model not pushed: {failed}. Report: {out / artifacts.GATE_TXT}")
    target = push_model(Path(inputs["model"]), Path(outputs["serving_dir"]), config.model_name)
    result["pushed_to"] = str(target)
    storage.write_json(out / artifacts.GATE_JSON, result)
    log.info("blessed; pushed to %s", target)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    return cli.component_main(argv, SPEC, PushConfig, run)


if __name__ == "__main__":
    raise SystemExit(main())
