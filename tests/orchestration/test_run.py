"""run_steps with a recording executor: order, skipping what is done, re-running downstream, the manifest.

The executor is a stand-in on purpose: these tests are about the loop around the steps, which no real
step could make fail, succeed or be skipped on demand in milliseconds.
"""
from __future__ import annotations

import dataclasses

import pytest

from components import storage
from components.config import sections
from components.config.overrides import with_overrides
from components.core import protocol
from components.core.errors import AnomaliesError, DataError, UsageError
from components.core.interface import OUTPUT, ComponentSpec, Input, Lookup, Output, Param, StepOutput
from components.orchestration import arguments, run_lock, state
from components.orchestration.run import run_steps


def spec(name: str, *upstream: str) -> ComponentSpec:
    return ComponentSpec(name, "", "data", tuple(Input(u, StepOutput(u), "") for u in upstream))


# The real step names, as run_steps takes each spec's config section by its name.
SPECS = (spec("validate"), spec("split", "validate"), spec("train", "split"), spec("evaluate", "train"),
         dataclasses.replace(spec("push", "evaluate"), outputs=(Output("serving_dir", Param("serving_dir"), ""),)))


class Recorder:
    """Records the steps it is asked to run; with `write`, each leaves a file (its name and config) in its
    output directory, as a real step leaves its artifacts."""

    def __init__(self, fail: dict[str, protocol.Record] | None = None, result: dict | None = None, write: bool = False):
        self.calls: list[str] = []
        self.fail, self.result, self.write = fail or {}, result or {"ok": 1}, write

    def __call__(self, step: ComponentSpec, config, inputs, outputs) -> protocol.Record:
        self.calls.append(step.name)
        assert outputs[OUTPUT].name == step.name and all(inputs[u] is not None for u in step.upstream)
        if self.write:
            storage.write_text(outputs[OUTPUT] / "made.txt", f"{step.name} {config}")
        return self.fail.get(step.name, protocol.Record(0, dict(self.result, step=step.name)))


def make_run(tmp_path, run_id="r1", data=None, **overrides) -> state.Run:
    config = with_overrides(sections.PipelineConfig(), overrides)
    return state.Run(run_id, tmp_path / "runs" / run_id, config, {"data": data, "serving_dir": tmp_path / "serving"})


def test_a_step_whose_files_were_damaged_is_recomputed_with_everything_that_read_them(tmp_path):
    run_steps(make_run(tmp_path), Recorder(write=True), "test", specs=SPECS)
    (tmp_path / "runs" / "r1" / "split" / "made.txt").write_text("trunc")
    again = Recorder(write=True)
    run_steps(make_run(tmp_path), again, "test", specs=SPECS)
    # split rewrites the same bytes, so what read them keeps its key: only split itself runs again
    assert again.calls == ["split"]
    (tmp_path / "runs" / "r1" / "train" / "made.txt").unlink()
    run_steps(make_run(tmp_path, **{"train.epochs": 3}), again, "test", specs=SPECS)
    assert again.calls == ["split", "train", "evaluate"]  # evaluate wrote what it wrote before: push is kept


def test_another_run_with_the_same_inputs_reuses_each_step_and_says_from_which_run(tmp_path):
    run_steps(make_run(tmp_path), Recorder(write=True), "test", specs=SPECS)
    second = Recorder(write=True)
    manifest = run_steps(make_run(tmp_path, "r2", **{"train.epochs": 3}), second, "test", specs=SPECS)
    assert second.calls == ["train", "evaluate", "push"]
    assert [manifest["steps"][s]["status"] for s in ("validate", "split")] == ["cached", "cached"]
    assert manifest["steps"]["split"]["cached_from"] == "r1"
    assert (tmp_path / "runs" / "r2" / "split" / "made.txt").read_text().startswith("split ")
    uncached = Recorder(write=True)
    run_steps(make_run(tmp_path, "r3"), uncached, "test", specs=SPECS, use_cache=False)
    assert uncached.calls == ["validate", "split", "train", "evaluate", "push"]


def test_a_damaged_step_of_another_run_is_not_reused(tmp_path):
    run_steps(make_run(tmp_path), Recorder(write=True), "test", specs=SPECS)
    (tmp_path / "runs" / "r1" / "validate" / "made.txt").write_text("changed")
    second = Recorder(write=True)
    run_steps(make_run(tmp_path, "r2"), second, "test", specs=SPECS)
    assert second.calls[0] == "validate"


def test_a_second_process_with_the_same_run_id_stops_at_once(tmp_path):
    run = make_run(tmp_path)
    with run_lock.run_lock(run.run_dir):
        execute = Recorder()
        with pytest.raises(UsageError, match=r"run 'r1' is running in another process \(pid \d+"):
            run_steps(make_run(tmp_path), execute, "test", specs=SPECS)
    assert execute.calls == []
    run_steps(make_run(tmp_path), execute, "test", specs=SPECS)  # released: the run goes on


