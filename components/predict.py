"""Score a CSV with an exported or pushed model: the batch-scoring side of the pipeline, not a step.

    python -m components.predict --model serving/bank --data clients.csv --output scores.csv
    python -m components.predict --model serving/bank/3 ...        # a given version
    python -m components.predict --model runs/<id>/train/model ... # a model straight out of train
    python -m components.predict --model s3://bucket/serving/bank ... # on the object store (docs/objectstore.md)

Rows are given by their CSV column names (components/evaluation/scoring.py's Scorer maps them to the signature); the
label column, if present, is ignored like any other column the model does not take. The output holds
every input column, `positive_probability` and `predicted_<label>` (yes/no at the model's decision threshold,
chosen on validation in train and recorded in the model; 0.5 for a model that records none).
The CSV is checked against the model's recorded columns before TensorFlow loads. Categories the model never
saw and numbers far outside its training range are counted per column in the log (and in the result).
Exit codes: 0 scored; 2 bad flags (an --output in a directory that does not exist); 3 model missing or not
loadable, a column missing, a cell empty or of the wrong type (each message names the column, line and
value); 75 the output could not be written.
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from components import storage
from components.core import console, filenames
from components.core.errors import DataError, UsageError
from components.orchestration import staging
from components.registry import lookups
from components.storage import objectstore
from components.storage.mirror import scratch_mirror

log = logging.getLogger("components.predict")
PROBABILITY = "positive_probability"
STDOUT = "-"


def resolve_model(path: str | Path) -> Path:
    """A SavedModel directory, or a model's serving folder (<serving>/<model>/): its newest version."""
    path = Path(path)
    if (path / "saved_model.pb").is_file():
        return path
    newest = lookups.latest_version(path.parent, path.name)
    if newest is not None:
        return newest
    what = "does not exist" if not path.exists() else "holds neither saved_model.pb nor numbered versions"
    raise DataError(f"--model {path} {what}: pass a SavedModel directory (e.g. runs/<id>/train/model) or a "
                    f"served model's folder (e.g. serving/bank, whose newest version is used).")


def check_cells(frame: pd.DataFrame, kinds: dict[str, bool], data: Path) -> None:
    """Every cell the model reads is present, and a number where the model takes numbers. kinds: CSV column
    -> True when the model takes it as text. Line numbers count the header as line 1."""
    missing = [column for column in kinds if column not in frame.columns]
    if missing:
        raise DataError(f"{data} lacks column(s) {missing} that the model takes (it has {list(frame.columns)}): "
                        f"add them, spelled as in the training data's header.")
    for column, text in kinds.items():
        values = frame[column]
        empty = values.isna() | (values.astype(str).str.strip() == "")
        if empty.any():
            raise DataError(f"column {column!r} of {data} has an empty cell on line {_line(empty)}: the model needs "
                            f"a value in every row; fill it in or drop the row.")
        if not text and not pd.api.types.is_numeric_dtype(values):
            bad = pd.to_numeric(values, errors="coerce").isna()
            raise DataError(f"column {column!r} of {data} must hold numbers, but line {_line(bad)} holds "
                            f"{values[bad].iloc[0]!r}: write a plain number (e.g. 1234.5).")
        if text and pd.api.types.is_numeric_dtype(values):
            raise DataError(f"column {column!r} of {data} holds numbers but the model was trained on it as text "
                            f"(categories, e.g. {values.iloc[0]!r}): is this the right model (--model)?")


def _line(mask: pd.Series) -> int:
    return int(np.flatnonzero(mask.to_numpy())[0]) + 2


def score_frame(frame: pd.DataFrame, scorer, label: str | None, batch_size: int) -> pd.DataFrame:
    """The input rows with their probabilities and predicted labels appended."""
    features = {column: frame[column].to_numpy() for column in scorer.inputs}
    probabilities = scorer(features, batch_size)
    out = frame.copy()
    out[PROBABILITY] = probabilities
    out[f"predicted_{label or 'label'}"] = np.where(probabilities >= scorer.threshold, "yes", "no")
    return out


def check_output(output: str) -> None:
    """`-` is standard output; a file goes into an existing directory (a typo is not made into a tree)."""
    if output == STDOUT:
        return
    path = Path(output)
    if path.is_dir():
        raise UsageError(f"--output {output} is a directory: pass a file name for the scores (e.g. "
                         f"{path / 'scores.csv'}).")
    if not path.parent.is_dir():
        raise UsageError(f"--output {output}: directory {path.parent} does not exist: create it first, or pass "
                         f"a path in an existing directory (or - for standard output).")


def recorded_kinds(record: dict) -> dict[str, bool]:
    """CSV column -> True where the model takes text, from its column record (no TensorFlow needed)."""
    categorical = set(record.get("categorical", ()))
    return {column: column in categorical for column in record["inputs"]}


