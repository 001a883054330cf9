"""The Kubernetes runner: each component of the DAG as a Job on a cluster, in DAG order.

    python pipeline.py --runner=kubernetes --context kind-bankpipe --image-registry localhost:5001
    python pipeline.py --runner=kubernetes --dry-run --manifests-dir out/k8s     # render only

Jobs are rendered from k8s/ (kubernetes.render), submitted with the kubernetes client, watched to the end with
their pods' logs (kubernetes.watch); the first failure stops the run with the exit code the local runner would
give. Ctrl-C deletes the run's Jobs. Each step's outcome is the record line its pod prints (protocol.Record),
read from the log. See the README's Kubernetes section.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path
from typing import Any

import urllib3
from kubernetes.client.rest import ApiException

from components.core import console, protocol, release
from components.core.errors import InfraError, UsageError
from components.core.interface import RUN_INFO, ComponentSpec, Lookup
from components.orchestration import arguments, signals, state
from components.orchestration.paths import ARTIFACTS
from components.runners.kubernetes import render, store, watch
from components.runners.kubernetes.client import PVC, api_client, preflight
from components.runners.kubernetes.failures import api_error, failure_record, unreachable
from components.runners.kubernetes.render import Settings
from components.runners.kubernetes.templates import overlay_namespace
from components.storage import objectstore

log = logging.getLogger("pipeline.k8s")
TENSORBOARD = "bankpipe-tensorboard"


@dataclasses.dataclass(frozen=True)
class KubernetesOptions:
    """Where to submit and how to wait, besides what the rendered objects hold (Settings)."""
    settings: Settings = dataclasses.field(default_factory=Settings)
    context: str | None = None
    kubeconfig: str | None = None
    poll_seconds: float = 2.0
    pending_timeout: float = 300.0
    dry_run: bool = False
    manifests_dir: str | None = None

    def __post_init__(self) -> None:
        self.settings.check()
        if self.dry_run and not self.manifests_dir:
            raise UsageError("--dry-run needs --manifests-dir DIR: the folder to write the manifests to.")


def add_flags(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("kubernetes runner")
    g.add_argument("--namespace", help="namespace of the run's Jobs (default: the overlay's: bankpipe, or "
                                       "bankpipe-gpu with --gpus-per-worker)")
    g.add_argument("--context", help="kubeconfig context (default: the current one)")
    g.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config; in a pod, "
                                        "its service account)")
    g.add_argument("--image-registry", default="", help="registry prefix of the images, e.g. localhost:5001")
    g.add_argument("--gpus-per-worker", type=int, default=0,
                   help="GPUs per train pod; > 0 uses the gpu overlay and the bankpipe-trainer-gpu image (default: 0)")
    g.add_argument("--trainer", choices=("job", "tfjob"), default="job",
                   help="train as a Job (default) or as a Kubeflow TFJob (needs the training operator)")
    g.add_argument("--gpu-node-selector", action="append", metavar="KEY=VALUE",
                   help="node selector of GPU train pods, replacing the gpu overlay's (repeatable)")
    g.add_argument("--gpu-toleration", action="append", metavar="KEY[=VALUE][:EFFECT]",
                   help="toleration of GPU train pods, replacing the gpu overlay's (repeatable)")
    g.add_argument("--cpu-request", metavar="QUANTITY",
                   help="CPU request of every step's pods, e.g. 250m to fit a small node (default: each template's)")
    g.add_argument("--memory-request", metavar="QUANTITY",
                   help="memory request of every step's pods, e.g. 1Gi (default: each template's)")
    g.add_argument("--backoff-limit", type=int, default=3,
                   help="retries of a Job after infrastructure failures (exit 75, OOM); disruptions are free "
                        "(default: 3)")
    g.add_argument("--job-deadline", type=int, help="activeDeadlineSeconds of every Job (default: per template: "
                                                    "30 min, train 6 h)")
    g.add_argument("--job-ttl", type=int, default=86400, help="ttlSecondsAfterFinished (default: one day)")
    g.add_argument("--poll-seconds", type=float, default=2.0, help="how often Job status is read (default: 2)")
    g.add_argument("--pending-timeout", type=float, default=300.0,
                   help="seconds a pod may stay unschedulable or unable to pull its image before the run fails "
                        "(default: 300)")
    g.add_argument("--dry-run", action="store_true", help="write the manifests to --manifests-dir, submit nothing")
    g.add_argument("--manifests-dir", help="with --dry-run: where to write one YAML file per object")


def _pairs(values: list[str] | None, flag: str) -> dict | None:
    if values is None:
        return None
    pairs = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key:
            raise UsageError(f"{flag} {value!r} is not KEY=VALUE, e.g. {flag} nvidia.com/gpu.present=true.")
        pairs[key] = val
    return pairs


def _tolerations(values: list[str] | None) -> list | None:
    if values is None:
        return None
    result = []
    for value in values:
        spec, _, effect = value.partition(":")
        key, sep, val = spec.partition("=")
        if not key or effect not in ("", "NoSchedule", "PreferNoSchedule", "NoExecute"):
            raise UsageError(f"--gpu-toleration {value!r} is not KEY[=VALUE][:EFFECT] with EFFECT one of "
                             f"NoSchedule, PreferNoSchedule, NoExecute.")
        toleration = {"key": key, "operator": "Equal", "value": val} if sep else {"key": key, "operator": "Exists"}
        result.append({**toleration, **({"effect": effect} if effect else {})})
    return result


def options_from(args: argparse.Namespace) -> KubernetesOptions:
    on_store = objectstore.is_uri(args.pipeline_root)
    overlay = Settings(gpus_per_worker=args.gpus_per_worker, on_store=on_store).overlay
    settings = Settings(namespace=args.namespace or overlay_namespace(overlay), on_store=on_store,
                        image_registry=args.image_registry,
                        image_tag=args.image_tag or release.version(), gpus_per_worker=args.gpus_per_worker,
                        workers=args.workers, trainer=args.trainer, backoff_limit=args.backoff_limit,
                        deadline_seconds=args.job_deadline, ttl_seconds=args.job_ttl,
                        node_selector=_pairs(args.gpu_node_selector, "--gpu-node-selector"),
                        tolerations=_tolerations(args.gpu_toleration), cpu_request=args.cpu_request,
                        memory_request=args.memory_request)
    return KubernetesOptions(settings, args.context, args.kubeconfig, args.poll_seconds, args.pending_timeout,
                             args.dry_run, args.manifests_dir)


def step_args(spec: ComponentSpec, config: Any, cluster_inputs: dict, cluster_outputs: dict,
              run: state.Run, settings: Settings, paths) -> list[str]:
    """The pod's container args: kubernetes.entry, its options, the step's module and CLI args (cluster paths).

    Lookup inputs (the deployed model, the previous statistics) are found by the pod on the artifacts
    volume (or, on the store, in what its launcher pulled): the host's folders are not what the cluster has.
    """
    entry = render.worker_entry_args(spec, run.run_id, settings)
    entry += ["--pipeline-root", paths.to_target(run.run_dir.parent, "--pipeline-root"),
              "--serving-dir", paths.to_target(run.where.serving_dir, "--serving-dir"),
              "--run-id", run.run_id, "--model-name", run.where.model_name]
    entry += ["--object-store"] if settings.on_store else []
    info = run.params.get(RUN_INFO.name)
    if any(i.source == RUN_INFO for i in spec.inputs) and info and Path(info).is_file():
        entry += ["--run-info-json", Path(info).read_text(encoding="utf-8")]
    return [render.ENTRY, *entry, spec.module, *arguments.cli_args(config, cluster_inputs, cluster_outputs)]


def writable(cluster_outputs: dict, model_name: str) -> list[str]:
    """What a step's pod may write: its outputs; an output that is the serving directory only for this
    run's model (push writes <serving>/<model>/<version>)."""
    serving = str(ARTIFACTS / "serving")
    return [f"{path}/{model_name}" if path == serving else path for path in cluster_outputs.values() if path]


