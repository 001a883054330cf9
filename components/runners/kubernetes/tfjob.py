"""The train step as a Kubeflow TFJob (--trainer=tfjob), for clusters with the training operator.

The TFJob is made from the same rendered Job (pod template, image, args, resources, GPUs), so both paths
train identically; the operator, not kubernetes.entry, then writes each pod's TF_CONFIG. Fields follow the
operator's kubeflow.org/v1 TFJobSpec: runPolicy, tfReplicaSpecs.Worker {replicas, restartPolicy, template}.
"""
from __future__ import annotations

import copy

GROUP, VERSION, PLURAL = "kubeflow.org", "v1", "tfjobs"
CONTAINER = "tensorflow"  # the operator sets TF_CONFIG in the container of this name


def render_tfjob(job: dict, workers: int, port: int) -> dict:
    """A TFJob of `workers` Workers (worker 0 is the chief) from a rendered train Job; `port` is theirs."""
    template = copy.deepcopy(job["spec"]["template"])
    for container in template["spec"]["containers"]:
        if container["name"] == "main":
            container["name"] = CONTAINER
            container["ports"] = [{"name": "tfjob-port", "containerPort": port}]
    spec = job["spec"]
    return {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "TFJob",
        "metadata": copy.deepcopy(job["metadata"]),
        "spec": {
            # Pods are kept after the run (cleanPodPolicy None) so their logs stay readable until the TTL.
            "runPolicy": {"cleanPodPolicy": "None", "backoffLimit": spec["backoffLimit"],
                          "activeDeadlineSeconds": spec["activeDeadlineSeconds"],
                          "ttlSecondsAfterFinished": spec["ttlSecondsAfterFinished"]},
            "tfReplicaSpecs": {"Worker": {
                "replicas": workers,
                # ExitCode: the operator restarts a pod only on exit codes 128-255 (signals, OOM kills);
                # our exit codes 1-127 (bad data, anomalies, gate...) fail the TFJob, as FailJob does.
                "restartPolicy": "ExitCode",
                "template": template}},
        },
    }


def pod_templates(tfjob: dict) -> dict[str, dict]:
    """Each replica type's pod template, e.g. for offline validation as a v1 PodTemplate."""
    return {kind: replica["template"] for kind, replica in tfjob["spec"]["tfReplicaSpecs"].items()}
