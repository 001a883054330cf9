import numpy as np
import pytest

from components.core.errors import DataError
from components.storage import files, protos, splits, tables
from tests.helpers import BANK_SCHEMA


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiter_is_detected(tmp_path, bank_frame, delimiter):
    path = tmp_path / "data.csv"
    bank_frame.head(50).to_csv(path, sep=delimiter, index=False)
    frame = tables.read_csv(path)
    assert list(frame.columns) == list(bank_frame.columns)
    assert len(frame) == 50


@pytest.mark.parametrize("content, message", [
    (b"", "is empty"),
    (b"age,job,deposit\n", "no data rows"),
    (b"\x00\x01\x02PK\x03\x04binary", "looks binary"),
    (b"age,job\n\xff\xfe\xfa,x\n" * 5, "not UTF-8"),
    (b"a,b,c\n1,2,3\n4,5,6,7,8\n1,2,3\n", "ragged rows"),
])
def test_malformed_csv_raises_data_error(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        tables.read_csv(path)


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(DataError, match="nope.csv does not exist"):
        tables.read_csv(tmp_path / "nope.csv")


def test_atomic_file_leaves_nothing_when_the_write_fails(tmp_path):
    target = tmp_path / "out.json"
    files.write_json(target, {"v": 1})
    with pytest.raises(RuntimeError):
        with files.atomic_file(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert files.read_json(target) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_atomic_dir_replaces_only_on_success(tmp_path):
    target = tmp_path / "model"
    with files.atomic_dir(target) as tmp:
        (tmp / "a").write_text("1")
    with pytest.raises(RuntimeError):
        with files.atomic_dir(target) as tmp:
            (tmp / "b").write_text("2")
            raise RuntimeError("killed")
    assert sorted(p.name for p in target.iterdir()) == ["a"]
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_npz_round_trip_and_pickle_refused(tmp_path):
    path = tmp_path / "data.npz"
    splits.save_npz(path, {"x": np.arange(3, dtype=np.float32), "s": np.array(["a", "b", "c"])})
    loaded = splits.load_npz(path)
    assert loaded["s"].tolist() == ["a", "b", "c"] and loaded["x"].dtype == np.float32
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, obj=np.array([{"evil": 1}], dtype=object))
    with pytest.raises(DataError, match="pickled"):
        splits.load_npz(pickled)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(path.read_bytes()[:40])
    with pytest.raises(DataError, match="corrupt or truncated|not a valid"):
        splits.load_npz(truncated)


def test_a_schema_round_trips_through_text(tmp_path):
    schema = protos.load_schema(BANK_SCHEMA)
    protos.save_proto_text(tmp_path / "schema.pbtxt", schema)
    assert protos.load_schema(tmp_path / "schema.pbtxt") == schema
