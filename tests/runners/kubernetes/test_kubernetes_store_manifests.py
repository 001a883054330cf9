"""A Kubernetes run on the object store, short of a cluster: the overlay k8s/overlays/objectstore as kustomize
renders it, the runner's pods against kustomize's, a local file uploaded once by its content, the pods'
Secret, and the pod's launcher (kubernetes.entry --object-store) pulling and publishing against the real S3
server (tests/s3_server.py). The real cluster's runs are in test_kubernetes_on_store.py."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import yaml

from components.core import filenames, protocol
from components.core.digests import file_sha256
from components.orchestration.dag import PIPELINE
from components.runners.kubernetes import pod_store, render, store, templates
from components.steps import split as split_step
from components.storage.mirror import Mirror
from components.storage.objectstore import Store, Uri
from tests.helpers import BANK_CSV, BANK_SCHEMA, run_pipeline
from tests.runners.kubernetes.test_kubernetes_manifests import kustomize, validate_files


def test_the_overlay_has_no_claim_and_every_job_the_secret_and_scratch(tmp_path):
    objects = kustomize("objectstore")
    kinds = {o["kind"] for o in objects}
    assert "PersistentVolumeClaim" not in kinds and "Deployment" not in kinds
    assert {o["metadata"].get("namespace") for o in objects if o["kind"] != "Namespace"} == {"bankpipe-store"}
    validate_files(render.write_manifests(objects, tmp_path))
    jobs = [o for o in objects if o["kind"] == "Job"]
    assert len(jobs) == len(PIPELINE)
    for job in jobs:
        pod = job["spec"]["template"]["spec"]
        volume = next(v for v in pod["volumes"] if v["name"] == render.VOLUME)
        assert set(volume) == {"name", "emptyDir"}
        main = pod["containers"][0]
        assert {"secretRef": {"name": store.SECRET}} in main["envFrom"]
        assert not next(m for m in main["volumeMounts"] if m["name"] == render.VOLUME).get("readOnly")
    egress = next(o for o in objects if o["metadata"]["name"] == "bankpipe-objectstore-egress")["spec"]["egress"]
    assert egress == [{"to": [{"ipBlock": {"cidr": "198.18.0.1/32"}}], "ports": [{"protocol": "TCP", "port": 8333}]}]


def test_patches_apply_in_overlay_order_a_null_deletes_and_a_nameless_target_takes_every_job():
    assert templates.strategic_merge({"a": 1, "b": {"c": 2}}, {"a": None, "b": {"d": 3}}) == {"b": {"c": 2, "d": 3}}
    train = templates.load_template("train", ("gpu", "objectstore"))["spec"]["template"]["spec"]
    assert train["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"      # the gpu overlay's
    assert {"secretRef": {"name": store.SECRET}} in train["containers"][0]["envFrom"]  # then the store's
    push = templates.load_template("push", ("gpu", "objectstore"))["spec"]["template"]["spec"]
    assert "nvidia.com/gpu" not in push["containers"][0]["resources"]["limits"]
    assert next(v for v in push["volumes"] if v["name"] == render.VOLUME) == {"name": render.VOLUME,
                                                                             "emptyDir": {"sizeLimit": "10Gi"}}
    assert templates.overlay_namespace("objectstore") == "bankpipe-store"
    assert templates.overlay_namespace("cpu") == "bankpipe"


def store_dry_run(tmp_path: Path, bucket: str, *flags: str) -> Path:
    out = tmp_path / "manifests"
    assert run_pipeline("--runner=kubernetes", "--dry-run", "--manifests-dir", str(out), "--run-id", "Run_1",
                        "--pipeline-root", f"s3://{bucket}/runs", "--serving-dir", f"s3://{bucket}/serving",
                        *flags) == 0
    return out


def test_the_runners_pods_on_the_store_are_kustomizes_with_store_paths(tmp_path, bucket, server_settings):
    clients = tmp_path / "clients.csv"
    clients.write_bytes(BANK_CSV.read_bytes())
    out = store_dry_run(tmp_path, bucket, "--data", str(clients))
    by_step = {o["metadata"]["labels"]["app.kubernetes.io/component"]: o for o in kustomize("objectstore")
               if o["kind"] == "Job"}
    placed = f"/artifacts/{bucket}/runs/.inputs/{file_sha256(clients)[:16]}/clients.csv"
    for step in PIPELINE:
        path = out / f"{render.job_name('Run_1', step.name)}.job.yaml"
        text = path.read_text()
        assert server_settings["AWS_SECRET_ACCESS_KEY"] not in text and server_settings["AWS_ACCESS_KEY_ID"] not in text
        ours = yaml.safe_load(text)
        args = ours["spec"]["template"]["spec"]["containers"][0].pop("args")
        by_step[step.name]["spec"]["template"]["spec"]["containers"][0].pop("args")
        assert ours["spec"]["template"]["spec"] == by_step[step.name]["spec"]["template"]["spec"], step.name
        assert "--object-store" in args and f"/artifacts/{bucket}/runs/Run_1/{step.name}" in args
        assert args[args.index("--pipeline-root") + 1] == f"/artifacts/{bucket}/runs"
        if step.name == "validate":
            assert args[args.index("--data") + 1] == placed
    assert not Store().exists(Uri(bucket, placed.removeprefix(f"/artifacts/{bucket}/")))  # a dry run uploads nothing


def test_a_local_file_is_uploaded_once_by_its_content(tmp_path, bucket, caplog):
    clients = tmp_path / "clients.csv"
    clients.write_bytes(BANK_CSV.read_bytes())
    mirror = Mirror(tmp_path / "scratch")
    paths = render.store_paths(mirror.scratch, store.Uploads(mirror, mirror.scratch / bucket / "runs"))
    with caplog.at_level(logging.INFO, "pipeline.k8s"):
        first = paths.to_target(clients, "--data")
        second = paths.to_target(clients, "--data")
    assert first == second == f"/artifacts/{bucket}/runs/.inputs/{file_sha256(clients)[:16]}/clients.csv"
    assert [": uploaded to" in m for m in caplog.messages] == [True, False]
    assert "already on the store" in caplog.messages[1]
    listing = Store().listing(Uri(bucket, "runs/.inputs"))
    assert len(listing) == 1 and next(iter(listing.values()))[0] == clients.stat().st_size
    with pytest.raises(Exception, match="not a folder or a missing path"):
        paths.to_target(tmp_path / "missing.csv", "--data")


def test_the_secret_is_this_machines_chain_with_the_pods_endpoint(monkeypatch, server_settings):
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in server_settings.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(store.POD_ENDPOINT_ENV, "http://198.18.0.1:8333")
    data = store.credentials()
    assert data == {"AWS_ACCESS_KEY_ID": server_settings["AWS_ACCESS_KEY_ID"],
                    "AWS_SECRET_ACCESS_KEY": server_settings["AWS_SECRET_ACCESS_KEY"],
                    "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": "http://198.18.0.1:8333"}
    monkeypatch.delenv(store.POD_ENDPOINT_ENV)
    assert store.credentials()["AWS_ENDPOINT_URL"] == server_settings["AWS_ENDPOINT_URL"]


def test_the_pod_launcher_pulls_the_inputs_and_publishes_the_output(tmp_path, bucket, capsys, monkeypatch):
    """A split pod: its data file is on the store, its output folder is published whole after the step."""
    monkeypatch.setenv(protocol.RECORD_LINE_ENV, "1")
    s3 = Store()
    s3.upload_file(BANK_CSV, Uri(bucket, "data/bank.csv"))
    s3.upload_file(BANK_SCHEMA, Uri(bucket, "runs/r1/validate/schema.pbtxt"))
    scratch = tmp_path / "artifacts"
    data, output = scratch / bucket / "data" / "bank.csv", scratch / bucket / "runs" / "r1" / "split"
    schema = scratch / bucket / "runs" / "r1" / "validate" / "schema.pbtxt"
    seen = {}

    def step_main(args):
        seen["inputs"] = [file_sha256(p) for p in (data, schema)] == [file_sha256(BANK_CSV), file_sha256(BANK_SCHEMA)]
        return split_step.main(args)

    args = ["--data", str(data), "--schema", str(schema), "--output", str(output)]
    code = pod_store.run_step(split_step.SPEC, step_main, args, None, list, scratch)
    assert code == 0 and seen["inputs"]
    published = s3.listing(Uri(bucket, "runs/r1/split"))
    assert filenames.SPLIT_SUMMARY in published and all(not k.startswith(".uploading") for k in published)
    assert protocol.parse_record_line(capsys.readouterr().out.strip().splitlines()[-1]).exit_code == 0


def test_refused_credentials_in_the_pod_are_one_record_and_exit_2(tmp_path, bucket, capsys, monkeypatch):
    monkeypatch.setenv(protocol.RECORD_LINE_ENV, "1")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    scratch = tmp_path / "artifacts"
    ran = []
    args = ["--data", str(scratch / bucket / "data" / "bank.csv"), "--output", str(scratch / bucket / "r" / "split")]
    code = pod_store.run_step(split_step.SPEC, lambda a: ran.append(a) or 0, args, None, list, scratch)
    record = protocol.parse_record_line(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == record.exit_code == 2 and not ran
    assert "refused the credentials" in record.error and "not-the-secret" not in record.error
    assert json.dumps(record.error).count("\\n") == 0


def test_the_runners_role_may_write_the_secret_and_read_the_overlays_config_map():
    role = next(o for o in kustomize("objectstore") if o["kind"] == "Role")
    granted = {(r, v) for rule in role["rules"] for r in rule["resources"] for v in rule["verbs"]}
    assert {("secrets", "create"), ("secrets", "update"), ("configmaps", "get")} <= granted
    assert ("secrets", "get") not in granted and ("secrets", "list") not in granted  # it never reads one back


def test_the_volume_and_the_store_do_not_mix_in_one_run(tmp_path, capsys):
    code = run_pipeline("--runner=kubernetes", "--dry-run", "--manifests-dir", str(tmp_path / "m"), "--run-id", "R",
                        "--pipeline-root", "s3://somewhere/runs", "--serving-dir", str(tmp_path / "serving"))
    assert code == 2
    assert "both on the object store (s3://...) or both on the artifacts volume" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()
