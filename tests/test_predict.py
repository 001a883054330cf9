"""python -m components.predict: scores a CSV by its column names with a trained or pushed model."""
from __future__ import annotations

import re
import shutil

import numpy as np
import pandas as pd
import pytest

from components import predict, storage
from components.core import filenames
from components.registry import integrity
from tests.helpers import BANK_CSV


@pytest.fixture(scope="module")
def serving(trained_small, tmp_path_factory):
    """The small trained model pushed twice as versions 1 and 2 of serving/bank (2 with its digests)."""
    root, _, _ = trained_small
    bank = tmp_path_factory.mktemp("predict") / "serving" / "bank"
    for version in ("1", "2"):
        shutil.copytree(root / "train" / filenames.MODEL, bank / version)
    integrity.record(bank / "2")
    return bank


def signature_outputs(model_dir, frame: pd.DataFrame) -> np.ndarray:
    """positive_probability straight from the serving signature (the bank's CSV names are TensorFlow names)."""
    import tensorflow as tf

    serve = tf.saved_model.load(str(model_dir)).signatures["serving_default"]
    wanted = serve.structured_input_signature[1]
    return serve(**{name: tf.constant(frame[name].to_numpy(), dtype=spec.dtype)
                    for name, spec in wanted.items()})["positive_probability"].numpy()


def test_scores_the_bank_csv_like_the_serving_signature(serving, tmp_path):
    output = tmp_path / "scores.csv"
    assert predict.main(["--model", str(serving), "--data", str(BANK_CSV), "--output", str(output)]) == 0
    scores, frame = pd.read_csv(output), pd.read_csv(BANK_CSV)
    assert list(scores.columns) == [*frame.columns, "positive_probability", "predicted_deposit"]
    assert len(scores) == len(frame) == 11162
    np.testing.assert_allclose(scores["positive_probability"], signature_outputs(serving / "2", frame), atol=1e-6)
    assert set(scores["predicted_deposit"]) == {"yes", "no"}
    threshold = storage.read_json(serving / "2" / filenames.MODEL_COLUMNS)["decision"]["threshold"]
    # The threshold is one validation row's score, and those rows are in bank.csv: a row at the threshold
    # itself is decided on the unrounded float32, which the CSV's decimal text may put on either side.
    decided = ~np.isclose(scores["positive_probability"], threshold, rtol=0, atol=1e-6)
    assert decided.sum() > 11000
    agree = (scores["positive_probability"] >= threshold) == (scores["predicted_deposit"] == "yes")
    assert agree[decided].all()


def test_newest_version_by_default_and_label_optional(serving, tmp_path):
    data = tmp_path / "no_label.csv"
    pd.read_csv(BANK_CSV).drop(columns=["deposit"]).head(50).to_csv(data, index=False)
    result = predict.predict(serving, data, tmp_path / "out.csv")
    assert result["model_dir"] == str(serving / "2") and result["rows"] == 50
    assert predict.predict(serving / "1", data, tmp_path / "out1.csv")["model_dir"] == str(serving / "1")


@pytest.mark.parametrize("change, message", [
    (lambda f: f.drop(columns=["age"]), r"lacks column\(s\) \['age'\]"),
    (lambda f: f.assign(balance=["lots"] + list(f["balance"][1:])), r"'balance' .* must hold numbers, but line 2 "
                                                                       r"holds 'lots'"),
    (lambda f: f.assign(job=[None] * 3 + list(f["job"][3:])), r"'job' .* empty cell on line 2"),
    (lambda f: f.assign(month=range(len(f))), r"'month' .* holds numbers but the model was trained on it as text"),
])
def test_bad_data_is_named_with_exit_code_3(serving, tmp_path, capsys, change, message):
    data = tmp_path / "bad.csv"
    change(pd.read_csv(BANK_CSV).head(20)).to_csv(data, index=False)
    assert predict.main(["--model", str(serving), "--data", str(data), "--output", str(tmp_path / "o.csv")]) == 3
    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "o.csv").exists()


def test_missing_model_is_named(tmp_path, capsys):
    code = predict.main(["--model", str(tmp_path / "nowhere"), "--data", str(BANK_CSV), "--output",
                         str(tmp_path / "o.csv")])
    assert code == 3 and "nowhere does not exist" in capsys.readouterr().err


def test_altered_pushed_version_is_refused(serving, tmp_path, capsys):
    altered = tmp_path / "bank"
    shutil.copytree(serving / "2", altered / "7")
    (altered / "7" / "saved_model.pb").write_bytes(b"changed")
    code = predict.main(["--model", str(altered), "--data", str(BANK_CSV), "--output", str(tmp_path / "o.csv")])
    assert code == 3 and "was altered after push" in capsys.readouterr().err


def test_cli_explains_itself():
    import subprocess
    import sys

    from tests.helpers import ROOT

    done = subprocess.run([sys.executable, "-m", "components.predict", "--help"], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert done.returncode == 0 and "exit codes:" in done.stdout and "--model" in done.stdout
