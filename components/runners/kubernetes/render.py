"""Rendering a run's Kubernetes objects from the templates under k8s/ (no cluster needed).

Each component's Job comes from k8s/base/jobs/<step>.yaml with the chosen overlay's Job patches applied
(the same files `kubectl kustomize k8s/overlays/<overlay>` uses), then filled in with the run's name,
labels, image and args. Host paths of the run are mapped to the artifacts volume (see cluster_paths).
"""
from __future__ import annotations

import dataclasses
import hashlib
import re
from pathlib import Path, PurePosixPath

import yaml

from components.core import release
from components.core.errors import UsageError
from components.core.interface import ComponentSpec
from components.orchestration.paths import ARTIFACTS, MAX_WORKERS, PathMap
from components.runners.kubernetes import tfjob
from components.runners.kubernetes.templates import load_template

ROOT = Path(__file__).resolve().parents[3]
APP_DATA = PurePosixPath("/app/data")
LABEL_RUN, LABEL_STEP, ANNOTATION_RUN_ID = release.LABEL_RUN, release.LABEL_STEP, release.ANNOTATION_RUN_ID
WORKER_PORT = 2222
VOLUME = "artifacts"  # the templates' name of the PersistentVolumeClaim's volume
ENTRY = "components.runners.kubernetes.entry"


@dataclasses.dataclass(frozen=True)
class Settings:
    """What the runner's flags decide about the rendered objects."""
    namespace: str = "bankpipe"
    image_registry: str = ""
    image_tag: str = dataclasses.field(default_factory=release.version)
    gpus_per_worker: int = 0
    workers: int = 1
    trainer: str = "job"                      # "job" (Indexed Job when workers > 1) or "tfjob"
    backoff_limit: int = 3
    deadline_seconds: int | None = None       # None: each template's own activeDeadlineSeconds
    ttl_seconds: int = 86400
    node_selector: dict | None = None         # None: the gpu overlay's
    tolerations: list | None = None           # None: the gpu overlay's
    cpu_request: str | None = None            # None: each template's; e.g. "250m" to fit a small node
    memory_request: str | None = None
    on_store: bool = False                    # the run lives on the object store: k8s/overlays/objectstore

    @property
    def overlays(self) -> tuple[str, ...]:
        """Whose Job patches apply, in order: on the store, the gpu overlay's train patch, then the store's."""
        gpu = ("gpu",) if self.gpus_per_worker > 0 else ()
        return (*gpu, "objectstore") if self.on_store else gpu or ("cpu",)

    @property
    def overlay(self) -> str:
        """The overlay whose shared objects (namespace, ConfigMap, claim) the run uses."""
        return self.overlays[-1]

    def check(self) -> None:
        if not 1 <= self.workers <= MAX_WORKERS:
            raise UsageError(f"--workers {self.workers} is out of range: use 1 to {MAX_WORKERS}.")
        if self.gpus_per_worker < 0:
            raise UsageError(f"--gpus-per-worker {self.gpus_per_worker} is negative: use 0 (CPU) or more.")
        if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", self.namespace):
            raise UsageError(f"--namespace {self.namespace!r} is not a valid namespace name (lower-case "
                             f"letters, digits and '-', at most 63 characters).")
        for flag, value in (("--backoff-limit", self.backoff_limit), ("--job-ttl", self.ttl_seconds)):
            if value < 0:
                raise UsageError(f"{flag} {value} is negative: use 0 or more.")
        if self.deadline_seconds is not None and self.deadline_seconds < 1:
            raise UsageError(f"--job-deadline {self.deadline_seconds} must be at least 1 second.")
        for flag, value in (("--cpu-request", self.cpu_request), ("--memory-request", self.memory_request)):
            if value is not None and not _quantity_ok(value):
                raise UsageError(f"{flag} {value!r} is not a Kubernetes quantity, e.g. 250m or 1 (CPU), 512Mi or "
                                 f"2Gi (memory).")

    @property
    def requests(self) -> dict[str, str]:
        return {k: v for k, v in (("cpu", self.cpu_request), ("memory", self.memory_request)) if v is not None}


def _quantity_ok(value: str) -> bool:
    from kubernetes.utils import parse_quantity

    try:
        return parse_quantity(value) > 0
    except ValueError:
        return False


