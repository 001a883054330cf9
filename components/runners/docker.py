"""The container executor (`--runner=local --containers`): each step in its component's image.

Steps run through the Docker SDK exactly as Kubernetes would run them: the image's entry point is
`python -m`, the arguments are the component module and `common.cli_args` with every host path mapped
to a path under /artifacts; the root filesystem is read-only, /tmp a tmpfs, there is no network and no
capability. Each container sees only what its step needs: the run directory read-only, its own output
directory (and the serving directory for push) writable, input files outside the run read-only.
Logs stream line by line under `pipeline.<step>`; a non-zero exit becomes the domain error of that exit
code with the component's own error message; containers are removed whatever happens.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import logging
import os
import re
import signal
import threading
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any, Iterator

from components import artifacts, io
from components.dag import Step
from components.errors import InfraError, PipelineError, UsageError, error_for_exit_code
from components.runners import common

ROOT = Path(__file__).resolve().parents[2]
IMAGES = {"data": "bankpipe-data", "trainer": "bankpipe-trainer"}
GPU_TRAINER = "bankpipe-trainer-gpu"
CODE_LABEL = "org.bankpipe.code-digest"
ARTIFACTS = PurePosixPath("/artifacts")
IMAGE_UID = 10001  # the images' non-root user (docker/*.Dockerfile)
OOM = -9  # our marker for a container the kernel killed for memory (its own exit code says 137)
TMPFS = {"/tmp": "rw,nosuid,nodev,size=2g,mode=1777"}
# The component CLIs' log format (components/cli.py): "HH:MM:SS LEVEL   logger: message"
LOG_LINE = re.compile(r"^\d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR|CRITICAL)\s+\S+: ")
ERROR_LINE = re.compile(r"^\d\d:\d\d:\d\d (ERROR|CRITICAL)\s+\S+: (?P<message>.*)$")


def project_version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def add_flags(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--image-tag", help="with --containers: the images' tag (default: the project version)")
    group.add_argument("--gpu", action="store_true",
                       help=f"with --containers: train and evaluate in {GPU_TRAINER}, with every GPU")


def connect():
    import docker
    import requests

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


def code_digest(root: Path = ROOT) -> str:
    """A digest of components/ as the images' last layer copies it (docker/build.py labels images with it)."""
    digest = hashlib.sha256()
    for path in sorted((root / "components").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            digest.update(f"{path.relative_to(root)}\0".encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def check_code(ref: str, image, explicit_tag: bool, here: str | None = None) -> None:
    """An image built from other code fails in confusing ways (unknown flags): say so up front. `here` is
    this checkout's code digest, when the caller has it already."""
    built, here = image.labels.get(CODE_LABEL), here or code_digest()
    if built == here:
        return
    message = (f"image {ref} was built from other code than this checkout's components/ (code digest {built}, "
               f"here {here}): run `make images` to rebuild it (seconds after a code change).")
    if not explicit_tag:
        raise UsageError(message)
    logging.getLogger("pipeline").warning("%s", message)  # an explicitly chosen tag is the user's call


def executor(args: argparse.Namespace, run: common.Run) -> common.Executor:
    if (getattr(args, "workers", 1) or 1) > 1:  # one container per step; several trainers: --runner=kubernetes
        raise UsageError(f"--workers {args.workers} does not combine with --containers: drop one of them "
                         f"(multi-worker training in containers is what --runner=kubernetes does).")
    client = connect()
    tag = getattr(args, "image_tag", None) or project_version()
    repos = dict(IMAGES, trainer=GPU_TRAINER) if getattr(args, "gpu", False) else IMAGES
    images = {kind: (f"{repo}:{tag}", find_image(client, repo, tag)) for kind, repo in repos.items()}
    here = code_digest()
    for ref, image in images.values():
        check_code(ref, image, explicit_tag=bool(getattr(args, "image_tag", None)), here=here)
    return functools.partial(execute, client, images, run, debug=getattr(args, "debug", False),
                             gpu=getattr(args, "gpu", False))


class PathMap:
    """Host paths <-> container paths, and the bind mounts that make them so."""

    def __init__(self) -> None:
        self.mounts: list[tuple[Path, PurePosixPath, bool]] = []  # (host, container, read_only)

    def mount(self, host: Path, container: PurePosixPath, read_only: bool) -> None:
        self.mounts.append((Path(host).resolve(), container, read_only))

    def to_container(self, host: Path, name: str) -> str:
        host = Path(host).resolve()
        for source, target, _ in sorted(self.mounts, key=lambda m: -len(m[0].parts)):
            if host.is_relative_to(source):
                return str(target / host.relative_to(source))
        target = ARTIFACTS / "inputs" / name / host.name  # an input outside every mounted folder
        self.mount(host, target, read_only=True)
        return str(target)

    def to_host(self, value: Any) -> Any:
        """Container paths in a result or a message, as the host sees them (as in-process runs report)."""
        if isinstance(value, dict):
            return {k: self.to_host(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.to_host(v) for v in value]
        if not isinstance(value, str):
            return value
        for source, target, _ in sorted(self.mounts, key=lambda m: -len(m[1].parts)):
            value = re.sub(re.escape(str(target)) + r"(?![\w.-])", lambda _: str(source), value)
        return value

    def docker_mounts(self) -> list:
        from docker.types import Mount

        return [Mount(str(target), str(source), type="bind", read_only=ro) for source, target, ro in self.mounts]


def plan(step: Step, config: Any, run: common.Run, inputs: dict[str, Path | None],
         outputs: dict[str, Path]) -> tuple[PathMap, list[str], list[Path]]:
    """The step's mounts, its container arguments and the host folders it must be able to write."""
    paths = PathMap()
    run_dir = ARTIFACTS / "run"
    paths.mount(run.run_dir, run_dir, read_only=True)
    writable = [Path(outputs["output"])]
    paths.mount(outputs["output"], run_dir / step.name, read_only=False)
    serving = run.params.get("serving_dir")
    if serving is not None and (Path(serving).is_dir() or step.extra_outputs):
        is_output = any(p is not None and Path(p).resolve() == Path(serving).resolve()
                        for n, p in outputs.items() if n != "output")
        paths.mount(serving, ARTIFACTS / "serving", read_only=not is_output)
        if is_output:
            writable.append(Path(serving))
    mapped_in = {n: paths.to_container(p, n) if p is not None else None for n, p in inputs.items()}
    mapped_out = {n: paths.to_container(p, n) for n, p in outputs.items() if p is not None}
    return paths, common.cli_args(config, mapped_in, mapped_out), writable


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


def execute(client, images: dict, run: common.Run, step: Step, config: Any, inputs: dict[str, Path | None],
            outputs: dict[str, Path], debug: bool = False, gpu: bool = False) -> dict:
    ref, image = images[step.image]
    paths, argv, writable = plan(step, config, run, inputs, outputs)
    command = [step.module, *argv, *(["--debug"] if debug else [])]
    with writable_by_container(writable):
        code, lines = run_container(client, image, step, command, paths, run.run_id, gpu)
    if code != 0:
        raise exit_error(code, lines, paths, ref)
    result = paths.to_host(io.read_json(Path(outputs["output"]) / artifacts.RESULT))
    result["container"] = {"image": ref, "image_id": image.id}
    return result


def run_container(client, image, step: Step, command: list[str], paths: PathMap, run_id: str,
                  gpu: bool) -> tuple[int, list[str]]:
    """Run one container to the end, streaming its log; returns (exit code, log lines). Always removed."""
    from docker.types import DeviceRequest

    import docker

    step_log = logging.getLogger(f"pipeline.{step.name}")
    try:
        container = client.containers.create(
            image.id, command, user=container_user(), read_only=True, network_mode="none", tmpfs=TMPFS,
            mounts=paths.docker_mounts(), cap_drop=["ALL"], security_opt=["no-new-privileges"],
            labels={"bankpipe.run": run_id, "bankpipe.step": step.name},
            device_requests=[DeviceRequest(count=-1, capabilities=[["gpu"]])] if gpu and step.image == "trainer"
            else None)
    except docker.errors.APIError as exc:
        raise InfraError(f"Docker could not create the {step.name} container: {exc.explanation or exc}") from None
    lines: list[str] = []
    stack = contextlib.ExitStack()
    try:
        container.start()
        stack.enter_context(_sigterm_raises(step.name))
        for line in _lines(container.logs(stream=True, follow=True)):
            lines.append(line)
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


@contextlib.contextmanager
def _sigterm_raises(step: str) -> Iterator[None]:
    """SIGTERM would end this process without `finally`, leaving the container running: raise instead."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise InfraError(f"interrupted (SIGTERM) during {step}; its container was removed. Re-run the same "
                         f"command to continue.")

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _lines(chunks) -> Iterator[str]:
    """Docker streams arbitrary byte chunks; the log is wanted line by line."""
    pending = b""
    for chunk in chunks:
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            yield line.decode("utf-8", "replace").rstrip("\r")
    if pending:
        yield pending.decode("utf-8", "replace")


def exit_error(code: int, lines: list[str], paths: PathMap, ref: str) -> PipelineError:
    if code == OOM:
        return InfraError(f"the container of {ref} ran out of memory (OOM killed): give Docker more memory "
                          f"or lower train.batch_size.")
    message = last_error(lines) or "\n".join(lines[-20:]) or f"the container exited with code {code}"
    return error_for_exit_code(code, paths.to_host(message))


def last_error(lines: list[str]) -> str | None:
    """The component's last ERROR record, with the continuation lines of a multi-line message."""
    for start in range(len(lines) - 1, -1, -1):
        match = ERROR_LINE.match(lines[start])
        if match:
            rest = []
            for line in lines[start + 1:]:
                if LOG_LINE.match(line) or line.startswith("Traceback"):
                    break
                rest.append(line)
            return "\n".join([match["message"], *rest]).rstrip()
    return None
