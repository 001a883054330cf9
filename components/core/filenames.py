"""Names of every component's inputs and outputs, in one place.

A component is handed its input and output directories; these names say what it finds and leaves in
them, so runners, components and tests never spell a file name twice.
"""
from __future__ import annotations

from pathlib import Path

# a run's directory: <pipeline_root>/<run_id>/
MANIFEST = "manifest.json"         # the resolved config, input hashes, each step's status and record
RUN_INFO = "run.json"              # what made the run (run id, data file and hash, config, code): push's lineage
RUN_LOCK = ".run.lock"             # held by the process running the run: one process per run id

# every component's output directory: how the step ended (components/core/console.py's Record), for runners and lookups
RESULT = "result.json"             # what run() returned, on success
ERROR = "error.json"               # exit code and full message, on failure

# validate/
STATS = "stats.pb"                 # DatasetFeatureStatisticsList, binary proto
STATS_HTML = "stats.html"          # Facets view of the statistics: open in a browser (loads scripts from the internet)
REPORT_HTML = "report.html"        # the self-contained data report (components/reports/data_report.py): works offline
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
SAVED_MODEL_PB = "saved_model.pb"  # in a SavedModel: the graph, which TensorFlow Serving waits for
MODEL_COLUMNS = "assets.extra/columns.json"  # in a SavedModel: CSV column -> signature input, kinds, label
LOGS = "logs"                      # TensorBoard event files
BACKUP = "backup"                  # BackupAndRestore checkpoints, for resuming a killed run
HISTORY = "history.json"
EARLY_STOPPING = "early_stopping"  # beside backup/: Keras owns that folder and deletes it at the end
STATE = "state.json"               # in early_stopping/: counters of the early-stopping callback
BEST_WEIGHTS = "best_weights.npz"  # in early_stopping/: the best epoch's weights

# evaluate/
METRICS = "metrics.json"
SEEN_ROWS = "bankpipe-seen-rows.npy"  # evaluate/ and each pushed version: identities of the train+validation rows
PLOTS = ("roc.png", "precision_recall.png", "confusion_matrix.png", "calibration.png")  # calibration: reliability

# push/
GATE_JSON = "gate.json"
GATE_TXT = "gate.txt"
PUSH_LOCK = ".push.lock"           # in <serving_dir>/<model>/: serialises pushes of one model
MODEL_CARD_HTML, MODEL_CARD_MD = "model_card.html", "model_card.md"  # in each pushed version
LINEAGE = "bankpipe-lineage.json"    # in each pushed version: the run, data, config and gate that made it
VERSION_DIGESTS = "bankpipe-digests.json"  # in each pushed version: SHA-256 of its files (registry/integrity.py)


def split_path(split_dir: Path, split: str) -> Path:
    return Path(split_dir) / split