def run_key(run_id: str) -> str:
    """The run id as a label value and name part: lower-case DNS label, at most 40 characters."""
    key = re.sub(r"[^a-z0-9-]+", "-", run_id.lower()).strip("-")
    if key != run_id or len(key) > 40:  # a changed or shortened id gets a hash, so two ids never collide
        key = f"{key[:31].strip('-')}-{hashlib.sha1(run_id.encode()).hexdigest()[:8]}".strip("-")
    return key


def job_name(run_id: str, step: str) -> str:
    return f"bp-{run_key(run_id)}-{step}"


def run_selector(run_id: str, step: str | None = None) -> str:
    selector = f"{LABEL_RUN}={run_key(run_id)}"
    return f"{selector},{LABEL_STEP}={step}" if step else selector


def store_paths(scratch: Path, unmapped, data_dir: Path = ROOT / "data") -> PathMap:
    """On the store, the pods' /artifacts mirrors it as the host's scratch does (s3://b/k: <scratch>/b/k there,
    /artifacts/b/k in the pod); a local file outside both goes to `unmapped` (the runner uploads it)."""
    paths = PathMap(unmapped, targets=(APP_DATA.parent,))
    paths.mount(scratch, ARTIFACTS)
    paths.mount(data_dir, APP_DATA)
    return paths


def cluster_paths(pipeline_root: Path, serving_dir: Path, data_dir: Path = ROOT / "data") -> PathMap:
    """Host paths of a run -> the paths its pods see: the volume at /artifacts, the data baked into images.
    Paths already under /artifacts or /app are in-cluster paths as they are; any other path is refused."""
    paths = PathMap(not_on_the_cluster, targets=(ARTIFACTS, APP_DATA.parent))
    paths.mount(pipeline_root, ARTIFACTS / "runs")
    paths.mount(serving_dir, ARTIFACTS / "serving")
    paths.mount(data_dir, APP_DATA)
    return paths


def not_on_the_cluster(paths: PathMap, host: Path, flag: str):
    raise UsageError(f"{flag} {host} is not on the cluster: with --runner=kubernetes use the data baked into the "
                     f"images (the default) or copy the file onto the artifacts volume and pass its path there, "
                     f"e.g. {flag} /artifacts/data/{host.name}.")


def on_gpus(spec: ComponentSpec, settings: Settings) -> bool:
    """GPUs go to the steps that may run distributed (the trainer), when asked for."""
    return spec.distributed and settings.gpus_per_worker > 0


def image(settings: Settings, spec: ComponentSpec) -> str:
    kind = release.image_kind(spec.image, gpu=on_gpus(spec, settings))
    return release.image_ref(kind, settings.image_tag, settings.image_registry)


def labels(run_id: str, step: str) -> dict:
    return {"app.kubernetes.io/name": "bankpipe", "app.kubernetes.io/component": step,
            "app.kubernetes.io/part-of": "bankpipe", LABEL_RUN: run_key(run_id), LABEL_STEP: step}


def _main_container(pod_spec: dict) -> dict:
    return next(c for c in pod_spec["containers"] if c["name"] == "main")


def writable_mounts(container: dict, writable: list[str]) -> None:
    """Each writable path (under /artifacts) mounted read-write from its own sub-path of the volume, over the
    template's read-only mount of the whole volume: as under the Docker runner, a step can write its own
    output and nothing else. The kubelet creates a missing sub-path folder; it takes the volume's group
    (the pods' fsGroup, set-group-ID on the volume root) and mode, so the step's user can write it."""
    for path in writable:
        relative = PurePosixPath(path).relative_to(ARTIFACTS)
        container["volumeMounts"].append({"name": VOLUME, "mountPath": path, "subPath": str(relative)})


def _fill_pod(pod_spec: dict, spec: ComponentSpec, settings: Settings, args: list[str], writable: list[str]) -> None:
    container = _main_container(pod_spec)
    container["image"] = image(settings, spec)
    container["args"] = args
    if not settings.on_store:  # on the store /artifacts is the pod's own scratch, writable whole
        writable_mounts(container, writable)
    _set_requests(container["resources"], settings.requests)
    if on_gpus(spec, settings):
        for kind in ("requests", "limits"):
            container["resources"].setdefault(kind, {})["nvidia.com/gpu"] = str(settings.gpus_per_worker)
        if settings.node_selector is not None:
            pod_spec["nodeSelector"] = dict(settings.node_selector)
        if settings.tolerations is not None:
            pod_spec["tolerations"] = [dict(t) for t in settings.tolerations]


