"""A Kubernetes run on the object store, as the submitting machine prepares it: the pods' credentials as a
Secret, and local input files uploaded once (keyed by their content) where the pods can pull them.

The pods never see this machine's files or credentials directly: the Secret holds what boto3 resolves here
(environment, profile, session token, region) and the endpoint the pods reach; a Job only names the Secret,
so no rendered manifest, log line, manifest.json or lineage ever holds a key.
"""
from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path, PurePosixPath
from typing import Callable

from kubernetes.client.rest import ApiException

from components.core import digests
from components.core.errors import UsageError
from components.orchestration.paths import PathMap
from components.runners.kubernetes import watch
from components.runners.kubernetes.failures import api_error
from components.storage.mirror import Mirror

log = logging.getLogger("pipeline.k8s")
SECRET = "bankpipe-objectstore"                  # k8s/overlays/objectstore/scratch.yaml names it
POD_ENDPOINT_ENV = "BANKPIPE_POD_ENDPOINT_URL"   # where the pods reach the store, if not where this machine does
INPUTS = ".inputs"                               # <pipeline-root>/.inputs/<sha-256 prefix>/<name>: uploaded files


def credentials() -> dict[str, str]:
    """The store's settings for the pods: this machine's AWS credentials chain, resolved by boto3."""
    import boto3

    session = boto3.Session()
    found = session.get_credentials()
    if found is None:
        raise UsageError("no credentials for the object store on this machine: set AWS_ACCESS_KEY_ID and "
                         "AWS_SECRET_ACCESS_KEY or AWS_PROFILE (`source .cache/objectstore/env` for the local "
                         "server); the runner hands them to the pods as the Secret " + SECRET + ".")
    frozen = found.get_frozen_credentials()
    data = {"AWS_ACCESS_KEY_ID": frozen.access_key, "AWS_SECRET_ACCESS_KEY": frozen.secret_key}
    endpoint = os.environ.get(POD_ENDPOINT_ENV) or os.environ.get("AWS_ENDPOINT_URL")
    extra = {"AWS_SESSION_TOKEN": frozen.token, "AWS_DEFAULT_REGION": session.region_name,
             "AWS_ENDPOINT_URL": endpoint}
    return {**data, **{key: value for key, value in extra.items() if value}}


def apply_secret(cluster: watch.Cluster, data: dict[str, str]) -> None:
    """Create the Secret, or replace it (credentials rotate; the last submitter's are the pods')."""
    body = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "stringData": data,
            "metadata": {"name": SECRET, "labels": {"app.kubernetes.io/part-of": "bankpipe"}}}
    try:
        try:
            cluster.core.create_namespaced_secret(cluster.namespace, body)
        except ApiException as exc:
            if exc.status != 409:
                raise
            cluster.core.replace_namespaced_secret(SECRET, cluster.namespace, body)
    except ApiException as exc:
        raise api_error(exc, f"Secret {cluster.namespace}/{SECRET}") from None


class Uploads:
    """The `unmapped` policy of a run's paths on the store: a local input file (--data, --schema) is copied
    to <pipeline-root>/.inputs/<sha-256 prefix>/<name> once; a second run with the same content finds it
    there. A dry run uploads nothing (its manifests still name where the file would be)."""

    def __init__(self, mirror: Mirror, pipeline_root: Path, dry_run: bool = False,
                 file_hash: Callable[[Path], str] = digests.file_sha256):
        # file_hash: the run's (Run.file_hash), which reads the data file once for every step that takes it
        self.mirror, self.root, self.dry_run, self.file_hash = mirror, Path(pipeline_root), dry_run, file_hash

    def __call__(self, paths: PathMap, host: Path, flag: str) -> PurePosixPath:
        if not host.is_file():
            raise UsageError(f"{flag} {host}: the pods can be given a file of this machine or an s3:// object, "
                             f"not a folder or a missing path; pass the file itself.")
        placed = self.root / INPUTS / self.file_hash(host)[:16] / host.name
        if not self.dry_run:
            self.upload(host, placed)
        return PurePosixPath(paths.to_target(placed, flag))

    def upload(self, host: Path, placed: Path) -> None:
        uri = self.mirror.uri(placed)
        if self.mirror.store.exists(uri):
            log.info("%s: already on the store as %s (same content)", host, uri)
            return
        placed.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(host, placed)
        self.mirror.push_file(placed)
        log.info("%s: uploaded to %s (%.1f MB), for the pods", host, uri, placed.stat().st_size / 1e6)
