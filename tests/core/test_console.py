"""core/console.py: one flag name per key, parsers that list exit codes, errors mapped to exit codes."""
import pytest

from components.core import console
from components.core.errors import DataError


def test_a_key_has_one_flag_name():
    assert console.flag("serving_dir") == "--serving-dir" and console.flag("seed") == "--seed"


def test_a_parser_lists_the_exit_codes_and_takes_debug():
    parser = console.parser("prog", "does a thing")
    assert "exit codes:" in parser.format_help() and parser.parse_args(["--debug"]).debug


def test_domain_errors_exit_with_their_code_and_bugs_with_1():
    assert console.run_cli(lambda: None, debug=False) == 0
    assert console.run_cli(lambda: (_ for _ in ()).throw(DataError("bad row")), debug=False) == 3
    assert console.run_cli(lambda: 1 / 0, debug=False) == 1


def test_argparse_usage_errors_keep_exit_code_2():
    with pytest.raises(SystemExit) as stopped:
        console.parse(console.parser("prog", "x"), ["--nope"])
    assert stopped.value.code == 2
