import numpy as np
import pytest
from sklearn import metrics as sk

from components import storage
from components.config.sections import EvaluateConfig
from components.core import filenames
from components.core.errors import DataError
from components.evaluation.metrics import binary_metrics, roc_auc
from components.steps import evaluate
from tests.tensorboard_events import tags_by_run


def test_metrics_agree_with_scikit_learn():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 500)
    scores = np.clip(labels * 0.3 + rng.random(500) * 0.7, 0, 1).round(2)  # with ties
    ours = binary_metrics(labels, scores)
    predicted = (scores >= 0.5).astype(int)
    assert ours["auc"] == pytest.approx(sk.roc_auc_score(labels, scores))
    assert ours["accuracy"] == pytest.approx(sk.accuracy_score(labels, predicted))
    assert ours["precision"] == pytest.approx(sk.precision_score(labels, predicted))
    assert ours["recall"] == pytest.approx(sk.recall_score(labels, predicted))
    assert ours["f1"] == pytest.approx(sk.f1_score(labels, predicted))
    assert ours["loss"] == pytest.approx(sk.log_loss(labels, np.clip(scores, 1e-7, 1 - 1e-7)))
    assert ours["confusion_matrix"] == sk.confusion_matrix(labels, predicted).tolist()
    assert ours["pr_auc"] == pytest.approx(sk.average_precision_score(labels, scores))
    assert ours["balanced_accuracy"] == pytest.approx(sk.balanced_accuracy_score(labels, predicted))
    assert np.isnan(roc_auc(np.ones(3), np.ones(3)))


def run_evaluate(trained, out, baseline=None):
    root, split_dir, _ = trained
    return evaluate.run(EvaluateConfig(), {"model": root / "train" / filenames.MODEL, "split": split_dir,
                                           "baseline_model": baseline}, {"output": out})


def test_evaluate_scores_the_saved_model_and_writes_plots(trained_small, tmp_path):
    summary = run_evaluate(trained_small, tmp_path)
    candidate = summary["candidate"]
    assert summary["baseline"] is None and summary["test_rows"] == 200 == candidate["examples"]
    assert 0.6 < candidate["accuracy"] <= 1 and 0.6 < candidate["auc"] <= 1
    assert sum(map(sum, candidate["confusion_matrix"])) == 200
    assert storage.read_json(tmp_path / filenames.METRICS) == summary
    for name in filenames.PLOTS:
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    tags = set().union(*tags_by_run(tmp_path / filenames.LOGS).values())
    assert {"test/accuracy", "test/auc", "test/roc", "test/confusion_matrix"} <= tags


def test_evaluate_decides_at_the_models_threshold_and_reports_calibration(trained_small, tmp_path):
    root, _, _ = trained_small
    summary = run_evaluate(trained_small, tmp_path)
    recorded = storage.read_json(root / "train" / filenames.MODEL / filenames.MODEL_COLUMNS)["decision"]
    candidate, at_half = summary["candidate"], summary["candidate_at_0.5"]
    assert candidate["threshold"] == recorded["threshold"] and candidate["decision"] == recorded
    assert at_half["threshold"] == 0.5 and at_half["auc"] == candidate["auc"]
    assert 0 < candidate["brier"] < 0.25 and candidate["brier"] == at_half["brier"]
    calibration = summary["calibration"]
    assert sum(calibration["rows"]) == 200 and 0 <= calibration["ece"] < 0.5
    assert (tmp_path / "calibration.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # the reliability diagram


def test_baseline_is_scored_too(trained_small, tmp_path):
    root, _, _ = trained_small
    summary = run_evaluate(trained_small, tmp_path, baseline=root / "train" / filenames.MODEL)
    assert summary["baseline"]["accuracy"] == pytest.approx(summary["candidate"]["accuracy"])


def test_corrupt_baseline_is_named(trained_small, tmp_path):
    broken = tmp_path / "serving" / "bank" / "3"
    broken.mkdir(parents=True)
    (broken / "saved_model.pb").write_bytes(b"not a protobuf")
    with pytest.raises(DataError, match=r"deployed model at .*/3 is not a loadable SavedModel"):
        run_evaluate(trained_small, tmp_path / "out", baseline=broken)


def test_a_column_whose_type_changed_since_the_deployed_model_is_named(trained_small, tmp_path, bank_frame):
    """`age` arrives as text ("a41") while the deployed model was trained on it as a number: a clear error
    naming the column, not a crash while scoring."""
    from components.config.sections import SplitConfig, ValidateConfig
    from components.config.train import TrainConfig
    from components.steps import split, train, validate
    from tests.helpers import sample_bank

    frame = sample_bank(bank_frame, 600)
    frame["age"] = "a" + frame["age"].astype(str)
    frame.to_csv(tmp_path / "text_age.csv", index=False)
    validate.run(ValidateConfig(), {"data": tmp_path / "text_age.csv", "schema": None}, {"output": tmp_path / "v"})
    split.run(SplitConfig(), {"data": tmp_path / "text_age.csv", "schema": tmp_path / "v" / filenames.SCHEMA},
              {"output": tmp_path / "s"})
    train.run(TrainConfig.of(epochs=3, learning_rate=0.01), {"split": tmp_path / "s"}, {"output": tmp_path / "train"})
    deployed = trained_small[0] / "train" / filenames.MODEL
    with pytest.raises(DataError, match=r"column 'age' is text in the data but the deployed model .* as numbers"):
        run_evaluate((tmp_path, tmp_path / "s", None), tmp_path / "out", baseline=deployed)


def test_candidate_and_deployed_are_plotted_on_the_same_rows(trained_small, tmp_path, caplog):
    """The deployed model trained on 120 of the 200 test rows: both curves are drawn on the other 80."""
    import logging
    import shutil

    from components.data.features import FeatureSet
    from components.storage import datasets, seen_rows

    root, split_dir, _ = trained_small
    deployed = tmp_path / "deployed"
    shutil.copytree(root / "train" / filenames.MODEL, deployed)
    spec = FeatureSet.from_dict(storage.read_json(split_dir / filenames.FEATURES))
    features, _ = datasets.to_numpy(datasets.raw_batches(split_dir, "test", spec, 1000),
                                    filenames.split_path(split_dir, "test"))
    seen_rows.save(deployed / filenames.SEEN_ROWS, seen_rows.hashes({k: v[:120] for k, v in features.items()}))
    caplog.set_level(logging.INFO)
    summary = run_evaluate(trained_small, tmp_path / "out", baseline=deployed)
    assert summary["comparison"]["rows"] == 80 == summary["plotted_rows"]
    assert "on the same 80 test rows: candidate" in caplog.text
