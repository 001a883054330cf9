import pytest

from components import storage
from components.config.sections import SplitConfig
from components.config.train import TrainConfig
from components.core import filenames
from components.steps import split, train
from components.training import inputs as input_lib
from components.training import loop
from tests.helpers import BANK_SCHEMA
from tests.tensorboard_events import tags_by_run


def make_split(tmp_path, csv, fmt):
    out = tmp_path / f"split-{fmt}"
    split.run(SplitConfig(format=fmt, shards=2), {"data": csv, "schema": BANK_SCHEMA}, {"output": out})
    return out


@pytest.fixture
def trained(trained_small):
    return trained_small


def test_training_writes_model_history_and_result(trained):
    root, _, result = trained
    assert result["strategy"] == "one_device" and result["replicas"] == 1 and result["epochs_run"] == 4
    history = storage.read_json(root / "train" / filenames.HISTORY)
    assert [e["epoch"] for e in history] == [1, 2, 3, 4]
    assert history[-1]["loss"] < history[0]["loss"]
    assert {"val_loss", "val_accuracy", "learning_rate"} <= set(history[0])
    assert (root / "train" / filenames.MODEL / "saved_model.pb").is_file()


def test_saved_model_signature_takes_raw_columns(trained):
    import numpy as np
    import tensorflow as tf

    root, _, _ = trained
    serve = tf.saved_model.load(str(root / "train" / filenames.MODEL)).signatures["serving_default"]
    inputs = serve.structured_input_signature[1]
    assert inputs["job"].dtype == tf.string and inputs["age"].dtype == tf.float32
    assert "deposit" not in inputs
    row = {"age": [41.0], "job": ["technician"], "marital": ["married"], "education": ["secondary"],
           "default": ["no"], "balance": [1200.0], "housing": ["yes"], "loan": ["no"], "contact": ["cellular"],
           "day": [5.0], "month": ["may"], "duration": [900.0], "campaign": [1.0], "pdays": [-1.0],
           "previous": [0.0], "poutcome": ["unknown"]}
    out = serve(**{k: tf.constant(v) for k, v in row.items()})
    probabilities = out["probabilities"].numpy()
    assert probabilities.shape == (1, 2) and np.isclose(probabilities.sum(), 1, atol=1e-5)
    # A category never seen in training goes to the out-of-vocabulary slot instead of failing.
    out = serve(**{k: tf.constant(v) for k, v in dict(row, job=["astronaut"]).items()})
    assert out["probabilities"].shape == (1, 2)


def test_tensorboard_has_train_and_validation_scalars_histograms_graph_and_hparams(trained):
    root, _, _ = trained
    tags = tags_by_run(root / "train" / filenames.LOGS)
    assert {"epoch_loss", "epoch_accuracy", "epoch_learning_rate"} <= tags["train"]
    assert {"epoch_loss", "epoch_accuracy"} <= tags["validation"]
    assert any(tag.endswith("kernel_0") or "kernel" in tag for tag in tags["train"])  # weight histograms
    assert "__graph__" in tags["train"]
    # The trial's session sits at the log root, above train/ and validation/, so HParams links their scalars;
    # the experiment (its columns) is declared once per pipeline root, not by each trial.
    assert {"_hparams_/session_start_info", "_hparams_/session_end_info"} <= tags["."]
    assert "_hparams_/experiment" not in tags["."]
    assert "hparams" not in tags


def test_training_from_tfrecord_shards(tmp_path, small_bank_csv):
    split_dir = make_split(tmp_path, small_bank_csv, "tfrecord")
    result = train.run(TrainConfig.of(epochs=2, histogram_freq=0), {"split": split_dir}, {"output": tmp_path / "t"})
    assert result["epochs_run"] == 2
    assert (tmp_path / "t" / filenames.MODEL / "saved_model.pb").is_file()


def test_early_stopping_stops_before_the_epoch_limit(tmp_path, small_bank_csv):
    split_dir = make_split(tmp_path, small_bank_csv, "npz")
    config = TrainConfig.of(family="mlp", epochs=60, patience=1, learning_rate=0.05, histogram_freq=0)
    result = train.run(config, {"split": split_dir}, {"output": tmp_path / "t"})
    assert result["epochs_run"] < 60


