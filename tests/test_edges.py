"""What a user sees at the edges: no native log noise, a line into every silence, printing commands that
behave like Unix tools, and messages that point the right way."""
from __future__ import annotations

import gzip
import logging
import shutil
import subprocess
import sys
import threading

import numpy as np
import pandas as pd
import pytest

import pipeline
from components import models, predict, storage
from components.config.sections import ValidateConfig
from components.config.train import TrainConfig
from components.core import console, filenames, native_logs, progress
from components.core.errors import DataError, TrainingError, UsageError
from components.data.features import csv_lines, encode_labels
from components.registry import versions
from components.steps import validate
from components.training.loop import check_progress
from tests.helpers import BANK_CSV, BANK_SCHEMA, ROOT, run_pipeline


def closed_reader(*command: str) -> tuple[int, str]:
    """Run a command whose stdout reader has gone before it writes a byte: (exit code, stderr)."""
    process = subprocess.Popen([sys.executable, *command], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    process.stdout.close()
    err = process.stderr.read()
    return process.wait(timeout=600), err


@pytest.fixture(scope="module")
def served(trained_small, tmp_path_factory):
    root, _, _ = trained_small
    serving = tmp_path_factory.mktemp("edges") / "serving"
    shutil.copytree(root / "train" / filenames.MODEL, serving / "bank" / "1")
    return serving


# ── printing commands and a reader that goes away ─────────────────────────────────────────────────────────

def test_models_list_into_a_closed_pipe_ends_quietly(served):
    code, err = closed_reader("-m", "components.models", "list", "--serving-dir", str(served))
    assert code == console.READER_GONE, err
    assert "internal error" not in err and "Traceback" not in err and "BrokenPipe" not in err


def test_predict_to_stdout_into_a_closed_pipe_ends_quietly(served):
    code, err = closed_reader("-m", "components.predict", "--model", str(served / "bank"), "--data", str(BANK_CSV),
                              "--output", "-")
    assert code == console.READER_GONE, err
    assert "internal error" not in err and "Traceback" not in err


def test_pipeline_summary_into_a_closed_pipe_ends_quietly(tmp_path):
    code, err = closed_reader("pipeline.py", "--data", str(tmp_path / "missing.csv"), "--pipeline-root",
                              str(tmp_path / "runs"), "--serving-dir", str(tmp_path / "serving"))
    assert code == console.READER_GONE, err
    assert "does not exist" in err and "Traceback" not in err and "internal error" not in err


def test_models_takes_its_flags_after_the_subcommand_too(served, capsys):
    assert models.main(["list", "--serving-dir", str(served)]) == 0
    assert models.main(["--serving-dir", str(served), "list"]) == 0
    out = capsys.readouterr().out
    assert out.count("bank  (served: version 1)") == 2


def test_help_names_arguments_and_only_the_exit_codes_a_tool_returns(capsys):
    with pytest.raises(SystemExit):
        models.main(["rollback", "--help"])
    text = capsys.readouterr().out
    assert "the earlier version to serve again" in text and "the model's name" in text
    done = subprocess.run([sys.executable, "-m", "components.steps.validate", "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert "anomalies" in done.stdout and "gate_refused" not in done.stdout and "training:" not in done.stdout
    done = subprocess.run([sys.executable, "-m", "components.predict", "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert "bad_data" in done.stdout and "gate_refused" not in done.stdout and "reader_gone" in done.stdout


def test_learning_rate_help_points_to_a_document_that_says_it():
    done = subprocess.run([sys.executable, "-m", "components.steps.train", "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    flat = " ".join(done.stdout.split())
    assert "docs/distributed.md says when to raise it" in flat and "README for scaling" not in flat
    assert "learning rate is not scaled" in (ROOT / "docs" / "distributed.md").read_text()


# ── noise and silence ────────────────────────────────────────────────────────────────────────────────────────

def test_native_log_formats_are_recognised():
    assert native_logs.is_native(b"W0000 00:00:1796436150.861204   22730 statistics_view.cc:197] "
                                 b"DatasetStatsViewImpl::GetByPath() can't find: 'tenure.months'")
    assert native_logs.is_native(b"2026-12-05 01:59:05.123456: I tensorflow/core/util/port.cc:113] oneDNN on")
    assert native_logs.is_native(b"WARNING: All log messages before absl::InitializeLog() is called are written "
                                 b"to STDERR")
    assert not native_logs.is_native(b"01:59:05 INFO    pipeline.validate: statistics of 11162 rows x 17 columns")


@pytest.fixture(scope="module")
def churn_against_bank(tmp_path_factory):
    """A churn table with a dotted and a spaced column name, and the statistics of an earlier release of it
    that had another charge column: TFDV's C++ code warns about every column the other statistics lack."""
    root = tmp_path_factory.mktemp("churn")
    rng = np.random.default_rng(0)
    rows = 600
    table = {"tenure.months": rng.integers(0, 72, rows), "monthly charge": rng.normal(60, 20, rows).round(2),
             "contract": rng.choice(["month", "year"], rows), "churn": rng.choice(["yes", "no"], rows)}
    pd.DataFrame(table).to_csv(root / "churn.csv", index=False)
    earlier = {("total charges" if k == "monthly charge" else k): v for k, v in table.items()}
    pd.DataFrame(earlier).to_csv(root / "churn-before.csv", index=False)
    validate.run(ValidateConfig(label="churn"), {"data": root / "churn-before.csv"}, {"output": root / "bank"})
    return root


@pytest.mark.parametrize("debug", [False, True])
def test_tfdv_native_warnings_only_under_debug(churn_against_bank, debug):
    root = churn_against_bank
    command = [sys.executable, "-m", "components.steps.validate", "--data", str(root / "churn.csv"), "--label",
               "churn", "--previous-statistics", str(root / "bank" / filenames.STATS), "--output",
               str(root / f"out-{debug}")] + (["--debug"] if debug else [])
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert ("statistics_view.cc" in done.stderr) == debug
    assert "drift against the previous run" in done.stderr  # our own lines stay
    assert "__main__" not in done.stderr and "pipeline.validate:" in done.stderr


def test_a_heartbeat_speaks_into_silence_only(caplog):
    caplog.set_level(logging.INFO)
    heard = threading.Event()

    class Ear(logging.Handler):
        def emit(self, record):
            if "still working" in record.getMessage():
                heard.set()

    ear = Ear()
    logging.getLogger().addHandler(ear)
    try:
        with progress.heartbeat("validate", {progress.ENABLE: "1", progress.EVERY: "0.05"}):
            assert heard.wait(timeout=120)  # held here until the line arrives: no sleep, no race
    finally:
        logging.getLogger().removeHandler(ear)
    assert any(m.startswith("validate: still working (") for m in caplog.messages)
    caplog.clear()
    with progress.heartbeat("validate", {progress.ENABLE: "0"}):
        pass
    assert not caplog.messages


def test_predict_names_a_missing_column_before_loading_tensorflow(served, tmp_path):
    data = tmp_path / "no_age.csv"
    pd.read_csv(BANK_CSV).drop(columns=["age"]).head(20).to_csv(data, index=False)
    script = ("import sys; from components import predict; "
              f"code = predict.main(['--model', {str(served / 'bank')!r}, '--data', {str(data)!r}, '--output', "
              f"{str(tmp_path / 'o.csv')!r}]); print(code, 'tensorflow' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.stdout.split() == ["3", "False"], done.stderr
    assert "lacks column(s) ['age']" in done.stderr


# ── predict: skew and output ─────────────────────────────────────────────────────────────────────────────────

def test_predict_counts_unseen_categories_and_far_out_values(served, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    data = tmp_path / "odd.csv"
    frame = pd.read_csv(BANK_CSV).head(30)
    frame.loc[[0, 4, 9], "job"] = "astronaut"
    frame.loc[2, "balance"] = 10 ** 9
    frame.to_csv(data, index=False)
    result = predict.predict(served / "bank", data, tmp_path / "scores.csv")
    assert result["unlike_training"] == {"job": {"unseen": 3}, "balance": {"far_outside_range": 1}}
    log = "\n".join(caplog.messages)
    assert "'job': 3 row(s) hold categories unseen in training (e.g. 'astronaut')" in log
    assert "'balance': 1 row(s) far outside the training range" in log
    assert "unlike training: job: 3 unseen; balance: 1 far outside range" in log


def test_predict_refuses_an_output_in_a_missing_directory(served, tmp_path, capsys):
    target = tmp_path / "nonexistent" / "dir" / "x.csv"
    code = predict.main(["--model", str(served / "bank"), "--data", str(BANK_CSV), "--output", str(target)])
    assert code == 2 and "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "nonexistent").exists()


# ── messages that point the right way ────────────────────────────────────────────────────────────────────────

def test_row_lists_read_as_english():
    assert csv_lines(np.array([False] * 10 + [True])) == "1 row (CSV line 12)"
    assert csv_lines(np.array([True, False, True, True])) == "3 rows (CSV lines 2, 4 and 5)"
    assert csv_lines(np.ones(8, bool)) == "8 rows (CSV lines 2, 3, 4, 5, 6 and 3 more)"
    with pytest.raises(DataError, match=r"is empty on 1 row \(CSV line 12\): every row"):
        encode_labels(pd.Series(["yes"] * 10 + [None] + ["no"]), "deposit")


def test_a_ragged_row_is_one_line_with_its_fix_kept_whole_in_the_summary(tmp_path, capsys):
    path = tmp_path / "ragged.csv"
    path.write_text("age,job,deposit\n30,admin.,yes\n31,admin.,no,extra\n32,admin.,no\n")
    code = run_pipeline("--data", str(path), "--pipeline-root", str(tmp_path / "runs"), "--serving-dir",
                        str(tmp_path / "serving"), "--run-id", "r")
    captured = capsys.readouterr()
    assert code == 3
    error = storage.read_json(tmp_path / "runs" / "r" / "manifest.json")["steps"]["validate"]["error"]
    assert "\n" not in error and "C error" not in error and "Error tokenizing" not in error
    assert "line 3 has 4 fields but the header has 3" in error and "fix that row" in error
    assert error in captured.out  # the summary keeps it whole


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_bytes(gzip.compress(BANK_CSV.read_bytes()[:5000])), "gzip-compressed: decompress it"),
    (lambda p: p.write_bytes(BANK_CSV.read_text()[:5000].encode("utf-16")), r"UTF-16 \(little-endian\) text: re-save"),
    (lambda p: p.mkdir(), "is a directory: pass the CSV file inside it"),
])
def test_files_that_are_not_plain_csv_are_named_for_what_they_are(tmp_path, make, message):
    path = tmp_path / "input.csv"
    make(path)
    with pytest.raises(DataError, match=message):
        storage.sniff_delimiter(path)


def test_a_file_where_the_serving_directory_goes_is_a_usage_error(tmp_path):
    (tmp_path / "bank").write_text("not a directory")
    with pytest.raises(UsageError, match="is a file, not a directory"):
        with versions.locked(tmp_path / "bank"):
            pass


def test_training_failures_advise_a_flag_that_exists():
    config = TrainConfig()
    for history in ({"loss": [0.7, float("nan")]}, {"loss": [0.7, 0.69], "val_loss": [0.7, 0.7]}):
        with pytest.raises(TrainingError) as caught:
            check_progress(history, 0.5, config)
        assert "--set train.learning_rate=0.0001" in caught.value.message
        assert "--learning-rate" not in caught.value.message
    assert "--set" in " ".join(pipeline.build_parser().format_help().split())


def test_a_type_mismatch_names_column_line_and_value(tmp_path, bank_frame):
    frame = bank_frame.head(300).copy()
    frame["balance"] = frame["balance"].astype(object)
    frame.loc[11, "balance"] = "lots"
    frame.to_csv(tmp_path / "typed.csv", index=False)
    with pytest.raises(Exception, match=r"balance: .*type.*line 13 holds 'lots'"):
        validate.run(ValidateConfig(), {"data": tmp_path / "typed.csv", "schema": BANK_SCHEMA},
                     {"output": tmp_path / "out"})


def test_beam_args_choose_tfrecord_splits_themselves():
    args = pipeline.build_parser().parse_args(["--beam-pipeline-args=--runner=FlinkRunner --parallelism=2"])
    assert pipeline.resolve_config(args).split.format == "tfrecord"
    args = pipeline.build_parser().parse_args(["--beam-pipeline-args=--runner=FlinkRunner", "--format", "npz"])
    with pytest.raises(UsageError, match="needs TFRecord"):
        pipeline.resolve_config(args)
