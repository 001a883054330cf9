"""A STAND-IN for a Kubernetes API server, for tests only: it is not Kubernetes.

It serves, over HTTP on 127.0.0.1, just the endpoints the Kubernetes runner calls (Jobs, pods, pod logs,
Services, the PersistentVolumeClaim check), and plays a tiny Job controller: each read of a Job advances
its pods one stage (Pending -> Running -> finished) following a per-step script, and a failed pod is
judged by the Job's own submitted podFailurePolicy and backoffLimit, and activeDeadlineSeconds by the
wall clock — so tests exercise the policies the runner renders, not assumptions about them.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from components.core import protocol


@dataclasses.dataclass
class Attempt:
    """What one pod of a step does: exit with a code, get evicted, or run until stopped ("hang")."""
    kind: str = "exit"
    code: int = 0
    log: str = ""
    result: dict | None = None
    error: str = ""                 # the step's message, printed in its record line (exit codes 2-75)


def ok(result: dict | None = None, log: str = "working") -> Attempt:
    return Attempt("exit", 0, log, result if result is not None else {})


class StandInKubeApiServer:
    def __init__(self, scripts: dict[str, list[Attempt]] | None = None, has_pvc: bool = True,
                 interrupt_when_polled: tuple[str, int] | None = None):
        self.scripts = scripts or {}
        self.has_pvc = has_pvc
        # (step, n): send this process SIGINT, as Ctrl-C would, when that step's Job is read the n-th time
        self.interrupt_when_polled = interrupt_when_polled
        self.jobs: dict[str, dict] = {}
        self.pods: dict[str, dict] = {}
        self.services: dict[str, dict] = {}
        self.created: list[tuple[str, str]] = []       # (kind, name) in creation order
        self.deleted: list[tuple[str, str]] = []
        self.attempts: dict[str, int] = {}             # "<job>/<index>" -> pods started
        self.polls: dict[str, int] = {}
        self.lock = threading.RLock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> "StandInKubeApiServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def kubeconfig(self, path) -> str:
        path.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "stand-in",
            "clusters": [{"name": "stand-in", "cluster": {"server": self.url}}],
            "users": [{"name": "stand-in", "user": {}}],
            "contexts": [{"name": "stand-in", "context": {"cluster": "stand-in", "user": "stand-in"}}]}))
        return str(path)

    # ── the Job controller, one stage per read ──

    def step_of(self, job: dict) -> str:
        return job["metadata"]["labels"]["bankpipe.io/step"]

    def tick(self, job: dict) -> None:
        status = job.setdefault("status", {})
        if _condition(job):
            return
        spec = job["spec"]
        deadline = spec.get("activeDeadlineSeconds")
        if deadline is not None and time.monotonic() - job["_created"] > deadline:
            for pod in self.job_pods(job):
                if pod["status"]["phase"] in ("Pending", "Running"):
                    pod["status"]["phase"] = "Failed"
            return self.finish(job, "Failed", "DeadlineExceeded", "Job was active longer than specified deadline")
        completions = spec.get("completions", 1) if spec.get("completionMode") == "Indexed" else 1
        for index in range(completions):
            pod = self.current_pod(job, index)
            if pod is None:
                self.start_pod(job, index, completions > 1)
            elif pod["status"]["phase"] == "Failed" and not pod.get("_judged"):
                if not self.judge(job, pod):  # Ignore or Count within backoffLimit: a replacement pod
                    self.start_pod(job, index, completions > 1)
            elif pod["status"]["phase"] == "Pending":
                pod["status"]["phase"] = "Running"
            elif pod["status"]["phase"] == "Running":
                self.run_pod(pod)
        if _condition(job):
            return
        done = [self.current_pod(job, i) for i in range(completions)]
        status["succeeded"] = sum(1 for p in done if p and p["status"]["phase"] == "Succeeded")
        if status["succeeded"] == completions:
            self.finish(job, "Complete", "CompletionsReached", "Reached expected number of succeeded pods")

    def judge(self, job: dict, pod: dict) -> bool:
        """Apply the Job's podFailurePolicy to a newly failed pod; True when the Job was failed by it."""
        pod["_judged"] = True
        action = "Count"
        for rule in job["spec"].get("podFailurePolicy", {}).get("rules", []):
            if _matches(rule, pod):
                action = rule["action"]
                break
        status = job["status"]
        if action == "FailJob":
            self.finish(job, "Failed", "PodFailurePolicy", f"Container main for pod {pod['metadata']['name']} "
                                                           f"failed with exit code {_exit_code(pod)}")
            return True
        if action == "Count":
            status["failed"] = status.get("failed", 0) + 1
            if status["failed"] > job["spec"].get("backoffLimit", 6):
                self.finish(job, "Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")
                return True
        return False

    def start_pod(self, job: dict, index: int, indexed: bool) -> None:
        key = f"{job['metadata']['name']}/{index}"
        attempt = self.attempts.get(key, 0)
        self.attempts[key] = attempt + 1
        template = job["spec"]["template"]
        name = f"{job['metadata']['name']}-{index}-{attempt}"
        annotations = dict(template["metadata"].get("annotations", {}))
        if indexed:
            annotations["batch.kubernetes.io/job-completion-index"] = str(index)
        self.pods[name] = {
            "metadata": {"name": name, "labels": {**template["metadata"]["labels"],
                                                  "batch.kubernetes.io/job-name": job["metadata"]["name"]},
                         "annotations": annotations},
            "spec": template["spec"], "status": {"phase": "Pending"},
            "_job": job["metadata"]["name"], "_index": index, "_attempt": attempt}

    def run_pod(self, pod: dict) -> None:
        script = self.scripts.get(self.step_of(self.jobs[pod["_job"]]), [])
        attempt = script[pod["_attempt"]] if pod["_attempt"] < len(script) else ok()
        if attempt.kind == "hang":
            return
        container = pod["spec"]["containers"][0]["name"]
        code = 137 if attempt.kind == "evicted" else attempt.code
        pod["status"].update(phase="Succeeded" if code == 0 else "Failed", containerStatuses=[{
            "name": container, "state": {"terminated": {"exitCode": code, "reason": "Completed" if code == 0
                                                        else "Error", "finishedAt": _now()}}}])
        if attempt.kind == "evicted":
            pod["status"]["conditions"] = [{"type": "DisruptionTarget", "status": "True",
                                            "reason": "EvictionByEvictionAPI"}]

    def log_of(self, pod: dict) -> str:
        script = self.scripts.get(self.step_of(self.jobs[pod["_job"]]), [])
        attempt = script[pod["_attempt"]] if pod["_attempt"] < len(script) else ok()
        text = attempt.log + "\n" if attempt.log else ""
        # the record line a step's CLI prints (protocol.Record): the chief's result, or any failed pod's error
        if pod["status"]["phase"] == "Succeeded" and attempt.result is not None and pod["_index"] == 0:
            text += protocol.Record(0, attempt.result).line() + "\n"
        elif attempt.kind == "exit" and attempt.error:
            text += protocol.Record(attempt.code, None, attempt.error).line() + "\n"
        return text

    def finish(self, job: dict, kind: str, reason: str, message: str) -> None:
        job["status"].setdefault("conditions", []).append(
            {"type": kind, "status": "True", "reason": reason, "message": message})

    def current_pod(self, job: dict, index: int) -> dict | None:
        pods = [p for p in self.job_pods(job) if p["_index"] == index]
        return max(pods, key=lambda p: p["_attempt"]) if pods else None

    def job_pods(self, job: dict) -> list[dict]:
        return [p for p in self.pods.values() if p["_job"] == job["metadata"]["name"]]

    def maybe_interrupt(self, job: dict) -> None:
        name = job["metadata"]["name"]
        self.polls[name] = self.polls.get(name, 0) + 1
        if self.interrupt_when_polled == (self.step_of(job), self.polls[name]):
            os.kill(os.getpid(), signal.SIGINT)


