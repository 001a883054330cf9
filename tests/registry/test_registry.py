"""A gate and a registry a team can trust, on the real bank data: lineage, honest comparisons, no
duplicate versions, one process per run, damaged files recomputed, rollback."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import pipeline
from components import models, storage
from components.core import filenames
from components.data.features import FeatureSet
from components.evaluation.metrics import binary_metrics
from components.evaluation.scoring import Scorer
from components.registry import lookups
from components.registry import versions as registry_versions
from components.storage import datasets
from tests.helpers import BANK_CSV, ROOT, run_pipeline

pytestmark = pytest.mark.e2e
FAST = ("--epochs", "3")


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    """Version 1 of `bank`, trained with seed 42; then a run with seed 7 against it."""
    root = tmp_path_factory.mktemp("registry")
    flags = ["--pipeline-root", str(root / "runs"), "--serving-dir", str(root / "serving"), *FAST]
    assert run_pipeline(*flags, "--run-id", "seed42") == 0
    assert run_pipeline(*flags, "--run-id", "seed7", "--seed", "7") in (0, 6)  # pushed or refused: both honest
    return root, flags


def split_rows(run_dir: Path, *splits: str) -> tuple[pd.DataFrame, np.ndarray]:
    split_dir = run_dir / "split"
    spec = FeatureSet.from_dict(storage.read_json(split_dir / filenames.FEATURES))
    frames, labels = [], []
    for split in splits:
        features, label = datasets.to_numpy(datasets.raw_batches(split_dir, split, spec, 4096), split_dir)
        frames.append(pd.DataFrame({k: [x.decode() if isinstance(x, bytes) else x for x in v]
                                    for k, v in features.items()}))
        labels.append(label)
    return pd.concat(frames, ignore_index=True), np.concatenate(labels)


def test_the_deployed_model_is_scored_only_on_test_rows_it_never_trained_on(deployed):
    """Seed 7's test rows are mostly seed 42's training rows: on those, version 1's score is inflated."""
    root, _ = deployed
    test, labels = split_rows(root / "runs" / "seed7", "test")
    seen, _ = split_rows(root / "runs" / "seed42", "train", "validation")
    seen_keys = set(map(tuple, seen[sorted(seen.columns)].astype(str).to_numpy()))
    unseen = np.array([key not in seen_keys for key in map(tuple, test[sorted(test.columns)].astype(str).to_numpy())])
    assert 0 < unseen.sum() < len(test) // 2
    version = Scorer(root / "serving" / "bank" / "1")  # it decides at its own threshold, chosen on validation
    honest = binary_metrics(labels[unseen], version({c: test[c].to_numpy()[unseen] for c in test}), version.threshold)
    metrics = storage.read_json(root / "runs" / "seed7" / "evaluate" / filenames.METRICS)
    assert metrics["comparison"]["rows"] == int(unseen.sum())
    assert metrics["baseline"]["accuracy"] == pytest.approx(honest["accuracy"])
    assert metrics["baseline"]["auc"] == pytest.approx(honest["auc"])
    inflated = binary_metrics(labels, version({c: test[c].to_numpy() for c in test}), version.threshold)
    assert inflated["accuracy"] > honest["accuracy"]  # what the gate compared against before
    gate = (root / "runs" / "seed7" / "push" / filenames.GATE_TXT).read_text()
    assert f"comparison rows: {int(unseen.sum())}" in gate and "minus deployed" in gate


