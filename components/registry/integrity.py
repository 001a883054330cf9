"""The bytes of a pushed model version, recorded by push and checked before anyone loads it again.

A SavedModel is a program (TensorFlow's security guidance): loading a deployed version runs its graph. Push
writes the SHA-256 of every file of the version into it (filenames.VERSION_DIGESTS, written inside the
version's atomic copy, so it is there from the first moment the version is); evaluate, and anything else
that loads a deployed version, calls `verify` first and refuses a version whose bytes changed.
"""
from __future__ import annotations

import logging
from pathlib import Path

from components import storage
from components.core import filenames
from components.core.digests import tree_digests
from components.core.errors import DataError

log = logging.getLogger(__name__)


def digests(directory: Path) -> dict[str, str]:
    """SHA-256 of every file under `directory` (the record itself excluded), by relative POSIX path."""
    return tree_digests(directory, skip=[filenames.VERSION_DIGESTS])


def record(directory: Path) -> None:
    storage.write_json(Path(directory) / filenames.VERSION_DIGESTS, {"sha256": digests(directory)})


def verify(directory: Path) -> None:
    """Refuse a version whose files differ from its record: changed, missing or added, naming the first."""
    directory = Path(directory)
    recorded_file = directory / filenames.VERSION_DIGESTS
    if not recorded_file.is_file():
        log.warning("%s has no %s (pushed before versions were recorded): its bytes cannot be checked",
                    directory, filenames.VERSION_DIGESTS)
        return
    recorded, found = storage.read_json(recorded_file)["sha256"], digests(directory)
    for name in sorted(set(recorded) | set(found)):
        if recorded.get(name) != found.get(name):
            what = "is missing" if name not in found else "was added" if name not in recorded else "changed"
            raise DataError(f"the deployed model {directory} was altered after push: {directory / name} {what}. "
                            f"Do not load it: remove that version (the previous one serves) or re-push it, and "
                            f"find out who changed it.")
