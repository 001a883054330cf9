"""The real S3 server for every test on the store (`make objectstore`; .ci/run starts it): its settings in the
environment, and a fresh bucket per test, emptied afterwards. Skipped where no server runs, failed under CI.
A folder's conftest.py (or a test module) imports the fixtures it uses from here."""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

ROOT = Path(__file__).resolve().parents[1]
ENV_FILE = Path(os.environ.get("BANKPIPE_OBJECTSTORE_ENV", ROOT / ".cache" / "objectstore" / "env"))


def unavailable(message: str):
    if os.environ.get("CI"):
        pytest.fail(message + "; under CI .ci/run must have started it")
    pytest.skip(message)


@pytest.fixture(scope="session")
def server_settings() -> dict[str, str]:
    """The `export K=V ...` line objectstore.sh writes, checked with one signed call."""
    if not ENV_FILE.is_file():
        unavailable(f"no local S3 server: {ENV_FILE} does not exist (`make objectstore` starts one)")
    settings = dict(w.split("=", 1) for w in ENV_FILE.read_text().split() if "=" in w)
    client = boto3.client("s3", endpoint_url=settings["AWS_ENDPOINT_URL"], region_name="us-east-1",
                          aws_access_key_id=settings["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=settings["AWS_SECRET_ACCESS_KEY"],
                          config=Config(retries={"total_max_attempts": 1}))
    try:
        client.list_buckets()
    except (BotoCoreError, ClientError) as exc:
        unavailable(f"the local S3 server at {settings['AWS_ENDPOINT_URL']} does not answer ({exc}): "
                    f"`make objectstore` starts it")
    return settings


@pytest.fixture
def bucket(server_settings, monkeypatch) -> str:
    """A new bucket's name, with the server's settings in the environment (as a user who sourced the env
    file); the bucket is created on first use by the code under test and emptied afterwards."""
    for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in server_settings.items():
        monkeypatch.setenv(name, value)
    name = f"test-{uuid.uuid4().hex[:10]}"
    yield name
    from components.core.errors import DataError
    from components.storage.objectstore import Store, Uri

    for key, value in server_settings.items():  # a test may have spoilt them
        monkeypatch.setenv(key, value)
    try:
        Store().delete_tree(Uri(name))
    except DataError:  # never created
        pass
