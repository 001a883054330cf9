"""Submitting a step's objects, watching its Job to the end with its pods' logs, and cleaning up a run.

Objects travel as plain dicts (the rendered manifests; `_preload_content=False` for reads), so what is
submitted is exactly what --dry-run writes, and what is read is the API server's JSON as it is.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time

import urllib3
from kubernetes import client
from kubernetes.client.rest import ApiException

from components.core import protocol
from components.core.errors import InfraError
from components.runners.kubernetes import tfjob

log = logging.getLogger("pipeline.k8s")
INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"


@dataclasses.dataclass
class Cluster:
    api: client.ApiClient
    namespace: str
    poll_seconds: float = 2.0
    pending_timeout: float = 300.0   # a pod that cannot be scheduled or pulled this long fails the step

    def __post_init__(self) -> None:
        self.batch = client.BatchV1Api(self.api)
        self.core = client.CoreV1Api(self.api)
        self.custom = client.CustomObjectsApi(self.api)


@dataclasses.dataclass
class Outcome:
    succeeded: bool
    reason: str = ""
    message: str = ""
    exit_code: int | None = None
    oom: bool = False
    record: protocol.Record | None = None    # the deciding pod's record: the chief's on success, the failed pod's


def _json(response) -> dict:
    return json.loads(response.data)


def create(cluster: Cluster, obj: dict) -> None:
    ns, kind = cluster.namespace, obj["kind"]
    if kind == "Service":
        cluster.core.create_namespaced_service(ns, obj, _preload_content=False)
    elif kind == "Job":
        cluster.batch.create_namespaced_job(ns, obj, _preload_content=False)
    else:
        cluster.custom.create_namespaced_custom_object(tfjob.GROUP, tfjob.VERSION, ns, tfjob.PLURAL,
                                                       obj, _preload_content=False)
    log.info("created %s %s/%s", kind, ns, obj["metadata"]["name"])


def read(cluster: Cluster, kind: str, name: str) -> dict:
    if kind == "Job":
        return _json(cluster.batch.read_namespaced_job(name, cluster.namespace, _preload_content=False))
    return _json(cluster.custom.get_namespaced_custom_object(
        tfjob.GROUP, tfjob.VERSION, cluster.namespace, tfjob.PLURAL, name, _preload_content=False))


def finished(obj: dict) -> tuple[bool, bool, str, str]:
    """(done, succeeded, reason, message) from a Job's or TFJob's conditions."""
    success = {"Job": "Complete", "TFJob": "Succeeded"}[obj["kind"]]
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("status") == "True" and condition.get("type") in (success, "Failed"):
            return True, condition["type"] == success, condition.get("reason", ""), condition.get("message", "")
    return False, False, "", ""


def pods(cluster: Cluster, selector: str) -> list[dict]:
    return _json(cluster.core.list_namespaced_pod(cluster.namespace, label_selector=selector,
                                                  _preload_content=False)).get("items", [])


def disrupted(pod: dict) -> str | None:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "DisruptionTarget" and condition.get("status") == "True":
            return condition.get("reason") or "disrupted"
    return None


class LogFollower(threading.Thread):
    """Streams one pod's log as `[step] line`; keeps its lines for the step's record (protocol.record_from_log)."""

    def __init__(self, cluster: Cluster, pod: dict, prefix: str):
        super().__init__(daemon=True, name=f"log-{pod['metadata']['name']}")
        self.cluster, self.pod_name, self.prefix = cluster, pod["metadata"]["name"], prefix
        self.container = pod["spec"]["containers"][0]["name"]
        self.lines: list[str] = []
        self.stopped = threading.Event()  # set when the run is cancelled: say nothing more

    def run(self) -> None:
        for attempt in range(5):
            if self.stopped.is_set():
                return
            try:
                response = self.cluster.core.read_namespaced_pod_log(
                    self.pod_name, self.cluster.namespace, container=self.container, follow=True,
                    _preload_content=False)
            except (ApiException, urllib3.exceptions.HTTPError) as exc:  # e.g. the container is still starting
                log.debug("log of %s not readable yet: %s", self.pod_name, exc)
                time.sleep(min(2 ** attempt, 5) * self.cluster.poll_seconds)
                continue
            splitter = protocol.LineSplitter()
            for chunk in response.stream(4096):
                for line in splitter.feed(chunk):
                    self.emit(line)
            for line in splitter.close():
                self.emit(line)
            return

    def emit(self, text: str) -> None:
        if self.stopped.is_set():
            return
        self.lines.append(text)
        if not text.startswith(protocol.RECORD_MARKER):
            log.info("[%s] %s", self.prefix, text)


def _prefix(step: str, pod: dict) -> str:
    index = ((pod.get("metadata") or {}).get("annotations") or {}).get(INDEX_ANNOTATION)
    return f"{step}/{index}" if index is not None else step


def _terminated(pod: dict) -> dict:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        terminated = (status.get("state") or {}).get("terminated")
        if terminated:
            return terminated
    return {}


def failure_details(pod_list: list[dict]) -> tuple[str | None, int | None, bool]:
    """The most recent pod failure that was not a disruption: (pod name, exit code, OOM killed)."""
    failed = [(_terminated(p).get("finishedAt") or "", p["metadata"]["name"], _terminated(p)) for p in pod_list
              if p.get("status", {}).get("phase") == "Failed" and not disrupted(p) and _terminated(p)]
    if not failed:
        return None, None, False
    _, name, terminated = max(failed, key=lambda item: item[0])
    return name, terminated.get("exitCode"), terminated.get("reason") == "OOMKilled"


class Stuck(InfraError):
    """A pod of the step stayed unschedulable, or its image could not be pulled, past the wait allowed."""


WAITING_PROBLEMS = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull",
                    "CreateContainerConfigError", "CreateContainerError")


def pending_problem(pod: dict) -> str | None:
    """Why a pending pod cannot start, in the API server's words; None while it is merely starting."""
    status = pod.get("status") or {}
    if status.get("phase") != "Pending":
        return None
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False" \
                and condition.get("reason") == "Unschedulable":
            return f"cannot be scheduled: {condition.get('message') or 'no node fits'}"
    for container in status.get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in WAITING_PROBLEMS:
            return f"{waiting['reason']}: {waiting.get('message') or container.get('image', '')}"
    return None