@pytest.mark.parametrize("key, value", [("numeric_bins", 1), ("numeric_bins", -1), ("ensemble", 0),
                                        ("ensemble", 65), ("weight_decay", -0.1), ("cache_rows", -1),
                                        ("crosses", "month"), ("crosses", "month**day"), ("crosses", "month*day/0"),
                                        ("crosses", "month*day/x"), ("checkpoint_secs", -1)])
def test_model_options_out_of_range_are_refused(key, value):
    from components.core.errors import UsageError

    with pytest.raises(UsageError, match=key):
        TrainConfig.of(**{key: value})


def test_bins_signed_log_and_ensemble_export_one_model_with_the_raw_signature(tmp_path, small_bank_csv):
    import numpy as np
    import tensorflow as tf

    split_dir = make_split(tmp_path, small_bank_csv, "npz")
    config = TrainConfig.of(epochs=2, histogram_freq=0, numeric_bins=8, signed_log=True, ensemble=3,
                         weight_decay=0.001, steps_per_execution=4)
    train.run(config, {"split": split_dir}, {"output": tmp_path / "t"})
    serve = tf.saved_model.load(str(tmp_path / "t" / filenames.MODEL)).signatures["serving_default"]
    rows = storage.load_npz(split_dir / "test" / filenames.NPZ_NAME)
    inputs = {name: tf.constant(rows[name]) for name in serve.structured_input_signature[1]}
    out = serve(**inputs)
    assert set(out) == {"probabilities", "positive_probability", "label"}
    assert np.allclose(out["probabilities"].numpy().sum(axis=1), 1, atol=1e-5)
    assert out["positive_probability"].numpy().std() > 0.01  # scores depend on the row


def test_preprocessor_bins_are_adapted_on_the_training_rows():
    import numpy as np

    from components.data.features import FeatureSet
    from components.model.preprocessing import Preprocessor

    spec = FeatureSet("y", ("x",), ("c",))
    pre = Preprocessor(spec, TrainConfig.of(numeric_bins=4, signed_log=True))
    pre.adapt({"x": np.arange(100, dtype=np.float32), "c": np.array(["a", "b"] * 50)})
    assert pre.width == 1 + 4 + 3  # normalized value, 4 bins, 2 categories + out-of-vocabulary
    matrix = pre({"x": np.array([0.0, 99.0], np.float32), "c": np.array(["a", "zzz"])}).numpy()
    assert matrix.shape == (2, pre.width)
    assert matrix[0, 1:5].argmax() == 0 and matrix[1, 1:5].argmax() == 3  # lowest and highest quantile


def test_in_memory_input_gives_the_streamed_batches(tmp_path, small_bank_csv):
    import numpy as np

    from components.data.features import FeatureSet
    from components.model.preprocessing import Preprocessor
    from components.storage import datasets

    split_dir = make_split(tmp_path, small_bank_csv, "npz")
    spec = FeatureSet.from_dict(storage.read_json(split_dir / filenames.FEATURES))
    pre = Preprocessor(spec)
    pre.adapt(storage.load_npz(split_dir / "train" / filenames.NPZ_NAME))
    cached = input_lib.shuffled_batches(*input_lib.in_memory_split(split_dir, "train", spec, pre), 64, shuffle_seed=3)
    streamed = datasets.raw_batches(split_dir, "train", spec, 64, shuffle_seed=3)
    for (x, y), (raw, label) in zip(cached.take(5), streamed.take(5)):
        assert np.array_equal(y.numpy(), label.numpy())
        assert np.allclose(x.numpy(), pre(raw).numpy())


@pytest.mark.parametrize("every, per_execution, expected", [(0, 128, 128), (10, 128, 10), (100, 64, 50),
                                                            (7, 4, 1), (256, 128, 128)])
