"""Names of every component's inputs and outputs, in one place.

A component is handed its input and output directories; these names say what it finds and leaves in
them, so runners, components and tests never spell a file name twice.
"""
from __future__ import annotations

from pathlib import Path

# every component's output directory: what `run` returned, written by the CLI, read by out-of-process runners
RESULT = "result.json"

# validate/
STATS = "stats.pb"                 # DatasetFeatureStatisticsList, binary proto
STATS_HTML = "stats.html"          # Facets view of the statistics: open in a browser
SCHEMA = "schema.pbtxt"            # the schema the data was checked against (given or inferred)
ANOMALIES = "anomalies.pbtxt"      # TFDV Anomalies proto, text format
ANOMALIES_TXT = "anomalies.txt"    # one line per bad column, for people
DRIFT_TXT = "drift.txt"            # drift against the previous run's statistics, for people
VALIDATE_RESULT = "validation.json"

# split/
SPLITS = ("train", "validation", "test")
SPLIT_SUMMARY = "split.json"       # rows and label balance per split
FEATURES = "features.json"         # label and feature columns with their kinds (numeric/categorical)
NPZ_NAME = "data.npz"

# train/
MODEL = "model"                    # SavedModel with a raw-feature serving signature
LOGS = "logs"                      # TensorBoard event files
BACKUP = "backup"                  # BackupAndRestore checkpoints, for resuming a killed run
HISTORY = "history.json"

# evaluate/
METRICS = "metrics.json"
PLOTS = ("roc.png", "precision_recall.png", "confusion_matrix.png")

# push/
GATE_JSON = "gate.json"
GATE_TXT = "gate.txt"


def split_path(split_dir: Path, split: str) -> Path:
    return Path(split_dir) / split