class PendingWatch:
    """Says once why each pod is stuck, and gives up on the step after `timeout` seconds of it."""

    def __init__(self, step: str, namespace: str, timeout: float):
        self.step, self.namespace, self.timeout = step, namespace, timeout
        self.since: dict[str, float] = {}
        self.said: set[tuple[str, str]] = set()

    def check(self, pod: dict) -> None:
        name, problem = pod["metadata"]["name"], pending_problem(pod)
        if problem is None:
            self.since.pop(name, None)
            return
        self.since.setdefault(name, time.monotonic())
        if (name, problem) not in self.said:
            self.said.add((name, problem))
            log.warning("%s: pod %s %s (waiting up to %.0f s; kubectl -n %s describe pod %s)", self.step, name,
                        problem, self.timeout, self.namespace, name)
        if time.monotonic() - self.since[name] > self.timeout:
            raise Stuck(f"{self.step}: pod {self.namespace}/{name} {problem}; gave up after {self.timeout:.0f} s "
                        f"and deleted the run's Jobs. Free resources or lower the step's requests (k8s/base/jobs/"
                        f"{self.step}.yaml), load or push the image, or raise --pending-timeout.")


def _poll(cluster: Cluster, kind: str, name: str, step: str, selector: str,
          followers: dict[str, LogFollower]) -> tuple[dict, list[dict]]:
    """Read the Job and its pods until it finishes; start a log follower per started pod; say why a pod
    cannot start, and give up after the cluster's pending_timeout."""
    reported: set[str] = set()
    pending = PendingWatch(step, cluster.namespace, cluster.pending_timeout)
    while True:
        obj = read(cluster, kind, name)
        pod_list = pods(cluster, selector)
        for pod in pod_list:
            pending.check(pod)
            pod_name = pod["metadata"]["name"]
            if pod.get("status", {}).get("phase") in ("Running", "Succeeded", "Failed") and pod_name not in followers:
                followers[pod_name] = LogFollower(cluster, pod, _prefix(step, pod))
                followers[pod_name].start()
            why = disrupted(pod)
            if why and pod_name not in reported:
                reported.add(pod_name)
                log.warning("%s: pod %s was disrupted (%s); the Job replaces it without counting a failure",
                            step, pod_name, why)
        if finished(obj)[0]:
            return obj, pod_list
        time.sleep(cluster.poll_seconds)


