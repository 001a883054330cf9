"""Runs on the object store use the real S3 server (tests/s3_server.py)."""
from tests.s3_server import bucket, server_settings  # noqa: F401  (fixtures)