def _condition(job: dict) -> str | None:
    for c in job.get("status", {}).get("conditions", []):
        if c["type"] in ("Complete", "Failed") and c["status"] == "True":
            return c["type"]
    return None


def _exit_code(pod: dict) -> int | None:
    statuses = pod["status"].get("containerStatuses") or [{}]
    return statuses[0].get("state", {}).get("terminated", {}).get("exitCode")


def _matches(rule: dict, pod: dict) -> bool:
    if "onExitCodes" in rule:
        req, code = rule["onExitCodes"], _exit_code(pod)
        if req.get("containerName") not in (None, pod["spec"]["containers"][0]["name"]) or not code:
            return False
        return (code in req["values"]) == (req["operator"] == "In")
    conditions = {(c["type"], c["status"]) for c in pod["status"].get("conditions", [])}
    return any((p["type"], p.get("status", "True")) in conditions for p in rule.get("onPodConditions", []))


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime()) + f"{time.monotonic_ns() % 10**9:09d}Z"


def _selected(obj: dict, selector: str | None) -> bool:
    labels = obj["metadata"].get("labels", {})
    return all(labels.get(k) == v for k, _, v in (p.partition("=") for p in (selector or "").split(",") if p))


ROUTES = [
    ("POST", r"/apis/batch/v1/namespaces/([^/]+)/jobs", "create_job"),
    ("GET", r"/apis/batch/v1/namespaces/([^/]+)/jobs", "list_jobs"),
    ("GET", r"/apis/batch/v1/namespaces/([^/]+)/jobs/([^/]+)", "read_job"),
    ("DELETE", r"/apis/batch/v1/namespaces/([^/]+)/jobs/([^/]+)", "delete_job"),
    ("GET", r"/api/v1/namespaces/([^/]+)/pods", "list_pods"),
    ("GET", r"/api/v1/namespaces/([^/]+)/pods/([^/]+)/log", "read_log"),
    ("POST", r"/api/v1/namespaces/([^/]+)/services", "create_service"),
    ("GET", r"/api/v1/namespaces/([^/]+)/services", "list_services"),
    ("DELETE", r"/api/v1/namespaces/([^/]+)/services/([^/]+)", "delete_service"),
    ("GET", r"/api/v1/namespaces/([^/]+)/persistentvolumeclaims/([^/]+)", "read_pvc"),
]


