import shutil

import pytest

from components import storage
from components.config.sections import PushConfig
from components.core import filenames
from components.core.errors import DataError, GateRefused
from components.evaluation import scoring
from components.registry import lookups
from components.steps import push
from tests.helpers import BANK_SCHEMA, run_pipeline

# Test metrics as evaluate writes them: 1,116 rows, 52.6% negatives.
GOOD = {"accuracy": 0.86, "auc": 0.92, "pr_auc": 0.90, "balanced_accuracy": 0.8597,
        "confusion_matrix": [[510, 78], [78, 450]]}


def metrics_file(candidate, baseline=None, comparison=None, positives=0.474) -> dict:
    return {"candidate": candidate, "baseline": baseline, "positive_rate": positives,
            "majority_rate": max(positives, 1 - positives), "deployed_version": None,
            "comparison": {"rows": 1116, "note": "", "candidate": comparison or candidate} if baseline else None}


def test_decide_checks_thresholds_the_majority_class_and_the_baseline():
    config = PushConfig(min_accuracy=0.8, min_auc=0.85, baseline_tolerance=0.01)
    assert all(c.passed for c in push.decide(metrics_file(GOOD), config))
    failed = [c.name for c in push.decide(metrics_file(dict(GOOD, accuracy=0.79)), config) if not c.passed]
    assert failed == ["accuracy"]
    worse = push.decide(metrics_file(GOOD, baseline={"accuracy": 0.88, "auc": 0.925}), config)
    assert [c.name for c in worse if not c.passed] == ["accuracy vs deployed (difference)"]  # 0.86 < 0.88 - 0.01
    auc = next(c for c in push.decide(metrics_file(GOOD), config) if c.name == "auc")
    assert auc.margin == pytest.approx(0.07)


def test_the_deployed_model_is_compared_on_the_comparison_rows_not_the_whole_test_set():
    on_unseen = {"accuracy": 0.84, "auc": 0.90}
    checks = push.decide(metrics_file(GOOD, baseline={"accuracy": 0.85, "auc": 0.91}, comparison=on_unseen),
                         PushConfig())
    assert {c.name: c.value for c in checks}["accuracy vs deployed (difference)"] == pytest.approx(-0.01)
    assert not next(c for c in checks if c.name == "accuracy vs deployed (difference)").passed


def with_intervals(auc_difference: list[float]) -> dict:
    metrics = metrics_file(GOOD, baseline={"accuracy": 0.86, "auc": 0.9203})
    metrics["comparison"]["difference_intervals"] = {"accuracy": [-0.01, 0.01], "auc": auc_difference}
    return metrics


def test_the_gate_refuses_a_regression_the_data_shows_not_noise():
    """AUC 0.0003 below the deployed model, 95% interval of the difference [-0.0050, +0.0057]: noise."""
    noise = push.decide(with_intervals([-0.0050, 0.0057]), PushConfig())
    assert all(c.passed for c in noise), [c for c in noise if not c.passed]
    worse = push.decide(with_intervals([-0.0300, -0.0100]), PushConfig())
    assert [c.name for c in worse if not c.passed] == ["auc vs deployed (upper 95% bound of the difference)"]


def test_quality_cannot_slide_below_the_best_blessed_version_step_by_step():
    best = {"version": 1, "test_metrics": {"auc": 0.95}}
    sliding = dict(GOOD, intervals={"accuracy": [0.84, 0.88], "auc": [0.905, 0.935]})
    checks = push.decide(metrics_file(sliding), PushConfig(), best)
    assert [c.name for c in checks if not c.passed] == ["auc vs best version 1 (upper 95% bound)"]
    close = dict(GOOD, intervals={"accuracy": [0.84, 0.88], "auc": [0.905, 0.951]})
    assert all(c.passed for c in push.decide(metrics_file(close), PushConfig(), best))


def test_the_best_version_is_found_among_all_blessed_ones(tmp_path):
    for number, auc in ((1, 0.93), (2, 0.95), (3, 0.94)):
        storage.write_json(tmp_path / "bank" / str(number) / filenames.LINEAGE,
                           {"version": number, "test_metrics": {"auc": auc}})
    assert push.best_version(tmp_path, "bank")["version"] == 2
    assert push.best_version(tmp_path, "other") is None


def test_a_model_that_never_predicts_the_rare_class_is_refused():
    """1% positives: always 'no' scores accuracy 0.99 with precision and recall 0."""
    always_no = {"accuracy": 0.99, "auc": 0.90, "pr_auc": 0.05, "balanced_accuracy": 0.5,
                 "confusion_matrix": [[990, 0], [10, 0]]}
    checks = push.decide(metrics_file(always_no, positives=0.01), PushConfig())
    assert sorted(c.name for c in checks if not c.passed) == ["balanced accuracy"]


