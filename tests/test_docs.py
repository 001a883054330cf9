from components.core.errors import markdown_table
from tests.helpers import ROOT


def test_readme_exit_code_table_matches_errors_module():
    readme = (ROOT / "README.md").read_text()
    table = readme.split("<!-- exit-codes:start -->\n")[1].split("\n<!-- exit-codes:end -->")[0]
    assert table == markdown_table()


def test_readme_quick_start_shows_the_two_commands_first():
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Quick start")[1].split("```bash\n")[1].split("```")[0]
    assert [line.split("#")[0].strip() for line in block.strip().splitlines()] == ["make run", "make test"]
