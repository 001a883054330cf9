"""The object-store client and the scratch mirror, against the real S3 server: URIs, whole uploads,
conditional puts, and the one-line errors (exit codes 2 and 75) for bad credentials and no server."""
from __future__ import annotations

import json

import pytest

from components.core.errors import InfraError, UsageError
from components.orchestration import staging
from components.storage import objectstore
from components.storage.mirror import Mirror
from components.storage.objectstore import Store, Uri, parse


def test_uris_parse_and_bad_ones_name_the_flag():
    assert parse("s3://bank/runs/") == Uri("bank", "runs")
    assert str(parse("s3://bank")) == "s3://bank" and parse("s3://bank/a").join("b", "c/") == Uri("bank", "a/b/c")
    for bad in ("s3://", "s3:///runs", "s3://b/a/../c", "runs"):
        with pytest.raises(UsageError, match="--pipeline-root"):
            parse(bad, "--pipeline-root")


def test_the_mirror_stores_uris_and_reads_back_scratch_paths(tmp_path):
    mirror = Mirror(tmp_path)
    path = mirror.local("s3://bank/runs/one/train")
    assert path == tmp_path / "bank" / "runs" / "one" / "train" and mirror.uri(path) == Uri("bank", "runs/one/train")
    value = {"out": [str(path)], "n": 3}
    assert mirror.to_uris(value) == {"out": ["s3://bank/runs/one/train"], "n": 3}
    assert mirror.to_paths(mirror.to_uris(value)) == value


def test_a_tree_is_uploaded_whole_and_comes_back_byte_for_byte(bucket, tmp_path):
    source = tmp_path / "source"
    (source / "variables").mkdir(parents=True)
    (source / "variables" / "data").write_bytes(bytes(range(256)) * 4096)
    (source / "saved_model.pb").write_bytes(b"graph")
    (source / "bankpipe-digests.json").write_text("{}")
    store = Store()
    target = Uri(bucket, "serving/bank/1")
    store.upload_tree(source, target, last=("saved_model.pb", "bankpipe-digests.json"))
    assert sorted(store.listing(target)) == ["bankpipe-digests.json", "saved_model.pb", "variables/data"]
    assert not any(name.startswith(objectstore.TEMPORARY) for name in store.listing(Uri(bucket, "serving/bank")))
    back = tmp_path / "back"
    assert store.download_tree(target, back) == 3
    assert (back / "variables" / "data").read_bytes() == (source / "variables" / "data").read_bytes()
    assert store.uploaded == store.downloaded == (source / "variables" / "data").stat().st_size + 7


def test_a_conditional_put_creates_once(bucket):
    store, lock = Store(), Uri(bucket, "runs/one/.run-lock")
    assert store.put_if_absent(lock, b"me") and not store.put_if_absent(lock, b"someone else")
    assert store.read_text(lock) == "me"


def test_the_run_lock_stops_a_second_process_and_is_released(bucket, tmp_path):
    mirror = Mirror(tmp_path)
    run_dir = mirror.local(f"s3://{bucket}/runs/one")
    with staging.store_lock(mirror, run_dir):
        lock = mirror.uri(run_dir).join(staging.LOCK)
        mirror.store.delete(lock)  # as if another machine held it:
        mirror.store.put_if_absent(lock, b"pid 1 on another-machine")
        with pytest.raises(UsageError, match="another-machine"):
            with staging.store_lock(mirror, run_dir):
                pass
    assert not mirror.store.exists(mirror.uri(run_dir).join(staging.LOCK))


def test_an_interrupted_upload_leaves_no_visible_version(bucket, tmp_path):
    """A push killed while its files go up (here: interrupted after two of them) leaves only a temporary
    key: no version folder, nothing models list shows."""
    class KilledMidway(Store):
        def upload_file(self, path, uri):
            if self.uploaded and len(self._sent) == 2:
                raise KeyboardInterrupt
            self._sent.append(uri)
            super().upload_file(path, uri)

    mirror = Mirror(tmp_path, KilledMidway())
    mirror.store._sent = []
    version = mirror.local(f"s3://{bucket}/serving/bank/1")
    (version / "variables").mkdir(parents=True)
    for name in ("saved_model.pb", "variables/data", "variables/index", "bankpipe-digests.json"):
        (version / name).write_text(name)
    with pytest.raises(KeyboardInterrupt):
        staging.publish_version(mirror, version)
    listing = Store().listing(Uri(bucket, "serving/bank"))
    assert not [k for k in listing if k.startswith("1/")], listing
    fresh = Mirror(tmp_path / "fresh")
    assert staging.pull_versions(fresh, fresh.local(f"s3://{bucket}/serving/bank")) == []


def test_bad_credentials_are_a_usage_error_naming_no_secret(bucket, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret-0123456789")
    with pytest.raises(UsageError, match="refused the credentials") as caught:
        Store().ensure_bucket(bucket)
    assert "not-the-secret" not in caught.value.message and caught.value.exit_code == 2


def test_an_unreachable_endpoint_is_infrastructure(bucket, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # discard port: nothing listens
    with pytest.raises(InfraError, match="cannot reach the object store at http://127.0.0.1:9") as caught:
        Store().ensure_bucket(bucket)
    assert caught.value.exit_code == 75
    json.dumps(caught.value.message)
