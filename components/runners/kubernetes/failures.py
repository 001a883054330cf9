"""What a failed Job, an API error or an unreachable API server means to the user: one domain error with
its exit code and the command that shows more."""
from __future__ import annotations

import logging

from components.core import protocol
from components.core.errors import InfraError, PipelineError, UsageError, describe, error_for_exit_code
from components.runners.kubernetes import watch
from components.runners.kubernetes.render import Settings

log = logging.getLogger("pipeline.k8s")


def failure_record(step: str, name: str, outcome: watch.Outcome, settings: Settings, selector: str) -> protocol.Record:
    """A failed Job's record: the failed pod's own record, as the local runner would have it (where to look is
    logged); the infrastructure's verdict when the pod was stopped from outside (deadline, OOM kill) or
    no pod exited with a code of its own."""
    logs = f"kubectl -n {settings.namespace} logs -l {selector} --tail=-1"
    stopped = outcome.reason == "DeadlineExceeded" or outcome.oom
    if outcome.record is not None and outcome.record.exit_code != 0 and not stopped:
        log.error("%s failed on the cluster (Job %s/%s: %s, exit code %s); its log: %s", step, settings.namespace,
                  name, outcome.reason or "Failed", outcome.exit_code, logs)
        return outcome.record
    error = failure_error(step, name, outcome, settings, f"Its log: {logs}")
    return protocol.Record(error.exit_code, None, error.message)


def failure_error(step: str, name: str, outcome: watch.Outcome, settings: Settings, logs: str) -> PipelineError:
    """What a Job stopped from outside, or failed without a record, stands for."""
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
    return error_for_exit_code(outcome.exit_code, f"{where}, exit code {outcome.exit_code}: "
                                                  f"{describe(outcome.exit_code)}. {logs}")


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
