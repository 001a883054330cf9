"""storage/seen_rows.py: the identities of the rows a model trained on, kept with its version."""
import numpy as np

from components.core import filenames
from components.storage import seen_rows


def test_identities_are_the_same_whatever_the_number_spelling_and_differ_with_values(tmp_path):
    a = seen_rows.hashes({"job": np.array(["admin", "blue"]), "age": np.array([30.0, 41.0])})
    b = seen_rows.hashes({"age": np.array([30, 41]), "job": np.array([b"admin", b"blue"], dtype=object)})
    c = seen_rows.hashes({"job": np.array(["admin", "blue"]), "age": np.array([31.0, 41.0])})
    assert list(a) == list(b) and a[0] != c[0] and a[1] == c[1]
    assert seen_rows.load_seen(tmp_path) is None
    seen_rows.save(tmp_path / filenames.SEEN_ROWS, a)
    assert list(seen_rows.load_seen(tmp_path)) == list(a)
