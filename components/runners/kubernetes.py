"""The Kubernetes runner: each component of the DAG as a Job on a cluster, in DAG order.

    python pipeline.py --runner=kubernetes --context kind-bankpipe --image-registry localhost:5001
    python pipeline.py --runner=kubernetes --dry-run --manifests-dir out/k8s     # render only

Jobs are rendered from k8s/ (k8s_render), submitted with the kubernetes client, watched to the end with
their pods' logs (k8s_watch); the first failure stops the run with the exit code the local runner would
give. Ctrl-C deletes the run's Jobs. Each step's result is the component's result.json, which the pod
prints as its last log line (k8s_entry). See the README's Kubernetes section.
"""
from __future__ import annotations

import argparse
import logging
import os
import tomllib
from pathlib import Path
from typing import Any

import urllib3
from kubernetes.client.rest import ApiException

from components.dag import Step
from components.errors import InfraError, PipelineError, UsageError, describe, error_for_exit_code
from components.runners import common, k8s_render as render, k8s_watch as watch
from components.runners.k8s_render import Settings

log = logging.getLogger("pipeline.k8s")
PVC = "bankpipe-artifacts"
TENSORBOARD = "bankpipe-tensorboard"


def project_version() -> str:
    try:
        return tomllib.loads((render.ROOT / "pyproject.toml").read_text())["project"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "0.1.0"


def _add(group, parser: argparse.ArgumentParser, flag: str, **kwargs) -> None:
    """Add a flag unless another runner already defined it (e.g. --workers); both then share its value."""
    if flag not in parser._option_string_actions:
        group.add_argument(flag, **kwargs)


def add_flags(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("kubernetes runner")
    _add(g, parser, "--namespace", default="bankpipe", help="namespace of the run's Jobs (default: bankpipe)")
    _add(g, parser, "--context", help="kubeconfig context (default: the current one)")
    _add(g, parser, "--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config; in a pod, "
                                         "its service account)")
    _add(g, parser, "--image-registry", default="", help="registry prefix of the images, e.g. localhost:5001")
    _add(g, parser, "--image-tag", default=project_version(), help="image tag (default: the project version)")
    _add(g, parser, "--gpus-per-worker", type=int, default=0,
         help="GPUs per train pod; > 0 uses the gpu overlay and the bankpipe-trainer-gpu image (default: 0)")
    _add(g, parser, "--workers", type=int, default=1,
         help="training workers; kubernetes: > 1 runs train as an Indexed Job of that many pods (default: 1)")
    _add(g, parser, "--trainer", choices=("job", "tfjob"), default="job",
         help="train as a Job (default) or as a Kubeflow TFJob (needs the training operator)")
    _add(g, parser, "--gpu-node-selector", action="append", metavar="KEY=VALUE",
         help="node selector of GPU train pods, replacing the gpu overlay's (repeatable)")
    _add(g, parser, "--gpu-toleration", action="append", metavar="KEY[=VALUE][:EFFECT]",
         help="toleration of GPU train pods, replacing the gpu overlay's (repeatable)")
    _add(g, parser, "--backoff-limit", type=int, default=3,
         help="retries of a Job after infrastructure failures (exit 75, OOM); disruptions are free (default: 3)")
    _add(g, parser, "--job-deadline", type=int, help="activeDeadlineSeconds of every Job (default: per "
                                                     "template: 30 min, train 6 h)")
    _add(g, parser, "--job-ttl", type=int, default=86400, help="ttlSecondsAfterFinished (default: one day)")
    _add(g, parser, "--poll-seconds", type=float, default=2.0, help="how often Job status is read (default: 2)")
    _add(g, parser, "--dry-run", action="store_true", help="write the manifests to --manifests-dir, submit nothing")
    _add(g, parser, "--manifests-dir", help="with --dry-run: where to write one YAML file per object")


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


def settings_from(args: argparse.Namespace) -> Settings:
    # --image-tag and --workers may be the local runner's flags (shared), whose defaults differ
    settings = Settings(namespace=args.namespace, image_registry=getattr(args, "image_registry", None) or "",
                        image_tag=args.image_tag or project_version(), gpus_per_worker=args.gpus_per_worker,
                        workers=1 if getattr(args, "workers", None) is None else args.workers, trainer=args.trainer,
                        backoff_limit=args.backoff_limit, deadline_seconds=args.job_deadline,
                        ttl_seconds=args.job_ttl,
                        node_selector=_pairs(args.gpu_node_selector, "--gpu-node-selector"),
                        tolerations=_tolerations(args.gpu_toleration))
    settings.check()
    return settings


def step_args(step: Step, config: Any, inputs: dict, outputs: dict, run: common.Run, paths: render.PathMap,
              settings: Settings) -> list[str]:
    """The pod's container args: k8s_entry, its options, the component and its CLI args (cluster paths).

    The deployed model and the previous statistics are looked up by the pod on the artifacts volume: the
    host's serving dir and runs dir, where pipeline.py finds them, are not what the cluster has.
    """
    entry = render.worker_entry_args(run.run_id, settings) if step.name == "train" else []
    cluster_inputs = {}
    for name, path in inputs.items():
        if name == "baseline_model":
            entry += ["--baseline-from", str(render.ARTIFACTS / "serving" / run.config.push.model_name)]
        elif name == "previous_statistics":
            entry += ["--previous-stats-from", str(render.ARTIFACTS / "runs")]
        else:
            cluster_inputs[name] = paths.to_cluster(path, f"--{name.replace('_', '-')}")
    cluster_outputs = {name: paths.to_cluster(path, f"--{name.replace('_', '-')}") for name, path in outputs.items()}
    return [render.ENTRY, *entry, step.module, *common.cli_args(config, cluster_inputs, cluster_outputs)]


def tensorboard_hint(args: argparse.Namespace, run: common.Run) -> str:
    context = f" --context {args.context}" if args.context else ""
    return (f"TensorBoard of this run: kubectl{context} -n {args.namespace} port-forward svc/{TENSORBOARD} "
            f"6006:6006, then open http://localhost:6006/?runFilter={run.run_id} (its logs: "
            f"{render.ARTIFACTS}/runs/{run.run_id}/train/logs on the {PVC} volume)")


class Executor:
    """Runs one step as a Job (or Service + Indexed Job, or TFJob) and returns its result."""

    def __init__(self, run: common.Run, settings: Settings, args: argparse.Namespace,
                 cluster: watch.Cluster | None = None):
        self.run, self.settings, self.args, self.cluster = run, settings, args, cluster
        self.paths = render.PathMap(run.run_dir.parent, Path(run.params["serving_dir"] or "serving").resolve())

    def objects(self, step: Step, config: Any, inputs: dict, outputs: dict) -> list[dict]:
        args = step_args(step, config, inputs, outputs, self.run, self.paths, self.settings)
        return render.render_step(step, args, self.settings, self.run.run_id)

    def __call__(self, step: Step, config: Any, inputs: dict, outputs: dict) -> dict:
        objects = self.objects(step, config, inputs, outputs)
        if self.args.dry_run:
            written = render.write_manifests(objects, Path(self.args.manifests_dir))
            log.info("dry run: wrote %s; nothing submitted", ", ".join(p.name for p in written))
            return {"dry_run": True, "manifests": [str(p) for p in written]}
        return self.submit(step, objects)

    def submit(self, step: Step, objects: list[dict]) -> dict:
        main = objects[-1]
        name, kind = main["metadata"]["name"], main["kind"]
        selector = render.run_selector(self.run.run_id, step.name)
        try:
            for obj in objects:
                watch.create(self.cluster, obj)
            outcome = watch.watch(self.cluster, kind, name, step.name, selector)
        except KeyboardInterrupt:
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
            raise failure_error(step.name, name, outcome, self.settings, selector)
        if step.name == "train":
            log.info("%s", tensorboard_hint(self.args, self.run))
        if outcome.result is None:  # the component's outputs are on the volume, but the run cannot go on blind
            raise InfraError(f"{step.name}: Job {self.settings.namespace}/{name} succeeded but its log has no "
                             f"result line (was the log rotated away?). Its outputs are on the {PVC} volume "
                             f"under {render.ARTIFACTS}/runs/{self.run.run_id}/{step.name}; re-run the pipeline.")
        return outcome.result

    def cancel(self) -> None:
        selector = render.run_selector(self.run.run_id)
        deleted = watch.cancel(self.cluster, selector, tfjobs=self.settings.trainer == "tfjob")
        log.warning("interrupted: deleted %s", ", ".join(deleted) or "nothing (no Job of this run was left)")


def failure_error(step: str, name: str, outcome: watch.Outcome, settings: Settings, selector: str) -> PipelineError:
    """The domain error a failed Job stands for: the exit code of its failed pod, as the local runner's."""
    logs = f"Its log: kubectl -n {settings.namespace} logs -l {selector} --tail=-1"
    where = f"{step} failed on the cluster (Job {settings.namespace}/{name}: {outcome.reason or 'Failed'})"
    if outcome.reason == "DeadlineExceeded":
        return InfraError(f"{step} ran past its deadline (activeDeadlineSeconds) and was stopped (Job "
                          f"{settings.namespace}/{name}): raise --job-deadline or give it more resources. {logs}")
    if outcome.oom:
        return InfraError(f"{where}: killed for exceeding its memory limit (OOMKilled). Raise resources.limits."
                          f"memory in k8s/base/jobs/{step}.yaml and re-run. {logs}")
    if outcome.exit_code is None:
        return InfraError(f"{where}: {outcome.message or 'no pod exited with a code'}. Check scheduling and image "
                          f"pulls: kubectl -n {settings.namespace} describe job {name}")
    detail = outcome.error_line.split(": ", 1)[-1] if outcome.error_line else describe(outcome.exit_code)
    return error_for_exit_code(outcome.exit_code, f"{where}, exit code {outcome.exit_code}: {detail} {logs}")


def api_error(exc, what: str) -> PipelineError:
    if exc.status in (401, 403):
        return UsageError(f"the cluster refused access to {what} (HTTP {exc.status} {exc.reason}): bind the Role "
                          f"bankpipe-runner (k8s/base/rbac.yaml) to your user, or pick another --context.")
    if exc.status == 409:
        return UsageError(f"{what} already exists: this --run-id ran on the cluster before; pick another "
                          f"--run-id (or delete the old Jobs).")
    if exc.status == 404 and what.startswith("TFJob"):
        return UsageError(f"cannot create {what}: the Kubeflow training operator (TFJob CRD) is not installed; "
                          f"use --trainer=job.")
    return InfraError(f"the API server failed on {what}: HTTP {exc.status} {exc.reason}. Re-run when it is healthy.")


def unreachable(exc: Exception) -> InfraError:
    return InfraError(f"cannot reach the Kubernetes API server ({exc}): check --context / --kubeconfig and that "
                      f"the cluster is up (kubectl cluster-info).")


def api_client(args: argparse.Namespace):
    from kubernetes import client, config as kube_config

    try:
        if args.kubeconfig or not os.environ.get("KUBERNETES_SERVICE_HOST"):
            return kube_config.new_client_from_config(config_file=args.kubeconfig, context=args.context)
        configuration = client.Configuration()
        kube_config.load_incluster_config(client_configuration=configuration)
        return client.ApiClient(configuration)
    except (kube_config.ConfigException, OSError) as exc:
        raise UsageError(f"no usable kubeconfig ({exc}): pass --kubeconfig FILE / --context NAME, or set "
                         f"KUBECONFIG.") from None


def preflight(cluster: watch.Cluster) -> None:
    """Fail before any Job is created when the shared objects (k8s/overlays/*) are not installed."""
    try:
        cluster.core.read_namespaced_persistent_volume_claim(PVC, cluster.namespace, _preload_content=False)
    except ApiException as exc:
        if exc.status == 404:
            raise UsageError(f"namespace {cluster.namespace} has no PersistentVolumeClaim {PVC}: install the "
                             f"shared objects first: kubectl apply -k k8s/overlays/cpu (or k8s/overlays/gpu).") from None
        raise api_error(exc, f"PersistentVolumeClaim {PVC}") from None
    except urllib3.exceptions.HTTPError as exc:
        raise unreachable(exc) from None


def executor(args: argparse.Namespace, run: common.Run) -> Executor:
    settings = settings_from(args)
    if args.dry_run:
        if not args.manifests_dir:
            raise UsageError("--dry-run needs --manifests-dir DIR: the folder to write the manifests to.")
        return Executor(run, settings, args)
    cluster = watch.Cluster(api_client(args), settings.namespace, args.poll_seconds)
    preflight(cluster)
    log.info("%s", tensorboard_hint(args, run))
    return Executor(run, settings, args, cluster)
