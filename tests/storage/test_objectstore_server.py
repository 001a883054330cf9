"""The local S3 server (`make objectstore`, objectstore/README.md): the S3 calls the project relies on, against
the real SeaweedFS gateway with the credentials it was started with. Skipped where no server runs, except under
CI, where .ci/run must have started it."""
import hashlib
import os
import socket
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENV_FILE = ROOT / ".cache" / "objectstore" / "env"
BRIDGE_IP = "198.18.0.1"  # the local cluster's bridge: pods reach the server there
MiB = 1024 * 1024


def unavailable(message: str):
    if os.environ.get("CI"):
        pytest.fail(message + "; under CI .ci/run must have started it")
    pytest.skip(message)


if os.environ.get("CI"):
    import boto3
else:
    boto3 = pytest.importorskip("boto3")
from botocore.config import Config  # noqa: E402  (botocore comes with boto3)
from botocore.exceptions import BotoCoreError, ClientError  # noqa: E402


def server_settings() -> dict[str, str]:
    """The `export K=V ...` line that objectstore.sh writes."""
    if not ENV_FILE.is_file():
        unavailable(f"no local S3 server: {ENV_FILE} does not exist (`make objectstore` starts one)")
    words = ENV_FILE.read_text().split()
    return dict(word.split("=", 1) for word in words if "=" in word)


def client_for(settings: dict[str, str], endpoint: str, **config):
    return boto3.client("s3", endpoint_url=endpoint, region_name=settings["AWS_DEFAULT_REGION"],
                        aws_access_key_id=settings["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=settings["AWS_SECRET_ACCESS_KEY"], config=Config(**config))


@pytest.fixture(scope="module")
def settings() -> dict[str, str]:
    return server_settings()


@pytest.fixture(scope="module")
def s3(settings):
    client = client_for(settings, settings["AWS_ENDPOINT_URL"])
    try:  # one try: a server that is not there is not retried for seconds
        client_for(settings, settings["AWS_ENDPOINT_URL"], retries={"total_max_attempts": 1}).list_buckets()
    except (BotoCoreError, ClientError) as exc:  # a refused connection, or a key this server does not know
        unavailable(f"the local S3 server at {settings['AWS_ENDPOINT_URL']} does not answer ({exc}): "
                    "`make objectstore` starts it")
    return client


@pytest.fixture
def bucket(s3):
    name = f"bankpipe-test-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    yield name
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        for item in page.get("Contents", []):
            s3.delete_object(Bucket=name, Key=item["Key"])
    s3.delete_bucket(Bucket=name)


def keys(s3, bucket: str, prefix: str = "") -> list[str]:
    return [item["Key"] for item in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]


def test_put_get_list_delete_round_trip_reads_its_own_writes(s3, bucket):
    s3.put_object(Bucket=bucket, Key="runs/a/metrics.json", Body=b'{"auc": 0.9}')
    s3.put_object(Bucket=bucket, Key="runs/b/metrics.json", Body=b"first")
    s3.put_object(Bucket=bucket, Key="runs/b/metrics.json", Body=b"second")
    assert s3.get_object(Bucket=bucket, Key="runs/a/metrics.json")["Body"].read() == b'{"auc": 0.9}'
    assert s3.get_object(Bucket=bucket, Key="runs/b/metrics.json")["Body"].read() == b"second"
    assert keys(s3, bucket, "runs/") == ["runs/a/metrics.json", "runs/b/metrics.json"]
    listing = s3.list_objects_v2(Bucket=bucket, Prefix="runs/", Delimiter="/")
    assert [p["Prefix"] for p in listing["CommonPrefixes"]] == ["runs/a/", "runs/b/"]
    s3.delete_object(Bucket=bucket, Key="runs/a/metrics.json")
    assert keys(s3, bucket) == ["runs/b/metrics.json"]
    with pytest.raises(ClientError) as missing:
        s3.get_object(Bucket=bucket, Key="runs/a/metrics.json")
    assert missing.value.response["Error"]["Code"] == "NoSuchKey"


def test_copy_object_copies_the_bytes(s3, bucket):
    s3.put_object(Bucket=bucket, Key="staging/model.bin", Body=b"weights" * 1000)
    s3.copy_object(Bucket=bucket, Key="models/1/model.bin", CopySource={"Bucket": bucket, "Key": "staging/model.bin"})
    assert s3.get_object(Bucket=bucket, Key="models/1/model.bin")["Body"].read() == b"weights" * 1000


def test_a_20_mib_multipart_upload_round_trips(s3, bucket):
    data = os.urandom(20 * MiB)
    upload = s3.create_multipart_upload(Bucket=bucket, Key="big.bin")
    parts = []
    for number, start in enumerate(range(0, len(data), 8 * MiB), start=1):  # 8 + 8 + 4 MiB
        part = s3.upload_part(Bucket=bucket, Key="big.bin", UploadId=upload["UploadId"], PartNumber=number,
                              Body=data[start:start + 8 * MiB])
        parts.append({"PartNumber": number, "ETag": part["ETag"]})
    s3.complete_multipart_upload(Bucket=bucket, Key="big.bin", UploadId=upload["UploadId"],
                                 MultipartUpload={"Parts": parts})
    head = s3.head_object(Bucket=bucket, Key="big.bin")
    assert head["ContentLength"] == 20 * MiB and head["ETag"].endswith('-3"')
    body = s3.get_object(Bucket=bucket, Key="big.bin")["Body"].read()
    assert hashlib.sha256(body).hexdigest() == hashlib.sha256(data).hexdigest()


def test_a_conditional_put_creates_once(s3, bucket):
    s3.put_object(Bucket=bucket, Key="lock", Body=b"first", IfNoneMatch="*")
    with pytest.raises(ClientError) as taken:
        s3.put_object(Bucket=bucket, Key="lock", Body=b"second", IfNoneMatch="*")
    assert taken.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    assert s3.get_object(Bucket=bucket, Key="lock")["Body"].read() == b"first"


def bridge_is_local() -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((BRIDGE_IP, 0))
        except OSError:
            return False
    return True


def test_pods_reach_the_same_store_on_the_bridge(s3, bucket, settings):
    if not bridge_is_local():
        unavailable(f"no {BRIDGE_IP} on this machine: the local cluster's bridge is down (`make cluster`)")
    s3.put_object(Bucket=bucket, Key="from-host", Body=b"hello pods")
    pods = client_for(settings, f"http://{BRIDGE_IP}:8333")
    assert pods.get_object(Bucket=bucket, Key="from-host")["Body"].read() == b"hello pods"
