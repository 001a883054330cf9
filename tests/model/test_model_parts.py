"""model/: Keras access, the wide_deep preprocessing, the teacher and the serving record, on the bank rows."""
import numpy as np
import pytest

from components.config.train import TrainConfig
from components.data.features import FeatureSet
from components.model import keras_compat, serving, teacher, wide_deep
from components.model.decision import Decision

NUMERIC = ("age", "balance", "day", "duration", "campaign", "pdays", "previous")
CATEGORICAL = ("job", "marital", "education", "default", "housing", "loan", "contact", "month", "poutcome")
SPEC = FeatureSet("deposit", NUMERIC, CATEGORICAL)


@pytest.fixture(scope="module")
def rows(bank_frame):
    frame = bank_frame.sample(n=1500, random_state=0)
    features = {n: frame[n].to_numpy(np.float32) for n in NUMERIC}
    features |= {n: frame[n].astype(str).to_numpy() for n in CATEGORICAL}
    return features, (frame["deposit"] == "yes").to_numpy(np.float32)


def test_keras_is_tf_keras():
    assert keras_compat.keras().__name__ == "tf_keras"


def test_wide_deep_finds_the_date_and_the_sentinel_from_the_data(rows):
    pre = wide_deep.WideDeepPreprocessor(SPEC, TrainConfig.of(family="wide_deep"))
    pre.adapt(rows[0])
    assert (pre.month, pre.day) == ("month", "day") and pre.kinds["pdays"].sentinels
    assert pre.layout.dense > len(NUMERIC) and dict(pre.layout.vocabularies)


def test_the_teacher_mixes_out_of_fold_probabilities_into_the_labels(rows):
    features, labels = rows
    train = {k: v[:1000] for k, v in features.items()}
    validation = ({k: v[1000:] for k, v in features.items()}, labels[1000:])
    soft = teacher.soft_labels(train, labels[:1000], validation, SPEC, weight=0.5, seed=0)
    assert soft.shape == (1000,) and 0 <= soft.min() and soft.max() <= 1
    assert np.mean((soft >= 0.5) == labels[:1000]) > 0.8  # half the label: agrees with it far beyond chance


def test_the_serving_record_names_inputs_kinds_and_decision():
    record = serving.columns_record(SPEC, Decision(threshold=0.4, rule="max_f1"))
    assert record["inputs"]["age"] == "age" and record["categorical"] == list(CATEGORICAL)
    assert record["decision"]["threshold"] == 0.4 and record["label"] == "deposit"