def test_a_ranking_no_better_than_chance_is_refused_and_a_good_one_on_rare_positives_passes():
    """11% positives: a max-F1 threshold gives up accuracy for recall (0.86 < the majority's 0.89), which is a
    good model's trade; a PR AUC at the positive share is what a random ranking scores."""
    rare = {"accuracy": 0.86, "auc": 0.93, "pr_auc": 0.61, "balanced_accuracy": 0.82,
            "confusion_matrix": [[3500, 500], [130, 370]]}
    assert all(c.passed for c in push.decide(metrics_file(rare, positives=0.11), PushConfig()))
    chance = dict(rare, pr_auc=0.11)
    failed = [c.name for c in push.decide(metrics_file(chance, positives=0.11), PushConfig()) if not c.passed]
    assert failed == ["PR AUC vs positive share"]


@pytest.fixture
def model(trained_small, tmp_path):
    """A copy of a real exported SavedModel (push loads what it publishes)."""
    copy = tmp_path / "model"
    shutil.copytree(trained_small[0] / "train" / filenames.MODEL, copy)
    return copy


def fake_run(tmp_path, model, candidate, baseline=None, run_info=None, **config):
    storage.write_json(tmp_path / "evaluate" / filenames.METRICS, metrics_file(candidate, baseline))
    return push.run(PushConfig(**config), {"model": model, "metrics": tmp_path / "evaluate", "run_info": run_info},
                    {"output": tmp_path / "push", "serving_dir": tmp_path / "serving"})


def another_model(model):
    """The same network with one more asset file: other model files, so not 'identical'."""
    storage.write_text(model / "assets.extra" / "note.txt", f"retrained {len(list(model.rglob('*')))}")
    return model


def test_blessed_models_get_increasing_versions_with_their_lineage(tmp_path, model):
    info = tmp_path / "run.json"
    storage.write_json(info, {"run_id": "r7", "data_sha256": "ab" * 32})
    first = fake_run(tmp_path, model, GOOD, run_info=info)
    second = fake_run(tmp_path, another_model(model), GOOD, baseline=GOOD)
    assert first["pushed_to"].endswith("bank/1") and second["pushed_to"].endswith("bank/2")
    assert lookups.latest_version(tmp_path / "serving", "bank").name == "2"
    visible = sorted(p.name for p in (tmp_path / "serving" / "bank").iterdir() if not p.name.startswith(".push"))
    assert visible == ["1", "2"]  # no half-copied temporary directories left
    assert "BLESSED" in (tmp_path / "push" / filenames.GATE_TXT).read_text()
    lineage = storage.read_json(tmp_path / "serving" / "bank" / "1" / filenames.LINEAGE)
    assert lineage["run"]["run_id"] == "r7" and lineage["version"] == 1 and lineage["test_metrics"]["auc"] == 0.92
    assert {c["name"] for c in lineage["gate"]} >= {"accuracy", "auc", "balanced accuracy"}


def test_an_identical_model_is_not_pushed_again(tmp_path, model):
    fake_run(tmp_path, model, GOOD)
    again = fake_run(tmp_path, model, GOOD, baseline=GOOD)
    assert again["pushed_to"] is None and again["identical_to"].endswith("bank/1")
    assert lookups.versions(tmp_path / "serving" / "bank") == [1]


@pytest.mark.parametrize("damage", ["empty", "truncated"])
def test_an_empty_or_broken_model_is_refused_before_the_gate(tmp_path, model, damage):
    if damage == "empty":
        shutil.rmtree(model)
        model.mkdir()
    else:
        pb = model / "saved_model.pb"
        pb.write_bytes(pb.read_bytes()[:200])
    with pytest.raises(DataError, match=r"is not a loadable SavedModel|does not record its input columns") as caught:
        fake_run(tmp_path, model, GOOD)
    assert caught.value.exit_code == 3 and not (tmp_path / "serving").exists()


def test_refused_model_is_not_pushed_and_the_report_says_why(tmp_path, model):
    fake_run(tmp_path, model, GOOD)
    with pytest.raises(GateRefused, match=r"auc 0.8000 < 0.8500") as caught:
        fake_run(tmp_path, another_model(model), dict(GOOD, accuracy=0.9, auc=0.80))
    assert caught.value.exit_code == 6
    assert lookups.versions(tmp_path / "serving" / "bank") == [1]
    report = (tmp_path / "push" / filenames.GATE_TXT).read_text()
    assert "REFUSED" in report and "-0.0500" in report
    assert storage.read_json(tmp_path / "push" / filenames.GATE_JSON)["blessed"] is False


