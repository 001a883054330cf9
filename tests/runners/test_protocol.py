"""One protocol for every runner: the same failing step gives the same record (exit code and whole message)
in process, as worker processes, in a container and as a Job on a real cluster, and so the same manifest error.

The step is the real trainer on a real split of the bank data whose features.json is damaged (a file a
killed writer or a disk error can leave), which each runner must report as exit 3 naming the file.
"""
from __future__ import annotations

import shutil
import time

import pytest

from components import storage
from components.config import overrides, sections
from components.core import filenames, protocol
from components.core.interface import OUTPUT, ComponentSpec, Input, Param
from components.orchestration import state
from components.orchestration.run import run_steps
from components.runners import local
from components.steps import train
from tests.runners.kubernetes.test_kubernetes_cluster import KUBECONFIG, cluster  # noqa: F401  (fixture: the real cluster)
from tests.runners.test_docker import client, images  # noqa: F401  (fixtures: the engine and the images)


@pytest.fixture
def damaged_run(tmp_path, trained_small):
    _, split_dir, _ = trained_small
    run = state.Run("r1", tmp_path / "runs" / "r1", sections.PipelineConfig(),
                     {"data": None, "schema": None, "serving_dir": tmp_path / "serving"})
    shutil.copytree(split_dir, run.output_dir("split"))
    (run.output_dir("split") / filenames.FEATURES).write_text('{"label": "deposit", "numeric": [')
    return run


def executor(name: str, run: state.Run):
    if name == "in_process":
        return local.in_process
    if name == "workers":
        return local.with_workers(local.in_process, 2)
    if name == "kubernetes":
        from components.runners.kubernetes import render, runner

        settings = render.Settings(cpu_request="250m", memory_request="512Mi")
        return runner.executor(runner.KubernetesOptions(settings, kubeconfig=str(KUBECONFIG),
                                                                poll_seconds=1), run)
    from components.runners import docker

    return docker.executor(docker.DockerOptions(), run)


RUNNERS = ["in_process", "workers", pytest.param("containers", marks=pytest.mark.docker),
           pytest.param("kubernetes", marks=[pytest.mark.cluster, pytest.mark.e2e])]


@pytest.mark.parametrize("runner", RUNNERS)
def test_a_failing_step_gives_the_same_record_and_manifest_error_under_every_runner(runner, damaged_run, request):
    run, volume_split = damaged_run, None
    if runner == "containers":
        request.getfixturevalue("images")
    if runner == "kubernetes":  # the pod reads the split from the artifacts volume, under the same run id
        run.run_id = f"protocol-{int(time.time() * 1000) % 10**9}"
        volume_split = request.getfixturevalue("cluster").volume() / "runs" / run.run_id / "split"
        shutil.copytree(run.output_dir("split"), volume_split)
        run.run_dir = run.run_dir.parent / run.run_id
        shutil.copytree(volume_split, run.output_dir("split"))
    config = overrides.with_overrides(run.config, {"train.epochs": 1}).train
    inputs, outputs = {"split": run.output_dir("split")}, {OUTPUT: run.output_dir("train")}
    record = executor(runner, run)(train.SPEC, config, inputs, outputs)
    features = run.output_dir("split") / filenames.FEATURES
    assert record.exit_code == 3 and record.result is None
    assert record.error.startswith(f"{features} is not valid JSON (")
    assert record.error.endswith("delete it and re-run its component.")
    # ...and what every runner leaves behind is the same error record (a container's or pod's names the paths
    # it saw: the run folder at /artifacts/run, the volume's runs at /artifacts/runs), and the same manifest entry
    if runner == "kubernetes":
        written = storage.read_json(volume_split.parent / "train" / filenames.ERROR)
        written["error"] = written["error"].replace("/artifacts/runs", str(run.run_dir.parent))
    else:
        written = storage.read_json(run.output_dir("train") / filenames.ERROR)
        written["error"] = written["error"].replace("/artifacts/run/", f"{run.run_dir}/")
    assert protocol.Record(**{"result": None, **written}) == record
    with pytest.raises(Exception) as raised:
        run_steps(run, lambda *a: record, runner, specs=_train_only())
    assert run.manifest["steps"]["train"]["error"] == record.error and raised.value.exit_code == 3


def _train_only():
    """The train spec alone, its split taken as given (run_steps needs upstream steps in the DAG)."""
    return (ComponentSpec("train", train.SPEC.description, "trainer",
                          (Input("split", Param("split_dir"), "the split"),), distributed=True),)