def tensorboard_hint(options: KubernetesOptions, run: state.Run) -> str:
    if options.settings.on_store:
        logs = run.shown(str(run.output_dir("train") / "logs"))
        return f"TensorBoard of this run: its event files are published to {logs} when train ends"
    context = f" --context {options.context}" if options.context else ""
    return (f"TensorBoard of this run: kubectl{context} -n {options.settings.namespace} port-forward svc/{TENSORBOARD} "
            f"6006:6006, then open http://localhost:6006/?runFilter={run.run_id} (its logs: "
            f"{ARTIFACTS}/runs/{run.run_id}/train/logs on the {PVC} volume)")


class Executor:
    """Runs one step as a Job (or Service + Indexed Job, or TFJob) and returns its result."""

    def __init__(self, run: state.Run, options: KubernetesOptions, cluster: watch.Cluster | None = None):
        self.run, self.options, self.settings, self.cluster = run, options, options.settings, cluster
        if self.settings.on_store:
            uploads = store.Uploads(run.mirror, run.run_dir.parent, options.dry_run, run.file_hash)
            self.paths = render.store_paths(run.mirror.scratch, uploads)
        else:
            self.paths = render.cluster_paths(run.run_dir.parent, run.where.serving_dir.resolve())

    @property
    def stages_outputs(self) -> bool:
        """On the store the pods publish their own outputs; the host only fetches what it reports."""
        return self.settings.on_store

    def objects(self, spec: ComponentSpec, config: Any, inputs: dict, outputs: dict) -> list[dict]:
        # Lookups are found by the pod on the volume; the run's info (run.json, on this machine) travels as an
        # argument of kubernetes.entry, which writes it where the pod can (see step_args).
        looked_up = {i.name for i in spec.inputs if isinstance(i.source, Lookup) or i.source == RUN_INFO}
        cluster_inputs = {name: self.paths.to_target(path, console.flag(name))
                          for name, path in inputs.items() if name not in looked_up}
        cluster_outputs = {name: self.paths.to_target(path, console.flag(name)) for name, path in outputs.items()}
        args = step_args(spec, config, cluster_inputs, cluster_outputs, self.run, self.settings, self.paths)
        return render.render_step(spec, args, self.settings, self.run.run_id,
                                  writable(cluster_outputs, self.run.where.model_name))

    def __call__(self, spec: ComponentSpec, config: Any, inputs: dict, outputs: dict) -> protocol.Record:
        objects = self.objects(spec, config, inputs, outputs)
        if self.options.dry_run:
            written = render.write_manifests(objects, Path(self.options.manifests_dir))
            log.info("dry run: wrote %s; nothing submitted", ", ".join(p.name for p in written))
            return protocol.Record(0, {"dry_run": True, "manifests": [str(p) for p in written]})
        return self.submit(spec, objects)

    def submit(self, spec: ComponentSpec, objects: list[dict]) -> protocol.Record:
        main = objects[-1]
        name, kind = main["metadata"]["name"], main["kind"]
        selector = render.run_selector(self.run.run_id, spec.name)
        sigterm = signals.sigterm_raises(f"interrupted (SIGTERM) during {spec.name}; the run's Jobs were deleted. "
                                        f"Re-run with another --run-id (or the same, once its Jobs are gone).")
        try:
            with sigterm:
                for obj in objects:
                    watch.create(self.cluster, obj)
                outcome = watch.watch(self.cluster, kind, name, spec.name, selector)
        except (KeyboardInterrupt, signals.Terminated, watch.Stuck):  # nothing may stay on the cluster
            self.cancel()
            raise
        except ApiException as exc:
            raise api_error(exc, f"{kind} {name}") from None
        except urllib3.exceptions.HTTPError as exc:
            raise unreachable(exc) from None
        finally:
            if any(obj["kind"] == "Service" for obj in objects):
                watch.delete_service(self.cluster, name)  # the workers' DNS names are needed no longer
        if not outcome.succeeded:
            record = failure_record(spec.name, name, outcome, self.settings, selector)
            return dataclasses.replace(record, error=self.paths.to_host(record.error))
        if outcome.record is None:  # the step's outputs are on the volume, but the run cannot go on blind
            raise InfraError(f"{spec.name}: Job {self.settings.namespace}/{name} succeeded but its log has no "
                             f"record line (was the log rotated away?): re-run the pipeline with the same "
                             f"--run-id (its finished steps are kept).")
        return dataclasses.replace(outcome.record, result=self.paths.to_host(outcome.record.result))

    def cancel(self) -> None:
        selector = render.run_selector(self.run.run_id)
        deleted = watch.cancel(self.cluster, selector, tfjobs=self.settings.trainer == "tfjob")
        log.warning("interrupted: deleted %s", ", ".join(deleted) or "nothing (no Job of this run was left)")


def executor(options: KubernetesOptions, run: state.Run) -> Executor:
    on_store = run.mirror is not None and run.mirror.holds(run.run_dir) and run.mirror.holds(run.where.serving_dir)
    if run.mirror is not None and not on_store:  # pods see the volume or the store, never both
        raise UsageError("--runner=kubernetes takes --pipeline-root and --serving-dir both on the object store "
                         "(s3://...) or both on the artifacts volume: pass the other one likewise.")
    if options.dry_run:
        return Executor(run, options)
    cluster = watch.Cluster(api_client(options), options.settings.namespace, options.poll_seconds,
                            options.pending_timeout)
    preflight(cluster, options.settings.overlay)
    if on_store:
        store.apply_secret(cluster, store.credentials())
    log.info("%s", tensorboard_hint(options, run))
    return Executor(run, options, cluster)