def test_steps_per_execution_divide_the_checkpoint_interval(every, per_execution, expected):
    config = loop.with_checkpoint_steps(TrainConfig.of(checkpoint_every_steps=every,
                                                     steps_per_execution=per_execution))
    assert config.execution.steps_per_execution == expected
    assert not every or every % config.execution.steps_per_execution == 0


def test_crosses_one_hot_joint_values_seen_often_enough_and_skip_absent_columns(caplog):
    import logging

    import numpy as np

    from components.config.grammars import CROSS_MIN_COUNT
    from components.core.errors import UsageError
    from components.data.features import FeatureSet
    from components.model.preprocessing import Preprocessor

    spec = FeatureSet("y", ("day",), ("month",))
    months = np.array(["may"] * 10 + ["jun"] * 10 + ["may"] * (CROSS_MIN_COUNT - 1))
    days = np.array([5.0] * 10 + [5.0] * 10 + [6.0] * (CROSS_MIN_COUNT - 1), np.float32)
    caplog.set_level(logging.INFO, logger="components.model")
    pre = Preprocessor(spec, TrainConfig.of(crosses="month*day, month*weekday", numeric_bins=0))
    assert "feature cross month*weekday skipped: the data has no column weekday" in caplog.text
    pre.adapt({"day": days, "month": months})
    cross = pre.crosses[("month", "day")]
    assert cross.get_vocabulary() == ["[UNK]", "may|5", "jun|5"]  # may|6: seen 4 times, too rare
    assert pre.width == 1 + 3 + 3
    matrix = pre({"day": np.array([5.0, 6.0, 5.0], np.float32), "month": np.array(["jun", "may", "dec"])}).numpy()
    assert matrix[:, -3:].argmax(axis=1).tolist() == [2, 0, 0]  # jun|5; rare and unseen: out of vocabulary

    weeks = Preprocessor(spec, TrainConfig.of(crosses="month*day/7"))
    weeks.adapt({"day": days, "month": months})  # days 5 and 6 share the bucket 0 (days 0-6)
    assert weeks.crosses[("month", "day/7")].get_vocabulary() == ["[UNK]", "may|0", "jun|0"]
    with pytest.raises(UsageError, match="month is not numeric"):
        Preprocessor(spec, TrainConfig.of(crosses="month/2*day"))


