"""reports/charts.py: the data report's inline SVG, escaped."""
from components.reports import charts


def test_bars_are_svg_with_escaped_labels():
    svg = charts.bars_svg([("<admin>", 3), ("b", 1)], total=4)
    assert svg.startswith("<svg") and "&lt;admin&gt;" in svg and "<admin>" not in svg


def test_numbers_and_percents_read_as_people_write_them():
    assert charts.percent(1, 4) == "25%" or charts.percent(1, 4).startswith("25")
    assert charts.number(None) in ("—", "-", "")
