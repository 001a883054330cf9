"""The Flink path on the store uses the real S3 server (tests/s3_server.py)."""
from tests.s3_server import bucket, server_settings  # noqa: F401  (fixtures)
