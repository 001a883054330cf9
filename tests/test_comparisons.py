"""Comparisons a user reads: drift against the previous run of the same data set (not of whatever CSV ran
last), dotted column names counted alike in the log and the report, and the report's numbers per column."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from components import storage
from components.config.sections import ValidateConfig
from components.core import filenames
from components.reports import data_report
from components.steps import validate
from tests.helpers import BANK_SCHEMA, run_pipeline, sample_bank


def churn(rows: int, shift: int, seed: int) -> pd.DataFrame:
    """Another problem's table, with a dotted and a spaced column name."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 72, rows) + shift
    return pd.DataFrame({"tenure.months": tenure, "monthly charge": rng.normal(60 + shift, 20, rows).round(2),
                         "contract": rng.choice(["month", "year", "two years"], rows),
                         "churn": np.where(tenure + rng.normal(0, 10, rows) < 30 + shift, "yes", "no")})


@pytest.fixture(scope="module")
def mixed_root(tmp_path_factory, bank_frame):
    """One pipeline root: bank, churn, bank again, churn again (shifted)."""
    root = tmp_path_factory.mktemp("mixed")
    sample_bank(bank_frame, 600, seed=1).to_csv(root / "bank.csv", index=False)
    churn(600, 0, 1).to_csv(root / "churn.csv", index=False)
    flags = ["--pipeline-root", str(root / "runs"), "--serving-dir", str(root / "serving"), "--epochs", "1"]
    for run_id, data, label in (("bank-1", "bank.csv", "deposit"), ("churn-1", "churn.csv", "churn"),
                                ("bank-2", "bank.csv", "deposit")):
        run_pipeline(*flags, "--run-id", run_id, "--data", str(root / data), "--label", label)
    churn(600, 40, 2).to_csv(root / "churn.csv", index=False)
    run_pipeline(*flags, "--run-id", "churn-2", "--data", str(root / "churn.csv"), "--label", "churn")
    return root


def validated(root, run_id):
    manifest = storage.read_json(root / "runs" / run_id / filenames.MANIFEST)
    out = root / "runs" / run_id / "validate"
    return manifest["steps"]["validate"], (out / filenames.REPORT_HTML).read_text(encoding="utf-8")


@pytest.mark.e2e
def test_drift_is_measured_against_the_previous_run_of_the_same_data_set(mixed_root):
    step, html = validated(mixed_root, "churn-1")
    assert step["inputs"]["previous_statistics"] is None and step["result"]["drift"] == []
    assert "no previous run to compare with" in html and "pdays" not in html
    step, html = validated(mixed_root, "bank-2")
    assert step["inputs"]["previous_statistics"].endswith("bank-1/validate/stats.pb")
    assert step["result"]["drift"] == [] and "tenure" not in html
    overview = re.search(r'id="overview">([^<]*)', html).group(1)
    assert "run bank-1 of 20" in overview and "600 rows" in overview and "0 column(s) drifted" in overview


@pytest.mark.e2e
def test_a_dotted_column_drifts_alike_in_the_log_and_the_report(mixed_root):
    step, html = validated(mixed_root, "churn-2")
    assert step["inputs"]["previous_statistics"].endswith("churn-1/validate/stats.pb")
    drift = step["result"]["drift"]
    assert any(line.startswith("tenure.months: ") for line in drift)
    assert not any(line.startswith("'") for line in drift)
    overview = re.search(r'id="overview">([^<]*)', html).group(1)
    assert f"{len(drift)} column(s) drifted" in overview and "run churn-1" in overview
    assert re.search(r'class="feature drifted" id="f\d+"><h2>tenure\.months<', html)
    assert "&#x27;tenure.months&#x27;" not in html


@pytest.mark.e2e
def test_other_data_gets_no_lines_about_the_bank_columns(mixed_root, capfd):
    run_pipeline("--pipeline-root", str(mixed_root / "runs"), "--serving-dir", str(mixed_root / "serving"),
                 "--epochs", "1", "--run-id", "churn-3", "--data", str(mixed_root / "churn.csv"), "--label", "churn",
                 "--no-cache")  # train runs again (cached, it would log nothing)
    log = capfd.readouterr().err  # file descriptor 2: train may run in a worker process
    assert "statistics of 600 rows" in log  # the log was captured
    assert "feature cross" not in log and "skipped" not in log


@pytest.fixture(scope="module")
def bank_report(tmp_path_factory, bank_frame):
    root = tmp_path_factory.mktemp("bank-report")
    sample_bank(bank_frame, 2000, seed=3).to_csv(root / "bank.csv", index=False)
    validate.run(ValidateConfig(), {"data": root / "bank.csv", "schema": BANK_SCHEMA}, {"output": root / "out"})
    return root / "out"


def test_the_report_counts_distinct_numbers_and_says_every_row(bank_report):
    html = (bank_report / filenames.REPORT_HTML).read_text(encoding="utf-8")
    summaries = data_report.summaries(storage.load_statistics(bank_report / filenames.STATS))
    assert summaries["age"].distinct is not None and 30 < summaries["age"].distinct < 80
    assert f"<th>distinct</th><td>{summaries['age'].distinct}</td>" in html
    assert "at least 100%" not in html


def test_heavy_tailed_columns_are_drawn_on_a_log_scale(bank_report):
    html = (bank_report / filenames.REPORT_HTML).read_text(encoding="utf-8")
    summaries = data_report.summaries(storage.load_statistics(bank_report / filenames.STATS))
    for name in ("balance", "campaign", "pdays", "previous"):
        assert data_report.heavy_tailed(summaries[name]), name
        section = re.search(rf"<h2>{name}<.*?</section>", html, re.S).group(0)
        assert "log scale" in section
        heights = sorted(float(h) for h in re.findall(r'<rect [^>]*height="([\d.]+)"', section.split("</svg>")[0]))
        assert heights[-2] > heights[-1] / 4, (name, heights[-3:])  # the next bucket shows, not a sliver
    assert "log scale" not in re.search(r"<h2>age<.*?</section>", html, re.S).group(0)
