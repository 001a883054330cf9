"""Progress lines of long phases (components/core/progress.py): forced on, they show rows read and steps trained."""
from __future__ import annotations

import io
import logging

import pandas as pd

from components import storage
from components.config.sections import SplitConfig
from components.config.train import TrainConfig
from components.core import progress
from components.steps import split, train
from tests.helpers import BANK_SCHEMA

FORCED = {progress.ENABLE: "1", progress.EVERY: "0"}


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_on_for_a_terminal_or_when_forced_off_when_asked():
    assert progress.enabled({}, FakeTerminal()) and not progress.enabled({}, io.StringIO())
    assert progress.enabled({progress.ENABLE: "1"}, io.StringIO())
    assert not progress.enabled({progress.ENABLE: "0"}, FakeTerminal())
    assert progress.interval({}) == progress.DEFAULT_SECONDS and progress.interval({progress.EVERY: "2.5"}) == 2.5
    assert progress.interval({progress.EVERY: "soon"}) == progress.DEFAULT_SECONDS


def test_ticker_waits_its_interval():
    now = [0.0]
    ticker = progress.Ticker(5, clock=lambda: now[0])
    assert not ticker.due()
    now[0] = 5.0
    assert ticker.due() and not ticker.due()
    now[0] = 9.9
    assert not ticker.due()


def test_rows_read_so_far_are_logged(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv(progress.ENABLE, "1")
    monkeypatch.setenv(progress.EVERY, "0")
    path = tmp_path / "rows.csv"
    pd.DataFrame({"a": range(2500), "b": ["x"] * 2500}).to_csv(path, index=False)
    with caplog.at_level(logging.INFO, logger="components.core.progress"):
        chunks = list(storage.read_csv_chunks(path, 1000))
    assert sum(map(len, chunks)) == 2500
    assert f"reading {path}: 1,000 rows so far" in caplog.text and "2,500 rows so far" in caplog.text


def test_off_nothing_is_logged(caplog):
    with caplog.at_level(logging.INFO, logger="components.core.progress"):
        assert list(progress.counted([[1, 2], [3]], "x", env={progress.ENABLE: "0"})) == [[1, 2], [3]]
    assert not caplog.text


def test_training_logs_steps_within_an_epoch(tmp_path, small_bank_csv, monkeypatch, caplog):
    for key, value in FORCED.items():
        monkeypatch.setenv(key, value)
    split_dir = tmp_path / "split"
    split.run(SplitConfig(), {"data": small_bank_csv, "schema": BANK_SCHEMA}, {"output": split_dir})
    config = TrainConfig.of(epochs=1, steps_per_execution=2, histogram_freq=0)
    with caplog.at_level(logging.INFO, logger="components.core.progress"):
        train.run(config, {"split": split_dir}, {"output": tmp_path / "train"})
    lines = [r.getMessage() for r in caplog.records if r.name == "components.core.progress"]
    assert "epoch 1/1: step 2/8 (25%), loss " in lines[0]  # 800 training rows, batches of 100
    assert any(line.startswith("epoch 1/1: step 8/8 (100%)") for line in lines)


def test_best_epoch_at_the_limit_says_to_raise_epochs():
    assert "raise --epochs" in train.epoch_limit_hint(5, 5, 5)
    assert train.epoch_limit_hint(3, 5, 5) == "" and train.epoch_limit_hint(5, 5, 100) == ""
