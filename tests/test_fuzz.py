"""Property: whatever CSV arrives, the data components succeed or fail with a documented exit code and one
clear message, never a raw traceback."""
import csv
import io
import string

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from components.core.errors import EXIT_CODES
from components.steps import evaluate, split, train, validate
from tests.helpers import BANK_SCHEMA

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
    rows = [list(r) for r in draw(st.lists(st.sampled_from(BANK_ROWS), min_size=draw(st.sampled_from([5, 150])),
                                           max_size=400))]
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


# ── Through training: generated header names of any spelling, Unicode values, tiny epochs ─────────────
NAME_ALPHABET = st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"))
names = st.one_of(st.sampled_from(["class", "emp.var.rate", "1st", "call duration", "p/days", "x[0]", "état", "y",
                                   "a-b", "lambda", "日付", " padded "]),
                  st.text(NAME_ALPHABET, min_size=1, max_size=12))
words = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=6)


@st.composite
def trainable_csvs(draw):
    """A label `y` (yes/no in various spellings) and 1-5 feature columns of any name, numeric (carrying the
    label, so training learns something) or categorical."""
    columns = draw(st.lists(names, min_size=1, max_size=5, unique_by=str.strip))  # some may still be `y`
    rows = draw(st.integers(110, 160))  # every split gets its 5 rows of each class
    labels = [draw(st.sampled_from(["yes", " YES", "1", "true"])) if i % 2 else
              draw(st.sampled_from(["no", "NO ", "0", "False"])) for i in range(rows)]
    table = {"y": labels}
    for number, name in enumerate(columns):
        if draw(st.booleans()):
            values = draw(st.lists(st.integers(-1000, 1000) | st.floats(-1e6, 1e6, allow_nan=False), min_size=3,
                                   max_size=3))
            cells = [repr(values[i % 3] + 3e6 * (i % 2)) for i in range(rows)]  # a signal: training can learn
        else:
            vocabulary = draw(st.lists(words, min_size=1, max_size=4))
            cells = [vocabulary[(i * (number + 1)) % len(vocabulary)] for i in range(rows)]
        table[name] = cells
    header = ["y", *columns]  # duplicated names included: table keeps the last, the header says it twice
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
    writer.writerow(header)
    writer.writerows(zip(*(table[name] for name in header)))
    return out.getvalue()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow, HealthCheck.data_too_large])
@given(text=trainable_csvs())
def test_generated_csvs_train_or_fail_with_a_documented_code(tmp_path_factory, capsys, text):
    root = tmp_path_factory.mktemp("fuzz-train")
    data = root / "data.csv"
    data.write_text(text, encoding="utf-8", newline="")
    steps = [(validate, ["--data", str(data), "--label", "y"]),
             (split, ["--data", str(data), "--schema", str(root / "validate" / "schema.pbtxt"), "--label", "y"]),
             (train, ["--split", str(root / "split"), "--epochs", "3", "--learning-rate", "0.01",
                      "--histogram-freq", "0"]),
             (evaluate, ["--model", str(root / "train" / "model"), "--split", str(root / "split")])]
    for module, flags in steps:
        name = module.__name__.rsplit(".", 1)[1]
        flags = flags + ["--output", str(root / name)] + (["--schema", ""] if name == "validate" else [])
        code = module.main(flags)
        err = capsys.readouterr().err
        event(f"{name} exit {code}")  # --hypothesis-show-statistics: how deep the examples got
        assert code in DOCUMENTED | {0}, err[-3000:]
        assert "Traceback" not in err, err[-3000:]
        if code:
            assert " ERROR " in err
            return
