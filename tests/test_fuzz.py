"""Property: whatever CSV arrives, the data components succeed or fail with a documented exit code and one
clear message, never a raw traceback."""
import string

from hypothesis import HealthCheck, given, settings, strategies as st

from components.steps import split, validate
from components.errors import EXIT_CODES
from tests.conftest import BANK_SCHEMA

COLUMNS = ["age", "job", "marital", "education", "default", "balance", "housing", "loan", "contact", "day",
           "month", "duration", "campaign", "pdays", "previous", "poutcome", "deposit"]
DOCUMENTED = {e.code for e in EXIT_CODES} - {1}
cells = st.one_of(
    st.integers(-10**6, 10**6).map(str), st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["yes", "no", "Yes", "admin.", "married", "unknown", "may", "", " ", "NaN", "1e300", '"',
                     '"a,b"', "\\", "é", "日本", "\t"]),
    st.text(string.printable, max_size=8))


@st.composite
def csv_texts(draw):
    header = draw(st.one_of(st.just(COLUMNS), st.permutations(COLUMNS),
                            st.lists(st.sampled_from(COLUMNS + ["extra", ""]), min_size=0, max_size=20)))
    delimiter = draw(st.sampled_from([",", ";", "\t", "|", ":", " "]))
    rows = draw(st.lists(st.lists(cells, min_size=0, max_size=len(header) + 2), min_size=0, max_size=30))
    text = "\n".join(delimiter.join(row) for row in [header, *rows])
    return draw(st.sampled_from([text, text + "\n", text.replace("\n", "\r\n")]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=csv_texts(), encoding=st.sampled_from(["utf-8", "utf-16", "latin-1"]))
def test_malformed_csvs_fail_cleanly(tmp_path_factory, capsys, text, encoding):
    root = tmp_path_factory.mktemp("fuzz")
    data = root / "data.csv"
    data.write_bytes(text.encode(encoding, errors="replace"))
    code = validate.main(["--data", str(data), "--schema", str(BANK_SCHEMA), "--output", str(root / "validate")])
    if code == 0:
        code = split.main(["--data", str(data), "--schema", str(root / "validate" / "schema.pbtxt"),
                           "--output", str(root / "split")])
    err = capsys.readouterr().err
    assert code in DOCUMENTED, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    if code:
        assert " ERROR " in err


BANK_ROWS = [line.split(",") for line in (BANK_SCHEMA.parent / "bank.csv").read_text().splitlines()[1::37]]


@st.composite
def mutated_bank_csvs(draw):
    """Real bank rows with a few cells replaced, columns dropped or rows cut: deeper paths than noise."""
    rows = [list(r) for r in draw(st.lists(st.sampled_from(BANK_ROWS), min_size=draw(st.sampled_from([5, 150])), max_size=400))]
    header = list(COLUMNS)
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2, 4]))):
        row, col = draw(st.integers(0, len(rows) - 1)), draw(st.integers(0, len(header) - 1))
        rows[row][col] = draw(cells)
    if draw(st.integers(0, 3)) == 0:
        drop = draw(st.integers(0, len(header) - 1))
        header.pop(drop)
        for row in rows:
            row.pop(drop)
    if draw(st.integers(0, 3)) == 0:
        rows[draw(st.integers(0, len(rows) - 1))] = rows[0][: draw(st.integers(0, len(header)))]
    delimiter = draw(st.sampled_from([",", ";", "\t"]))
    return "\n".join(delimiter.join(r) for r in [header, *rows]) + "\n"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=mutated_bank_csvs())
def test_mutated_bank_data_fails_cleanly_or_splits(tmp_path_factory, capsys, text):
    test_malformed_csvs_fail_cleanly.hypothesis.inner_test(tmp_path_factory, capsys, text, "utf-8")