def test_models_list_show_and_rollback(deployed, capsys):
    root, flags = deployed
    serving = root / "serving"
    # a second version whatever seed 7's gate said: its steps are reused, only the gate is looser
    assert run_pipeline(*flags, "--run-id", "loose", "--seed", "7", "--set", "push.baseline_tolerance=1") == 0
    versions = lookups.versions(serving / "bank")
    assert versions[0] == 1 and len(versions) >= 2
    capsys.readouterr()
    assert models.main(["--serving-dir", str(serving), "list"]) == 0
    listing = capsys.readouterr().out
    assert f"bank  (served: version {versions[-1]})" in listing and "run seed42" in listing
    assert models.main(["--serving-dir", str(serving), "show", "bank", "1"]) == 0
    shown = capsys.readouterr().out
    lineage = registry_versions.read_lineage(serving / "bank" / "1")
    assert lineage["run"]["run_id"] == "seed42" and lineage["run"]["data_sha256"] == storage.file_sha256(BANK_CSV)
    assert lineage["run"]["config"]["split"]["seed"] == 42 and lineage["test_metrics"]["intervals"]["auc"][0] > 0.8
    assert '"run_id": "seed42"' in shown
    assert models.main(["--serving-dir", str(serving), "rollback", "bank", "1"]) == 0
    new = versions[-1] + 1
    assert f"version 1 published again as version {new}" in capsys.readouterr().out
    files = registry_versions.model_files
    assert files(serving / "bank" / str(new)) == files(serving / "bank" / "1")
    assert registry_versions.read_lineage(serving / "bank" / str(new))["rollback_of"] == 1
    assert models.main(["--serving-dir", str(serving), "rollback", "bank", str(new)]) == 2  # served already
    assert models.main(["--serving-dir", str(serving), "show", "nope"]) == 2
    assert "no model 'nope'" in capsys.readouterr().err


def test_a_one_percent_positive_data_set_is_refused_and_a_data_change_is_named(deployed, tmp_path, bank_frame):
    root, flags = deployed
    rare = pd.concat([bank_frame[bank_frame.deposit == "no"], bank_frame[bank_frame.deposit == "yes"].head(60)])
    path = tmp_path / "rare.csv"
    rare.sample(frac=1, random_state=0).to_csv(path, index=False)
    code = run_pipeline(*flags, "--run-id", "rare", "--data", str(path), "--set", "push.model_name=bank")
    assert code == 6
    gate = (root / "runs" / "rare" / "push" / filenames.GATE_TXT).read_text()
    assert "balanced accuracy" in gate and "REFUSED" in gate
    assert f"data changed: this run trained on {path}" in gate


def test_other_data_gets_its_own_model_name_unless_one_is_set():
    args = pipeline.build_parser().parse_args(["--data", "/x/bank-additional full.csv"])
    assert pipeline.resolve_config(args).push.model_name == "bank-additional-full"
    args = pipeline.build_parser().parse_args(["--data", str(BANK_CSV)])
    assert pipeline.resolve_config(args).push.model_name == "bank"
    args = pipeline.build_parser().parse_args(["--data", "/x/other.csv", "--set", "push.model_name=bank"])
    assert pipeline.resolve_config(args).push.model_name == "bank"


def test_two_processes_with_one_run_id_push_at_most_one_version(tmp_path):
    command = [sys.executable, "pipeline.py", "--pipeline-root", str(tmp_path / "runs"), "--serving-dir",
               str(tmp_path / "serving"), "--run-id", "same", "--epochs", "2"]
    processes = [subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
    outcomes = sorted((p.wait(timeout=600), p.communicate()[1]) for p in processes)
    assert [code for code, _ in outcomes] == [0, 2]
    assert "run 'same' is running in another process" in outcomes[1][1]
    assert lookups.versions(tmp_path / "serving" / "bank") == [1]


def test_damaged_files_of_a_continued_run_are_recomputed_not_trusted(tmp_path, capsys):
    flags = ["--pipeline-root", str(tmp_path / "runs"), "--serving-dir", str(tmp_path / "serving"),
             "--run-id", "r", "--epochs", "2"]
    assert run_pipeline(*flags) == 0
    run_dir = tmp_path / "runs" / "r"
    for damaged in (run_dir / "split" / "train" / filenames.NPZ_NAME, run_dir / "train" / "model" / "saved_model.pb"):
        damaged.write_bytes(damaged.read_bytes()[:100])
    capsys.readouterr()
    assert run_pipeline(*flags) == 0
    log = capsys.readouterr().err
    assert "── split ── recomputed:" in log and "data.npz changed since the step wrote it" in log
    assert "── train ── recomputed:" in log
    assert storage.read_json(run_dir / filenames.MANIFEST)["attempts"] == 2
    assert Scorer(run_dir / "train" / "model").inputs  # a whole model again
