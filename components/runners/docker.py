"""The container executor (`--runner=local --containers`): each step in its component's image.

Steps run through the Docker SDK exactly as Kubernetes would run them: the image's entry point is
`python -m`, the arguments are the step's module and `arguments.cli_args` with every host path mapped
to a path under /artifacts; the root filesystem is read-only, /tmp a tmpfs, there is no network and no
capability. Each container sees only what its step needs: the run directory read-only, its own output
directory (and the serving directory for push) writable, input files outside the run read-only.
Logs stream line by line under `pipeline.<step>`; the component's record line (protocol.Record) is the step's
outcome, its paths mapped back to the host; containers are removed whatever happens.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import os
import re
from pathlib import Path, PurePosixPath
from typing import Any, Iterator

from components.core import protocol, release
from components.core.errors import InfraError, UsageError
from components.core.interface import OUTPUT, ComponentSpec
from components.orchestration import arguments, signals
from components.orchestration.dag import PIPELINE
from components.orchestration.paths import ARTIFACTS, PathMap
from components.orchestration.run import Executor
from components.orchestration.state import Run

IMAGE_UID = 10001  # the images' non-root user (docker/*.Dockerfile)
OOM = -9  # our marker for a container the kernel killed for memory (its own exit code says 137)
TMPFS = {"/tmp": "rw,nosuid,nodev,size=2g,mode=1777"}
# The component CLIs' log format (components/core/console.py): "HH:MM:SS LEVEL   logger: message"
LOG_LINE = re.compile(r"^\d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR|CRITICAL)\s+\S+: ")


# Per container. Measured peaks (bench/RESULTS.md, scale): every step stays under 1.1 GB of RSS up to 10^7
# rows, TensorFlow runs about 100 threads on 2 cores: room to spare, yet a runaway step cannot take the host.
MEMORY_LIMIT = "4g"
PIDS_LIMIT = 1024


@dataclasses.dataclass(frozen=True)
class DockerOptions:
    image_tag: str | None = None    # None: the project version; an explicit tag only warns on other code
    gpu: bool = False               # trainer-image steps in the GPU variant, with every GPU
    debug: bool = False
    memory: str = MEMORY_LIMIT      # docker's --memory (and --memory-swap: no swap beyond it)
    pids: int = PIDS_LIMIT          # docker's --pids-limit

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[0-9]+[bkmg]?", self.memory.lower()):
            raise UsageError(f"--container-memory {self.memory!r} is not a size such as 512m or 4g.")
        if self.pids < 64:
            raise UsageError(f"--container-pids {self.pids} is too low for TensorFlow's threads: use 64 or more.")


def connect():
    import requests

    import docker

    try:
        client = docker.from_env(timeout=600)
        client.ping()
        return client
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        raise InfraError(f"no Docker engine answers at {where} ({exc}). Start one (`sudo .ci/start-docker`, or "
                         f"`systemctl start docker`) or run without --containers.") from None


def find_image(client, repo: str, tag: str):
    import docker

    try:
        return client.images.get(f"{repo}:{tag}")
    except docker.errors.ImageNotFound:
        raise UsageError(f"image {repo}:{tag} is not built: run `make images` (or pass --image-tag with a tag "
                         f"that `docker images {repo}` lists).") from None



def check_code(ref: str, image, explicit_tag: bool, here: str | None = None) -> None:
    """An image built from other code fails in confusing ways (unknown flags): say so up front. `here` is
    this checkout's code digest, when the caller has it already."""
    built, here = image.labels.get(release.CODE_LABEL), here or release.code_digest()
    if built == here:
        return
    message = (f"image {ref} was built from other code than this checkout's components/ (code digest {built}, "
               f"here {here}): run `make images` to rebuild it (seconds after a code change).")
    if not explicit_tag:
        raise UsageError(message)
    logging.getLogger("pipeline").warning("%s", message)  # an explicitly chosen tag is the user's call


def executor(options: DockerOptions, run: Run) -> Executor:
    client = connect()
    tag = options.image_tag or release.version()
    kinds = {spec.image for spec in PIPELINE}
    images = {}
    for kind in sorted(kinds):
        name = release.image_name(release.image_kind(kind, options.gpu))
        images[kind] = (f"{name}:{tag}", find_image(client, name, tag))
    here = release.code_digest()
    for ref, image in images.values():
        check_code(ref, image, explicit_tag=options.image_tag is not None, here=here)
    return functools.partial(execute, client, images, run, options)


def mount_input(paths: PathMap, host: Path, name: str) -> PurePosixPath:
    """An input outside every mounted folder: mounted read-only under /artifacts/inputs/<name>/."""
    target = ARTIFACTS / "inputs" / name / host.name
    paths.mount(host, target, read_only=True)
    return target


def docker_mounts(paths: PathMap) -> list:
    from docker.types import Mount

    return [Mount(str(target), str(source), type="bind", read_only=ro) for source, target, ro in paths.mounts]