def test_a_continued_run_records_the_data_it_was_continued_with(tmp_path):
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text("x,y\n1,yes\n")
    second.write_text("x,y\n2,no\n")
    run_steps(make_run(tmp_path, data=first), Recorder(write=True), "test", specs=SPECS)
    manifest = run_steps(make_run(tmp_path, data=second), Recorder(write=True), "test", specs=SPECS)
    assert manifest["data_sha256"] == storage.file_sha256(second) and manifest["params"]["data"] == str(second)


def test_every_step_runs_once_in_dag_order_and_the_manifest_records_it(tmp_path):
    execute = Recorder()
    manifest = run_steps(make_run(tmp_path), execute, "test", specs=SPECS)
    assert execute.calls == ["validate", "split", "train", "evaluate", "push"]
    assert manifest["status"] == "succeeded"
    assert manifest["steps"]["train"]["result"] == {"ok": 1, "step": "train"}
    assert all(s["seconds"] >= 0 and s["key"] for s in manifest["steps"].values())


def test_a_continued_run_skips_finished_steps_with_the_same_key(tmp_path):
    run_steps(make_run(tmp_path), Recorder(), "test", specs=SPECS)
    again = Recorder()
    manifest = run_steps(make_run(tmp_path), again, "test", specs=SPECS)
    assert again.calls == [] and manifest["attempts"] == 2


def test_a_changed_config_reruns_that_step_and_everything_downstream(tmp_path):
    run_steps(make_run(tmp_path), Recorder(), "test", specs=SPECS)
    again = Recorder()
    run_steps(make_run(tmp_path, **{"train.epochs": 3}), again, "test", specs=SPECS)
    assert again.calls == ["train", "evaluate", "push"]


def test_a_failure_stops_the_run_records_the_error_and_raises_its_domain_error(tmp_path):
    bad = protocol.Record(4, None, "2 anomalies:\n  age: out of range")
    execute = Recorder(fail={"validate": bad})
    run = make_run(tmp_path)
    with pytest.raises(AnomaliesError, match="age: out of range"):
        run_steps(run, execute, "test", specs=SPECS)
    assert execute.calls == ["validate"]
    record = run.manifest["steps"]["validate"]
    assert (record["status"], record["exit_code"], record["error"]) == ("failed", 4, bad.error)
    assert run.manifest["status"] == "failed" and run.manifest["steps"]["split"]["status"] == "pending"
    fixed = Recorder()
    run_steps(make_run(tmp_path), fixed, "test", specs=SPECS)  # the failed step and the rest run
    assert fixed.calls == ["validate", "split", "train", "evaluate", "push"]


def test_a_bug_in_an_executor_is_recorded_as_exit_1_and_raised_as_it_is(tmp_path):
    def broken(step, config, inputs, outputs):
        raise ZeroDivisionError("division by zero")

    run = make_run(tmp_path)
    with pytest.raises(ZeroDivisionError):
        run_steps(run, broken, "test", specs=SPECS)
    assert run.manifest["steps"]["validate"]["exit_code"] == 1
    assert "ZeroDivisionError: division by zero" in run.manifest["steps"]["validate"]["error"]


def test_a_dry_run_never_counts_as_done(tmp_path):
    run_steps(make_run(tmp_path), Recorder(result={"dry_run": True}), "test", specs=SPECS)
    real = Recorder()
    run_steps(make_run(tmp_path), real, "test", specs=SPECS)
    assert real.calls == ["validate", "split", "train", "evaluate", "push"]


def test_inputs_resolve_params_step_outputs_and_lookups(tmp_path):
    found = []

    def find(where):
        found.append(where)
        return where.serving_dir / "bank" / "7"

    step = ComponentSpec("evaluate", "", "trainer", (Input("data", Param("data"), ""),
                                                      Input("model", StepOutput("train", "model"), ""),
                                                      Input("baseline", Lookup(find), "")))
    run = make_run(tmp_path)
    assert run.resolve(step.inputs[0].source) is None
    assert run.resolve(step.inputs[1].source) == run.run_dir / "train" / "model"
    assert run.resolve(step.inputs[2].source) == tmp_path / "serving" / "bank" / "7"
    assert found[0].run_id == "r1" and found[0].pipeline_root == run.run_dir.parent and found[0].model_name == "bank"


def test_cli_args_give_paths_then_every_config_value():
    args = arguments.cli_args(sections.SplitConfig(seed=7), {"data": "d.csv", "schema": None}, {OUTPUT: "out"})
    assert args[:4] == ["--data", "d.csv", "--output", "out"]
    assert args[args.index("--seed") + 1] == "7" and "--schema" not in args
    assert DataError  # the domain errors are what unwrap raises: see test_cli.py
