"""The launcher's half of a run on the object store: what is pulled into scratch before, pushed after.

Like Kubeflow Pipelines v2's launcher, around every step: its inputs are in scratch when it starts (this
run's upstream outputs are there already; the lookups' inputs are pulled once, by `prepare`), and after it
ends its output folder is published to the store whole (objectstore.Store.upload_tree), as is each new
registry version under a path it writes besides (push's serving directory: each new folder holding a digests
file, that file last, under a claim on the version number). The manifest records a step as done only after
that, so a killed upload leaves nothing a reader trusts. With a local pipeline root (`run.mirror` is None)
all of this is a no-op and the run is what it always was.
"""
from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from pathlib import Path
from typing import Iterator

from components.core import filenames
from components.core.errors import InfraError, UsageError
from components.core.interface import OUTPUT, ComponentSpec
from components.storage import write_text
from components.storage.mirror import Mirror

log = logging.getLogger("pipeline")
CLAIMS = ".claims"   # <serving>/<model>/.claims/<version>: who took a version number, created if absent
LOCK = ".run-lock"   # <pipeline-root>/<run-id>/.run-lock: the process that runs it


def prepare(mirror: Mirror, run_dir: Path, serving_dir: Path | None, model_name: str) -> None:
    """What lookups and a continued run read, pulled before the first step: this run's manifest, the other
    runs' manifests and validate records and statistics, and the model's versions (the newest in full)."""
    mirror.pull_file(run_dir / filenames.MANIFEST)
    small = {filenames.MANIFEST, f"validate/{filenames.VALIDATE_RESULT}", f"validate/{filenames.STATS}"}
    root = run_dir.parent
    for run_id in mirror.store.folders(mirror.uri(root)):
        if run_id != run_dir.name and not run_id.startswith("."):
            mirror.pull(root / run_id, keep=lambda name: name in small)
    if serving_dir is not None:
        pull_versions(mirror, Path(serving_dir) / model_name)


def pull_versions(mirror: Mirror, model_root: Path, full: tuple[int, ...] = ()) -> list[int]:
    """The complete versions of a model (those with their digests file: published whole) as folders in
    scratch: the newest and those in `full` with all their files, the others with their lineage and digests
    only (what listing them reads, and numbering sees them)."""
    listing = mirror.store.listing(mirror.uri(model_root))
    complete = sorted(int(name.split("/")[0]) for name in listing
                      if name.count("/") == 1 and name.endswith("/" + filenames.VERSION_DIGESTS)
                      and name.split("/")[0].isascii() and name.split("/")[0].isdigit())
    for version in complete:
        folder = model_root / str(version)
        if version in full or version == complete[-1]:
            mirror.pull(folder)
        else:
            mirror.pull(folder, keep=lambda name: name in (filenames.LINEAGE, filenames.VERSION_DIGESTS))
    return complete


def pull_model(mirror: Mirror, model: Path) -> None:
    """A model named by URI, into scratch: a SavedModel folder (train's, or one version) as it is, else a
    served model's folder (its versions, the newest in full)."""
    if mirror.store.exists(mirror.uri(model / filenames.SAVED_MODEL_PB)):
        mirror.pull(model)
    else:
        pull_versions(mirror, model)


def fetch(mirror: Mirror | None, directory: Path) -> None:
    """A step folder from the store into scratch before it is checked or reused (none there: stays absent)."""
    if mirror is not None and mirror.holds(directory):
        mirror.pull(directory)


def folders(directory: Path) -> set[str]:
    """Every folder under `directory`, relative: what existed before a step, to find what it added."""
    root = Path(directory)
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_dir()} if root.is_dir() else set()


def snapshot(mirror: Mirror | None, spec: ComponentSpec, outputs: dict) -> dict[str, set[str]]:
    if mirror is None:
        return {}
    return {o.name: folders(outputs[o.name]) for o in spec.outputs if mirror.holds(outputs.get(o.name))}


