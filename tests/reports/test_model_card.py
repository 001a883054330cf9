"""A model card beside each pushed version (model_card.html and .md): the data, the model, its test metrics with
intervals, how it decides, calibration, the gate's checks, the plots and what it must not be used for; rendered
by a real headless Chromium (skipped without it, failed under CI)."""
from __future__ import annotations

import json
import re

import pytest

from components import storage
from components.config.sections import EvaluateConfig, PushConfig
from components.core import filenames
from components.reports import model_card
from components.reports.charts import number
from components.steps import evaluate, push
from tests.reports.test_data_report import not_blank, render

NOT_FOR = "credit decisions about a person <b>"


@pytest.fixture(scope="module")
def pushed(trained_small, tmp_path_factory):
    root, split_dir, _ = trained_small
    out = tmp_path_factory.mktemp("card")
    evaluate.run(EvaluateConfig(), {"model": root / "train" / filenames.MODEL, "split": split_dir},
                 {"output": out / "evaluate"})
    info = out / "run.json"
    storage.write_json(info, {"run_id": "card-run", "data_sha256": "ab" * 32, "params": {"data": "bank.csv"},
                              "config": {"train": {"family": "mlp", "hidden_units": 30, "learning_rate": 0.001}}})
    config = PushConfig(min_accuracy=0.5, min_auc=0.5, min_balanced_accuracy=0.5, not_for=NOT_FOR,
                        intended_use="ranking whom to call in a deposit campaign")
    result = push.run(config,
                      {"model": root / "train" / filenames.MODEL, "metrics": out / "evaluate", "run_info": info,
                       "split": split_dir},
                      {"output": out / "push", "serving_dir": out / "serving"})
    return out, result


def test_every_pushed_version_has_a_model_card(pushed):
    out, result = pushed
    version = out / "serving" / "bank" / "1"
    assert result["pushed_to"] == str(version)
    text = (version / filenames.MODEL_CARD_MD).read_text(encoding="utf-8")
    metrics = storage.read_json(out / "evaluate" / filenames.METRICS)["candidate"]
    for expected in ("# Model card: bank version 1", "run card-run", NOT_FOR, "deposit campaign", "label deposit",
                     "rows: train 1600, validation 200, test 200", "positive share: train 50.0%",
                     "family: mlp", "hidden_units: 30",
                     f"auc: {metrics['auc']:.4f} (95% interval [", f"threshold {number(metrics['threshold'])}",
                     "Brier score", "PR AUC vs positive share", "pr_auc: ", "balanced_accuracy: ",
                     "16 columns: age, balance"):
        assert expected in text, expected
    page = (version / filenames.MODEL_CARD_HTML).read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == len(filenames.PLOTS)
    assert "credit decisions about a person &lt;b&gt;" in page and "<script" not in page


def test_models_show_says_where_the_card_is(pushed, capsys):
    from components import models

    out, _ = pushed
    assert models.main(["--serving-dir", str(out / "serving"), "show", "bank"]) == 0
    shown = capsys.readouterr()
    card = out / "serving" / "bank" / "1" / filenames.MODEL_CARD_HTML
    assert json.loads(shown.out)["model_card"] == str(card)  # standard output stays one JSON document
    assert f"model card: {card}" in shown.err


def test_chromium_renders_the_card_not_blank(pushed, tmp_path):
    out, _ = pushed
    done, shot, server = render(out / "serving" / "bank" / "1", filenames.MODEL_CARD_HTML, tmp_path, "card.png")
    assert done.returncode == 0, done.stderr[-2000:]
    assert re.search(r"<h1>Model card: bank version 1</h1>", done.stdout) and "Test metrics" in done.stdout
    assert server.paths == [f"/{filenames.MODEL_CARD_HTML}"] * 2  # nothing fetched but the page
    assert shot.returncode == 0 and not_blank(tmp_path / "card.png")



def test_the_card_escapes_what_users_write_and_keeps_the_split_order():
    lineage = {"model_name": "bank", "version": 3, "run": {"run_id": "r", "config": {"train": {"family": "mlp"}}}}
    metrics = {"candidate": {"accuracy": 0.9, "auc": 0.95}, "test_rows": 10}
    split = {"splits": {"test": {"rows": 1, "positive_fraction": 0.5}, "train": {"rows": 8, "positive_fraction": 0.5}}}
    card = model_card.facts(lineage, metrics, split, {"label": "deposit", "inputs": ["age"]}, ("", NOT_FOR))
    assert list(card["rows"]) == ["train", "test"] and card["hyperparameters"] == {"family": "mlp"}
    page = model_card.html(card, {})
    assert NOT_FOR not in page and "credit decisions about a person &lt;b&gt;" in page
    assert NOT_FOR in model_card.markdown(card)
