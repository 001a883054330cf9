"""The Kubernetes API client from the user's kubeconfig (or in-cluster), and the checks before a run."""
from __future__ import annotations

import os

import urllib3
from kubernetes.client.rest import ApiException

from components.core.errors import UsageError
from components.runners.kubernetes import watch
from components.runners.kubernetes.failures import api_error, unreachable

PVC = "bankpipe-artifacts"
CONFIG_MAP = "bankpipe-config"


def api_client(options):
    from kubernetes import client
    from kubernetes import config as kube_config

    try:
        if options.kubeconfig or not os.environ.get("KUBERNETES_SERVICE_HOST"):
            return kube_config.new_client_from_config(config_file=options.kubeconfig, context=options.context)
        configuration = client.Configuration()
        kube_config.load_incluster_config(client_configuration=configuration)
        return client.ApiClient(configuration)
    except (kube_config.ConfigException, OSError) as exc:
        raise UsageError(f"no usable kubeconfig ({exc}): pass --kubeconfig FILE / --context NAME, or set "
                         f"KUBECONFIG.") from None


def preflight(cluster: watch.Cluster, overlay: str = "cpu") -> None:
    """Fail before any Job is created when the overlay's shared objects (k8s/overlays/*) are not installed:
    the artifacts claim, or on the object store (no claim) the ConfigMap every pod reads."""
    read, kind, name = ((cluster.core.read_namespaced_config_map, "ConfigMap", CONFIG_MAP) if overlay == "objectstore"
                        else (cluster.core.read_namespaced_persistent_volume_claim, "PersistentVolumeClaim", PVC))
    try:
        read(name, cluster.namespace, _preload_content=False)
    except ApiException as exc:
        if exc.status == 404:
            raise UsageError(f"namespace {cluster.namespace} has no {kind} {name}: install the shared objects "
                             f"first: kubectl apply -k k8s/overlays/{overlay}.") from None
        raise api_error(exc, f"{kind} {name}") from None
    except urllib3.exceptions.HTTPError as exc:
        raise unreachable(exc) from None
