"""The bytes of a pushed model version, recorded by push and checked before anyone loads it again.

A SavedModel is a program (TensorFlow's security guidance): loading a deployed version runs its graph. Push
writes the SHA-256 of every file of the version into it (artifacts.VERSION_DIGESTS, written inside the
version's atomic copy, so it is there from the first moment the version is); evaluate, and anything else
that loads a deployed version, calls `verify` first and refuses a version whose bytes changed.
"""
from __future__ import annotations

import logging
from pathlib import Path

from components import artifacts, storage
from components.errors import DataError

log = logging.getLogger(__name__)


def digests(directory: Path) -> dict[str, str]:
    """SHA-256 of every file under `directory` (the record itself excluded), by relative POSIX path."""
    root = Path(directory)
    return {path.relative_to(root).as_posix(): storage.file_sha256(path) for path in sorted(root.rglob("*"))
            if path.is_file() and path.name != artifacts.VERSION_DIGESTS}


def record(directory: Path) -> None:
    storage.write_json(Path(directory) / artifacts.VERSION_DIGESTS, {"sha256": digests(directory)})


def verify(directory: Path) -> None:
    """Refuse a version whose files differ from its record: changed, missing or added, naming the first."""
    directory = Path(directory)
    recorded_file = directory / artifacts.VERSION_DIGESTS
    if not recorded_file.is_file():
        log.warning("%s has no %s (pushed before versions were recorded): its bytes cannot be checked",
                    directory, artifacts.VERSION_DIGESTS)
        return
    recorded, found = storage.read_json(recorded_file)["sha256"], digests(directory)
    for name in sorted(set(recorded) | set(found)):
        if recorded.get(name) != found.get(name):
            what = "is missing" if name not in found else "was added" if name not in recorded else "changed"
            raise DataError(f"the deployed model {directory} was altered after push: {directory / name} {what}. "
                            f"Do not load it: remove that version (the previous one serves) or re-push it, and "
                            f"find out who changed it.")
