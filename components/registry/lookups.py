"""Inputs found where the run lives rather than given: the deployed model, the previous run's statistics.

One rule each, called by the host (pipeline.py, with its folders) and by a pod (kubernetes.entry, with the
artifacts volume's folders), so both find the same thing. Specs name these functions as `Lookup`s.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from components.core import filenames
from components.core.protocol import succeeded


@dataclasses.dataclass(frozen=True)
class Where:
    """The roots a lookup searches, as the caller sees them (host folders or the pod's volume)."""
    pipeline_root: Path
    serving_dir: Path
    run_id: str
    model_name: str


def versions(model_root: Path) -> list[int]:
    """The version numbers under <serving_dir>/<model>/, oldest first."""
    if not Path(model_root).is_dir():
        return []
    # ASCII digits only: str.isdigit() also accepts '²' or '٣', which int() refuses or reads as another number.
    return sorted(int(p.name) for p in Path(model_root).iterdir()
                  if p.name.isascii() and p.name.isdigit() and p.is_dir())


def latest_version(serving_dir: Path, model_name: str) -> Path | None:
    found = versions(Path(serving_dir) / model_name)
    return Path(serving_dir) / model_name / str(found[-1]) if found else None


def deployed_model(where: Where) -> Path | None:
    """The newest pushed version of the run's model: evaluate's baseline."""
    return latest_version(where.serving_dir, where.model_name)


def _model_name(run_dir: Path) -> str | None:
    """The model a run pushes to (its data set's name), from its manifest; None when it cannot be read."""
    try:
        return json.loads((run_dir / filenames.MANIFEST).read_text(encoding="utf-8"))["config"]["push"]["model_name"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def previous_statistics(where: Where) -> Path | None:
    """The statistics of the newest other run of the same data set (the same model name: by default each CSV
    has its own) whose validate step succeeded, by when its result was written. Another CSV's run is no
    baseline for drift: every column would look new or gone. A run without a readable manifest (a pod's
    volume may hold only step folders) stays a candidate; validate still compares only equal columns."""
    candidates = []
    for record in Path(where.pipeline_root).glob(f"*/validate/{filenames.VALIDATE_RESULT}"):
        stats, run_dir = record.parent / filenames.STATS, record.parents[1]
        if run_dir.name != where.run_id and stats.is_file() and succeeded(record.parent, filenames.VALIDATE_RESULT) \
                and _model_name(run_dir) in (where.model_name, None):
            candidates.append((record.stat().st_mtime, str(stats)))
    return Path(max(candidates)[1]) if candidates else None
