"""Bad input: one clear message naming the problem, a documented exit code, nothing downstream, no damage."""
import re

import numpy as np
import pytest

from components import storage
from components.config.sections import SplitConfig, ValidateConfig
from components.core import filenames
from components.steps import split, train, validate
from tests.helpers import BANK_CSV, BANK_SCHEMA, run_pipeline, sample_bank

DOWNSTREAM = ("split", "train", "evaluate", "push")


def pipeline_fails(tmp_path, capsys, *flags):
    """Run the pipeline; return (exit code, manifest or None, stderr)."""
    code = run_pipeline("--pipeline-root", str(tmp_path / "runs"), "--serving-dir", str(tmp_path / "serving"),
                        "--run-id", "bad", "--schema", str(BANK_SCHEMA), *flags)
    err = capsys.readouterr().err
    manifest_path = tmp_path / "runs" / "bad" / "manifest.json"
    assert "Traceback" not in err
    assert not (tmp_path / "serving").exists()
    return code, storage.read_json(manifest_path) if manifest_path.exists() else None, err


def write(tmp_path, frame, name="bad.csv", **kwargs):
    path = tmp_path / name
    frame.to_csv(path, index=False, **kwargs)
    return path


def assert_stopped_at_validate(manifest):
    assert manifest["steps"]["validate"]["status"] == "failed"
    assert {manifest["steps"][s]["status"] for s in DOWNSTREAM} == {"pending"}


@pytest.mark.parametrize("content, message", [
    (None, "does not exist"),
    (b"", "is empty"),
    (b"age,job,deposit\n", "header but no data rows"),
    (bytes(range(256)) * 4, "looks binary"),
    ("age,job,deposit\n30,técnico,yes\n".encode("latin-1") * 3, "not UTF-8"),
    (b"age:job:deposit\n30:admin.:yes\n31:admin.:no\n", "cannot detect the delimiter"),
    (b"age,job,deposit\n30,admin.,yes\n31,admin.,no,extra,cells\n32,admin.,no\n", "ragged rows.*line 3"),
])
def test_unreadable_files_exit_3_naming_the_file(tmp_path, capsys, content, message):
    path = tmp_path / "input.csv"
    if content is not None:
        path.write_bytes(content)
    code, manifest, err = pipeline_fails(tmp_path, capsys, "--data", str(path))
    assert code == 3
    assert_stopped_at_validate(manifest)
    assert str(path) in err
    assert re.search(message, err), err


@pytest.mark.parametrize("change, column", [
    (lambda f: f.drop(columns=["deposit"]), "label column 'deposit' is not in the data"),
    (lambda f: f.assign(deposit="yes"), "one class only"),
])
def test_label_problems_exit_3(tmp_path, capsys, bank_frame, change, column):
    path = write(tmp_path, change(sample_bank(bank_frame, 200)))
    code, manifest, err = pipeline_fails(tmp_path, capsys, "--data", str(path))
    assert code == 3 and column in err
    assert_stopped_at_validate(manifest)


def test_a_third_label_class(tmp_path, capsys, bank_frame):
    frame = sample_bank(bank_frame, 200)
    frame.loc[3, "deposit"] = "maybe"
    path = write(tmp_path, frame)
    code, manifest, err = pipeline_fails(tmp_path, capsys, "--data", str(path))
    assert code == 4 and "deposit" in err and "maybe" in err  # against the schema: outside the label domain
    code = run_pipeline("--data", str(path), "--pipeline-root", str(tmp_path / "inferred"), "--run-id", "x",
                        "--serving-dir", str(tmp_path / "serving"))
    assert code == 3 and "neither positive (yes/1/true) nor negative" in capsys.readouterr().err


