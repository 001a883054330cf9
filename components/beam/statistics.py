"""Exact TFDV statistics of a CSV as a Beam pipeline, on any runner (DirectRunner, Flink): validate's path for
files that do not fit in memory (`validate.big_data=beam`) and for `--beam-pipeline-args`.

The CSV is read by the rules of storage.read_csv, so both paths see the same table: OUR header (stripped
names, no BOM; never the file's raw first line), cells parsed with the detected delimiter and leading spaces
skipped, blank lines skipped, CRLF accepted, label spellings (' yes ', 'YES', 'True') made canonical as
features.canonical_labels does. Workers read byte ranges of the file (beam_split.read_range) and pass rows on
in batches of BATCH_ROWS: Beam's cost per element is paid per batch, not per row. Types are inferred over the
whole file by tfx_bsl's CSV decoder (INT < FLOAT < STRING), which then builds the Arrow record batches that
tfdv.GenerateStatistics takes.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

import apache_beam as beam

from components import storage
from components.beam import jobs
from components.beam.split import byte_ranges, lines_before, parallelism, read_range
from components.core.errors import DataError
from components.data.features import NEGATIVE, POSITIVE
from components.storage.tables import ragged_error

BATCH_ROWS = 1000  # TFDV's default desired batch size


class ParseRange(beam.DoFn):
    """A byte range -> batches of rows, each row its cells as bytes (what tfx_bsl's decoder takes)."""

    def __init__(self, path: Path, delimiter: str, width: int):
        self.path, self.delimiter, self.width = str(path), delimiter, width

    def process(self, item):
        _, start, end = item
        at, block = read_range(self.path, start, end)
        try:
            text = block.decode("utf-8")
        except UnicodeDecodeError:  # jobs.run names the line, reading the file from its start
            raise DataError(f"{jobs.NOT_UTF8} {self.path}") from None
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=self.delimiter, skipinitialspace=True)
        batch = []
        for cells in reader:
            if len(cells) <= 1 and not "".join(cells).strip():
                continue  # a blank line, as pandas skips it
            if len(cells) != self.width:
                line = lines_before(self.path, at) + reader.line_num
                raise ragged_error(self.path, f"Expected {self.width} fields in line {line}, saw {len(cells)}")
            batch.append([cell.encode("utf-8") for cell in cells])
            if len(batch) == BATCH_ROWS:
                yield batch
                batch = []
        if batch:
            yield batch


class BatchTypes(beam.CombineFn):
    """tfx_bsl's ColumnTypeInferrer, fed a batch of rows at a time."""

    def __init__(self, header: list[str]):
        from tfx_bsl.coders.csv_decoder import ColumnTypeInferrer

        self.inner = ColumnTypeInferrer(header, skip_blank_lines=True)

    def create_accumulator(self):
        return self.inner.create_accumulator()

    def add_input(self, accumulator, batch):
        for cells in batch:
            accumulator = self.inner.add_input(accumulator, cells)
        return accumulator

    def merge_accumulators(self, accumulators):
        return self.inner.merge_accumulators(accumulators)

    def extract_output(self, accumulator):
        return self.inner.extract_output(accumulator)


def canonical_labels(batch, column_infos, at: int):
    """Text labels in any accepted spelling become yes/no, as features.canonical_labels does; a label column of
    numbers only (1/0) stays numeric, as pandas reads it. Rows become the (cells, raw line) pairs the decoder
    takes (the raw line is not kept)."""
    from tfx_bsl.coders.csv_decoder import ColumnType

    if column_infos[at].type != ColumnType.STRING:
        return [(cells, None) for cells in batch]
    rows = []
    for cells in batch:
        text = cells[at].decode("utf-8").strip().lower()
        if text in POSITIVE or text in NEGATIVE:
            cells = [*cells[:at], b"yes" if text in POSITIVE else b"no", *cells[at + 1:]]
        rows.append((cells, None))
    return rows


def statistics(path: Path, delimiter: str, header: list[str], label: str, flags: list[str], scratch: Path):
    """The DatasetFeatureStatisticsList of the whole file, computed by a Beam pipeline on `flags`' runner."""
    import tensorflow_data_validation as tfdv
    from tfx_bsl.coders import csv_decoder

    output = scratch / "stats.pb"
    ranges = byte_ranges(path, parallelism(flags))

    def build(pipeline):
        batches = (pipeline | "Ranges" >> beam.Create(ranges) | "Spread" >> beam.Reshuffle()
                   | "ParseRanges" >> beam.ParDo(ParseRange(path, delimiter, len(header))))
        types = beam.pvalue.AsSingleton(batches | "InferTypes" >> beam.CombineGlobally(BatchTypes(header)))
        _ = (batches
             | "CanonicalLabels" >> beam.Map(canonical_labels, types, header.index(label))
             | "ToArrow" >> beam.ParDo(csv_decoder.BatchedCSVRowsToRecordBatch(skip_blank_lines=True), types)
             | "GenerateStatistics" >> tfdv.GenerateStatistics(tfdv.StatsOptions())
             | "Write" >> tfdv.WriteStatisticsToBinaryFile(str(output)))

    scratch.mkdir(parents=True, exist_ok=True)
    jobs.run(build, flags, f"the Beam statistics job on {path}", data=path, job="bankpipe-validate-statistics")
    return storage.load_statistics(output)
