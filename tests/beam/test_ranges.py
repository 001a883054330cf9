"""beam/split.py's byte ranges: every data line read exactly once, whatever the cut points."""
from components.beam import split


def test_ranges_cover_every_line_once(tmp_path):
    path = tmp_path / "x.csv"
    rows = [f"{i},{'y' * (i % 97)}" for i in range(20_000)]  # ~1 MB: several 256 KB ranges
    path.write_text("id,text\n" + "\n".join(rows) + "\n")
    ranges = split.byte_ranges(path, parallelism=4)
    assert len(ranges) > 1 and ranges[0][1] == len("id,text\n")
    read = []
    for _, start, end in ranges:
        _, chunk = split.read_range(str(path), start, end)
        read += chunk.decode().splitlines()
    assert read == rows
    assert split.lines_before(str(path), ranges[1][1]) >= 1