@pytest.mark.parametrize("every_secs, saved_each_epoch", [(0, True), (3600, False)])
def test_checkpoints_are_taken_with_the_early_stopping_state_when_the_clock_says(tmp_path, small_bank_csv,
                                                                                 every_secs, saved_each_epoch):
    import tensorflow as tf
    import tf_keras as keras

    split_dir = make_split(tmp_path, small_bank_csv, "npz")
    out = tmp_path / "t"
    seen = []

    class Observe(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            state = out / filenames.EARLY_STOPPING / filenames.STATE
            checkpoint = tf.train.latest_checkpoint(str(out / filenames.BACKUP / "chief"))
            seen.append((storage.read_json(state)["epoch"] if state.exists() else None, checkpoint is not None))

    loop.fit_model(TrainConfig.of(epochs=3, patience=10, histogram_freq=0, checkpoint_secs=every_secs),
                             split_dir, out, tf.distribute.get_strategy(), extra_callbacks=[Observe()])
    assert seen == ([(1, True), (2, True), (3, True)] if saved_each_epoch else [(None, False)] * 3)


def test_whole_split_validation_gives_the_loss_and_accuracy_keras_evaluate_gives(tmp_path, small_bank_csv):
    import numpy as np

    from components.data.features import FeatureSet
    from components.model.mlp import build_classifier
    from components.model.preprocessing import Preprocessor
    from components.training import callbacks

    split_dir = make_split(tmp_path, small_bank_csv, "npz")
    spec = FeatureSet.from_dict(storage.read_json(split_dir / filenames.FEATURES))
    pre = Preprocessor(spec)
    pre.adapt(storage.load_npz(split_dir / "train" / filenames.NPZ_NAME))
    classifier = build_classifier(pre.width, TrainConfig())
    classifier.fit(*input_lib.in_memory_split(split_dir, "train", spec, pre), epochs=1, verbose=0)
    features, labels = input_lib.in_memory_split(split_dir, "validation", spec, pre)
    callback = callbacks.whole_split_validation(features, labels)
    callback.set_model(classifier)
    callback.on_train_begin()
    logs = {}
    callback.on_epoch_end(0, logs)
    loss, accuracy = classifier.evaluate(features, labels, batch_size=64, verbose=0)
    assert np.isclose(logs["val_loss"], loss, rtol=1e-5) and np.isclose(logs["val_accuracy"], accuracy)


@pytest.mark.parametrize("fmt", ["npz", "tfrecord"])
def test_columns_of_any_spelling_and_unicode_categories_train_and_serve(tmp_path, bank_frame, caplog, fmt):
    """Dots, spaces, '-', '/', brackets, a leading digit, a Python keyword, non-ASCII letters; categories in
    any script; `day` as text, so no calendar is found and the default (`auto`) crosses are none; the defaults'
    teacher takes the same columns (LightGBM refuses some characters in feature names)."""
    import json

    import numpy as np
    import tensorflow as tf

    from components.config.sections import ValidateConfig
    from components.steps import validate
    from tests.helpers import sample_bank

    caplog.set_level("DEBUG", logger="components")  # what the data lacks is a debug line
    names = {"age": "âge client", "job": "class", "balance": "emp.var.rate", "duration": "call-duration",
             "pdays": "p/days", "campaign": "campaign[n]", "previous": "2nd", "marital": "état.civil"}
    frame = sample_bank(bank_frame, 1000).rename(columns=names)
    frame["class"] = frame["class"].replace({"technician": "técnico", "management": "管理"})
    frame["day"] = frame["day"].map(lambda d: ["lun", "mar", "mié", "jue", "vie"][d % 5])
    frame.to_csv(tmp_path / "wild.csv", index=False)
    validate.run(ValidateConfig(), {"data": tmp_path / "wild.csv", "schema": None}, {"output": tmp_path / "v"})
    split.run(SplitConfig(format=fmt, shards=2), {"data": tmp_path / "wild.csv", "schema": tmp_path / "v" /
                                                  filenames.SCHEMA}, {"output": tmp_path / "s"})
    train.run(TrainConfig.of(epochs=3, learning_rate=0.01), {"split": tmp_path / "s"}, {"output": tmp_path / "t"})
    assert "day-of-year features skipped" in caplog.text and "teacher: LightGBM" in caplog.text
    loaded = tf.saved_model.load(str(tmp_path / "t" / filenames.MODEL))
    inputs = json.loads(loaded.columns().numpy().decode())["inputs"]
    assert inputs == storage.read_json(tmp_path / "t" / filenames.MODEL / filenames.MODEL_COLUMNS)["inputs"]
    assert {inputs[n] for n in names.values()} == {"age_client", "class_", "emp_var_rate", "call_duration",
                                                   "p_days", "campaign_n", "c_2nd", "etat_civil"}
    serve = loaded.signatures["serving_default"]
    assert set(serve.structured_input_signature[1]) == set(inputs.values())
    rows = frame.head(5)
    batch = {inputs[c]: tf.constant(rows[c].to_numpy(), dtype=serve.structured_input_signature[1][inputs[c]].dtype)
             for c in inputs}
    assert np.allclose(serve(**batch)["probabilities"].numpy().sum(axis=1), 1, atol=1e-5)


def test_a_cross_the_user_wrote_that_buckets_text_is_a_usage_error(trained_small, tmp_path):
    from components.core.errors import UsageError
    from components.data.features import FeatureSet
    from components.model.preprocessing import Preprocessor

    spec = FeatureSet("deposit", ("age",), ("job", "day"))
    Preprocessor(spec, TrainConfig())  # the defaults skip month*day/4: there is no month here
    with pytest.raises(UsageError, match=r"job\*day/4: day is not numeric.*write day alone"):
        Preprocessor(spec, TrainConfig.of(crosses="job*day/4"))
