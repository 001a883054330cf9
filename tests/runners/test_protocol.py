"""One protocol for every runner: the same failing step gives the same record (exit code and whole message)
in process, as worker processes and in a container, and so the same manifest error.

The step is the real trainer on a real split of the bank data whose features.json is damaged (a file a
killed writer or a disk error can leave), which each runner must report as exit 3 naming the file.
"""
from __future__ import annotations

import shutil

import pytest

from components import artifacts, cli, config as config_lib, storage
from components.runners import common, local
from components.spec import OUTPUT, ComponentSpec, Input, Param
from components.steps import train
from tests.runners.test_docker import client, images  # noqa: F401  (fixtures: the engine and the images)


@pytest.fixture
def damaged_run(tmp_path, trained_small):
    _, split_dir, _ = trained_small
    run = common.Run("r1", tmp_path / "runs" / "r1", config_lib.PipelineConfig(),
                     {"data": None, "schema": None, "serving_dir": tmp_path / "serving"})
    shutil.copytree(split_dir, run.output_dir("split"))
    (run.output_dir("split") / artifacts.FEATURES).write_text('{"label": "deposit", "numeric": [')
    return run


def executor(name: str, run: common.Run):
    if name == "in_process":
        return local.in_process
    if name == "workers":
        return local.with_workers(local.in_process, 2)
    from components.runners import docker

    return docker.executor(docker.DockerOptions(), run)


RUNNERS = ["in_process", "workers", pytest.param("containers", marks=pytest.mark.docker)]


@pytest.mark.parametrize("runner", RUNNERS)
def test_a_failing_step_gives_the_same_record_and_manifest_error_under_every_runner(runner, damaged_run, request):
    if runner == "containers":
        request.getfixturevalue("images")
    run = damaged_run
    config = config_lib.with_overrides(run.config, {"train.epochs": 1}).train
    inputs, outputs = {"split": run.output_dir("split")}, {OUTPUT: run.output_dir("train")}
    record = executor(runner, run)(train.SPEC, config, inputs, outputs)
    features = run.output_dir("split") / artifacts.FEATURES
    assert record.exit_code == 3 and record.result is None
    assert record.error.startswith(f"{features} is not valid JSON (")
    assert record.error.endswith("delete it and re-run its component.")
    # ...and what every runner leaves behind is the same error record, and the same manifest entry
    assert cli.Record(**{"result": None, **_error_file(run)}) == record
    with pytest.raises(Exception) as raised:
        common.run_steps(run, lambda *a: record, runner, specs=_train_only())
    assert run.manifest["steps"]["train"]["error"] == record.error and raised.value.exit_code == 3


def _error_file(run):
    return storage.read_json(run.output_dir("train") / artifacts.ERROR)


def _train_only():
    """The train spec alone, its split taken as given (run_steps needs upstream steps in the DAG)."""
    return (ComponentSpec("train", train.SPEC.description, "trainer",
                          (Input("split", Param("split_dir"), "the split"),), distributed=True),)
