import pytest

from components import storage
from components.config.sections import ValidateConfig
from components.core import filenames
from components.core.errors import AnomaliesError, DataError
from components.steps import validate
from tests.helpers import BANK_CSV, BANK_SCHEMA, CSV_VARIANTS, sample_bank, variant_csv


def run_validate(data, out, schema=BANK_SCHEMA, previous=None, **config):
    return validate.run(ValidateConfig(**config), {"data": data, "schema": schema, "previous_statistics": previous},
                        {"output": out})


def test_bank_data_matches_the_committed_schema(tmp_path):
    result = run_validate(BANK_CSV, tmp_path)
    assert result["rows"] == 11162 and result["anomalies"] == 0 and result["schema"] == "given"
    for name in (filenames.STATS, filenames.SCHEMA, filenames.ANOMALIES, filenames.ANOMALIES_TXT):
        assert (tmp_path / name).stat().st_size > 0
    html = (tmp_path / filenames.STATS_HTML).read_text()
    assert "<facets-overview" in html and len(html) > 5000
    stats = storage.load_statistics(tmp_path / filenames.STATS)
    assert {f.path.step[0] for f in stats.datasets[0].features} >= {"age", "job", "deposit"}


def test_each_anomaly_is_named_and_stops_with_exit_code_4(tmp_path, bank_frame):
    bad = sample_bank(bank_frame, 400)
    bad.loc[0, "job"] = "astronaut"          # unknown category
    bad.loc[1, "age"] = -5                   # out of range
    bad.loc[2, "balance"] = "lots"           # text in a numeric column
    bad.loc[3, "deposit"] = None             # missing label value
    bad = bad.drop(columns=["loan"])          # missing column
    path = tmp_path / "bad.csv"
    bad.to_csv(path, index=False)
    with pytest.raises(AnomaliesError) as caught:
        run_validate(path, tmp_path / "out")
    assert caught.value.exit_code == 4
    for column in ("job", "age", "balance", "deposit", "loan"):
        assert f"{column}:" in caught.value.message
    report = (tmp_path / "out" / filenames.ANOMALIES_TXT).read_text()
    assert "astronaut" in report and "loan" in report


def test_schema_is_inferred_and_saved_when_none_is_given(tmp_path, small_bank_csv):
    result = run_validate(small_bank_csv, tmp_path, schema=None)
    assert result["schema"] == "inferred" and result["anomalies"] == 0
    schema = storage.load_schema(tmp_path / filenames.SCHEMA)
    assert {f.name for f in schema.feature} == set(storage.read_csv(small_bank_csv).columns)


def test_drift_against_the_previous_run_is_reported(tmp_path, bank_frame):
    before = sample_bank(bank_frame, 2000, seed=1)
    before_path = tmp_path / "before.csv"
    before.to_csv(before_path, index=False)
    run_validate(before_path, tmp_path / "first")
    after = sample_bank(bank_frame, 2000, seed=2)
    after["duration"] = after["duration"] * 4 + 900
    after["contact"] = "telephone"
    after_path = tmp_path / "after.csv"
    after.to_csv(after_path, index=False)
    result = run_validate(after_path, tmp_path / "second", previous=tmp_path / "first" / filenames.STATS)
    drifted = {line.split(":")[0] for line in result["drift"]}
    assert {"duration", "contact"} <= drifted and "age" not in drifted
    assert "duration" in (tmp_path / "second" / filenames.DRIFT_TXT).read_text()
    with pytest.raises(AnomaliesError, match="drifted"):
        run_validate(after_path, tmp_path / "third", previous=tmp_path / "first" / filenames.STATS,
                     fail_on_drift=True)


def test_missing_label_column_names_the_columns(tmp_path, small_bank_csv):
    with pytest.raises(DataError, match=r"label column 'y' is not in the data.*--label"):
        run_validate(small_bank_csv, tmp_path, schema=None, label="y")


def test_big_files_get_sampled_statistics_that_still_catch_anomalies(tmp_path, bank_frame):
    result = run_validate(BANK_CSV, tmp_path / "ok", beam_threshold_mb=0.1, sample_rows=3000)
    assert result["sampled"]["rows_in_file"] == 11162 and 2000 < result["sampled"]["rows_in_sample"] < 4500
    assert result["anomalies"] == 0 and result["rows"] == 11162
    bad = bank_frame.copy()
    bad.loc[bad.index % 50 == 0, "month"] = "smarch"
    path = tmp_path / "bad.csv"
    bad.to_csv(path, index=False)
    with pytest.raises(AnomaliesError, match="month"):
        run_validate(path, tmp_path / "bad", beam_threshold_mb=0.1, sample_rows=3000)


def test_beam_path_gives_exact_statistics(tmp_path, small_bank_csv):
    result = run_validate(small_bank_csv, tmp_path, beam_threshold_mb=0.01, big_data="beam")
    assert result["rows"] == 1000 and result["sampled"] is None and result["anomalies"] == 0


@pytest.mark.parametrize("kind", CSV_VARIANTS)
def test_sampled_statistics_agree_with_in_memory_statistics_on_files_in_the_wild(tmp_path, bank_frame, kind):
    """The path for big files (a sample read in chunks) reaches the same verdict, with the same message."""
    path = variant_csv(sample_bank(bank_frame, 2000), kind, tmp_path / "data.csv")
    outcomes = []
    for name, config in (("memory", {}), ("sampled", {"beam_threshold_mb": 0.001, "sample_rows": 1000})):
        try:
            result = run_validate(path, tmp_path / name, **config)
            outcomes.append(("ok", result["anomalies"], result["rows"]))
        except (DataError, AnomaliesError) as exc:
            outcomes.append((type(exc).__name__, exc.message))
    assert outcomes[0] == outcomes[1]
    assert (outcomes[0][0] == "ok") == (kind not in ("invalid_utf8", "duplicated_header")), outcomes
    if outcomes[0][0] == "ok":
        assert outcomes[0][1:] == (0, 2000)
