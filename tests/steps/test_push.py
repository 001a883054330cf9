import shutil

import pytest

from components import artifacts, lookups, storage
from components.steps import push
from components.config import PushConfig
from components.errors import GateRefused

GOOD = {"accuracy": 0.86, "auc": 0.92}


def test_decide_checks_thresholds_and_the_baseline():
    config = PushConfig(min_accuracy=0.8, min_auc=0.85, baseline_tolerance=0.01)
    assert all(c.passed for c in push.decide(GOOD, None, config))
    failed = [c.name for c in push.decide({"accuracy": 0.79, "auc": 0.92}, None, config) if not c.passed]
    assert failed == ["accuracy"]
    worse = [c.name for c in push.decide(GOOD, {"accuracy": 0.88, "auc": 0.925}, config) if not c.passed]
    assert worse == ["accuracy vs deployed"]  # 0.86 < 0.88 - 0.01; AUC within tolerance
    auc = next(c for c in push.decide(GOOD, None, config) if c.name == "auc")
    assert auc.margin == pytest.approx(0.07)


def fake_run(tmp_path, metrics, baseline=None, **config):
    model = tmp_path / "model"
    (model / "variables").mkdir(parents=True, exist_ok=True)
    (model / "saved_model.pb").write_bytes(b"model bytes")
    storage.write_json(tmp_path / "evaluate" / artifacts.METRICS, {"candidate": metrics, "baseline": baseline,
                                                              "deployed_version": None})
    return push.run(PushConfig(**config), {"model": model, "metrics": tmp_path / "evaluate"},
                    {"output": tmp_path / "push", "serving_dir": tmp_path / "serving"})


def test_blessed_models_get_increasing_versions(tmp_path):
    first = fake_run(tmp_path, GOOD)
    second = fake_run(tmp_path, GOOD, baseline=GOOD)
    assert first["pushed_to"].endswith("bank/1") and second["pushed_to"].endswith("bank/2")
    assert (tmp_path / "serving" / "bank" / "2" / "saved_model.pb").read_bytes() == b"model bytes"
    assert lookups.latest_version(tmp_path / "serving", "bank").name == "2"
    visible = sorted(p.name for p in (tmp_path / "serving" / "bank").iterdir() if not p.name.startswith(".push"))
    assert visible == ["1", "2"]  # no half-copied temporary directories left
    assert "BLESSED" in (tmp_path / "push" / artifacts.GATE_TXT).read_text()


def test_refused_model_is_not_pushed_and_the_report_says_why(tmp_path):
    fake_run(tmp_path, GOOD)
    with pytest.raises(GateRefused, match=r"auc 0.8000 < 0.8500") as caught:
        fake_run(tmp_path, {"accuracy": 0.9, "auc": 0.80})
    assert caught.value.exit_code == 6
    assert lookups.versions(tmp_path / "serving" / "bank") == [1]
    report = (tmp_path / "push" / artifacts.GATE_TXT).read_text()
    assert "REFUSED" in report and "-0.0500" in report
    assert storage.read_json(tmp_path / "push" / artifacts.GATE_JSON)["blessed"] is False


def test_a_failed_copy_leaves_no_version(tmp_path, monkeypatch):
    def broken_copy(src, dst, **kwargs):
        (dst / "partial").write_text("half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(shutil, "copytree", broken_copy)
    with pytest.raises(Exception, match="No space left"):
        fake_run(tmp_path, GOOD)
    assert lookups.versions(tmp_path / "serving" / "bank") == []
    assert [p.name for p in (tmp_path / "serving" / "bank").iterdir()] == [".push.lock"]
