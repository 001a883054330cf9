"""The offline data report (validate/data_report.html): its content, its escaping, and a real browser's view of it
with no network: Debian's chromium, headless (`make browser` installs it; skipped without it, failed under CI)."""
from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import subprocess
import threading

import pytest

from components import storage
from components.config.sections import ValidateConfig
from components.core import filenames
from components.reports import data_report
from components.steps import validate
from tests.helpers import BANK_SCHEMA, sample_bank

WEIRD = '<b>&"ünï’</b>'  # a column name and a category no page may print as markup


@pytest.fixture(scope="module")
def validated(tmp_path_factory, bank_frame):
    """Two validate runs of the bank data: the second has the first's statistics (drift side by side)."""
    root = tmp_path_factory.mktemp("report")
    first, second = sample_bank(bank_frame, 1000, seed=1), sample_bank(bank_frame, 1000, seed=2)
    second["duration"] = second["duration"] * 4 + 900
    for frame, name in ((first, "first"), (second, "second")):
        frame.to_csv(root / f"{name}.csv", index=False)
    run = functools.partial(validate.run, ValidateConfig())
    run({"data": root / "first.csv", "schema": BANK_SCHEMA, "previous_statistics": None}, {"output": root / "first"})
    run({"data": root / "second.csv", "schema": BANK_SCHEMA,
         "previous_statistics": root / "first" / filenames.STATS}, {"output": root / "second"})
    return root


def test_report_shows_every_feature_with_its_numbers_domain_and_drift(validated):
    html = (validated / "second" / filenames.REPORT_HTML).read_text(encoding="utf-8")
    stats = storage.load_statistics(validated / "second" / filenames.STATS)
    summaries = data_report.summaries(stats)
    assert list(summaries)[:2] == ["age", "job"] and len(summaries) == 17
    age = summaries["age"]
    for value in (age.numbers["mean"], age.numbers["median"], age.numbers["max"]):
        assert f"<td>{data_report.number(value)}</td>" in html
    assert "admin., blue-collar" in html  # the schema's domain of job
    assert "management" in html and "previous run" in html
    assert re.search(r"duration.*drift from the previous run", html, re.S)
    assert "stats.html" in html and "internet" in html


def test_values_are_escaped_and_anomalies_highlighted(validated):
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    stats = storage.load_statistics(validated / "first" / filenames.STATS)
    feature = stats.datasets[0].features[1]
    feature.path.step[0] = WEIRD
    feature.string_stats.top_values[0].value = "<script>alert(1)</script>"
    anomalies = anomalies_pb2.Anomalies()
    anomalies.anomaly_info[WEIRD].short_description = "Unexpected string values"
    anomalies.anomaly_info[WEIRD].description = "values <x> & <y> are not in the schema"
    html = data_report.render(stats, storage.load_schema(BANK_SCHEMA), anomalies)
    assert WEIRD not in html and "<script" not in html
    assert "&lt;b&gt;&amp;&quot;ünï’&lt;/b&gt;" in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'class="feature anomalous"' in html and "values &lt;x&gt; &amp; &lt;y&gt;" in html


def test_report_fetches_nothing(validated):
    html = (validated / "second" / filenames.REPORT_HTML).read_text(encoding="utf-8")
    assert not re.search(r"""(src|href|url)\s*[=(]\s*["']?\s*(https?:)?//""", html, re.I)
    assert "<script" not in html and "@import" not in html and "Content-Security-Policy" in html


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        message = "chromium is missing: `make browser` installs it (Debian's chromium, needs root)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


class RecordingServer:
    """Serves one directory on 127.0.0.1 and records every path asked for."""

    def __init__(self, directory):
        self.paths: list[str] = []
        paths = self.paths

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(directory), **kwargs)

            def do_GET(self):
                paths.append(self.path)
                super().do_GET()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def headless(browser: str, profile, *args: str) -> subprocess.CompletedProcess:
    # Any name but 127.0.0.1 resolves to nothing: a fetch elsewhere could not leave the machine either.
    return subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           "--disable-background-networking", "--disable-component-update",
                           f"--user-data-dir={profile}", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                           "--window-size=1200,1600", *args], capture_output=True, text=True, timeout=120)


def render(directory, page: str, tmp_path, screenshot: str):
    """(the DOM run, the screenshot run, the server that counted the requests) of one page in headless Chromium."""
    browser, server = chromium(), RecordingServer(directory)
    try:
        done = headless(browser, tmp_path / "profile", "--dump-dom", f"{server.url}/{page}")
        shot = headless(browser, tmp_path / "profile", f"--screenshot={tmp_path / screenshot}", f"{server.url}/{page}")
    finally:
        server.close()
    return done, shot, server


def test_chromium_renders_the_report_from_the_one_file(validated, tmp_path):
    done, shot, server = render(validated / "second", filenames.REPORT_HTML, tmp_path, "data_report.png")
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    stats = data_report.summaries(storage.load_statistics(validated / "second" / filenames.STATS))
    for name, summary in stats.items():
        assert f">{name}<" in dom
        assert f"<td>{summary.count}</td>" in dom
    assert f"<td>{data_report.number(stats['age'].numbers['mean'])}</td>" in dom
    assert dom.count("<svg") >= 2 * len(stats)  # this run's chart and the previous run's, per feature
    assert server.paths == [f"/{filenames.REPORT_HTML}"] * 2  # the page itself, once per browser run; nothing else
    assert shot.returncode == 0 and not_blank(tmp_path / "data_report.png")


def not_blank(png) -> bool:
    """A PNG with many colours: text and charts drawn, not an empty page."""
    from PIL import Image

    with Image.open(png) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    return colours is None or len(colours) > 50