def multi_worker(spec: ComponentSpec, settings: Settings) -> bool:
    return spec.distributed and settings.workers > 1


def _set_requests(resources: dict, requests: dict[str, str]) -> None:
    """Requests as given; a limit below its new request is raised to it (the API server refuses less)."""
    from kubernetes.utils import parse_quantity

    resources["requests"].update(requests)
    for key, value in requests.items():
        if key in resources.get("limits", {}) and parse_quantity(resources["limits"][key]) < parse_quantity(value):
            resources["limits"][key] = value


def render_job(spec: ComponentSpec, args: list[str], settings: Settings, run_id: str,
               writable: list[str]) -> dict:
    job = load_template(spec.name, settings.overlays)
    name = job_name(run_id, spec.name)
    job["metadata"] = {"name": name, "namespace": settings.namespace, "labels": labels(run_id, spec.name),
                       "annotations": {ANNOTATION_RUN_ID: run_id}}
    job_spec = job["spec"]
    job_spec.pop("suspend", None)
    job_spec["backoffLimit"] = settings.backoff_limit
    job_spec["ttlSecondsAfterFinished"] = settings.ttl_seconds
    if settings.deadline_seconds is not None:
        job_spec["activeDeadlineSeconds"] = settings.deadline_seconds
    job_spec["template"]["metadata"] = {"labels": labels(run_id, spec.name),
                                        "annotations": {ANNOTATION_RUN_ID: run_id}}
    _fill_pod(job_spec["template"]["spec"], spec, settings, args, writable)
    if multi_worker(spec, settings):
        # Indexed: pod i gets JOB_COMPLETION_INDEX=i and the hostname <job>-<i>; the headless Service
        # named like the Job (the pods' subdomain) makes <job>-<i>.<job> resolvable by the other pods.
        job_spec.update(completionMode="Indexed", completions=settings.workers, parallelism=settings.workers)
        job_spec["template"]["spec"]["subdomain"] = name
    return job


def render_worker_service(spec: ComponentSpec, run_id: str, settings: Settings) -> dict:
    name = job_name(run_id, spec.name)
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": settings.namespace, "labels": labels(run_id, spec.name),
                         "annotations": {ANNOTATION_RUN_ID: run_id}},
            "spec": {"clusterIP": "None", "selector": {LABEL_RUN: run_key(run_id), LABEL_STEP: spec.name},
                     # workers must find each other while they start, before anything is "ready"
                     "publishNotReadyAddresses": True,
                     "ports": [{"name": "grpc", "port": WORKER_PORT, "targetPort": WORKER_PORT}]}}


def worker_entry_args(spec: ComponentSpec, run_id: str, settings: Settings) -> list[str]:
    """The kubernetes.entry options from which each worker pod of a distributed step derives its TF_CONFIG."""
    if not multi_worker(spec, settings) or settings.trainer == "tfjob":
        return []  # one worker needs no TF_CONFIG; the training operator writes its own
    name = job_name(run_id, spec.name)
    return ["--workers", str(settings.workers), "--worker-job", name, "--worker-service", name,
            "--worker-port", str(WORKER_PORT)]


def render_step(spec: ComponentSpec, args: list[str], settings: Settings, run_id: str,
                writable: list[str]) -> list[dict]:
    """Every object one step needs, in the order to create them; `writable`: the cluster paths it may write."""
    job = render_job(spec, args, settings, run_id, writable)
    if spec.distributed and settings.trainer == "tfjob":
        return [tfjob.render_tfjob(job, settings.workers, WORKER_PORT)]
    if multi_worker(spec, settings):
        return [render_worker_service(spec, run_id, settings), job]
    return [job]


def file_name(obj: dict) -> str:
    return f"{obj['metadata']['name']}.{obj['kind'].lower()}.yaml"


def write_manifests(objects: list[dict], directory: Path) -> list[Path]:
    """One YAML file per object; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for obj in objects:
        path = directory / file_name(obj)
        path.write_text(yaml.safe_dump(obj, sort_keys=False))
        written.append(path)
    return written
