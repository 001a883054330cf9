"""The containerised pipeline: real images, really run (`make images` builds them; `make test` does it).

Without a Docker engine these tests skip, except under CI, where a missing engine or image fails loudly.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from components import storage
from components.core import filenames, release
from components.runners import docker as docker_runner
from tests.helpers import BANK_SCHEMA, ROOT, run_pipeline, sample_bank

IMAGES = ("bankpipe-data", "bankpipe-trainer", "bankpipe-trainer-gpu")
TAG = release.version()


def _unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so the docker tests must run: `make images` starts and builds)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def client():
    import docker

    try:
        engine = docker.from_env(timeout=600)
        engine.ping()
    except docker.errors.DockerException as exc:
        _unavailable(f"no Docker engine answers ({exc}); `make docker-engine` starts one")
    return engine


def get_image(client, repo: str):
    import docker

    try:
        return client.images.get(f"{repo}:{TAG}")
    except docker.errors.ImageNotFound:
        _unavailable(f"image {repo}:{TAG} is not built; run `make images`")


@pytest.fixture(scope="module")
def images(client):
    """The images the pipeline runs in (the GPU trainer is only probed)."""
    return {repo: get_image(client, repo) for repo in ("bankpipe-data", "bankpipe-trainer")}


def run_python(client, image, code: str) -> dict:
    """`code` in `image` as the runner starts components: image user, read-only, no network, tmpfs /tmp."""
    output = client.containers.run(image.id, entrypoint=["python", "-c", code], read_only=True,
                                   network_mode="none", tmpfs=docker_runner.TMPFS, remove=True,
                                   stdout=True, stderr=False)
    return json.loads(output.decode().strip().splitlines()[-1])


PROBE = """
import errno, importlib, json, os, socket
def fails(action):
    try:
        action()
        return False
    except OSError:
        return True
def imports(name):
    try:
        importlib.import_module(name)
        return True
    except ImportError:
        return False
