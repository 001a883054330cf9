"""Faults: kills, a full disk, a read-only directory, concurrent pushes. Nothing half-written is left
under a final name, and a deployed model keeps serving."""
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from components import storage
from components.config.sections import PushConfig, SplitConfig, ValidateConfig
from components.core import filenames
from components.core.errors import InfraError
from components.registry import lookups, versions
from components.steps import push, split, validate
from tests.helpers import BANK_CSV, BANK_SCHEMA, ROOT


@pytest.fixture
def tiny_fs(tmp_path):
    """A real file system of 256 KiB (tmpfs), mounted for the test; `ro=True` mounts it read-only."""
    mounts = []

    def mount(name: str, size: str = "256k", ro: bool = False):
        target = tmp_path / name
        target.mkdir()
        options = f"size={size}" + (",ro" if ro else "")
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.decode().strip()}")
        mounts.append(target)
        return target

    yield mount
    for target in mounts:
        subprocess.run(["umount", str(target)], check=False)


def test_full_disk_during_split_is_retryable_and_leaves_no_partial_split(tmp_path, tiny_fs):
    out = tiny_fs("full", size="96k") / "split"
    with pytest.raises(InfraError, match=r"could not write .*: No space left on device") as caught:
        split.run(SplitConfig(), {"data": BANK_CSV, "schema": BANK_SCHEMA}, {"output": out})
    assert caught.value.exit_code == 75
    assert not [p for p in out.rglob("*") if p.is_file() and not p.name.startswith(".")]


def test_full_serving_disk_keeps_no_half_version(trained_small, tiny_fs):
    root, _, _ = trained_small
    serving = tiny_fs("serving", size="64k")
    with pytest.raises(InfraError, match="No space left on device"):
        versions.publish(root / "train" / filenames.MODEL, serving, "bank", {})
    assert lookups.versions(serving / "bank") == []
    assert [p.name for p in (serving / "bank").iterdir()] == [".push.lock"]


def test_read_only_output_directory_is_a_clear_error(tmp_path, tiny_fs):
    out = tiny_fs("readonly", ro=True) / "validate"
    with pytest.raises(InfraError, match=r"cannot create directory .*readonly.*Read-only file system"):
        validate.run(ValidateConfig(), {"data": BANK_CSV, "schema": BANK_SCHEMA}, {"output": out})


def test_split_killed_midway_leaves_only_complete_splits(tmp_path, bank_frame):
    big = tmp_path / "big.csv"
    bank_frame.sample(n=120_000, replace=True, random_state=0).to_csv(big, index=False)
    out = tmp_path / "split"
    process = subprocess.Popen([sys.executable, "-m", "components.steps.split", "--data", str(big), "--schema",
                                str(BANK_SCHEMA), "--output", str(out), "--format", "tfrecord", "--shards", "4"],
                               cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not list(out.glob(".train.tmp-*/*.tfrecord.gz")) and process.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    time.sleep(0.3)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (out / "train").exists()          # the half-written split stayed under its temporary name
    assert not (out / filenames.SPLIT_SUMMARY).exists()
    split.run(SplitConfig(format="tfrecord"), {"data": big, "schema": BANK_SCHEMA}, {"output": out})
    assert len(storage.tfrecord_files(out / "train", "train")) == 4


KILL_DURING_COPY = """
import os, shutil, signal, sys
sys.path.insert(0, sys.argv[4])
from components.registry import versions
real_copytree, depth = shutil.copytree, [0]
def copy_then_die(src, dst, *args, **kwargs):
    depth[0] += 1
    real_copytree(src, dst, *args, **kwargs)
    depth[0] -= 1
    if depth[0] == 0:
        os.kill(os.getpid(), signal.SIGKILL)   # killed after copying, before the rename
shutil.copytree = copy_then_die
versions.publish(sys.argv[1], sys.argv[2], sys.argv[3], {})
"""


def retrained(model, tmp_path, name):
    """A copy of `model` whose files differ (one more asset): a new model to the registry, not 'identical'."""
    copy = tmp_path / name
    shutil.copytree(model, copy)
    storage.write_text(copy / "assets.extra" / "note.txt", name)
    return copy


def test_push_killed_midway_leaves_the_previous_version_serving(trained_small, tmp_path):
    import tensorflow as tf

    root, _, _ = trained_small
    model, serving = root / "train" / filenames.MODEL, tmp_path / "serving"
    versions.publish(model, serving, "bank", {})
    model = retrained(model, tmp_path, "second")
    done = subprocess.run([sys.executable, "-c", KILL_DURING_COPY, str(model), str(serving), "bank", str(ROOT)],
                          capture_output=True, timeout=120)
    assert done.returncode == -signal.SIGKILL
    assert lookups.versions(serving / "bank") == [1]
    assert tf.saved_model.load(str(lookups.latest_version(serving, "bank"))).signatures["serving_default"]
    assert versions.publish(model, serving, "bank", {})[0].name == "2"
    leftovers = [p.name for p in (serving / "bank").iterdir() if p.name not in ("1", "2", ".push.lock")]
    assert leftovers == []  # the killed push's temporary copy was cleaned up by the next push


CONCURRENT_PUSH = """
import os, shutil, sys, tempfile
sys.path.insert(0, sys.argv[3])
from components.registry import versions
for number in range(3):  # three different models per process
    model = os.path.join(tempfile.mkdtemp(), "model")
    shutil.copytree(sys.argv[1], model)
    open(os.path.join(model, "assets.extra", "note.txt"), "w").write(f"{os.getpid()} {number}")
    print(versions.publish(model, sys.argv[2], "bank", {})[0].name, flush=True)
"""


def test_concurrent_pushes_never_share_a_version(trained_small, tmp_path):
    root, _, _ = trained_small
    model, serving = root / "train" / filenames.MODEL, tmp_path / "serving"
    processes = [subprocess.Popen([sys.executable, "-c", CONCURRENT_PUSH, str(model), str(serving), str(ROOT)],
                                  stdout=subprocess.PIPE, text=True) for _ in range(3)]
    published = sorted(int(line) for p in processes for line in p.communicate(timeout=120)[0].split())
    assert published == list(range(1, 10))
    assert lookups.versions(serving / "bank") == published
    for version in published:
        assert (serving / "bank" / str(version) / "saved_model.pb").is_file()


def test_gate_run_against_the_serving_dir_pushes_only_complete_copies(trained_small, tmp_path):
    root, _, _ = trained_small
    storage.write_json(tmp_path / "evaluate" / filenames.METRICS, {
        "candidate": {"accuracy": 0.9, "auc": 0.95, "pr_auc": 0.94, "balanced_accuracy": 0.9,
                      "confusion_matrix": [[90, 10], [10, 90]]}, "baseline": None,
        "deployed_version": None, "majority_rate": 0.5, "positive_rate": 0.5})
    result = push.run(PushConfig(), {"model": root / "train" / filenames.MODEL, "metrics": tmp_path / "evaluate"},
                      {"output": tmp_path / "push", "serving_dir": tmp_path / "serving"})
    pushed = set(os.listdir(result["pushed_to"]))
    assert pushed == set(os.listdir(root / "train" / filenames.MODEL)) | {
        filenames.VERSION_DIGESTS, filenames.LINEAGE, filenames.MODEL_CARD_HTML, filenames.MODEL_CARD_MD}
    shutil.rmtree(tmp_path / "serving")