def watch(cluster: Cluster, kind: str, name: str, step: str, selector: str) -> Outcome:
    """Poll the Job until it finishes, following each pod's log once its container has started."""
    followers: dict[str, LogFollower] = {}
    try:
        obj, pod_list = _poll(cluster, kind, name, step, selector, followers)
    except BaseException:  # Ctrl-C or a failed read: the followers must not outlive the watch
        for follower in followers.values():
            follower.stopped.set()
        raise
    for pod in pod_list:  # pods that finished between two polls have not been followed yet
        if pod["metadata"]["name"] not in followers and pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
            followers[pod["metadata"]["name"]] = LogFollower(cluster, pod, _prefix(step, pod))
            followers[pod["metadata"]["name"]].start()
    for follower in followers.values():
        follower.join(timeout=30)
    _, ok, reason, message = finished(obj)
    failed_pod, exit_code, oom = failure_details(pod_list)
    return Outcome(ok, reason, message, exit_code, oom, deciding_record(ok, failed_pod, exit_code, followers))


def deciding_record(ok: bool, failed_pod: str | None, exit_code: int | None,
                    followers: dict[str, LogFollower]) -> protocol.Record | None:
    """On success the pod that printed a successful record (a multi-worker run's chief); on failure the
    record of the pod whose exit code failed the Job, so message and exit code come from the same pod."""
    if ok:
        records = [r for f in followers.values() for r in map(protocol.parse_record_line, f.lines) if r is not None]
        return next((r for r in reversed(records) if r.exit_code == 0 and r.result is not None), None)
    follower = followers.get(failed_pod) if failed_pod else None
    if follower is None or exit_code is None:
        return None
    return protocol.record_from_log(exit_code, follower.lines)


def cancel(cluster: Cluster, selector: str, tfjobs: bool = False) -> list[str]:
    """Delete every Job (and its pods), Service and TFJob of a run; returns what was deleted."""
    deleted = []
    ns, background = cluster.namespace, "Background"  # pods go with their Job, without waiting here
    for item in _json(cluster.batch.list_namespaced_job(ns, label_selector=selector, _preload_content=False))["items"]:
        _ignore_missing(cluster.batch.delete_namespaced_job, item["metadata"]["name"], ns,
                        propagation_policy=background)
        deleted.append(f"job/{item['metadata']['name']}")
    for item in _json(cluster.core.list_namespaced_service(ns, label_selector=selector,
                                                           _preload_content=False))["items"]:
        _ignore_missing(cluster.core.delete_namespaced_service, item["metadata"]["name"], ns)
        deleted.append(f"service/{item['metadata']['name']}")
    if tfjobs:
        args = (tfjob.GROUP, tfjob.VERSION, ns, tfjob.PLURAL)
        for item in _json(cluster.custom.list_namespaced_custom_object(
                *args, label_selector=selector, _preload_content=False)).get("items", []):
            _ignore_missing(cluster.custom.delete_namespaced_custom_object, *args, item["metadata"]["name"],
                            propagation_policy=background)
            deleted.append(f"tfjob/{item['metadata']['name']}")
    return deleted


def delete_service(cluster: Cluster, name: str) -> None:
    """Best effort: called on the way out of a step, where a new error must not hide the step's own."""
    try:
        _ignore_missing(cluster.core.delete_namespaced_service, name, cluster.namespace)
    except (ApiException, urllib3.exceptions.HTTPError) as exc:
        log.warning("could not delete Service %s (%s); delete it with kubectl -n %s delete service %s",
                    name, exc, cluster.namespace, name)


def _ignore_missing(call, *args, **kwargs) -> None:
    try:
        call(*args, _preload_content=False, **kwargs)
    except ApiException as exc:
        if exc.status != 404:  # already gone (TTL, another cancel) is what we wanted
            raise
