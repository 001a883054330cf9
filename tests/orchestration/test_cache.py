"""orchestration/cache.py: step keys from content, never from paths; damaged files are found."""
from components.config.sections import EvaluateConfig
from components.orchestration import cache


def test_the_key_changes_with_config_and_content_only():
    key = cache.step_key(EvaluateConfig(), {"model": "abc"})
    assert key == cache.step_key(EvaluateConfig(), {"model": "abc"})
    assert key != cache.step_key(EvaluateConfig(batch_size=7), {"model": "abc"})
    assert key != cache.step_key(EvaluateConfig(), {"model": "abd"})


def test_intact_names_what_changed(tmp_path):
    (tmp_path / "m.txt").write_text("one")
    recorded = cache.tree_digests(tmp_path)
    assert cache.intact(tmp_path, recorded) is None
    (tmp_path / "m.txt").write_text("two")
    assert "m.txt" in cache.intact(tmp_path, recorded)
    assert cache.tree_digests(tmp_path / "nope") is None
