"""components/core/console.py: the component CLI made from a spec, and the one record protocol every runner reads."""
from __future__ import annotations

import json

import pytest

from components import storage
from components.config import sections
from components.core import filenames, protocol
from components.core.errors import AnomaliesError, DataError, PipelineError
from components.core.interface import ComponentSpec, Input, Output, Param, StepOutput
from components.steps import main

SPEC = ComponentSpec("probe", "Probe the CLI.", "data",
                     (Input("data", Param("data"), "the CSV"), Input("schema", StepOutput("x"), "a schema",
                                                                     required=False)),
                     (Output("serving_dir", Param("serving_dir"), "where to push"),))


def probe_main(argv, run):
    return main.component_main(argv, SPEC, sections.EvaluateConfig, run)


def test_the_cli_derives_its_path_flags_from_the_spec_and_records_the_result(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(protocol.RECORD_LINE_ENV, "1")
    seen = {}

    def run(config, inputs, outputs):
        seen.update(config=config, inputs=inputs, outputs=outputs)
        return {"rows": 3}

    out = tmp_path / "out"
    code = probe_main(["--data", "d.csv", "--serving-dir", "s", "--output", str(out), "--batch-size", "7"], run)
    assert code == 0
    assert seen["inputs"] == {"data": "d.csv", "schema": None}
    assert seen["outputs"] == {"serving_dir": "s", "output": str(out)} and seen["config"].batch_size == 7
    assert storage.read_json(out / filenames.RESULT) == {"rows": 3}
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert protocol.parse_record_line(line) == protocol.Record(0, {"rows": 3})


def test_a_failing_cli_writes_the_error_record_with_its_whole_message(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(protocol.RECORD_LINE_ENV, "1")
    out = tmp_path / "out"
    storage.write_json(out / filenames.RESULT, {"stale": True})  # an earlier attempt's success

    def run(config, inputs, outputs):
        raise AnomaliesError("2 anomalies:\n  age: out of range\n  job: unexpected values")

    assert probe_main(["--data", "d.csv", "--serving-dir", "s", "--output", str(out)], run) == 4
    assert not (out / filenames.RESULT).exists()
    assert storage.read_json(out / filenames.ERROR) == {"exit_code": 4, "error": "2 anomalies:\n  age: out of range"
                                                                               "\n  job: unexpected values"}
    captured = capsys.readouterr()
    record = protocol.record_from_log(4, captured.out.splitlines())
    assert record == protocol.Record(4, None, "2 anomalies:\n  age: out of range\n  job: unexpected values")
    assert "age: out of range" in captured.err  # the log says it too, for people


def test_a_bug_exits_1_with_its_traceback_and_a_record(tmp_path, capsys):
    def run(config, inputs, outputs):
        return 1 / 0

    assert probe_main(["--data", "d", "--serving-dir", "s", "--output", str(tmp_path)], run) == 1
    assert "Traceback" in capsys.readouterr().err
    assert storage.read_json(tmp_path / filenames.ERROR)["error"] == "ZeroDivisionError: division by zero"


def test_missing_required_flags_and_bad_config_values_are_usage_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        probe_main(["--output", str(tmp_path)], lambda *a: {})
    assert exc.value.code == 2 and "--data" in capsys.readouterr().err
    assert probe_main(["--data", "d", "--serving-dir", "s", "--output", str(tmp_path), "--batch-size", "x"],
                      lambda *a: {}) == 2


def test_records_unwrap_to_results_or_their_domain_errors():
    assert protocol.Record(0, {"a": 1}).unwrap() == {"a": 1}
    with pytest.raises(DataError, match="bad file"):
        protocol.Record(3, None, "bad file").unwrap()
    with pytest.raises(PipelineError, match="exit code 9"):
        protocol.Record(9, None, "odd").unwrap()


def test_a_log_without_a_record_line_gives_its_exit_code_and_last_lines():
    record = protocol.record_from_log(137, ["epoch 1", "Killed"])  # SIGKILL, as a shell, container or pod reports it
    assert record.exit_code == 75 and record.error.startswith("epoch 1\nKilled (killed by signal 9")
    assert protocol.record_from_log(-15, []).error.startswith("exited with code -15")  # SIGTERM, as Python reports it
    assert protocol.record_from_log(-15, []).exit_code == 75
    assert protocol.record_from_log(3, ["bad"]) == protocol.Record(3, None, "bad")
    truncated = protocol.RECORD_MARKER + '{"exit_code": 0, "res'
    assert protocol.parse_record_line(truncated) is None
    assert protocol.record_from_log(0, [truncated]) == protocol.Record(0, None)
    # a record from an earlier attempt that disagrees with the exit code is not this attempt's
    assert protocol.record_from_log(75, [protocol.Record(0, {}).line(), "Killed"]).exit_code == 75


def test_the_line_splitter_joins_chunks_split_anywhere():
    text = "é line one\r\nline two\n" + protocol.Record(0, {"x": "ü"}).line() + "\ntail"
    data = text.encode()
    splitter, lines = protocol.LineSplitter(), []
    for i in range(0, len(data), 3):
        lines += splitter.feed(data[i:i + 3])
    lines += splitter.close()
    assert lines == ["é line one", "line two", protocol.Record(0, {"x": "ü"}).line(), "tail"]
    assert protocol.parse_record_line(lines[2]).result == {"x": "ü"}
    assert json.loads(lines[2][len(protocol.RECORD_MARKER):])["exit_code"] == 0
