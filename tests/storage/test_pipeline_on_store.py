"""The whole pipeline with --pipeline-root, --serving-dir and --data on the real S3 server (runner=local):
BLESSED, small results on this machine, reuse from the store, models and predict on s3://, a damaged cached
object recomputed, wrong credentials and no server as one line and an exit code with nothing written."""
from __future__ import annotations

import json

import pytest

from components.core import filenames
from components.storage.objectstore import Store, Uri
from tests.helpers import run_pipeline, sample_bank

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def on_store(server_settings, tmp_path_factory, bank_frame):
    """Two runs on the store, from a directory of their own; (bucket, that directory, exit codes)."""
    import uuid

    bucket = f"test-{uuid.uuid4().hex[:10]}"
    here = tmp_path_factory.mktemp("laptop")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in server_settings.items():
            patch.setenv(name, value)
        patch.chdir(here)
        csv = here / "clients.csv"
        sample_bank(bank_frame, 2000).to_csv(csv, index=False)
        store = Store()
        store.upload_file(csv, Uri(bucket, "data/clients.csv"))
        codes = [run_pipeline(*flags(bucket), "--run-id", run_id) for run_id in ("one", "two")]
        yield bucket, here, codes, patch
        store.delete_tree(Uri(bucket))


def flags(bucket: str) -> list[str]:
    return ["--pipeline-root", f"s3://{bucket}/runs", "--serving-dir", f"s3://{bucket}/serving",
            "--data", f"s3://{bucket}/data/clients.csv", "--epochs", "3"]


def local_manifest(here, run_id: str) -> dict:
    return json.loads((here / "runs" / run_id / filenames.MANIFEST).read_text())


def test_a_run_on_the_store_is_blessed_and_its_results_are_here(on_store, server_settings):
    bucket, here, codes, _ = on_store
    assert codes == [0, 0]
    manifest = local_manifest(here, "one")
    assert manifest["status"] == "succeeded"
    assert manifest["steps"]["push"]["result"]["pushed_to"] == f"s3://{bucket}/serving/clients/1"
    assert manifest["params"]["data"] == f"s3://{bucket}/data/clients.csv"
    for name in ("evaluate/metrics.json", "push/gate.txt", "validate/report.html", "run.json"):
        assert (here / "runs" / "one" / name).is_file(), name
    lineage = Store().read_text(Uri(bucket, f"serving/clients/1/{filenames.LINEAGE}"))
    assert f"s3://{bucket}/data/clients.csv" in lineage and "/tmp/" not in lineage
    for text in (lineage, json.dumps(manifest), (here / "runs" / "one" / "run.json").read_text()):
        assert server_settings["AWS_SECRET_ACCESS_KEY"] not in text
        assert server_settings["AWS_ACCESS_KEY_ID"] not in text


def test_a_second_run_reuses_split_and_train_from_the_store(on_store):
    _, here, _, _ = on_store
    steps = local_manifest(here, "two")["steps"]
    assert steps["split"]["status"] == steps["train"]["status"] == "cached"
    assert steps["train"]["cached_from"] == "one"


def test_models_and_predict_read_the_store(on_store, capsys, bank_frame):
    from components import models, predict

    bucket, here, _, _ = on_store
    capsys.readouterr()
    assert models.main(["--serving-dir", f"s3://{bucket}/serving", "list"]) == 0
    listed = capsys.readouterr().out
    assert "clients  (served: version 1)" in listed and "run one" in listed
    assert models.main(["--serving-dir", f"s3://{bucket}/serving", "show", "clients", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["run"]["run_id"] == "one"
    rows = here / "rows.csv"
    bank_frame.head(40).to_csv(rows, index=False)
    assert predict.main(["--model", f"s3://{bucket}/serving/clients", "--data", str(rows), "--output",
                         str(here / "scores.csv")]) == 0
    assert len((here / "scores.csv").read_text().splitlines()) == 41


def test_a_damaged_cached_object_is_recomputed_not_trusted(on_store, capsys):
    bucket, here, _, _ = on_store
    store = Store()
    store.delete(Uri(bucket, f"runs/one/split/{filenames.SPLIT_SUMMARY}"))
    altered = here / "altered.json"
    altered.write_text("{}")
    store.upload_file(altered, Uri(bucket, f"runs/two/split/{filenames.SPLIT_SUMMARY}"))
    assert run_pipeline(*flags(bucket), "--run-id", "three") == 0
    steps = local_manifest(here, "three")["steps"]
    assert steps["split"]["status"] == "succeeded"   # recomputed: neither copy was trusted
    assert steps["train"]["status"] == "cached"      # the same split bytes again: train's key is unchanged
    err = capsys.readouterr().err
    assert "not reusing split of run two" in err and "not reusing split of run one" in err


@pytest.mark.parametrize("setting, value, code, says", [
    ("AWS_SECRET_ACCESS_KEY", "wrong-secret-0123456789", 2, "refused the credentials"),
    ("AWS_ENDPOINT_URL", "http://127.0.0.1:9", 75, "cannot reach the object store at http://127.0.0.1:9")])
def test_bad_credentials_or_no_server_is_one_line_and_writes_nothing(on_store, capsys, setting, value, code, says):
    bucket, here, _, patch = on_store
    before = Store().listing(Uri(bucket))
    with pytest.MonkeyPatch.context() as spoil:
        spoil.setenv(setting, value)
        assert run_pipeline(*flags(bucket), "--run-id", "bad") == code
    err = capsys.readouterr().err
    assert says in err and value not in err.replace("http://127.0.0.1:9", "")
    assert Store().listing(Uri(bucket)) == before and not (here / "runs" / "bad").exists()


def test_a_refused_run_has_its_gate_here_and_continues_from_the_store(on_store, capsys):
    bucket, here, _, _ = on_store
    assert run_pipeline(*flags(bucket), "--run-id", "refused", "--set", "push.min_auc=0.999") == 6
    gate = (here / "runs" / "refused" / "push" / filenames.GATE_TXT).read_text()
    assert gate.startswith("gate: REFUSED") and f"s3://{bucket}/serving/clients/1" in gate and "/tmp/" not in gate
    capsys.readouterr()
    assert run_pipeline(*flags(bucket), "--run-id", "refused") == 0   # the same run, continued
    err = capsys.readouterr().err
    assert err.count("done in an earlier attempt with the same inputs and config: kept") == 4
    manifest = local_manifest(here, "refused")
    assert manifest["attempts"] == 2 and manifest["status"] == "succeeded"
