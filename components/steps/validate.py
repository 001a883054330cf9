"""validate: statistics and schema checks with TFDV; anomalies stop the pipeline.

Core: statistics from a DataFrame (in memory) or a CSV (Beam, for data that does not fit), anomalies
against a schema, drift against the previous run's statistics. `run` writes the statistics (binary and
an HTML view), the schema used, and anomaly and drift reports, then raises AnomaliesError on anomalies.
"""
from __future__ import annotations

import contextlib
import copy
import datetime
import logging
import shutil
from io import StringIO
from pathlib import Path
from typing import Sequence

import pandas as pd

from components import storage
from components.config import grammars
from components.config.sections import ValidateConfig
from components.core import console, filenames
from components.core.errors import AnomaliesError
from components.core.interface import DATA, SCHEMA, ComponentSpec, Input, Lookup
from components.data.columns import check_number_formats
from components.data.features import canonical_labels, encode_labels, require_label
from components.registry import lookups
from components.reports import data_report
from components.steps.main import component_main
from components.storage.tables import checked_head

log = logging.getLogger(__name__)

SPEC = ComponentSpec(
    name="validate", image="data",
    description="Compute statistics of a CSV with TFDV and check them against a schema; exit 4 on anomalies.",
    inputs=(Input("data", DATA, "CSV file (the delimiter is detected)"),
            Input("schema", SCHEMA, "TFDV schema (.pbtxt); omitted: infer one and save it", required=False),
            Input("previous_statistics", Lookup(lookups.previous_statistics),
                  "stats.pb of an earlier run, to report drift", required=False)),
    result_file=filenames.VALIDATE_RESULT, exit_codes=(3, 4, 75),
    summarize=lambda record, output: summary_lines(record))


def _tfdv():
    """TFDV, imported without its stderr note that IPython is missing: we write HTML files, not cells."""
    with contextlib.redirect_stderr(StringIO()):
        import tensorflow_data_validation as tfdv
    return tfdv


def statistics_in_memory(frame: pd.DataFrame):
    """TFDV's statistics, plus the count of distinct values of each numeric column (TFDV counts them for text
    only), as a custom statistic the report shows."""
    tfdv = _tfdv()

    stats = tfdv.generate_statistics_from_dataframe(frame)
    for feature in stats.datasets[0].features:
        name = data_report.feature_name(feature)
        if feature.HasField("num_stats") and name in frame:
            feature.custom_stats.add(name=data_report.DISTINCT, num=float(frame[name].nunique()))
    return stats


