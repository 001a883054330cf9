"""config/checks.py and config/grammars.py: values refused at construction, naming the key and the range."""
import pytest

from components.config import checks, grammars
from components.core.errors import UsageError


def test_a_bad_value_names_key_value_and_range():
    with pytest.raises(UsageError, match=r"config value epochs=0 is out of range: expected >= 1"):
        checks.check(False, "epochs", 0, ">= 1")
    with pytest.raises(UsageError, match="unsigned 32-bit"):
        checks.check_seed(2**32)


def test_the_text_grammars_parse_what_users_write():
    assert grammars.parse_crosses("month*day, a*b/7") == (("month", "day"), ("a", "b/7"))
    assert grammars.cross_term("day/7") == ("day", 7) and not grammars.cross_term_ok("day/x")
    assert grammars.parse_rule("precision>=0.8") == ("precision", 0.8)
    assert grammars.parse_payoffs("0,-1,0,4") == (0.0, -1.0, 0.0, 4.0)
    assert grammars.sentinels_ok("-1,999") and not grammars.sentinels_ok("nan")
    flags = ["--runner", "FlinkRunner", "--parallelism=2"]
    assert grammars.parse_flags(" ".join(flags)) == flags
    with pytest.raises(UsageError, match="Beam does not know"):
        grammars.parse_flags("--runner=NoSuchRunner")
