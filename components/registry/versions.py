"""The serving directory as a model registry: versions published atomically, each with its lineage.

<serving_dir>/<model>/<version>/ is a TensorFlow Serving layout; besides the SavedModel, each version holds
`bankpipe-lineage.json` (the run, data, config, metrics and gate that made it), `bankpipe-seen-rows.npy`
(the rows it trained on, so the next evaluation compares honestly) and `bankpipe-digests.json` (written
last, over all of them: components/registry/integrity.py). Push and `components.models rollback` publish here.
"""
from __future__ import annotations

import contextlib
import datetime
import fcntl
import logging
import shutil
from pathlib import Path
from typing import Callable

from components import storage
from components.core import filenames
from components.core.errors import DataError, InfraError, UsageError
from components.registry import integrity, lookups

log = logging.getLogger(__name__)
OWN_FILES = (filenames.LINEAGE, filenames.SEEN_ROWS, filenames.VERSION_DIGESTS, filenames.MODEL_CARD_HTML,
             filenames.MODEL_CARD_MD)  # ours, not the model's


@contextlib.contextmanager
def locked(model_root: Path):
    """Serialises publishers of one model (processes, containers, pods sharing the volume)."""
    try:
        model_root.mkdir(parents=True, exist_ok=True)
        handle = open(model_root / filenames.PUSH_LOCK, "w")
    except OSError as exc:
        in_the_way = next((p for p in (model_root, *model_root.parents) if p.exists()), None)
        if in_the_way is not None and not in_the_way.is_dir():  # a re-run fails the same way: not retryable
            raise UsageError(f"cannot publish to {model_root}: {in_the_way} is a file, not a directory. Move that "
                             f"file away or pass another --serving-dir.") from None
        raise InfraError(f"cannot write to the serving directory {model_root}: {exc.strerror or exc}. "
                         f"Check its permissions and free space.") from exc
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def model_files(directory: Path) -> dict[str, str]:
    """The model's own files and their SHA-256 (the registry's files left out)."""
    return {name: digest for name, digest in integrity.digests(directory).items() if name not in OWN_FILES}


def _copy_model(source: Path, target: Path) -> None:
    shutil.copytree(source, target, dirs_exist_ok=True, ignore=lambda _, names: [n for n in names if n in OWN_FILES])


def publish(model_dir: Path, serving_dir: Path, model_name: str, lineage: dict,
            seen_rows: Path | None = None, documents: Callable[[dict], dict[str, str]] | None = None
            ) -> tuple[Path, bool]:
    """Copy beside the target, then rename into the next free version number, under the model's lock.
    Returns (version directory, True) — or (the newest version, False) when that one holds the same model
    files already: pushing it again would only add a copy. documents: the final lineage (with its version
    number) -> {file name: text}, written beside it (the model card)."""
    model_root = Path(serving_dir) / model_name
    wanted = model_files(model_dir)
    if not wanted:
        raise DataError(f"{model_dir} holds no model files: nothing to publish; re-run train.")
    with locked(model_root):
        for stale in storage.remove_stale_temporaries(model_root):
            log.warning("removed %s, left by a push that was killed", stale)
        latest = lookups.latest_version(serving_dir, model_name)
        if latest is not None and model_files(latest) == wanted:
            return latest, False
        target = model_root / str(int(latest.name) + 1 if latest else 1)
        with storage.atomic_dir(target) as tmp:
            _copy_model(model_dir, tmp)
            if model_files(tmp) != wanted:
                raise InfraError(f"copying {model_dir} to {target} changed its bytes (a disk problem?): retry.")
            if seen_rows is not None and Path(seen_rows).is_file():
                shutil.copyfile(seen_rows, tmp / filenames.SEEN_ROWS)
            stamp = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
            final = {**lineage, "version": int(target.name), "pushed_at": stamp}
            storage.write_json(tmp / filenames.LINEAGE, final)
            for name, text in (documents(final) if documents else {}).items():
                storage.write_text(tmp / name, text)
            integrity.record(tmp)  # inside the atomic copy: no reader ever sees the version without it
    return target, True


def read_lineage(version_dir: Path) -> dict:
    path = Path(version_dir) / filenames.LINEAGE
    return storage.read_json(path) if path.is_file() else {}


def models(serving_dir: Path) -> list[str]:
    root = Path(serving_dir)
    return sorted(p.name for p in root.iterdir() if p.is_dir() and lookups.versions(p)) if root.is_dir() else []