def test_a_failed_copy_leaves_no_version(tmp_path, model, monkeypatch):
    def broken_copy(src, dst, **kwargs):
        (dst / "partial").write_text("half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(shutil, "copytree", broken_copy)
    with pytest.raises(Exception, match="No space left"):
        fake_run(tmp_path, model, GOOD)
    assert lookups.versions(tmp_path / "serving" / "bank") == []
    assert [p.name for p in (tmp_path / "serving" / "bank").iterdir()] == [".push.lock"]


# ── Columns of any spelling, categories in any Unicode text: the bank data as CSVs in the wild have it ──
RENAMED = {"age": "client.age", "job": "job title", "marital": "état-civil", "education": "education/level",
           "default": "default[credit]", "balance": "emp.var.rate", "housing": "class", "loan": "1loan",
           "contact": "contact.type", "day": "call.day", "month": "call.month", "duration": "call duration",
           "campaign": "nr.employed", "pdays": "p-days", "previous": "cons.price.idx", "poutcome": "poutcome",
           "deposit": "deposit.y"}
UNICODE = {"job": {"technician": "técnico", "management": "gestión", "admin.": "行政"},
           "marital": {"single": "célibataire"}}
def renamed_bank(tmp_path, bank_frame):
    """The bank data and its curated schema with dotted, spaced, bracketed, keyword and non-ASCII column
    names and Unicode categories: the same rows, the same column order, the same split."""
    from google.protobuf import text_format

    frame = bank_frame.replace(UNICODE).rename(columns=RENAMED)
    frame.to_csv(tmp_path / "renamed.csv", index=False)
    schema = storage.load_schema(BANK_SCHEMA)
    for feature in schema.feature:
        feature.name = RENAMED[feature.name]
    for domain in schema.string_domain:
        values = [UNICODE.get(domain.name, {}).get(v, v) for v in domain.value]
        del domain.value[:]
        domain.value.extend(values)
    (tmp_path / "renamed.pbtxt").write_text(text_format.MessageToString(schema, as_utf8=True), encoding="utf-8")
    return tmp_path / "renamed.csv", tmp_path / "renamed.pbtxt", frame


def pushed_run(tmp_path, name, *flags):
    code = run_pipeline("--pipeline-root", str(tmp_path / "runs"), "--serving-dir", str(tmp_path / name),
                        "--run-id", name, "--epochs", "20", *flags)
    assert code == 0
    return storage.read_json(tmp_path / "runs" / name / "evaluate" / filenames.METRICS)["candidate"]


@pytest.mark.e2e
@pytest.mark.parametrize("fmt", ["npz", "tfrecord"])
def test_renamed_bank_data_with_unicode_categories_trains_pushes_and_scores_by_csv_name(tmp_path, bank_frame,
                                                                                        fmt):
    data, schema, frame = renamed_bank(tmp_path, bank_frame)
    original = pushed_run(tmp_path, "original", "--format", fmt)
    renamed = pushed_run(tmp_path, "renamed", "--format", fmt, "--data", str(data), "--schema", str(schema),
                         "--label", "deposit.y")  # the calendar's crosses are found under the new names
    assert abs(renamed["accuracy"] - original["accuracy"]) <= 0.005, (renamed, original)
    assert abs(renamed["auc"] - original["auc"]) <= 0.005
    model = tmp_path / "renamed" / "renamed" / "1"  # its own model, named after renamed.csv
    record = storage.read_json(model / filenames.MODEL_COLUMNS)
    assert record["inputs"]["emp.var.rate"] == "emp_var_rate" and record["inputs"]["class"] == "class_"
    assert record["inputs"]["état-civil"] == "etat_civil" and record["inputs"]["1loan"] == "c_1loan"
    scorer = scoring.Scorer(model, "the pushed model")
    assert set(scorer.wanted) == set(record["inputs"].values())  # the signature takes TensorFlow names
    rows = frame.sample(2000, random_state=1)
    probabilities = scorer({column: rows[column].to_numpy() for column in frame.columns}, batch_size=512)
    accuracy = ((probabilities >= 0.5) == (rows["deposit.y"] == "yes")).mean()
    assert accuracy > original["accuracy"] - 0.03  # rows by their CSV names score as well as the test split


@pytest.mark.parametrize("metrics, key", [({"accuracy": 0.9}, "candidate.auc"), ({"accuracy": 0.9, "auc": "high"},
                                                                                 "candidate.auc")])
def test_metrics_without_a_gate_number_name_the_key_and_push_nothing(tmp_path, model, metrics, key):
    with pytest.raises(DataError, match=rf"metrics.json has no number at {key}.*re-run evaluate") as caught:
        fake_run(tmp_path, model, metrics)
    assert caught.value.exit_code == 3 and not (tmp_path / "serving").exists()


def test_a_model_without_its_column_record_is_not_pushed(tmp_path, model):
    fake_run(tmp_path, model, GOOD)
    (model / filenames.MODEL_COLUMNS).unlink()
    with pytest.raises(DataError, match=r"does not record its input columns .*re-run train"):
        fake_run(tmp_path, model, GOOD)
    assert lookups.versions(tmp_path / "serving" / "bank") == [1]


def test_entries_that_are_not_ascii_version_numbers_are_ignored(tmp_path, model):
    for name in ("²", "٣", "1", "x7", "12"):
        (tmp_path / "serving" / "bank" / name).mkdir(parents=True)
    assert lookups.versions(tmp_path / "serving" / "bank") == [1, 12]
    assert fake_run(tmp_path, model, GOOD, model_name="bank")["pushed_to"].endswith("bank/13")