def test_labels_in_other_spellings_are_accepted(tmp_path, bank_frame):
    frame = sample_bank(bank_frame, 400)
    spellings = {"yes": ["Yes", "YES", "true", "1", "yes"], "no": ["No", "NO", "false", "0", "no"]}
    frame["deposit"] = [spellings[v][i % 5] for i, v in enumerate(frame["deposit"])]
    path = write(tmp_path, frame)
    result = validate.run(ValidateConfig(), {"data": path, "schema": BANK_SCHEMA}, {"output": tmp_path / "v"})
    assert result["anomalies"] == 0
    split.run(SplitConfig(), {"data": path, "schema": BANK_SCHEMA}, {"output": tmp_path / "s"})
    summary = storage.read_json(tmp_path / "s" / filenames.SPLIT_SUMMARY)["splits"]
    assert sum(s["positive"] for s in summary.values()) == 200


@pytest.mark.parametrize("change, columns", [
    (lambda f: f.assign(balance=f.balance.astype(object).where(f.index != 3, None),
                        job=f.job.where(f.index != 4, None)), ["balance", "job"]),            # empty cells
    (lambda f: f.assign(age=f.age.astype(object).where(f.index != 2, "forty")), ["age"]),    # text in numbers
    (lambda f: f.assign(poutcome=f.poutcome.where(f.index != 1, "postponed")), ["poutcome"]),  # unseen category
    (lambda f: f.assign(balance=f.balance.astype(float).where(f.index != 1, 1e300)), ["balance"]),  # extreme
    (lambda f: f.assign(age=f.age.where(f.index != 1, -3)), ["age"]),                       # negative age
    (lambda f: f.assign(score=1.5), ["score"]),                                             # added column
    (lambda f: f.drop(columns=["housing"]), ["housing"]),                                   # removed column
])
def test_schema_anomalies_exit_4_naming_each_column(tmp_path, capsys, bank_frame, change, columns):
    path = write(tmp_path, change(sample_bank(bank_frame, 200)))
    code, manifest, err = pipeline_fails(tmp_path, capsys, "--data", str(path))
    assert code == 4
    assert_stopped_at_validate(manifest)
    for column in columns:
        assert f"{column}:" in err


def test_duplicated_rows_are_reported_not_fatal(tmp_path, bank_frame, caplog):
    frame = sample_bank(bank_frame, 200)
    path = write(tmp_path, frame._append(frame.head(7), ignore_index=True))
    result = validate.run(ValidateConfig(), {"data": path, "schema": BANK_SCHEMA}, {"output": tmp_path / "v"})
    assert result["duplicated_rows"] == 7 and result["anomalies"] == 0
    assert "7 duplicated rows" in caplog.text


def test_ten_rows_are_too_few_to_split(tmp_path, capsys, bank_frame):
    path = write(tmp_path, sample_bank(bank_frame, 10))
    code, manifest, err = pipeline_fails(tmp_path, capsys, "--data", str(path))
    assert code == 3 and "too few rows to split" in err
    assert manifest["steps"]["validate"]["status"] == "succeeded"
    assert {manifest["steps"][s]["status"] for s in ("train", "evaluate", "push")} == {"pending"}


@pytest.fixture(scope="module")
def good_split(tmp_path_factory):
    root = tmp_path_factory.mktemp("goodsplit")
    for fmt in ("npz", "tfrecord"):
        split.run(SplitConfig(format=fmt, shards=2), {"data": BANK_CSV, "schema": BANK_SCHEMA}, {"output": root / fmt})
    return root


def copy_split(source, target):
    import shutil

    shutil.copytree(source, target)
    return target