open("/tmp/scratch", "w").write("tmpfs is writable")
print(json.dumps({
    "uid": os.getuid(), "home": os.environ["HOME"],
    "root_fs_read_only": fails(lambda: open("/app/x", "w")) and fails(lambda: open("/opt/venv/x", "w")),
    "no_network": fails(lambda: socket.create_connection(("1.1.1.1", 53), timeout=3)),
    "tfdv": imports("tensorflow_data_validation"), "beam": imports("apache_beam"),
    "tensorflow": imports("tensorflow"), "tf_keras": imports("tf_keras"),
    "data_baked_in": os.path.isfile("/app/data/bank.csv") and os.path.isfile("/app/data/schema.pbtxt"),
}))
"""


@pytest.mark.docker
@pytest.mark.parametrize("repo", IMAGES)
def test_each_image_runs_as_non_root_read_only_without_network(client, repo):
    image = get_image(client, repo)
    probe = run_python(client, image, PROBE)
    assert probe["uid"] == docker_runner.IMAGE_UID != 0
    assert probe["root_fs_read_only"] and probe["no_network"] and probe["home"] == "/tmp"
    assert probe["data_baked_in"] and probe["tensorflow"]
    # TFDV and Beam live only in the data image, Keras only in the trainers
    assert probe["tfdv"] == probe["beam"] == (repo == "bankpipe-data") != probe["tf_keras"]
    assert image.attrs["Config"]["Entrypoint"] == ["python", "-m"]
    assert image.attrs["Config"]["User"] == "10001:10001"
    assert f"{repo}:sha256-{image.id.split(':')[1][:12]}" in image.tags  # the content-digest tag
    assert image.labels[release.CODE_LABEL] == release.code_digest()  # built from this checkout


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, client, images):
    """The full pipeline on the bank data twice with one seed: in containers, and in this process."""
    root = tmp_path_factory.mktemp("docker_pipeline")
    codes = {}
    for name, flags in (("containers", ["--containers"]), ("in_process", [])):
        codes[name] = run_pipeline("--pipeline-root", str(root / name / "runs"), "--serving-dir",
                                   str(root / name / "serving"), "--run-id", "r1", "--seed", "7", *flags)
    return root, codes


def manifest(root, name, run_id="r1"):
    return storage.read_json(root / name / "runs" / run_id / "manifest.json")


@pytest.mark.docker
@pytest.mark.e2e
def test_full_pipeline_in_containers_pushes_a_blessed_model(two_runs, images):
    root, codes = two_runs
    assert codes["containers"] == 0
    run = manifest(root, "containers")
    assert run["status"] == "succeeded" and run["runner"] == "local"
    for name, step in run["steps"].items():
        expected = "bankpipe-data" if name in ("validate", "split") else "bankpipe-trainer"
        assert step["result"]["container"] == {"image": f"{expected}:{TAG}", "image_id": images[expected].id}
    push = run["steps"]["push"]["result"]
    assert push["blessed"] and push["pushed_to"] == str(root / "containers" / "serving" / "bank" / "1")
    assert (root / "containers" / "serving" / "bank" / "1" / "saved_model.pb").is_file()
    # nothing is left behind: every container was removed
    import docker

    assert not docker.from_env().containers.list(all=True, filters={"label": f"{release.LABEL_RUN}=r1"})


@pytest.mark.docker
@pytest.mark.e2e
def test_containerised_results_match_the_in_process_run(two_runs):
    root, codes = two_runs
    assert codes == {"containers": 0, "in_process": 0}
    split = [storage.read_json(root / n / "runs" / "r1" / "split" / filenames.SPLIT_SUMMARY) for n in ("containers",
                                                                                                       "in_process")]
    assert split[0] == split[1]
    metrics = [storage.read_json(root / n / "runs" / "r1" / "evaluate" / filenames.METRICS)["candidate"]
               for n in ("containers", "in_process")]
    for key in ("accuracy", "auc", "precision", "recall", "f1"):
        assert metrics[0][key] == pytest.approx(metrics[1][key], abs=0.01), key
    assert metrics[0]["loss"] == pytest.approx(metrics[1]["loss"], abs=0.02)


@pytest.mark.docker
@pytest.mark.e2e
def test_validation_failure_in_a_container_matches_in_process(tmp_path, client, images, bank_frame, capsys):
    bad = sample_bank(bank_frame, 1000)
    bad.loc[5, "month"] = "smarch"
    data = tmp_path / "bad.csv"
    bad.to_csv(data, index=False)
    errors, codes = {}, {}
    for name, flags in (("containers", ["--containers"]), ("in_process", [])):
        root = tmp_path / name
        codes[name] = run_pipeline("--data", str(data), "--schema", str(BANK_SCHEMA), "--pipeline-root",
                                   str(root / "runs"), "--serving-dir", str(root / "serving"), "--run-id", "bad",
                                   *flags)
        steps = storage.read_json(root / "runs" / "bad" / "manifest.json")["steps"]
        assert steps["validate"]["status"] == "failed"
        assert {steps[s]["status"] for s in ("split", "train", "evaluate", "push")} == {"pending"}
        errors[name] = steps["validate"]["error"].replace(str(root), "<root>")
    assert codes == {"containers": 4, "in_process": 4}
    assert errors["containers"] == errors["in_process"]
    assert "smarch" in errors["containers"] and str(data) in errors["containers"]
    assert not (tmp_path / "containers" / "serving").exists()
    assert "smarch" in capsys.readouterr().err


@pytest.mark.docker
def test_a_container_killed_at_its_memory_limit_is_an_infrastructure_failure(tmp_path, images, capsys):
    """A memory limit far below what TFDV and TensorFlow need to load: the kernel kills the container."""
    code = run_pipeline("--containers", "--container-memory", "200m", "--pipeline-root", str(tmp_path / "runs"),
                        "--serving-dir", str(tmp_path / "serving"), "--run-id", "small")
    assert code == 75
    validate = storage.read_json(tmp_path / "runs" / "small" / "manifest.json")["steps"]["validate"]
    assert validate["exit_code"] == 75
    assert "ran out of memory (killed at its limit of 200m): raise --container-memory" in validate["error"]
    assert "ran out of memory" in capsys.readouterr().err


def test_container_limits_are_checked_when_given():
    from components.core.errors import UsageError
    from components.runners.docker import DockerOptions

    with pytest.raises(UsageError, match="--container-memory '4 GB' is not a size"):
        DockerOptions(memory="4 GB")
    with pytest.raises(UsageError, match="--container-pids 10 is too low"):
        DockerOptions(pids=10)


@pytest.mark.docker
def test_a_missing_image_is_a_usage_error_naming_make_images(tmp_path, client, capsys):
    code = run_pipeline("--containers", "--image-tag", "no-such-tag", "--pipeline-root", str(tmp_path / "runs"),
                        "--serving-dir", str(tmp_path / "serving"))
    assert code == 2
    assert "bankpipe-data:no-such-tag is not built: run `make images`" in capsys.readouterr().err


def test_no_engine_is_an_infrastructure_error_saying_how_to_start_one(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    code = run_pipeline("--containers", "--pipeline-root", str(tmp_path / "runs"))
    assert code == 75
    assert "no Docker engine answers" in capsys.readouterr().err


def test_workers_do_not_combine_with_containers(tmp_path, capsys):
    assert run_pipeline("--containers", "--workers", "2", "--pipeline-root", str(tmp_path / "runs")) == 2
    assert "--workers 2 does not combine with --containers" in capsys.readouterr().err


def test_paths_map_to_mounts_and_back(tmp_path):
    paths = docker_runner.PathMap(docker_runner.mount_input)
    paths.mount(tmp_path / "runs" / "r1", docker_runner.ARTIFACTS / "run", read_only=True)
    paths.mount(tmp_path / "runs" / "r1" / "split", docker_runner.ARTIFACTS / "run" / "split", read_only=False)
    assert paths.to_target(tmp_path / "runs" / "r1" / "split" / "x", "out") == "/artifacts/run/split/x"
    assert paths.to_target(tmp_path / "data.csv", "data") == "/artifacts/inputs/data/data.csv"
    message = "bad rows in /artifacts/inputs/data/data.csv; see /artifacts/run/validate/anomalies.txt"
    assert paths.to_host(message) == (f"bad rows in {tmp_path}/data.csv; see "
                                      f"{tmp_path}/runs/r1/validate/anomalies.txt")
    assert paths.to_host({"a": ["/artifacts/runs"]}) == {"a": ["/artifacts/runs"]}  # not a mount: unchanged




@pytest.mark.docker
def test_sigterm_stops_the_run_and_removes_the_running_container(tmp_path, client, images):
    run_id = f"term-{os.getpid()}"
    proc = subprocess.Popen([sys.executable, str(ROOT / "pipeline.py"), "--containers", "--pipeline-root",
                             str(tmp_path / "runs"), "--serving-dir", str(tmp_path / "serving"), "--run-id", run_id],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    label = {"label": [f"{release.LABEL_RUN}={run_id}", f"{release.LABEL_STEP}=train"]}
    deadline = time.monotonic() + 120
    while not client.containers.list(filters=label) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.5)
    if not client.containers.list(filters=label):
        proc.kill()
        pytest.fail(f"the train container never started: {proc.communicate()[1][-2000:]}")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 75 and "interrupted (SIGTERM) during train" in err
    assert not client.containers.list(all=True, filters={"label": f"{release.LABEL_RUN}={run_id}"})
    assert (tmp_path / "runs" / run_id / "train").stat().st_uid == os.getuid()  # lent folders given back


class FakeImage:
    def __init__(self, digest):
        self.labels = {release.CODE_LABEL: digest}


def test_a_stale_image_is_refused_unless_its_tag_was_chosen(caplog):
    with pytest.raises(docker_runner.UsageError, match="run `make images`"):
        docker_runner.check_code("bankpipe-data:0.1.0", FakeImage("0123456789abcdef"), explicit_tag=False)
    docker_runner.check_code("bankpipe-data:old", FakeImage("0123456789abcdef"), explicit_tag=True)
    assert "built from other code" in caplog.text
    docker_runner.check_code("bankpipe-data:0.1.0", FakeImage(release.code_digest()), explicit_tag=False)


def test_the_pipeline_in_containers_on_the_store_pushes_a_blessed_model(tmp_path, images, bank_frame, bucket,
                                                                        monkeypatch, server_settings):
    """Runs, models and data on the real S3 server: the containers see the host's scratch mirror of the store,
    and what they wrote is on the store afterwards, with no credential in any container's environment."""
    from components.storage.objectstore import Store, Uri

    monkeypatch.chdir(tmp_path)
    sample_bank(bank_frame, 2000).to_csv(tmp_path / "clients.csv", index=False)
    assert run_pipeline("--runner=local", "--containers", "--run-id", "c1", "--data", "clients.csv", "--epochs", "3",
                        "--pipeline-root", f"s3://{bucket}/runs", "--serving-dir", f"s3://{bucket}/serving") == 0
    local = json.loads((tmp_path / "runs" / "c1" / filenames.MANIFEST).read_text())
    assert local["steps"]["push"]["result"]["pushed_to"] == f"s3://{bucket}/serving/clients/1"
    published = Store().listing(Uri(bucket, "serving/clients/1"))
    assert filenames.SAVED_MODEL_PB in published and filenames.VERSION_DIGESTS in published
    assert server_settings["AWS_SECRET_ACCESS_KEY"] not in json.dumps(local)
