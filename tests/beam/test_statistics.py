"""beam/statistics.py: label spellings become yes/no before TFDV counts them, as in memory."""
from tfx_bsl.coders.csv_decoder import ColumnInfo, ColumnType

from components.beam import statistics


def test_label_spellings_are_canonical_and_numeric_labels_stay():
    text = [ColumnInfo("age", ColumnType.INT), ColumnInfo("deposit", ColumnType.STRING)]
    rows = statistics.canonical_labels([[b"30", b" YES "], [b"41", b"0"], [b"52", b"maybe"]], text, at=1)
    assert [cells[1] for cells, _ in rows] == [b"yes", b"no", b"maybe"]
    numbers = [ColumnInfo("age", ColumnType.INT), ColumnInfo("y", ColumnType.INT)]
    assert statistics.canonical_labels([[b"30", b"1"]], numbers, at=1) == [([b"30", b"1"], None)]
