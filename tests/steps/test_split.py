import numpy as np
import pytest

from components import storage
from components.config.sections import SplitConfig
from components.core import filenames
from components.core.errors import DataError
from components.steps import split
from tests.helpers import BANK_CSV, BANK_SCHEMA, CSV_VARIANTS, sample_bank, variant_csv


def run_split(out, data=BANK_CSV, **config):
    return split.run(SplitConfig(**config), {"data": data, "schema": BANK_SCHEMA}, {"output": out})


def test_stratified_split_keeps_the_label_balance_and_is_deterministic():
    labels = np.array([0] * 900 + [1] * 100)
    first = split.stratified_indices(labels, SplitConfig(seed=7))
    again = split.stratified_indices(labels, SplitConfig(seed=7))
    other = split.stratified_indices(labels, SplitConfig(seed=8))
    assert all(np.array_equal(first[k], again[k]) for k in first)
    assert not np.array_equal(first["train"], other["train"])
    assert [len(first[k]) for k in filenames.SPLITS] == [800, 100, 100]
    assert [labels[first[k]].sum() for k in filenames.SPLITS] == [80, 10, 10]
    assert len(np.unique(np.concatenate(list(first.values())))) == 1000  # disjoint and complete


def test_npz_split_of_the_bank_data(tmp_path):
    summary = run_split(tmp_path)
    assert [summary["splits"][k]["rows"] for k in filenames.SPLITS] == [8929, 1116, 1117]
    balance = [summary["splits"][k]["positive_fraction"] for k in filenames.SPLITS]
    assert max(balance) - min(balance) < 0.01
    arrays = storage.load_npz(tmp_path / "train" / filenames.NPZ_NAME)
    assert arrays["deposit"].dtype == np.int64 and set(np.unique(arrays["deposit"])) == {0, 1}
    assert arrays["job"].dtype.kind == "U" and arrays["age"].dtype == np.float32
    features = storage.read_json(tmp_path / filenames.FEATURES)
    assert "age" in features["numeric"] and "job" in features["categorical"] and features["label"] == "deposit"
    assert storage.read_json(tmp_path / filenames.SPLIT_SUMMARY) == summary


def test_tfrecord_split_is_gzipped_and_sharded(tmp_path):
    import tensorflow as tf

    run_split(tmp_path, format="tfrecord", shards=3)
    files = storage.tfrecord_files(tmp_path / "train", "train")
    assert len(files) == 3 and all(f.endswith(".tfrecord.gz") for f in files)
    with open(files[0], "rb") as handle:
        assert handle.read(2) == b"\x1f\x8b"  # gzip magic
    rows = 0
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
        example = tf.train.Example.FromString(record.numpy())
        rows += 1
    assert rows == 8929
    assert example.features.feature["job"].bytes_list.value[0].decode()
    assert example.features.feature["deposit"].int64_list.value[0] in (0, 1)


def test_too_small_a_file_is_a_clear_error(tmp_path, bank_frame):
    path = tmp_path / "ten.csv"
    sample_bank(bank_frame, 10).to_csv(path, index=False)
    with pytest.raises(DataError, match="too few rows to split"):
        run_split(tmp_path / "out", data=path)


def test_streaming_split_of_a_big_file_matches_the_in_memory_split(tmp_path):
    import tensorflow as tf

    from components.core.errors import UsageError

    memory = run_split(tmp_path / "memory", format="tfrecord", shards=3)
    streamed = run_split(tmp_path / "streamed", format="tfrecord", shards=3, stream_threshold_mb=0.1,
                         chunk_rows=2000)
    assert streamed["streamed"] and not memory["streamed"]
    assert streamed["splits"] == memory["splits"]  # the same stratified draw, so the same rows per split
    files = storage.tfrecord_files(tmp_path / "streamed" / "train", "train")
    sizes = [sum(1 for _ in tf.data.TFRecordDataset(f, compression_type="GZIP")) for f in files]
    assert sum(sizes) == 8929 and max(sizes) - min(sizes) <= 1  # balanced shards
    with pytest.raises(UsageError, match="--format tfrecord"):
        run_split(tmp_path / "npz", format="npz", stream_threshold_mb=0.1)


def _records(split_dir):
    """Every serialized row of every split, sorted: what a split holds, whatever the order it was written in."""
    import tensorflow as tf

    def row(record):  # a proto map's serialized order is not fixed: compare the values
        features = tf.train.Example.FromString(record.numpy()).features.feature
        return tuple(sorted((name, str(value)) for name, value in features.items()))

    return {name: sorted(map(row, tf.data.TFRecordDataset(storage.tfrecord_files(split_dir / name, name),
                                                         compression_type="GZIP")))
            for name in filenames.SPLITS}


def _outcome(run):
    try:
        return "ok", run()
    except DataError as exc:
        return "error", exc.message


@pytest.mark.parametrize("kind", CSV_VARIANTS)
def test_the_streaming_split_agrees_with_the_in_memory_split_on_files_in_the_wild(tmp_path, bank_frame, kind):
    """Label spellings, padded header names, a BOM, CRLF, invalid UTF-8 (with its line), a duplicated header
    name: the same outcome and the same rows whether the file is split in memory or streamed in chunks."""
    path = variant_csv(sample_bank(bank_frame, 2000), kind, tmp_path / "data.csv")
    memory = _outcome(lambda: run_split(tmp_path / "memory", data=path, format="tfrecord", shards=2))
    streamed = _outcome(lambda: run_split(tmp_path / "streamed", data=path, format="tfrecord", shards=2,
                                          stream_threshold_mb=0.001, chunk_rows=1000))
    assert streamed[0] == memory[0] and (kind in ("invalid_utf8", "duplicated_header")) == (memory[0] == "error")
    if memory[0] == "error":
        assert streamed[1] == memory[1]
        assert {"invalid_utf8": "line 1501 holds the byte(s) b'\\xe9'",
                "duplicated_header": "column 'age' appears twice"}[kind] in memory[1]
        return
    assert streamed[1]["streamed"] and streamed[1]["splits"] == memory[1]["splits"]
    assert sum(s["positive"] for s in memory[1]["splits"].values()) == 1000
    assert _records(tmp_path / "streamed") == _records(tmp_path / "memory")
    assert storage.read_json(tmp_path / "memory" / filenames.FEATURES)["numeric"][0] == "age"  # stripped, no BOM