def unlike_training(frame: pd.DataFrame, seen: dict) -> dict[str, dict[str, int]]:
    """Rows unlike anything in training, per column: categories the model never saw (it scores them as
    'unknown') and numbers outside the training range by more than its width (it extrapolates)."""
    found: dict[str, dict[str, int]] = {}
    for column, known in (seen.get("categories") or {}).items():
        if column in frame.columns:
            unseen = ~frame[column].astype(str).str.strip().isin(set(known))
            if unseen.any():
                values = frame[column][unseen].astype(str).value_counts().index[:3].tolist()
                found.setdefault(column, {})["unseen"] = int(unseen.sum())
                log.warning("column %r: %d row(s) hold categories unseen in training (e.g. %s): scored as an "
                            "unknown category", column, int(unseen.sum()), ", ".join(map(repr, values)))
    for column, (low, high) in (seen.get("ranges") or {}).items():
        if column in frame.columns and pd.api.types.is_numeric_dtype(frame[column]):
            margin = max(high - low, abs(high), abs(low), 1.0)
            values = frame[column]
            outside = (values < low - margin) | (values > high + margin)
            if outside.any():
                found.setdefault(column, {})["far_outside_range"] = int(outside.sum())
                log.warning("column %r: %d row(s) far outside the training range [%g, %g] (e.g. %g): the model "
                            "extrapolates there", column, int(outside.sum()), low, high, values[outside].iloc[0])
    return found


def predict(model: str | Path, data: str | Path, output: str | Path, batch_size: int = 1024) -> dict:
    """Score `data` with `model`: a path, or an s3:// URI whose model is pulled into scratch first."""
    check_output(str(output))
    if not objectstore.is_uri(str(model)):
        return score(resolve_model(model), data, output, batch_size)
    with scratch_mirror() as mirror:
        local = mirror.local(str(model), "--model")
        staging.pull_model(mirror, local)
        return {**score(resolve_model(local), data, output, batch_size), "model_dir": str(mirror.uri(
            resolve_model(local)))}


def score(model_dir: Path, data: str | Path, output: str | Path, batch_size: int) -> dict:
    from components.evaluation.scoring import Scorer, column_record

    data, output = Path(data), str(output)
    if data.is_dir():
        raise DataError(f"--data {data} is a directory: pass the CSV file to score.")
    if not data.is_file():
        raise DataError(f"--data {data} does not exist: pass the CSV to score.")
    record = column_record(model_dir)
    frame = storage.read_csv(data)
    if record:  # the model's recorded columns: a wrong CSV is told before TensorFlow loads
        check_cells(frame, recorded_kinds(record), data)
    deployed = (model_dir / filenames.VERSION_DIGESTS).is_file()  # a pushed version: check its bytes first
    scorer = Scorer(model_dir, "the model", deployed=deployed)
    check_cells(frame, scorer.takes_text(), data)
    skew = unlike_training(frame, record.get("seen") or {})
    scored = score_frame(frame, scorer, record.get("label"), batch_size)
    if output == STDOUT:
        sys.stdout.write(scored.to_csv(index=False))
    else:
        with storage.atomic_file(output) as tmp:
            scored.to_csv(tmp, index=False)
    positive = int((scored[PROBABILITY] >= scorer.threshold).sum())
    log.info("scored %d rows of %s with %s: %d predicted positive; written to %s", len(scored), data, model_dir,
             positive, "standard output" if output == STDOUT else output)
    if skew:
        log.warning("unlike training: %s", "; ".join(f"{column}: " + ", ".join(f"{n} {what.replace('_', ' ')}"
                                                                                for what, n in kinds.items())
                                                     for column, kinds in skew.items()))
    return {"model_dir": str(model_dir), "rows": len(scored), "predicted_positive": positive, "output": output,
            "unlike_training": skew}


def main(argv: Sequence[str] | None = None) -> int:
    parser = console.parser("python -m components.predict", __doc__.split("\n\n")[0], (3, 75), prints=True)
    parser.add_argument("--model", required=True, help="SavedModel directory, or <serving-dir>/<model> for its "
                                                       "newest version; a path or an s3:// URI")
    parser.add_argument("--data", required=True, help="CSV to score (delimiter detected; label column optional)")
    parser.add_argument("--output", required=True, help="CSV to write (- for standard output): the input "
                                                        "columns, positive_probability and predicted_<label>")
    parser.add_argument("--batch-size", type=int, default=1024, help="rows per call of the model (default: 1024)")
    args = console.parse(parser, argv)
    console.quiet_tensorflow()
    if args.batch_size < 1:
        parser.error(f"--batch-size {args.batch_size}: expected an integer >= 1")
    return console.run_cli(lambda: predict(args.model, args.data, args.output, args.batch_size), args.debug)


if __name__ == "__main__":
    raise SystemExit(console.entry(main))