def _handler(server: StandInKubeApiServer):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep test output for the runner's own logs
            pass

        def do_GET(self) -> None:
            self.route("GET")

        def do_POST(self) -> None:
            self.route("POST")

        def do_DELETE(self) -> None:
            self.route("DELETE")

        def route(self, method: str) -> None:
            url = urlparse(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            for verb, pattern, action in ROUTES:
                match = re.fullmatch(pattern, url.path)
                if verb == method and match:
                    if action == "read_log" and query.get("follow") == "true":
                        self.wait_for_exit(match.group(2))
                    with server.lock:
                        return getattr(self, action)(*match.groups()[1:], query=query)
            self.send(404, {"kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404})

        def wait_for_exit(self, pod_name: str, limit: float = 60) -> None:
            """follow=true: like the kubelet, end the stream only when the container has exited (or is gone)."""
            stop = time.monotonic() + limit
            while time.monotonic() < stop:
                with server.lock:
                    pod = server.pods.get(pod_name)
                    if pod is None or pod["status"]["phase"] in ("Succeeded", "Failed"):
                        return
                time.sleep(0.01)

        def body(self) -> dict:
            return json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))

        def send(self, code: int, payload, content_type: str = "application/json") -> None:
            data = payload.encode() if isinstance(payload, str) else json.dumps(_public(payload)).encode()
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def create_job(self, query) -> None:
            job = self.body()
            name = job["metadata"]["name"]
            if name in server.jobs:
                return self.send(409, {"kind": "Status", "reason": "AlreadyExists", "code": 409})
            job["_created"] = time.monotonic()
            server.jobs[name] = job
            server.created.append(("Job", name))
            self.send(201, job)

        def list_jobs(self, query) -> None:
            items = [j for j in server.jobs.values() if _selected(j, query.get("labelSelector"))]
            self.send(200, {"kind": "JobList", "items": items})

        def read_job(self, name, query) -> None:
            job = server.jobs.get(name)
            if job is None:
                return self.send(404, {"kind": "Status", "reason": "NotFound", "code": 404})
            server.tick(job)
            server.maybe_interrupt(job)
            self.send(200, job)

        def delete_job(self, name, query) -> None:
            job = server.jobs.pop(name, None)
            if job is None:
                return self.send(404, {"kind": "Status", "reason": "NotFound", "code": 404})
            for pod in server.job_pods(job):  # propagationPolicy Background: the pods go too
                del server.pods[pod["metadata"]["name"]]
            server.deleted.append(("Job", name))
            self.send(200, {"kind": "Status", "status": "Success"})

        def list_pods(self, query) -> None:
            items = [p for p in server.pods.values() if _selected(p, query.get("labelSelector"))]
            self.send(200, {"kind": "PodList", "items": items})

        def read_log(self, name, query) -> None:
            pod = server.pods.get(name)
            if pod is None or pod["status"]["phase"] == "Pending":
                return self.send(400, {"kind": "Status", "reason": "BadRequest", "code": 400,
                                       "message": f"container in pod {name} is waiting to start"})
            self.send(200, server.log_of(pod), "text/plain")

        def create_service(self, query) -> None:
            service = self.body()
            server.services[service["metadata"]["name"]] = service
            server.created.append(("Service", service["metadata"]["name"]))
            self.send(201, service)

        def list_services(self, query) -> None:
            items = [s for s in server.services.values() if _selected(s, query.get("labelSelector"))]
            self.send(200, {"kind": "ServiceList", "items": items})

        def delete_service(self, name, query) -> None:
            if server.services.pop(name, None) is None:
                return self.send(404, {"kind": "Status", "reason": "NotFound", "code": 404})
            server.deleted.append(("Service", name))
            self.send(200, {"kind": "Status", "status": "Success"})

        def read_pvc(self, name, query) -> None:
            if not server.has_pvc:
                return self.send(404, {"kind": "Status", "reason": "NotFound", "code": 404})
            self.send(200, {"kind": "PersistentVolumeClaim", "metadata": {"name": name}})

    return Handler


def _public(obj):
    """Drop the stand-in's bookkeeping keys (leading underscore) from what it sends."""
    if isinstance(obj, dict):
        return {k: _public(v) for k, v in obj.items() if not k.startswith("_")}
    if isinstance(obj, list):
        return [_public(v) for v in obj]
    return obj
