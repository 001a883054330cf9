"""core/digests.py: the one fingerprint of files, trees and values."""
import hashlib

from components.core import digests


def test_a_tree_digest_names_every_file_and_skips_what_it_is_told(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.txt").write_bytes(b"x")
    (tmp_path / "record.json").write_text("{}")
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "m.pyc").write_bytes(b"\0")
    found = digests.tree_digests(tmp_path, skip=["record.json"])
    assert found == {"a/x.txt": hashlib.sha256(b"x").hexdigest()}
    assert digests.file_sha256(tmp_path / "a" / "x.txt") == found["a/x.txt"]


def test_a_value_digest_ignores_key_order_but_not_values():
    assert digests.value_digest({"a": 1, "b": [2]}) == digests.value_digest({"b": [2], "a": 1})
    assert digests.value_digest({"a": 1}) != digests.value_digest({"a": 2})