def plan(spec: ComponentSpec, config: Any, run: Run, inputs: dict[str, Path | None],
         outputs: dict[str, Path]) -> tuple[PathMap, list[str], list[Path]]:
    """The step's mounts, its container arguments and the host folders it must be able to write."""
    paths = PathMap(mount_input)
    run_dir = ARTIFACTS / "run"
    paths.mount(run.run_dir, run_dir, read_only=True)
    writable = [Path(outputs[OUTPUT])]
    paths.mount(outputs[OUTPUT], run_dir / spec.name, read_only=False)
    serving = run.where.serving_dir
    extra = [Path(p).resolve() for n, p in outputs.items() if n != OUTPUT and p is not None]
    if serving.is_dir() or extra:
        is_output = serving.resolve() in extra
        paths.mount(serving, ARTIFACTS / "serving", read_only=not is_output)
        if is_output:
            writable.append(serving)
    mapped_in = {n: paths.to_target(p, n) if p is not None else None for n, p in inputs.items()}
    mapped_out = {n: paths.to_target(p, n) for n, p in outputs.items() if p is not None}
    return paths, arguments.cli_args(config, mapped_in, mapped_out), writable


def container_user() -> str:
    """The host user when it is not root (files stay theirs); else the images' own non-root user."""
    uid = os.getuid()
    return f"{uid}:{os.getgid()}" if uid != 0 else f"{IMAGE_UID}:{IMAGE_UID}"


@contextlib.contextmanager
def writable_by_container(folders: list[Path]) -> Iterator[None]:
    """As root, lend the writable folders to the container's user for the step, then take them back."""
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
    if os.getuid() != 0:
        yield
        return
    owners = {folder: (folder.stat().st_uid, folder.stat().st_gid) for folder in folders}
    _chown_tree(folders, IMAGE_UID, IMAGE_UID)
    try:
        yield
    finally:
        for folder, (uid, gid) in owners.items():
            _chown_tree([folder], uid, gid)


def _chown_tree(folders: list[Path], uid: int, gid: int) -> None:
    for folder in folders:
        os.chown(folder, uid, gid)
        for parent, dirs, files in os.walk(folder):
            for name in dirs + files:
                os.chown(os.path.join(parent, name), uid, gid, follow_symlinks=False)


def execute(client, images: dict, run: Run, options: DockerOptions, spec: ComponentSpec, config: Any,
            inputs: dict[str, Path | None], outputs: dict[str, Path]) -> protocol.Record:
    ref, image = images[spec.image]
    paths, argv, writable = plan(spec, config, run, inputs, outputs)
    command = [spec.module, *argv, *(["--debug"] if options.debug else [])]
    with writable_by_container(writable):
        code, lines = run_container(client, image, spec, command, paths, run.run_id, options)
    if code == OOM:
        return protocol.Record(InfraError.exit_code, None, f"{spec.name}: the container of {ref} ran out of memory "
                          f"(killed at its limit of {options.memory}): raise --container-memory, or lower "
                          f"train.batch_size.")
    record = protocol.record_from_log(code, lines)
    if record.exit_code != 0:
        return dataclasses.replace(record, error=paths.to_host(record.error))
    result = paths.to_host(record.result or {})
    return protocol.Record(0, {**result, "container": {"image": ref, "image_id": image.id}})


def run_container(client, image, spec: ComponentSpec, command: list[str], paths: PathMap, run_id: str,
                  options: DockerOptions) -> tuple[int, list[str]]:
    """Run one container to the end, streaming its log; returns (exit code, log lines). Always removed."""
    from docker.types import DeviceRequest

    import docker

    step_log = logging.getLogger(f"pipeline.{spec.name}")
    try:
        container = client.containers.create(
            image.id, command, user=container_user(), read_only=True, network_mode="none", tmpfs=TMPFS,
            mounts=docker_mounts(paths), cap_drop=["ALL"], security_opt=["no-new-privileges"],
            mem_limit=options.memory, memswap_limit=options.memory, pids_limit=options.pids,
            environment={protocol.RECORD_LINE_ENV: "1"},
            labels={release.LABEL_RUN: run_id, release.LABEL_STEP: spec.name},
            device_requests=[DeviceRequest(count=-1, capabilities=[["gpu"]])]
            if options.gpu and release.image_kind(spec.image, options.gpu) != spec.image else None)
    except docker.errors.APIError as exc:
        raise InfraError(f"Docker could not create the {spec.name} container: {exc.explanation or exc}") from None
    lines: list[str] = []
    stack = contextlib.ExitStack()
    try:
        container.start()
        stack.enter_context(signals.sigterm_raises(f"interrupted (SIGTERM) during {spec.name}; its container was "
                                                  f"removed. Re-run the same command to continue."))
        for line in _lines(container.logs(stream=True, follow=True)):
            lines.append(line)
            if not line.startswith(protocol.RECORD_MARKER):
                # the component's own timestamp repeats ours; its level and logger name are kept
                step_log.info("%s", line[9:] if LOG_LINE.match(line) else line)
        state = container.wait()
        container.reload()
        oom_killed = bool(container.attrs.get("State", {}).get("OOMKilled"))
        return (OOM if oom_killed else int(state.get("StatusCode", 1))), lines
    finally:
        stack.close()
        with contextlib.suppress(Exception):  # removing must never hide the step's own outcome
            container.remove(force=True)


def _lines(chunks) -> Iterator[str]:
    """Docker streams arbitrary byte chunks; the log is wanted line by line."""
    splitter = protocol.LineSplitter()
    for chunk in chunks:
        yield from splitter.feed(chunk)
    yield from splitter.close()
