"""An S3-compatible object store: `s3://bucket/prefix` URIs, and the few operations the pipeline needs.

Credentials come from the standard AWS environment or profile (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY,
AWS_PROFILE, ~/.aws), the endpoint from AWS_ENDPOINT_URL (any S3-compatible service; unset: AWS). They are
never logged: messages name the endpoint and the URI only. Failures map to the documented exit codes: an
unreachable endpoint is infrastructure (75, retryable), refused or missing credentials are usage (2).

A tree is uploaded complete or not at all, as far as a reader can tell: its files go under a temporary key
beside the target first (slow, over the network, where nobody looks), then are copied into place on the
server in an order where the file that marks the tree complete comes last (`upload_tree(last=...)`).
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime
import logging
import os
import uuid
from pathlib import Path
from typing import Iterator

from components.core.errors import DataError, InfraError, UsageError

SCHEME = "s3://"
TEMPORARY = ".uploading-"   # prefix of a tree's temporary key, beside its target
CREDENTIAL_CODES = frozenset({"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken",
                              "ExpiredToken", "AuthorizationHeaderMalformed", "403"})
MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound", "NoSuchBucket"})


def is_uri(text: object) -> bool:
    return isinstance(text, str) and text.startswith(SCHEME)


@dataclasses.dataclass(frozen=True)
class Uri:
    bucket: str
    key: str = ""   # no leading or trailing '/'

    def __str__(self) -> str:
        return f"{SCHEME}{self.bucket}/{self.key}" if self.key else f"{SCHEME}{self.bucket}"

    def join(self, *parts: str) -> "Uri":
        key = "/".join(p.strip("/") for p in (self.key, *parts) if p.strip("/"))
        return Uri(self.bucket, key)

    @property
    def prefix(self) -> str:
        """The key as a folder: every object under it starts with this."""
        return f"{self.key}/" if self.key else ""


def parse(text: str, flag: str = "the URI") -> Uri:
    """`s3://bucket/some/prefix` -> Uri; a bad one is a usage error naming the flag."""
    bucket, _, key = text[len(SCHEME):].partition("/")
    if not is_uri(text) or not bucket or ".." in key.split("/") or "//" in key.rstrip("/"):
        raise UsageError(f"{flag} {text!r} is not an object-store URI: write s3://bucket/prefix (no '..' or '//').")
    return Uri(bucket, key.strip("/"))


@contextlib.contextmanager
def translated(what: str) -> Iterator[None]:
    """botocore's exceptions as the pipeline's domain errors: one clear line, never a credential."""
    from botocore import exceptions as bx

    endpoint = os.environ.get("AWS_ENDPOINT_URL") or "AWS S3 (AWS_ENDPOINT_URL is unset)"
    try:
        yield
    except (bx.EndpointConnectionError, bx.ConnectTimeoutError, bx.ReadTimeoutError,
            bx.ConnectionClosedError) as exc:
        raise InfraError(f"cannot reach the object store at {endpoint} ({type(exc).__name__}) while {what}: "
                         f"start it (`make objectstore`) or set AWS_ENDPOINT_URL; retryable.") from None
    except (bx.NoCredentialsError, bx.PartialCredentialsError, bx.ProfileNotFound) as exc:
        raise UsageError(f"no usable credentials for the object store while {what} ({type(exc).__name__}): set "
                         f"AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or AWS_PROFILE (`source "
                         f".cache/objectstore/env` for the local server).") from None
    except bx.ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in CREDENTIAL_CODES:
            raise UsageError(f"the object store at {endpoint} refused the credentials while {what} ({code}): "
                             f"check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or AWS_PROFILE.") from None
        if code in MISSING_CODES:
            raise DataError(f"not found in the object store while {what} ({code}): check the URI.") from None
        raise InfraError(f"the object store at {endpoint} failed while {what} ({code}); retryable.") from None


@dataclasses.dataclass
class Store:
    """One client to the configured endpoint, and the bytes it moved (for the log and bench/)."""
    uploaded: int = 0
    downloaded: int = 0
    _client: object = dataclasses.field(default=None, repr=False)
    _buckets: set = dataclasses.field(default_factory=set, repr=False)

    @property
    def client(self):
        if self._client is None:
            import boto3
            from botocore.config import Config

            logging.getLogger("botocore").setLevel(logging.WARNING)  # its INFO lines say where credentials came from

            config = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=120,
                            s3={"addressing_style": "path"})
            with translated("reading the AWS configuration"):
                self._client = boto3.session.Session().client("s3", config=config)
        return self._client

    def ensure_bucket(self, bucket: str) -> None:
        """A bucket named in a URI is created on first use."""
        if bucket in self._buckets:
            return
        from botocore.exceptions import ClientError

        with translated(f"checking the bucket {bucket!r}"):
            try:
                self.client.head_bucket(Bucket=bucket)
            except ClientError as exc:
                if str(exc.response.get("Error", {}).get("Code")) not in MISSING_CODES:
                    raise
                self.client.create_bucket(Bucket=bucket)
        self._buckets.add(bucket)

    def listing(self, uri: Uri) -> dict[str, tuple[int, datetime.datetime]]:
        """Every object under the folder `uri`: relative key -> (size, last modified)."""
        found = {}
        with translated(f"listing {uri}"):
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=uri.bucket, Prefix=uri.prefix)
            for page in pages:
                for item in page.get("Contents", []):
                    found[item["Key"][len(uri.prefix):]] = (item["Size"], item["LastModified"])
        return found

    def folders(self, uri: Uri) -> list[str]:
        """The names of the folders directly under `uri`."""
        names = []
        with translated(f"listing {uri}"):
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=uri.bucket, Prefix=uri.prefix,
                                                                          Delimiter="/")
            for page in pages:
                names += [p["Prefix"][len(uri.prefix):].rstrip("/") for p in page.get("CommonPrefixes", [])]
        return names

    def exists(self, uri: Uri) -> bool:
        from botocore.exceptions import ClientError

        with translated(f"reading {uri}"):
            try:
                self.client.head_object(Bucket=uri.bucket, Key=uri.key)
                return True
            except ClientError as exc:
                if str(exc.response.get("Error", {}).get("Code")) in MISSING_CODES:
                    return False
                raise

    def download_file(self, uri: Uri, path: Path, modified: datetime.datetime | None = None) -> None:
        """The object at `uri` into `path` (atomically), its modification time the object's."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        aside = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.part")
        with translated(f"downloading {uri}"):
            self.client.download_file(uri.bucket, uri.key, str(aside))
        os.replace(aside, path)
        self.downloaded += path.stat().st_size
        if modified is not None:
            os.utime(path, (modified.timestamp(), modified.timestamp()))

    def download_tree(self, uri: Uri, directory: Path, keep=lambda name: True) -> int:
        """Every object under `uri` whose relative key `keep` accepts into `directory`; how many."""
        count = 0
        for name, (_, modified) in sorted(self.listing(uri).items()):
            if keep(name) and not any(part.startswith(TEMPORARY) for part in name.split("/")):
                self.download_file(uri.join(name), Path(directory) / name, modified)
                count += 1
        return count

    def upload_file(self, path: Path, uri: Uri) -> None:
        self.ensure_bucket(uri.bucket)
        with translated(f"uploading {path} to {uri}"):
            self.client.upload_file(str(path), uri.bucket, uri.key)
        self.uploaded += Path(path).stat().st_size

    def put_if_absent(self, uri: Uri, body: bytes) -> bool:
        """Create the object unless it exists (a conditional put, If-None-Match: *); False if it existed."""
        from botocore.exceptions import ClientError

        self.ensure_bucket(uri.bucket)
        with translated(f"writing {uri}"):
            try:
                self.client.put_object(Bucket=uri.bucket, Key=uri.key, Body=body, IfNoneMatch="*")
                return True
            except ClientError as exc:
                if str(exc.response.get("Error", {}).get("Code")) in ("PreconditionFailed", "412",
                                                                      "ConditionalRequestConflict"):
                    return False
                raise

    def read_text(self, uri: Uri) -> str:
        with translated(f"reading {uri}"):
            return self.client.get_object(Bucket=uri.bucket, Key=uri.key)["Body"].read().decode("utf-8")

    def delete_tree(self, uri: Uri) -> None:
        keys = [uri.join(name).key for name in self.listing(uri)]
        with translated(f"deleting {uri}"):
            for start in range(0, len(keys), 1000):
                chunk = [{"Key": k} for k in keys[start:start + 1000]]
                self.client.delete_objects(Bucket=uri.bucket, Delete={"Objects": chunk, "Quiet": True})

    def delete(self, uri: Uri) -> None:
        with translated(f"deleting {uri}"):
            self.client.delete_object(Bucket=uri.bucket, Key=uri.key)

    def upload_tree(self, directory: Path, uri: Uri, last: tuple[str, ...] = ()) -> None:
        """`directory`'s files as the folder `uri`, replacing what was there: uploaded under a temporary key
        beside it, then copied into place on the server, the files named in `last` (in that order) after all
        others, so a reader that waits for the last one never sees part of the tree."""
        directory = Path(directory)
        names = sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file())
        staging = Uri(uri.bucket, uri.key.rpartition("/")[0]).join(f"{TEMPORARY}{uri.key.rpartition('/')[2]}-"
                                                                    f"{uuid.uuid4().hex[:12]}")
        for name in names:
            self.upload_file(directory / name, staging.join(name))
        stale = set(self.listing(uri)) - set(names)
        order = sorted(names, key=lambda n: (last.index(n.rsplit("/", 1)[-1]) if n.rsplit("/", 1)[-1] in last
                                             else -1, n))
        with translated(f"publishing {uri}"):
            for name in order:
                self.copy(staging.join(name), uri.join(name))
            for name in stale:
                self.client.delete_object(Bucket=uri.bucket, Key=uri.join(name).key)
        self.delete_tree(staging)

    def copy(self, source: Uri, target: Uri) -> None:
        """A server-side copy: no bytes through this machine."""
        self.client.copy_object(Bucket=target.bucket, Key=target.key,
                                CopySource={"Bucket": source.bucket, "Key": source.key})

    def remove_stale_uploads(self, uri: Uri) -> list[str]:
        """Temporary keys directly under `uri` left by an upload that was killed."""
        stale = [name for name in self.folders(uri) if name.startswith(TEMPORARY)]
        for name in stale:
            self.delete_tree(uri.join(name))
        return stale
