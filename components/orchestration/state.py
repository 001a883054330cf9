"""A run's state: its directory, parameters and manifest (what each step did, with what key), and run.json,
the record of what made the run that a pushed version's lineage points to."""
from __future__ import annotations

import dataclasses
import datetime
import logging
from pathlib import Path

from components import storage
from components.config import overrides
from components.config.sections import PipelineConfig
from components.core import digests, filenames, release
from components.core.interface import DATA, RUN_INFO, SERVING_DIR, ComponentSpec, Lookup, Param, StepOutput
from components.orchestration import cache
from components.orchestration.dag import PIPELINE
from components.registry import lookups
from components.storage.mirror import Mirror

log = logging.getLogger("pipeline")


@dataclasses.dataclass
class Run:
    run_id: str
    run_dir: Path
    config: PipelineConfig
    params: dict[str, Path | None]
    manifest: dict = dataclasses.field(default_factory=dict)
    mirror: Mirror | None = None   # the run lives on the object store, mirrored in scratch (storage/mirror.py)
    _hashes: dict = dataclasses.field(default_factory=dict, repr=False)

    def file_hash(self, path: Path) -> str:
        """SHA-256 of an input file, read once per run (the data file feeds several steps)."""
        key = str(path)
        if key not in self._hashes:
            self._hashes[key] = storage.file_sha256(path)
        return self._hashes[key]

    def output_dir(self, step: str) -> Path:
        return self.run_dir / step

    @property
    def where(self) -> lookups.Where:
        """What lookups search on this machine: the run's own pipeline root and serving directory."""
        serving = self.params.get(SERVING_DIR.name)
        return lookups.Where(self.run_dir.parent, Path(serving) if serving else self.run_dir.parent / "serving",
                             self.run_id, self.config.push.model_name)

    def resolve(self, ref) -> Path | None:
        if isinstance(ref, Param):
            return self.params.get(ref.name)
        if isinstance(ref, Lookup):
            return ref.find(self.where)
        path = self.output_dir(ref.step)
        return path / ref.path if ref.path else path

    def save_manifest(self) -> None:
        self.write_json(self.run_dir / filenames.MANIFEST, self.manifest)

    def write_json(self, path: Path, value) -> None:
        """A run file; on the store, with URIs for scratch paths, uploaded at once."""
        if self.mirror is not None:
            self.mirror.write_json(path, value)
        else:
            storage.write_json(path, value)

    def read_json(self, path: Path):
        return self.mirror.read_json(path) if self.mirror is not None else storage.read_json(path)

    def local(self, value):
        """A value read from another run's files, its URIs as this machine's scratch paths."""
        return self.mirror.to_paths(value) if self.mirror is not None else value

    def shown(self, value):
        """A value as the user should see it: URIs, not scratch paths."""
        return self.mirror.to_uris(value) if self.mirror is not None else value


def new_manifest(run: Run, runner: str) -> dict:
    data = run.params.get(DATA.name)
    return {"run_id": run.run_id, "runner": runner, "status": "running",
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "config": overrides.to_dict(run.config),
            "params": {k: str(v) if v is not None else None for k, v in run.params.items()},
            "data_sha256": run.file_hash(data) if data and Path(data).is_file() else None,
            "steps": {spec.name: {"status": "pending"} for spec in PIPELINE}}


def input_contents(run: Run, spec: ComponentSpec, inputs: dict[str, Path | None]) -> dict[str, str | None]:
    """Each input by its content: a file's hash, or an upstream step's recorded files (never its run-specific
    path, so that another run with the same content has the same key)."""
    contents = {}
    for item in spec.inputs:
        source, path = item.source, inputs[item.name]
        upstream = run.manifest["steps"].get(source.step, {}) if isinstance(source, StepOutput) else None
        if upstream and upstream.get("artifacts") is not None:
            contents[item.name] = digests.value_digest(cache.subtree(upstream["artifacts"], source.path))
        elif upstream:  # not visible from here (a remote volume): its key stands for its content
            contents[item.name] = f"step:{upstream.get('key')}:{source.path}"
        else:
            contents[item.name] = cache.input_content(path, run.file_hash)
    return contents


def load_or_create_manifest(run: Run, runner: str) -> dict:
    """A run directory that already has a manifest is continued, not started over."""
    path = run.run_dir / filenames.MANIFEST
    if not path.exists():
        return new_manifest(run, runner)
    manifest = run.read_json(path)
    manifest.setdefault("attempts", 1)
    manifest["attempts"] += 1
    fresh = new_manifest(run, runner)  # this attempt's inputs: the data file may have changed since
    manifest.update({k: fresh[k] for k in ("runner", "config", "params", "data_sha256")}, status="running")
    log.info("continuing run %s (attempt %d): finished steps whose files and inputs are unchanged are kept",
             run.run_id, manifest["attempts"])
    return manifest


def write_run_info(run: Run) -> None:
    """run.json: what made this run, for the versions it pushes (their lineage)."""
    info = {k: run.manifest[k] for k in ("run_id", "created", "data_sha256", "config", "params")}
    info.update(code_digest=release.code_digest(), version=release.version(), commit=release.commit())
    run.write_json(run.run_dir / filenames.RUN_INFO, info)
    run.params.setdefault(RUN_INFO.name, run.run_dir / filenames.RUN_INFO)