def truncate_with_garbage(path):
    """Half a gzip'd shard, then bytes that are not gzip: a copy interrupted and overwritten."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] + bytes(range(256)) * 4)


@pytest.mark.parametrize("fmt, damage, message", [
    ("npz", lambda d: (d / "train" / "data.npz").write_bytes((d / "train" / "data.npz").read_bytes()[:5000]),
     "corrupt or truncated|not a valid"),
    ("npz", lambda d: np.savez(d / "train" / "data.npz", age=np.array([{"x": 1}], dtype=object)), "pickled"),
    ("tfrecord", lambda d: truncate_with_garbage(d / "train" / "train-00001-of-00002.tfrecord.gz"),
     "corrupt or truncated"),
])
def test_damaged_split_files_exit_3(tmp_path, capsys, good_split, fmt, damage, message):
    split_dir = copy_split(good_split / fmt, tmp_path / "split")
    damage(split_dir)
    code = train.main(["--split", str(split_dir), "--output", str(tmp_path / "train"), "--epochs", "2"])
    err = capsys.readouterr().err
    assert code == 3 and "Traceback" not in err, err[-3000:]
    assert re.search(message, err) and str(split_dir) in err
    assert not (tmp_path / "train" / filenames.MODEL).exists()


@pytest.mark.parametrize("flags, message", [
    (["--set", "train.epoch=3"], "unknown config key 'train.epoch'. Did you mean train.epochs?"),
    (["--epochs", "-1"], "epochs=-1 is out of range"),
    (["--set", "split.train_fraction=0.9"], "fractions that sum to 1"),
    (["--set", "nonsense"], "is not SECTION.KEY=VALUE"),
    (["--run-id", "../escape"], "--run-id '../escape' is not a valid run name"),
    (["--run-id", "/etc/passwd"], "is not a valid run name"),
    (["--set", "push.model_name=../../etc"], "model_name='../../etc' is out of range"),
    (["--set", "train.family=mlp", "--set", "train.teacher=lightgbm"], "add --set train.family=wide_deep"),
])
def test_bad_config_exits_2_before_anything_runs(tmp_path, capsys, flags, message):
    code, manifest, err = pipeline_fails(tmp_path, capsys, *flags)
    assert code == 2 and message in err
    assert manifest is None and not (tmp_path / "runs").exists()


def test_a_bug_exits_1_with_a_traceback(tmp_path, capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("deliberate")

    monkeypatch.setattr(split, "run", broken)
    code = run_pipeline("--pipeline-root", str(tmp_path / "runs"), "--serving-dir", str(tmp_path / "s"),
                        "--run-id", "bug")
    err = capsys.readouterr().err
    assert code == 1 and "internal error (a bug" in err and "Traceback" in err and "ZeroDivisionError" in err
    assert storage.read_json(tmp_path / "runs" / "bug" / "manifest.json")["steps"]["split"]["exit_code"] == 1


def test_training_that_learns_nothing_exits_5(tmp_path, capsys):
    code = run_pipeline("--pipeline-root", str(tmp_path / "runs"), "--serving-dir", str(tmp_path / "serving"),
                        "--run-id", "stall", "--epochs", "3", "--set", "train.learning_rate=9")
    err = capsys.readouterr().err
    assert code == 5 and "training made no progress" in err
    assert "learning rate (now 9.0: e.g. --set train.learning_rate=0.9)" in err
    assert "Traceback" not in err
    steps = storage.read_json(tmp_path / "runs" / "stall" / "manifest.json")["steps"]
    assert steps["train"]["status"] == "failed" and steps["push"]["status"] == "pending"
    assert not (tmp_path / "serving").exists()


def test_extreme_magnitudes_are_normalized_in_float64(tmp_path, bank_frame):
    """Values near float32's limit: the statistics that adapt the model are computed in float64, so the
    model still learns (an earlier float32 adaptation overflowed and learned nothing)."""
    frame = sample_bank(bank_frame, 1000)
    frame["balance"] = frame["balance"].astype(float) * 1e34
    path = write(tmp_path, frame)
    code = run_pipeline("--data", str(path), "--pipeline-root", str(tmp_path / "runs"), "--serving-dir",
                        str(tmp_path / "serving"), "--run-id", "big", "--epochs", "20")
    assert code == 0
    metrics = storage.read_json(tmp_path / "runs" / "big" / "evaluate" / filenames.METRICS)["candidate"]
    assert metrics["auc"] > 0.8


# ── Flags a user can get wrong: a documented exit code and a message naming the value, never exit 1 ────
def _loop(tmp_path):
    (tmp_path / "loop-a").symlink_to(tmp_path / "loop-b")
    (tmp_path / "loop-b").symlink_to(tmp_path / "loop-a")
    return str(tmp_path / "loop-a")


def _file(tmp_path, content=b"not a directory"):
    (tmp_path / "a-file").write_bytes(content)
    return str(tmp_path / "a-file")


@pytest.mark.parametrize("flags, code, message", [
    (lambda t: ["--data", _loop(t)], 3, "--data '.*loop-a' cannot be resolved .*symlink loop"),
    (lambda t: ["--serving-dir", _loop(t)], 2, "--serving-dir '.*loop-a' cannot be resolved .*symlink loop"),
    (lambda t: ["--pipeline-root", _loop(t)], 2, "--pipeline-root '.*loop-a' cannot be resolved"),
    (lambda t: ["--pipeline-root", _file(t)], 2, "--pipeline-root '.*a-file'.* is a file, not a directory"),
    (lambda t: ["--pipeline-root", _file(t) + "/runs"], 2, "a-file is a file, not a directory"),
    (lambda t: ["--schema", str(t)], 3, "schema file .* is a directory"),
    (lambda t: ["--schema", _file(t, bytes(range(256)))], 3, "schema file .*a-file is not text"),
    (lambda t: ["--seed", "-1"], 2, r"seed=-1 is out of range: expected an integer in \[0, 4294967295\]"),
    (lambda t: ["--seed", str(2**32)], 2, "seed=4294967296 is out of range"),
    (lambda t: ["--run-id", "run-1\n"], 2, r"--run-id 'run-1\\n' is not a valid run name"),
    (lambda t: ["--set", "split.label=x"], 2, "validate.label='deposit' and split.label='x' disagree.*--label"),
])
def test_bad_paths_and_values_exit_with_their_documented_code(tmp_path, capsys, small_bank_csv, flags, code,
                                                              message):
    got, manifest, err = pipeline_fails(tmp_path, capsys, "--data", str(small_bank_csv), *flags(tmp_path))
    assert got == code and re.search(message, err), err[-2000:]
    if code == 2:
        assert manifest is None  # usage errors stop before anything runs


@pytest.mark.parametrize("header, message", [
    ("age,job,age,deposit", "column 'age' appears twice in the header"),
    ("age,job, deposit,deposit", "column 'deposit' appears twice"),
])
def test_a_duplicated_header_name_is_a_data_error_naming_it(tmp_path, capsys, header, message):
    path = tmp_path / "dup.csv"
    path.write_text(header + "\n" + "\n".join(f"{30 + i},admin.,{i % 2},{'yes' if i % 2 else 'no'}"
                                              for i in range(60)) + "\n")
    code, manifest, err = pipeline_fails(tmp_path, capsys, "--data", str(path), "--schema", "")
    assert code == 3 and message in err and str(path) in err
    assert_stopped_at_validate(manifest)


@pytest.mark.parametrize("values, example", [
    (["1,234", "12", "2,345,678"], "'1,234'"),      # thousands separators (quoted in a comma-separated file)
    (["1.234,5", "3,25", "7"], "'1.234,5'"),         # decimal commas
])
def test_numbers_written_for_people_are_reported_not_made_categories(tmp_path, capsys, bank_frame, values,
                                                                      example):
    frame = sample_bank(bank_frame, 200)
    frame["balance"] = [values[i % 3] for i in range(len(frame))]
    path = write(tmp_path, frame)
    code, manifest, err = pipeline_fails(tmp_path, capsys, "--data", str(path), "--schema", "")
    assert code == 3 and "column 'balance'" in err and example in err and "thousands separators" in err
    assert_stopped_at_validate(manifest)
