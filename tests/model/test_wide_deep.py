"""The wide_deep family (components/model/wide_deep.py, components/data/feature_kinds.py) and the decision it serves."""
import logging

import numpy as np
import pytest

from components import storage
from components.config.sections import SplitConfig
from components.config.train import TrainConfig
from components.core import filenames
from components.data import feature_kinds
from components.model import decision
from components.steps import split, train
from tests.helpers import BANK_SCHEMA, sample_bank

FAST = dict(family="wide_deep", epochs=4, patience=4, histogram_freq=0, deep_units="16,8", reduce_lr_patience=1,
            learning_rate=0.01)


def schema_without(columns: set[str], path):
    from google.protobuf import text_format

    schema = storage.load_schema(BANK_SCHEMA)
    kept = [f for f in schema.feature if f.name not in columns]
    del schema.feature[:]
    schema.feature.extend(kept)
    path.write_text(text_format.MessageToString(schema))
    return path


def test_column_kinds_come_from_the_values_not_the_names():
    rng = np.random.default_rng(0)
    numeric = {"when": rng.integers(1, 32, 500).astype(float), "n": rng.geometric(0.3, 500).clip(1, 31) * 1.0}
    assert feature_kinds.day_column(numeric) == "when"
    assert feature_kinds.month_column({"m": np.array(["Jan", "feb ", "MARCH"] * 10), "x": np.array(["a"] * 30)}) == "m"
    codes = np.r_[np.full(300, -1.0), rng.exponential(100, 700)]
    kind = feature_kinds.numeric_kind("p", codes, (-1.0, 999.0))
    assert kind.sentinels == (-1.0,) and kind.log and kind.fill > 0
    assert feature_kinds.numeric_kind("q", np.r_[-1.0, rng.normal(0, 1, 999)], (-1.0,)).sentinels == ()  # inside


def test_wide_deep_serves_label_at_the_threshold_chosen_on_validation(tmp_path, bank_frame):
    import tensorflow as tf

    from components.model.decision import MIN_ROWS_PER_CLASS, choose_threshold

    data = tmp_path / "bank.csv"  # enough validation rows of each class for the rule to choose
    sample_bank(bank_frame, 24 * MIN_ROWS_PER_CLASS).to_csv(data, index=False)
    split_dir = tmp_path / "split"
    split.run(SplitConfig(), {"data": data, "schema": BANK_SCHEMA}, {"output": split_dir})
    train.run(TrainConfig.of(**FAST, ensemble=2), {"split": split_dir}, {"output": tmp_path / "t"})  # members too
    model = tmp_path / "t" / filenames.MODEL
    decision = storage.read_json(model / filenames.MODEL_COLUMNS)["decision"]
    assert decision["rule"] == "max_f1" and 0 < decision["threshold"] < 1
    saved = [name for name, _ in tf.train.list_variables(str(model / "variables" / "variables"))]
    assert saved and not any("optimizer" in name for name in saved)  # the weights, not the training state
    serve = tf.saved_model.load(str(model)).signatures["serving_default"]

    def outputs(name):
        rows = storage.load_npz(split_dir / name / filenames.NPZ_NAME)
        out = serve(**{n: tf.constant(rows[n]) for n in serve.structured_input_signature[1]})
        return rows["deposit"], out["positive_probability"].numpy(), out["label"].numpy()

    labels, scores, _ = outputs("validation")  # the threshold is the rule's choice on validation rows
    assert decision["threshold"] == pytest.approx(choose_threshold(labels, scores, "max_f1"), abs=1e-6)
    _, scores, decided = outputs("test")  # and the signature's label applies it
    assert (decided == (scores >= decision["threshold"])).all() and set(decided) <= {0, 1}


