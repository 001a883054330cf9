"""components.runners.kubernetes.entry: TF_CONFIG from the completion index, lookups on the volume, the record line."""
from __future__ import annotations

import json
import os
import sys
import types

import pytest

from components.core import filenames, protocol
from components.registry import lookups
from components.runners.kubernetes import entry
from components.steps import evaluate, validate
from components.training import strategy


def test_tf_config_from_the_completion_index_spans_every_pod_with_worker_0_as_chief():
    configs = [entry.tf_config(i, 4, "bp-r1-train", "bp-r1-train", 2222) for i in range(4)]
    hosts = [f"bp-r1-train-{i}.bp-r1-train:2222" for i in range(4)]  # Indexed Job hostnames on the subdomain
    assert all(c["cluster"] == {"worker": hosts} for c in configs)
    assert [c["task"] for c in configs] == [{"type": "worker", "index": i} for i in range(4)]
    assert [strategy.is_chief(c) for c in configs] == [True, False, False, False]
    assert strategy.choose("auto", 0, 1, configs[2]).name == "multi_worker"
    with pytest.raises(ValueError, match="outside 0..3"):
        entry.tf_config(4, 4, "j", "s", 2222)


@pytest.fixture
def fake_component(monkeypatch):
    """A step module (validate's spec, a recording main) that stands in for a real step: these tests are
    about what the entry hands the step, not about the step."""
    seen = {}

    def main(argv):
        seen.update(argv=argv, tf_config=os.environ.get("TF_CONFIG"),
                    record_line=os.environ.get(protocol.RECORD_LINE_ENV))
        return 0

    monkeypatch.setitem(sys.modules, "components.fake_step", types.SimpleNamespace(main=main, SPEC=validate.SPEC))
    for name in ("TF_CONFIG", protocol.RECORD_LINE_ENV):  # set, then removed: monkeypatch restores "unset" afterwards
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    return seen


def test_entry_sets_tf_config_and_asks_the_step_for_its_record_line(fake_component, monkeypatch, tmp_path):
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "2")
    out = tmp_path / "runs" / "r1" / "train"
    code = entry.main(["--workers", "3", "--worker-job", "job", "--worker-service", "svc",
                           "components.fake_step", "--split", "s", "--output", str(out)])
    assert code == 0
    assert json.loads(fake_component["tf_config"]) == entry.tf_config(2, 3, "job", "svc", 2222)
    assert fake_component["argv"] == ["--split", "s", "--output", str(out)]
    assert fake_component["record_line"] == "1"


def test_lookup_inputs_are_found_on_the_volume_by_the_hosts_rules(fake_component, tmp_path):
    runs, serving = tmp_path / "runs", tmp_path / "serving"
    (serving / "bank" / "1").mkdir(parents=True)
    (serving / "bank" / "2").mkdir()
    for run in ("old", "failed", "new"):
        (runs / run / "validate").mkdir(parents=True)
        (runs / run / "validate" / filenames.STATS).write_bytes(b"")
    (runs / "old" / "validate" / filenames.VALIDATE_RESULT).write_text("{}")  # only "old" succeeded
    (runs / "new" / "validate" / filenames.VALIDATE_RESULT).write_text("{}")  # this run's own attempt: skipped
    where = ["--pipeline-root", str(runs), "--serving-dir", str(serving), "--run-id", "new", "--model-name", "bank"]
    assert entry.main([*where, "components.fake_step", "--output", str(runs / "new" / "validate")]) == 0
    argv = fake_component["argv"]
    assert argv[argv.index("--previous-statistics") + 1] == str(runs / "old" / "validate" / filenames.STATS)
    assert "--baseline-model" not in argv  # validate's spec has no such input
    found = entry.lookup_args(evaluate.SPEC, lookups.Where(runs, serving, "new", "bank"))
    assert found == ["--baseline-model", str(serving / "bank" / "2")]


def test_no_tf_config_for_a_single_worker_or_when_the_operator_set_one(fake_component, monkeypatch, tmp_path):
    entry.main(["components.fake_step", "--output", str(tmp_path / "a")])
    assert fake_component["tf_config"] is None
    monkeypatch.setenv("TF_CONFIG", '{"from": "operator"}')
    entry.main(["--workers", "2", "--worker-job", "j", "--worker-service", "s", "components.fake_step",
                    "--output", str(tmp_path / "b")])
    assert fake_component["tf_config"] == '{"from": "operator"}'
