"""A step's outputs as content: what they hold, what they were made from, and reuse across runs.

Every succeeded step records the SHA-256 of each file it wrote (`artifacts` in its manifest record) and a
`key`: the hash of its config, the code, and the *content* of its inputs (an upstream step's input is its
recorded artifacts, never its run-specific path). So:
- a continued run keeps a finished step only while its files still match the record (a truncated
  `saved_model.pb` or `data.npz` is recomputed, not trusted);
- a new run whose step has the key of a verified step in another run of the same pipeline root copies
  that step's outputs instead of recomputing them (like TFX's cache; `--no-cache` turns it off).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any, Callable, Iterator

from components import storage
from components.core import digests, filenames, release

log = logging.getLogger("pipeline")

# How a step ended, not what it made: left out of its content (it holds timings and paths).
RECORD_FILES = frozenset({filenames.RESULT, filenames.ERROR})


def tree_digests(directory: Path) -> dict[str, str] | None:
    """SHA-256 of every file under `directory` by relative POSIX path; None if it is not a directory here
    (a remote cluster's volume): such a step is neither verified nor reused."""
    root = Path(directory)
    if not root.is_dir():
        return None
    return digests.tree_digests(root, skip=RECORD_FILES)


def subtree(recorded: dict[str, str], path: str) -> dict[str, str]:
    """The part of a step's recorded artifacts under `path` ('' = all)."""
    if not path:
        return recorded
    prefix = path.rstrip("/") + "/"
    return {k: v for k, v in recorded.items() if k == path or k.startswith(prefix)}


def input_content(path: Path | None, file_hash: Callable[[Path], str]) -> str | None:
    """A file's SHA-256; a directory's digest over its files (a pushed version: its digests record)."""
    if path is None:
        return None
    path = Path(path)
    if path.is_file():
        return file_hash(path)
    recorded = path / filenames.VERSION_DIGESTS
    if recorded.is_file():
        return file_hash(recorded)
    found = tree_digests(path)
    return digests.value_digest(found) if found is not None else f"absent:{path}"


def step_key(config: Any, contents: dict[str, str | None]) -> str:
    """What a step's outputs depend on: its config, the code, and the content of each input."""
    payload = {"config": dataclasses.asdict(config), "code": release.code_digest(), "inputs": contents}
    return digests.value_digest(payload)[:20]


def intact(directory: Path, recorded: dict[str, str] | None) -> str | None:
    """None if the directory holds exactly the recorded files; else what differs, for the log."""
    if recorded is None:
        return "no record of its files"
    found = tree_digests(directory)
    if found is None:
        return f"{directory} is missing"
    for name in sorted(set(recorded) | set(found)):
        if recorded.get(name) != found.get(name):
            what = "is missing" if name not in found else "was added" if name not in recorded else "changed"
            return f"{Path(directory) / name} {what} since the step wrote it"
    return None


def _manifests(pipeline_root: Path, run_id: str) -> Iterator[tuple[Path, dict]]:
    """Other runs' manifests, newest first."""
    found = [p for p in Path(pipeline_root).glob(f"*/{filenames.MANIFEST}") if p.parent.name != run_id]
    for path in sorted(found, key=lambda p: p.stat().st_mtime, reverse=True):
        try:
            yield path.parent, json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # a run being written or damaged is simply not a cache entry


def find(pipeline_root: Path, run_id: str, step: str, key: str,
         fetch: Callable[[Path], None] = lambda directory: None) -> tuple[Path, dict] | None:
    """A verified earlier output of `step` with this key: (its directory, its manifest record). `fetch` brings
    a candidate's files where they can be checked (from the object store into scratch)."""
    for run_dir, manifest in _manifests(pipeline_root, run_id):
        record = (manifest.get("steps") or {}).get(step) or {}
        if record.get("status") not in ("succeeded", "cached") or record.get("key") != key:
            continue
        fetch(run_dir / step)
        problem = intact(run_dir / step, record.get("artifacts"))
        if problem:
            log.warning("not reusing %s of run %s: %s", step, run_dir.name, problem)
            continue
        return run_dir / step, record
    return None


def copy_outputs(source: Path, target: Path) -> None:
    """Hard links where the file system allows (every writer here replaces files, never edits them in
    place, so a link is as safe as a copy), else copies; the target appears whole or not at all."""
    def link_or_copy(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    with storage.atomic_dir(target) as tmp:
        shutil.copytree(source, tmp, dirs_exist_ok=True, copy_function=link_or_copy)
