"""Inputs found where the run lives rather than given: the deployed model, the previous run's statistics.

One rule each, called by the host (pipeline.py, with its folders) and by a pod (kubernetes.entry, with the
artifacts volume's folders), so both find the same thing. Specs name these functions as `Lookup`s.
"""
from __future__ import annotations

import dataclasses
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


def previous_statistics(where: Where) -> Path | None:
    """The statistics of the newest other run whose validate step succeeded, by when its result was written."""
    candidates = []
    for record in Path(where.pipeline_root).glob(f"*/validate/{filenames.VALIDATE_RESULT}"):
        stats = record.parent / filenames.STATS
        if record.parents[1].name != where.run_id and stats.is_file() and succeeded(record.parent,
                                                                                   filenames.VALIDATE_RESULT):
            candidates.append((record.stat().st_mtime, str(stats)))
    return Path(max(candidates)[1]) if candidates else None
