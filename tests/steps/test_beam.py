"""validate and split as Beam pipelines (issue #16; #13's reader): the same outcome as the local paths, on the
DirectRunner and on the real local Flink cluster (`make flink`; under CI these tests fail if it is down)."""
import json
import os
import time
import urllib.request

import pytest

from components import storage
from components.config.sections import SplitConfig, ValidateConfig
from components.core import filenames
from components.core.errors import DataError, InfraError, PipelineError, UsageError
from components.steps import split, validate
from tests.helpers import BANK_CSV, BANK_SCHEMA, CSV_VARIANTS, sample_bank, variant_csv
from tests.steps.test_split import _records

FLINK_REST = "http://127.0.0.1:8081"
FLINK = "--runner=FlinkRunner --flink_master=localhost:8081 --environment_type=LOOPBACK --parallelism=2"
DIRECT = "--runner=DirectRunner"


def run_validate(data, out, **config):
    return validate.run(ValidateConfig(**config), {"data": data, "schema": BANK_SCHEMA}, {"output": out})


def run_split(data, out, **config):
    return split.run(SplitConfig(format="tfrecord", shards=3, **config), {"data": data, "schema": BANK_SCHEMA},
                     {"output": out})


def statistics(out, approx: bool = False) -> dict:
    """Per feature: its type and counts (to compare exactly) and its moments (within float tolerance when
    `approx`: put that side on the right of ==)."""
    result = {}
    for feature in storage.load_statistics(out / filenames.STATS).datasets[0].features:
        kind = feature.WhichOneof("stats")
        stats = getattr(feature, kind)
        counts = (feature.type, stats.common_stats.num_non_missing, stats.common_stats.num_missing)
        if kind == "num_stats":
            moments = (stats.mean, stats.std_dev)
            result[feature.path.step[0]] = counts + (stats.num_zeros, stats.min, stats.max,
                                                     pytest.approx(moments, rel=1e-9) if approx else moments)
        else:
            result[feature.path.step[0]] = counts + (stats.unique, [(v.value, v.frequency) for v in stats.top_values])
    return result


def outcome(run):
    try:
        return "ok", run()
    except PipelineError as exc:
        return type(exc).__name__, exc.message


def with_bad_row(tmp_path, line: int, bad: bytes) -> os.PathLike:
    """The bank data with line `line` replaced: past the 10,000 rows validate checks up front, so only the Beam
    workers meet it."""
    lines = BANK_CSV.read_bytes().split(b"\n")
    lines[line - 1] = bad
    path = tmp_path / "bad.csv"
    path.write_bytes(b"\n".join(lines))
    return path


# ── DirectRunner: the Beam reader agrees with the in-memory one (#13) ────────────────────────────────────────
@pytest.mark.parametrize("kind", CSV_VARIANTS)
def test_beam_statistics_agree_with_in_memory_statistics_on_files_in_the_wild(tmp_path, bank_frame, kind):
    """BOM, CRLF, label spellings, padded header names: the same table, so the same statistics and verdict."""
    path = variant_csv(sample_bank(bank_frame, 2000), kind, tmp_path / "data.csv")
    memory = outcome(lambda: run_validate(path, tmp_path / "memory"))
    beam = outcome(lambda: run_validate(path, tmp_path / "beam", beam_threshold_mb=0.001, big_data="beam"))
    assert beam[0] == memory[0] and (memory[0] == "ok") == (kind not in ("invalid_utf8", "duplicated_header"))
    if memory[0] != "ok":
        assert beam[1] == memory[1]
        return
    assert (beam[1]["rows"], beam[1]["anomalies"]) == (memory[1]["rows"], memory[1]["anomalies"]) == (2000, 0)
    assert statistics(tmp_path / "beam") == statistics(tmp_path / "memory", approx=True)
    assert "age" in statistics(tmp_path / "beam")  # our header: stripped, no BOM