def statistics_with_beam(path: Path, delimiter: str, header: list[str], config: ValidateConfig, scratch: Path):
    """A Beam pipeline streams the file (components/statistics.py): slower to start (seconds) but memory stays
    flat, and on a cluster runner (--beam-pipeline-args) the rows are read in parallel."""
    _tfdv()
    from components.beam import statistics

    try:
        return statistics.statistics(path, delimiter, header, config.label,
                                     grammars.parse_flags(config.beam_pipeline_args), scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def sample_rows(path: Path, config: ValidateConfig) -> tuple[pd.DataFrame, int]:
    """A seeded random sample of about `sample_rows` rows, read chunk by chunk; and the file's row count."""
    with open(path, "rb") as handle:
        head = handle.read(1 << 20)
    rows_estimate = path.stat().st_size / max(len(head) / max(head.count(b"\n"), 1), 1)
    rate = min(1.0, config.sample_rows / rows_estimate)
    parts, rows = [], 0
    for number, chunk in enumerate(storage.read_csv_chunks(path, 200_000)):
        rows += len(chunk)
        parts.append(chunk.sample(frac=rate, random_state=number))
    return pd.concat(parts, ignore_index=True), rows


def infer_schema(stats):
    tfdv = _tfdv()

    return tfdv.infer_schema(stats)


def find_anomalies(stats, schema):
    tfdv = _tfdv()

    return tfdv.validate_statistics(stats, schema)


def describe_anomalies(anomalies, frame: pd.DataFrame | None = None) -> list[str]:
    """One line per column, named as the data report names it; a type mismatch also names the first line and
    value that are not a number."""
    named = {key: data_report.anomaly_feature(key, info) for key, info in anomalies.anomaly_info.items()}
    return sorted(f"{named[key]}: {info.short_description}. {info.description}{first_non_number(frame, named[key])}"
                  for key, info in anomalies.anomaly_info.items())


def first_non_number(frame: pd.DataFrame | None, column: str) -> str:
    """` (line 13 holds 'lots')` when `column` holds text where numbers are expected, else ''."""
    if frame is None or column not in frame.columns or pd.api.types.is_numeric_dtype(frame[column]):
        return ""
    values = frame[column]
    bad = pd.to_numeric(values, errors="coerce").isna() & values.notna()
    if not bad.any() or bad.all():
        return ""
    row = int(bad.to_numpy().argmax())
    return f" (line {row + 2} holds {values.iloc[row]!r}; a number is expected there)"


def find_drift(stats, schema, previous, config: ValidateConfig) -> list[str]:
    """Jensen-Shannon divergence for numeric features, L-infinity distance for categorical ones."""
    tfdv = _tfdv()
    from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2

    with_comparators = copy.deepcopy(schema)
    for feature in with_comparators.feature:
        if feature.type == schema_pb2.BYTES:
            feature.drift_comparator.infinity_norm.threshold = config.drift_linf_threshold
        else:
            feature.drift_comparator.jensen_shannon_divergence.threshold = config.drift_js_threshold
    anomalies = tfdv.validate_statistics(stats, with_comparators, previous_statistics=previous)
    lines = []
    for key, info in anomalies.anomaly_info.items():
        for reason in info.reason:
            if "COMPARATOR" in anomalies_pb2.AnomalyInfo.Type.Name(reason.type):
                lines.append(f"{data_report.anomaly_feature(key, info)}: {reason.description}")
    return sorted(lines)


def comparable_previous(stats, path: Path | None):
    """(the previous run's statistics, which run that is in words), or (None, '') when there is none or it
    describes other columns (another data set: most columns would look new or gone)."""
    if not path:
        return None, ""
    previous = storage.load_statistics(path)
    ours, theirs = set(data_report.summaries(stats)), set(data_report.summaries(previous))
    if len(ours & theirs) * 2 < len(ours | theirs):
        log.info("previous statistics %s describe other columns: no drift computed", path)
        return None, ""
    path = Path(path)
    stamp = datetime.datetime.fromtimestamp(path.stat().st_mtime, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    rows = int(previous.datasets[0].num_examples) if previous.datasets else 0
    return previous, f"run {path.parents[1].name} of {stamp}, {rows} rows"



def statistics_html(stats) -> str:
    _tfdv()
    from tensorflow_data_validation.utils import display_util

    return display_util.get_statistics_html(stats)


def _statistics(config: ValidateConfig, data: Path, out: Path):
    """(statistics, rows, the frame or None when Beam read the file, what was sampled or None)."""
    size_mb = data.stat().st_size / 1e6 if data.is_file() else 0
    frame, sampled = None, None
    if config.beam_pipeline_args or size_mb > config.beam_threshold_mb and config.big_data == "beam":
        log.info("%s is %.0f MB: exact statistics through Beam (%s)", data, size_mb,
                 config.beam_pipeline_args or "DirectRunner, streaming")
        delimiter = storage.sniff_delimiter(data)
        head = checked_head(data, config.label)
        stats = statistics_with_beam(data, delimiter, list(head.columns), config, out / ".beam-scratch")
        rows = int(stats.datasets[0].num_examples)
    else:
        if size_mb > config.beam_threshold_mb:
            frame, rows = sample_rows(data, config)
            sampled = {"rows_in_file": rows, "rows_in_sample": len(frame)}
            log.warning("%s is %.0f MB: statistics of a random sample of %d of its %d rows (rare values may be "
                        "missed; validate.big_data=beam computes exact statistics)", data, size_mb, len(frame), rows)
        else:
            frame = storage.read_csv(data)
            rows = len(frame)
        require_label(frame, config.label)
        check_number_formats(frame, data, skip=config.label)
        frame[config.label] = canonical_labels(frame[config.label])
        log.info("computing statistics of %d rows x %d columns (TFDV)", len(frame), frame.shape[1])
        stats = statistics_in_memory(frame)
    return stats, rows, frame, sampled


def run(config: ValidateConfig, inputs: dict, outputs: dict) -> dict:
    """inputs: data (CSV), schema (optional .pbtxt), previous_statistics (optional); outputs: output dir."""
    data, out = Path(inputs["data"]), Path(outputs["output"])
    log.info("reading %s", data)
    stats, rows, frame, sampled = _statistics(config, data, out)
    log.info("statistics of %d rows x %d columns", rows, len(stats.datasets[0].features))

    if inputs.get("schema"):
        schema, origin = storage.load_schema(inputs["schema"]), "given"
    else:
        schema, origin = infer_schema(stats), "inferred"
        log.info("no schema given: inferred one from this data (saved as %s)", out / filenames.SCHEMA)
    anomalies = find_anomalies(stats, schema)
    problems = describe_anomalies(anomalies, frame)
    drift, (previous, previous_run) = [], comparable_previous(stats, inputs.get("previous_statistics"))
    if previous is not None:
        drift = find_drift(stats, schema, previous, config)
        log.info("drift against the previous run of this data set (%s): %s", previous_run,
                 "; ".join(drift) if drift else "none")
    if frame is not None and not problems:
        encode_labels(frame[config.label], config.label)  # one class only: fail here, before any split
    duplicates = int(frame.duplicated().sum()) if frame is not None and not sampled else None
    if duplicates:
        log.warning("%d duplicated rows (kept; they may leak between splits)", duplicates)

    storage.save_proto_binary(out / filenames.STATS, stats)
    storage.write_text(out / filenames.STATS_HTML, statistics_html(stats))
    storage.save_proto_text(out / filenames.SCHEMA, schema)
    storage.save_proto_text(out / filenames.ANOMALIES, anomalies)
    storage.write_text(out / filenames.ANOMALIES_TXT, "\n".join(problems) + "\n" if problems else "no anomalies\n")
    storage.write_text(out / filenames.DRIFT_TXT, "\n".join(drift) + "\n" if drift else "no drift\n")
    data_report.write(out / filenames.REPORT_HTML, stats, schema, anomalies, previous, drift, title=data.name,
                      previous_run=previous_run)
    result = {"rows": rows, "schema": origin, "anomalies": len(problems), "drift": drift, "compared_with": previous_run,
              "duplicated_rows": duplicates, "sampled": sampled}
    storage.write_json(out / filenames.VALIDATE_RESULT, result)

    if problems:
        raise AnomaliesError(f"{len(problems)} column(s) of {data} do not match the schema:\n  "
                             + "\n  ".join(problems) + f"\nFull report: {out / filenames.ANOMALIES_TXT}")
    if drift and config.fail_on_drift:
        raise AnomaliesError("data drifted from the previous run (fail_on_drift is set):\n  " + "\n  ".join(drift))
    log.info("no anomalies (%s schema)", origin)
    return result


def summary_lines(record: dict) -> list[str]:
    """What the log warned about and a reader must not miss: repeated at the end, where it does not scroll away."""
    validated = record.get("result") or {}
    found = []
    if validated.get("duplicated_rows"):
        found.append(f"warning: {validated['duplicated_rows']} duplicated rows in the data (kept; they may leak "
                     f"between the splits)")
    if validated.get("sampled"):
        sampled = validated["sampled"]
        found.append(f"warning: statistics of a sample of {sampled['rows_in_sample']} of "
                     f"{sampled['rows_in_file']} rows (validate.big_data=beam computes exact ones)")
    if validated.get("drift"):
        found.append(f"warning: drift against the previous run in {len(validated['drift'])} column(s) "
                     f"({validated.get('compared_with') or 'of this data set'}): see validate/{filenames.DRIFT_TXT}")
    return found


def main(argv: Sequence[str] | None = None) -> int:
    return component_main(argv, SPEC, ValidateConfig, run)


if __name__ == "__main__":
    raise SystemExit(console.entry(main))
