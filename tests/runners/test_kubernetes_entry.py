"""components.runners.k8s_entry: TF_CONFIG from the completion index, cluster look-ups, the result line."""
from __future__ import annotations

import json
import os
import sys
import types

import pytest

from components import strategy
from components.runners import k8s_entry


def test_tf_config_from_the_completion_index_spans_every_pod_with_worker_0_as_chief():
    configs = [k8s_entry.tf_config(i, 4, "bp-r1-train", "bp-r1-train", 2222) for i in range(4)]
    hosts = [f"bp-r1-train-{i}.bp-r1-train:2222" for i in range(4)]  # Indexed Job hostnames on the subdomain
    assert all(c["cluster"] == {"worker": hosts} for c in configs)
    assert [c["task"] for c in configs] == [{"type": "worker", "index": i} for i in range(4)]
    assert [strategy.is_chief(c) for c in configs] == [True, False, False, False]
    assert strategy.choose("auto", 0, 1, configs[2]).name == "multi_worker"
    with pytest.raises(ValueError, match="outside 0..3"):
        k8s_entry.tf_config(4, 4, "j", "s", 2222)


@pytest.fixture
def fake_component(monkeypatch, tmp_path):
    """A component module that records the environment and args it was run with and writes result.json."""
    seen = {}

    def main(argv):
        seen.update(argv=argv, tf_config=os.environ.get("TF_CONFIG"))
        output = argv[argv.index("--output") + 1]
        os.makedirs(output, exist_ok=True)
        with open(os.path.join(output, "result.json"), "w") as f:
            json.dump({"ok": True}, f)
        return 0

    monkeypatch.setitem(sys.modules, "components.fake_step", types.SimpleNamespace(main=main))
    monkeypatch.delenv("TF_CONFIG", raising=False)
    return seen


def test_entry_sets_tf_config_runs_the_component_and_prints_its_result(fake_component, monkeypatch, tmp_path,
                                                                       capsys):
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "2")
    out = tmp_path / "runs" / "r1" / "train"
    code = k8s_entry.main(["--workers", "3", "--worker-job", "job", "--worker-service", "svc",
                           "components.fake_step", "--split", "s", "--output", str(out)])
    assert code == 0
    assert json.loads(fake_component["tf_config"]) == k8s_entry.tf_config(2, 3, "job", "svc", 2222)
    assert fake_component["argv"] == ["--split", "s", "--output", str(out)]
    assert capsys.readouterr().out.splitlines()[-1] == k8s_entry.RESULT_MARKER + '{"ok":true}'
    os.environ.pop("TF_CONFIG", None)  # main set it in this process


def test_entry_finds_the_deployed_model_and_the_previous_runs_statistics(fake_component, tmp_path):
    serving, runs = tmp_path / "serving", tmp_path / "runs"
    (serving / "bank" / "1").mkdir(parents=True)
    (serving / "bank" / "2").mkdir()
    for run in ("old", "failed"):
        (runs / run / "validate").mkdir(parents=True)
        (runs / run / "validate" / "stats.pb").write_bytes(b"")
    (runs / "old" / "validate" / "result.json").write_text("{}")  # only "old" succeeded
    assert k8s_entry.main(["--baseline-from", str(serving / "bank"), "--previous-stats-from", str(runs),
                           "components.fake_step", "--output", str(runs / "new" / "validate")]) == 0
    argv = fake_component["argv"]
    assert argv[argv.index("--previous-statistics") + 1] == str(runs / "old" / "validate" / "stats.pb")
    assert argv[argv.index("--baseline-model") + 1] == str(serving / "bank" / "2")


def test_no_tf_config_for_a_single_worker_or_when_the_operator_set_one(fake_component, monkeypatch, tmp_path):
    k8s_entry.main(["components.fake_step", "--output", str(tmp_path / "a")])
    assert fake_component["tf_config"] is None
    monkeypatch.setenv("TF_CONFIG", '{"from": "operator"}')
    k8s_entry.main(["--workers", "2", "--worker-job", "j", "--worker-service", "s", "components.fake_step",
                    "--output", str(tmp_path / "b")])
    assert fake_component["tf_config"] == '{"from": "operator"}'