@pytest.mark.parametrize("bad, message", [
    (b"59,admin.,marri\xe9d,secondary,no,2343,yes,no,unknown,5,may,1042,1,-1,0,unknown,yes",
     "line 11000 holds the byte(s) b'\\xe9'"),
    (b"59,admin.,married,secondary,no,2343,yes,no,unknown,5,may,1042,1,-1,0,unknown,yes,extra",
     "line 11000 has 18 fields but the header has 17")])
def test_a_bad_row_only_the_beam_workers_see_is_a_data_error(tmp_path, bad, message):
    path = with_bad_row(tmp_path, 11000, bad)
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)").replace("\\x", "\\\\x")):
        run_validate(path, tmp_path / "out", beam_pipeline_args=DIRECT)


def test_beam_split_writes_the_rows_and_shards_of_the_local_split(tmp_path):
    memory = run_split(BANK_CSV, tmp_path / "memory")
    beam = run_split(BANK_CSV, tmp_path / "beam", beam_pipeline_args=DIRECT)
    assert beam["splits"] == memory["splits"]
    assert _records(tmp_path / "beam") == _records(tmp_path / "memory")
    assert storage.read_json(tmp_path / "beam" / filenames.FEATURES) == \
        storage.read_json(tmp_path / "memory" / filenames.FEATURES)
    assert sorted(p.name for p in (tmp_path / "beam" / "test").iterdir()) == \
        sorted(p.name for p in (tmp_path / "memory" / "test").iterdir())
    assert not (tmp_path / "beam" / ".beam-scratch").exists()


def test_a_ragged_row_in_the_beam_split_is_named_by_its_line(tmp_path):
    path = with_bad_row(tmp_path, 11000, b"59,admin.,married,secondary,no,2343,yes,no,unknown,5,may,1042,1,-1,0,"
                                         b"unknown,yes,extra")
    with pytest.raises(DataError, match="ragged rows.*line 11000"):
        run_split(path, tmp_path / "out", beam_pipeline_args=DIRECT)


@pytest.mark.parametrize("args, message", [
    ('"--runner=FlinkRunner', "cannot be parsed"), ("--runner=Flinkrunner2", "Beam does not know"),
    ("FlinkRunner", "is not a --flag")])
def test_bad_beam_pipeline_args_are_usage_errors(args, message):
    with pytest.raises(UsageError, match=message):
        SplitConfig(format="tfrecord", beam_pipeline_args=args)
    with pytest.raises(UsageError, match="add --format tfrecord"):
        SplitConfig(beam_pipeline_args=DIRECT)


def test_jobs_get_a_name_and_on_flink_blocking_exchanges_unless_the_flags_say_otherwise():
    from components.beam.jobs import with_defaults

    assert with_defaults(["--runner=FlinkRunner"], "job") == [
        "--runner=FlinkRunner", "--job_name=job", "--execution_mode_for_batch=BATCH_FORCED"]
    assert with_defaults(["--runner=FlinkRunner", "--execution_mode_for_batch=PIPELINED", "--job_name=mine"], "job") \
        == ["--runner=FlinkRunner", "--execution_mode_for_batch=PIPELINED", "--job_name=mine"]
    assert with_defaults([DIRECT], "job") == [DIRECT, "--job_name=job"]


def test_pipeline_flag_sets_validate_and_split_and_lands_in_the_config():
    import pipeline

    args = pipeline.build_parser().parse_args(["--format", "tfrecord", f"--beam-pipeline-args={FLINK}"])
    config = pipeline.resolve_config(args)
    assert config.validate.beam_pipeline_args == config.split.beam_pipeline_args == FLINK


def test_flink_that_does_not_answer_is_a_retryable_error_naming_make_flink(tmp_path):
    args = FLINK.replace("localhost:8081", "localhost:9")  # the discard port: nothing listens there
    with pytest.raises(InfraError, match="make flink"):
        run_validate(BANK_CSV, tmp_path / "out", beam_pipeline_args=args)
    assert validate.main(["--data", str(BANK_CSV), "--output", str(tmp_path / "cli"),
                          f"--beam-pipeline-args={args}"]) == InfraError.exit_code == 75