def stage_out(mirror: Mirror | None, spec: ComponentSpec, outputs: dict, before: dict[str, set[str]],
              succeeded: bool) -> None:
    """The step's output folder into the store (also after a failure: its error and gate report); after a
    success, each folder it added under its other outputs (a pushed version), published whole."""
    if mirror is None:
        return
    sent, started = mirror.store.uploaded, time.monotonic()
    if Path(outputs[OUTPUT]).is_dir():
        for_people(mirror, Path(outputs[OUTPUT]))
        mirror.push(outputs[OUTPUT], last=(filenames.RESULT, spec.result_file or filenames.RESULT))
    log.info("── %s ── %.1f MB uploaded to %s in %.1f s", spec.name, (mirror.store.uploaded - sent) / 1e6,
             mirror.uri(outputs[OUTPUT]), time.monotonic() - started)
    if not succeeded:
        return
    for name, existed in before.items():
        root = Path(outputs[name])
        for folder in sorted(folders(root) - existed):
            if (root / folder / filenames.VERSION_DIGESTS).is_file():  # a registry version: whole, under a claim
                publish_version(mirror, root / folder)


def for_people(mirror: Mirror, directory: Path) -> None:
    """The step's text files (gate.txt, report.html, metrics.json...) name URIs, not this machine's scratch
    (which is gone after the run, and would make another run's copy of them differ); done before the step's
    digests are taken, so the store holds what the manifest records. Steps take paths from their arguments,
    never from these files, so the next step is not misled."""
    for path in directory.rglob("*"):
        if path.suffix in (".txt", ".html", ".json") and path.is_file():
            try:
                text = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:  # not ours to rewrite
                continue
            shown = mirror.to_uris(text)
            if shown != text:
                write_text(path, shown)


def publish_version(mirror: Mirror, folder: Path) -> None:
    """A new version folder, under a claim on its number, so two pushers never fill one version."""
    claim = mirror.uri(folder.parent).join(CLAIMS, folder.name)
    held = acquire(mirror.store, claim)
    if held:
        raise InfraError(f"version {folder.name} of {mirror.uri(folder.parent)} was claimed by another push "
                         f"({held}): re-run (the gate then compares with that version); retryable (if no push "
                         f"runs, delete {claim}).")
    mirror.push(folder, last=(filenames.SAVED_MODEL_PB, filenames.VERSION_DIGESTS))
    log.info("published %s", mirror.uri(folder))


@contextlib.contextmanager
def store_lock(mirror: Mirror | None, run_dir: Path) -> Iterator[None]:
    """One process per run on the store: a lock object created only if absent (conditional put), removed at
    the end. One left by a killed process on this machine is taken over; elsewhere, the message says which
    object to delete. A server without conditional puts makes this best effort (docs/objectstore.md)."""
    if mirror is None:
        yield
        return
    lock = mirror.uri(run_dir).join(LOCK)
    held = acquire(mirror.store, lock)
    if held:
        raise UsageError(f"run {run_dir.name!r} is running in another process ({held}): wait for it to finish, "
                         f"or pass another --run-id (if no process runs it, delete {lock}).")
    try:
        yield
    finally:
        mirror.store.delete(lock)


def acquire(store, uri) -> str | None:
    """Create the object `uri` naming this process, unless a live process holds it: None, or that holder.
    One left by a process of this machine that no longer runs is taken over."""
    holder = f"pid {os.getpid()} on {socket.gethostname()}"
    if store.put_if_absent(uri, holder.encode()):
        return None
    held = store.read_text(uri).strip()
    if not _dead_here(held):
        return held
    log.warning("taking over %s from %s, which no longer runs", uri, held)
    store.delete(uri)
    return None if store.put_if_absent(uri, holder.encode()) else "another process, just now"


def _dead_here(holder: str) -> bool:
    words = holder.split()
    if len(words) != 4 or words[0] != "pid" or words[3] != socket.gethostname() or not words[1].isdigit():
        return False
    try:
        os.kill(int(words[1]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def keep_results(run_dir: Path, target: Path) -> Path:
    """The run's small results (manifest, run.json, validate's report, evaluate's metrics and plots, the gate)
    copied from scratch to `target` on this machine, so the paths the summary prints exist here."""
    import shutil

    for path in sorted(Path(run_dir).rglob("*")):
        relative = path.relative_to(run_dir)
        small = len(relative.parts) == 1 or relative.parts[0] in ("validate", "evaluate", "push")
        if path.is_file() and small and not path.name.startswith("."):
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target / relative)
    return target