def test_too_few_validation_rows_keep_the_threshold_at_one_half(caplog):
    """Max F1 on a weak model's few positives picks 'everyone is positive': below the minimum, 0.5 stays."""
    from components.model.decision import MIN_ROWS_PER_CLASS, decide

    rng = np.random.default_rng(0)
    labels = np.r_[np.zeros(MIN_ROWS_PER_CLASS), np.ones(MIN_ROWS_PER_CLASS - 1)]
    scores = rng.uniform(0.2, 0.6, len(labels))  # a weak model: max F1 would take the lowest score
    with caplog.at_level("INFO"):
        assert decide(labels, scores, "max_f1", "0,0,0,1", False).threshold == 0.5
    assert "too few to choose one by max_f1" in caplog.text
    assert decide(np.r_[labels, 1.0], np.r_[scores, 0.3], "max_f1", "0,0,0,1", False).threshold < 0.5


def test_wide_deep_trains_on_a_csv_without_calendar_or_codes(tmp_path, small_bank_csv, caplog):
    import pandas as pd

    csv = tmp_path / "plain.csv"
    pd.read_csv(small_bank_csv).drop(columns=["month", "day", "pdays"]).to_csv(csv, index=False)
    schema = schema_without({"month", "day", "pdays"}, tmp_path / "schema.pbtxt")
    split.run(SplitConfig(), {"data": csv, "schema": schema}, {"output": tmp_path / "split"})
    with caplog.at_level(logging.DEBUG):
        result = train.run(TrainConfig.of(**FAST), {"split": tmp_path / "split"}, {"output": tmp_path / "t"})
    assert result["epochs_run"] >= 1 and (tmp_path / "t" / filenames.MODEL / "saved_model.pb").is_file()
    skipped = [r for r in caplog.records if "skipped" in r.getMessage()]
    # what the data lacks is said at debug level only: the defaults adapt to any data without noise
    for what in ("calendar features skipped", "sentinel flags skipped"):
        assert any(r.getMessage().startswith(what) for r in skipped), what
    assert all(r.levelno == logging.DEBUG for r in skipped) and "feature cross" not in caplog.text


def test_temperature_scaling_and_rules_on_validation_scores():

    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 2000)
    overconfident = 1 / (1 + np.exp(-(labels * 2 - 1 + rng.normal(0, 1.2, 2000)) * 4))
    temperature = decision.fit_temperature(labels, overconfident)
    assert temperature > 2  # spreads the logits back out
    scaled = decision.apply_temperature(overconfident, temperature)
    assert (np.diff(scaled[np.argsort(overconfident, kind="stable")]) >= 0).all()  # the same ranking
    strict = decision.choose_threshold(labels, overconfident, "precision>=0.95")
    assert strict > decision.choose_threshold(labels, overconfident, "recall>=0.95")
    cheap_misses = decision.choose_threshold(labels, overconfident, "profit", "0,-10,0,1")
    assert cheap_misses > decision.choose_threshold(labels, overconfident, "profit", "0,-1,-10,1")
    with pytest.raises(Exception, match="decision_rule"):
        TrainConfig.of(decision_rule="best")
    with pytest.raises(Exception, match="payoffs"):
        TrainConfig.of(payoffs="1,2")


def test_teacher_distils_lightgbm_at_training_time_only(tmp_path, small_bank_csv, caplog):
    split_dir = tmp_path / "split"
    split.run(SplitConfig(), {"data": small_bank_csv, "schema": BANK_SCHEMA}, {"output": split_dir})
    with caplog.at_level(logging.INFO):
        result = train.run(TrainConfig.of(**FAST, teacher="lightgbm"), {"split": split_dir}, {"output": tmp_path / "t"})
    assert "teacher: LightGBM, 5 folds" in caplog.text and result["teacher"] == "lightgbm"
    # accuracy on soft targets counts the rounded target: a 0.73 is a 1, not a miss
    assert all(epoch["accuracy"] > 0.6 for epoch in storage.read_json(tmp_path / "t" / filenames.HISTORY))
    model = tmp_path / "t" / filenames.MODEL
    assert not any("lightgbm" in p.name.lower() for p in model.rglob("*"))  # the served model is TensorFlow only


def test_teacher_needs_the_family_whose_loss_takes_soft_targets():
    with pytest.raises(Exception, match="family=wide_deep"):
        TrainConfig.of(family="mlp", teacher="lightgbm")