# ── The real local Flink cluster ──────────────────────────────────────────────────────────────────────────────
def flink_jobs(since: float) -> dict[str, str]:
    with urllib.request.urlopen(f"{FLINK_REST}/jobs/overview", timeout=5) as response:
        jobs = json.load(response)["jobs"]
    return {job["name"].split("_")[0]: job["state"] for job in sorted(jobs, key=lambda j: j["start-time"])
            if job["start-time"] >= since * 1000}


@pytest.fixture(scope="module")
def flink():
    try:
        urllib.request.urlopen(f"{FLINK_REST}/overview", timeout=3).read()
    except OSError as exc:
        message = f"no Flink at {FLINK_REST} ({exc}): `make flink` starts it"
        if os.environ.get("CI"):
            pytest.fail(message + "; under CI .ci/run must have started it")
        pytest.skip(message)


def test_validate_and_split_on_flink_match_the_local_paths(tmp_path, flink):
    started = time.time()
    run_validate(BANK_CSV, tmp_path / "memory")
    on_flink = run_validate(BANK_CSV, tmp_path / "flink", beam_pipeline_args=FLINK)
    assert on_flink["rows"] == 11162 and on_flink["anomalies"] == 0
    assert statistics(tmp_path / "flink") == statistics(tmp_path / "memory", approx=True)
    memory = run_split(BANK_CSV, tmp_path / "split-memory")
    flink_split = run_split(BANK_CSV, tmp_path / "split-flink", beam_pipeline_args=FLINK)
    assert flink_split["splits"] == memory["splits"]
    assert _records(tmp_path / "split-flink") == _records(tmp_path / "split-memory")
    assert flink_jobs(started) == {"bankpipe-validate-statistics": "FINISHED", "bankpipe-split-labels": "FINISHED",
                                   "bankpipe-split-rows": "FINISHED"}  # it ran on Flink, not in this process


def test_a_failing_flink_job_exits_with_the_data_error_code_and_no_java_trace(tmp_path, flink, capsys):
    started = time.time()
    path = with_bad_row(tmp_path, 11000, b"59,admin.,married,secondary,no,2343,yes,no,unknown,5,may,1042,1,-1,0,"
                                         b"unknown,yes,extra")
    code = validate.main(["--data", str(path), "--schema", str(BANK_SCHEMA), "--output", str(tmp_path / "out"),
                          f"--beam-pipeline-args={FLINK}"])
    assert code == DataError.exit_code == 3
    error = [line for line in capsys.readouterr().err.splitlines() if " ERROR " in line][-1]
    assert "line 11000 has 18 fields but the header has 17" in error and str(path) in error
    assert "java" not in error.lower() and "Traceback" not in error
    assert flink_jobs(started) == {"bankpipe-validate-statistics": "FAILED"}


def test_the_flink_path_with_the_run_on_the_store(tmp_path, flink, bucket, bank_frame, monkeypatch):
    """The whole pipeline with validate and split on Flink and the run on the real S3 server: the Beam
    workers read and write the launcher's scratch mirror, and the shards end up on the store."""
    import pipeline
    from components.storage.objectstore import Store, Uri

    started = time.time()
    monkeypatch.chdir(tmp_path)
    sample_bank(bank_frame, 2000).to_csv(tmp_path / "clients.csv", index=False)
    assert pipeline.main(["--run-id", "f1", "--data", "clients.csv", "--epochs", "3", f"--beam-pipeline-args={FLINK}",
                          "--pipeline-root", f"s3://{bucket}/runs", "--serving-dir", f"s3://{bucket}/serving"]) == 0
    assert flink_jobs(started) == {"bankpipe-validate-statistics": "FINISHED", "bankpipe-split-labels": "FINISHED",
                                   "bankpipe-split-rows": "FINISHED"}
    shards = [k for k in Store().listing(Uri(bucket, "runs/f1/split")) if ".tfrecord" in k]
    assert shards, "no TFRecord shard on the store"
    assert (tmp_path / "runs" / "f1" / "push" / "gate.txt").is_file()
