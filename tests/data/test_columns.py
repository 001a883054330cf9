"""data/columns.py: CSV headers as TensorFlow names, and headers refused before they mislead."""
import pandas as pd
import pytest

from components.core.errors import DataError
from components.data import columns


def test_names_are_unique_tensorflow_names_in_column_order():
    names = columns.signature_names(["a.b", "a_b", "1st", "é", "class"])
    assert list(names.values()) == ["a_b", "a_b_2", "c_1st", "e", "class_"]


def test_a_duplicated_header_name_is_refused():
    with pytest.raises(DataError, match="appears twice"):
        columns.check_header(["age", " age "], "x.csv")


def test_numbers_spelled_for_people_are_named():
    frame = pd.DataFrame({"balance": ["1,200", "3,400", "15"], "job": ["a", "b", "c"]})
    with pytest.raises(DataError, match="balance"):
        columns.check_number_formats(frame, "x.csv")
