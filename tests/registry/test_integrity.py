"""registry/integrity.py on a real SavedModel: recorded at push, an altered version refused before loading."""
from __future__ import annotations

import shutil

import pytest

from components.core import filenames
from components.core.errors import DataError
from components.registry import integrity


@pytest.fixture
def version(tmp_path, trained_small):
    root, _, _ = trained_small
    target = tmp_path / "serving" / "bank" / "1"
    shutil.copytree(root / "train" / filenames.MODEL, target)
    integrity.record(target)
    return target


def test_a_recorded_version_verifies_and_names_every_file(version):
    integrity.verify(version)
    recorded = integrity.digests(version)
    assert "saved_model.pb" in recorded and any(name.startswith("variables/") for name in recorded)
    assert filenames.VERSION_DIGESTS not in recorded


@pytest.mark.parametrize("tamper, what", [
    (lambda v: (v / "saved_model.pb").write_bytes((v / "saved_model.pb").read_bytes() + b"\0"), "changed"),
    (lambda v: next((v / "variables").glob("*.index")).unlink(), "is missing"),
    (lambda v: (v / "assets" / "evil.py").parent.mkdir(exist_ok=True) or (v / "assets" / "evil.py").write_text("x"),
     "was added"),
])
def test_an_altered_version_is_refused_naming_the_file(version, tamper, what):
    tamper(version)
    with pytest.raises(DataError, match=f"altered after push: .* {what}") as refused:
        integrity.verify(version)
    assert str(version) in refused.value.message and refused.value.exit_code == 3


def test_a_version_without_a_record_is_loaded_with_a_warning(version, caplog):
    (version / filenames.VERSION_DIGESTS).unlink()
    integrity.verify(version)
    assert "cannot be checked" in caplog.text


def test_evaluate_refuses_a_deployed_model_whose_bytes_changed(version, trained_small, tmp_path):
    from components.config.sections import EvaluateConfig
    from components.steps import evaluate

    root, split_dir, _ = trained_small
    inputs = {"model": root / "train" / filenames.MODEL, "split": split_dir, "baseline_model": version}
    assert evaluate.run(EvaluateConfig(), inputs, {"output": tmp_path / "ok"})["baseline"]  # intact: compared
    variables = next((version / "variables").glob("*.data-*"))
    variables.write_bytes(variables.read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(DataError, match=f"altered after push: {variables} changed"):
        evaluate.run(EvaluateConfig(), inputs, {"output": tmp_path / "tampered"})
