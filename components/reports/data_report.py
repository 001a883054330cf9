"""The data report: one self-contained HTML page per run, from TFDV's statistics, schema and anomalies.

TFDV's own view (stats.html, Facets) loads its scripts from the internet and shows a blank page offline
(a cluster, a laptop on a plane). This page needs nothing but itself: inline CSS, charts as inline SVG, no
script, and a Content-Security-Policy that forbids any fetch. Per feature: type, counts, missing and
distinct values, the numbers or top values with a chart, the schema's domain, its anomalies highlighted,
and the previous run's statistics side by side when there are some.

`render` is pure (protos in, a string out); `write` loads the previous statistics and writes the file.
Every value from the data or the schema is HTML-escaped: names and categories may be any Unicode text.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Sequence

from components import storage
from components.reports.charts import PREVIOUS_COLOUR, bars_svg, esc, histogram_svg, number, percent

TOP_VALUES, DOMAIN_VALUES = 10, 40
DISTINCT = "distinct"  # validate's custom statistic: TFDV counts distinct values of text features only
HEAVY_TAIL_SHARE = 0.6  # one histogram bucket holding this share of the rows hides the others: log-scale counts
# No fetch of any kind, whatever a value might contain: styles inline, nothing else at all.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1100px;
padding:16px 24px;color:#1d2433;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:0 0 6px;word-break:break-word}
.muted,.note{color:#5b6475}.note{font-size:13px}
nav ul{columns:4;padding-left:18px;margin:6px 0 14px}
section.feature{border:1px solid #d6dbe4;border-radius:6px;padding:10px 14px;margin:12px 0}
section.anomalous{border-color:#c0392b;background:#fdf3f2}section.drifted{border-left:5px solid #d68910}
.kind{font-size:12px;color:#fff;background:#5b6475;border-radius:3px;padding:1px 6px;margin-left:6px}
.row{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start}
table.stats{border-collapse:collapse;font-variant-numeric:tabular-nums}
table.stats td,table.stats th{padding:1px 10px 1px 0;text-align:left}table.stats td{text-align:right}
.problem{color:#922b21;font-weight:600;margin:6px 0}.drift{color:#9c640c;font-weight:600;margin:6px 0}
.badge-a{color:#c0392b;font-weight:700}.badge-d{color:#d68910;font-weight:700}
.domain{font-size:13px;word-break:break-word}svg text{font-size:11px;fill:#1d2433}svg text.axis{fill:#5b6475}
figure{margin:0}figcaption{font-size:12px;color:#5b6475}
"""


@dataclasses.dataclass(frozen=True)
class FeatureSummary:
    """One feature's statistics, as plain numbers."""
    name: str
    kind: str                                   # INT, FLOAT, STRING, BYTES, STRUCT
    count: int                                  # rows with a value
    missing: int
    distinct: int | None                        # None when nobody counted (numeric columns read by Beam)
    numbers: dict[str, float]                   # min, mean, median, max, std_dev, zeros (numeric features)
    histogram: tuple[tuple[float, float, float], ...]
    top: tuple[tuple[str, float], ...]          # most frequent values and their counts (text features)


def feature_name(feature) -> str:
    return ".".join(feature.path.step) or feature.name


def anomaly_feature(key: str, info) -> str:
    """The column an anomaly is about: TFDV keys a dotted name as a quoted path ('tenure.months'); its path
    steps hold the name itself, as the statistics do."""
    return ".".join(info.path.step) or key


def _custom(feature, name: str) -> int | None:
    return next((int(c.num) for c in feature.custom_stats if c.name == name), None)


def summaries(stats) -> dict[str, FeatureSummary]:
    """Each feature of the statistics' first data set, by name, in the data's column order."""
    from tensorflow_metadata.proto.v0 import statistics_pb2

    kinds = statistics_pb2.FeatureNameStatistics.Type
    found = {}
    for feature in stats.datasets[0].features if stats.datasets else ():
        name, which = feature_name(feature), feature.WhichOneof("stats")
        if which == "num_stats":
            numeric, common = feature.num_stats, feature.num_stats.common_stats
            numbers = {key: getattr(numeric, key) for key in ("min", "mean", "median", "max", "std_dev")}
            numbers["zeros"] = numeric.num_zeros
            standard = [h for h in numeric.histograms if h.type == statistics_pb2.Histogram.STANDARD]
            histogram = tuple((b.low_value, b.high_value, b.sample_count) for b in standard[0].buckets) \
                if standard else ()
            found[name] = FeatureSummary(name, kinds.Name(feature.type), int(common.num_non_missing),
                                         int(common.num_missing), _custom(feature, DISTINCT), numbers, histogram,
                                         ())
        elif which == "string_stats":
            text, common = feature.string_stats, feature.string_stats.common_stats
            top = tuple((v.value, v.frequency) for v in text.top_values[:TOP_VALUES]) or tuple(
                (b.label, b.sample_count) for b in text.rank_histogram.buckets[:TOP_VALUES])
            found[name] = FeatureSummary(name, kinds.Name(feature.type), int(common.num_non_missing),
                                         int(common.num_missing), int(text.unique),
                                         {"avg_length": text.avg_length}, (), top)
    return found


def domains(schema) -> dict[str, str]:
    """What the schema allows of each feature, in words: a range, a list of values, presence."""
    if schema is None:
        return {}
    named = {d.name: list(d.value) for d in schema.string_domain}
    described = {}
    for feature in schema.feature:
        parts = []
        if feature.HasField("int_domain") or feature.HasField("float_domain"):
            domain = feature.int_domain if feature.HasField("int_domain") else feature.float_domain
            low = number(domain.min) if domain.HasField("min") else "−∞"
            high = number(domain.max) if domain.HasField("max") else "∞"
            parts.append(f"{'integers' if feature.HasField('int_domain') else 'numbers'} in [{low}, {high}]")
        values = list(feature.string_domain.value) if feature.HasField("string_domain") else named.get(feature.domain)
        if values is not None:
            shown = ", ".join(values[:DOMAIN_VALUES]) + (f" … (+{len(values) - DOMAIN_VALUES})"
                                                         if len(values) > DOMAIN_VALUES else "")
            parts.append(f"one of {len(values)} values: {shown}")
        if feature.HasField("presence") and feature.presence.min_fraction:
            fraction = feature.presence.min_fraction
            parts.append("present in every row" if fraction >= 1 else f"present in at least {fraction:.0%} of rows")
        described[feature.name] = "; ".join(parts) or "any value of its type"
    return described


def anomaly_texts(anomalies) -> dict[str, list[str]]:
    """Anomaly descriptions by feature name; dataset-wide ones under ''."""
    if anomalies is None:
        return {}
    found = {anomaly_feature(key, info): [f"{info.short_description}: {info.description}"]
             for key, info in anomalies.anomaly_info.items()}
    dataset = anomalies.dataset_anomaly_info
    if dataset.description or dataset.short_description:
        found[""] = [f"{dataset.short_description}: {dataset.description}"]
    return found


def drift_texts(lines: Sequence[str], names) -> dict[str, list[str]]:
    """validate's drift lines ('name: description') by feature; longest name first, so 'a.b' is not 'a'."""
    found: dict[str, list[str]] = {}
    for line in lines:
        name = next((n for n in sorted(names, key=len, reverse=True) if line.startswith(f"{n}: ")), "")
        found.setdefault(name, []).append(line[len(name) + 2:] if name else line)
    return found


def _stats_rows(current: FeatureSummary | None, previous: FeatureSummary | None, rows: int, old_rows: int) -> str:
    """The numbers table: one column for this run, one for the previous when there is one."""
    runs = [(current, rows)] + ([(previous, old_rows)] if previous is not None or old_rows else [])
    heading = "<tr><th></th><th>this run</th>" + ("<th>previous run</th>" if len(runs) > 1 else "") + "</tr>"

    def row(label: str, value) -> str:
        return f"<tr><th>{esc(label)}</th>" + "".join(f"<td>{esc(value(s, n)) if s else '—'}</td>"
                                                       for s, n in runs) + "</tr>"

    lines = [row("count", lambda s, n: number(s.count)),
             row("missing", lambda s, n: f"{number(s.missing)} ({percent(s.missing, n)})"),
             row("distinct", lambda s, n: number(s.distinct))]
    shown = current or previous
    for key in ("min", "mean", "median", "max", "std_dev", "zeros", "avg_length"):
        if key in shown.numbers:
            lines.append(row(key.replace("_", " "), lambda s, n, key=key: number(s.numbers.get(key))))
    return f'<table class="stats">{heading}{"".join(lines)}</table>'


def _domain(*summaries: FeatureSummary | None) -> tuple[float, float] | None:
    """One x range for the histograms of both runs, so a shift shows as a shift."""
    buckets = [b for s in summaries if s is not None for b in s.histogram]
    return (min(b[0] for b in buckets), max(b[1] for b in buckets)) if buckets else None


def heavy_tailed(summary: FeatureSummary) -> bool:
    """One bucket holds most rows (balance, campaign, pdays): on a linear scale the rest would not show."""
    counts = [count for _, _, count in summary.histogram]
    return bool(counts) and max(counts) >= HEAVY_TAIL_SHARE * sum(counts)


def _chart(summary: FeatureSummary, rows: int, colour: str | None, caption: str, domain=None) -> str:
    kwargs = {"colour": colour} if colour else {}
    if summary.top or summary.kind in ("STRING", "BYTES"):
        svg = bars_svg(summary.top, rows, caption=caption, **kwargs)
    else:
        log_scale = heavy_tailed(summary)
        caption += " (counts on a log scale)" if log_scale else ""
        svg = histogram_svg(summary.histogram, caption=caption, domain=domain, log_scale=log_scale, **kwargs)
    shown = len(summary.top)
    more = f" (top {shown} of {summary.distinct})" if summary.top and summary.distinct and summary.distinct > shown \
        else ""
    return f"<figure>{svg}<figcaption>{esc(caption + more)}</figcaption></figure>"


def _feature_section(index: int, name: str, parts: dict) -> str:
    current, previous = parts["current"], parts["previous"]
    problems, drifts = parts["anomalies"], parts["drift"]
    classes = "feature" + (" anomalous" if problems else "") + (" drifted" if drifts else "")
    kind = (current or previous).kind if (current or previous) else "not in the data"
    domain = _domain(current, previous)
    charts = ([_chart(current, parts["rows"], None, "this run", domain)] if current else []) + (
        [_chart(previous, parts["old_rows"], PREVIOUS_COLOUR, "previous run", domain)] if previous else [])
    body = "".join(f'<p class="problem">⚠ anomaly: {esc(text)}</p>' for text in problems)
    body += "".join(f'<p class="drift">↔ drift from the previous run: {esc(text)}</p>' for text in drifts)
    if current or previous:
        table = _stats_rows(current, previous, parts["rows"], parts["old_rows"])
        body += f'<div class="row">{table}{"".join(charts)}</div>'
    domain = parts["domain"]
    body += f'<p class="domain"><b>schema:</b> {esc(domain) if domain else "not in the schema"}</p>'
    return (f'<section class="{classes}" id="f{index}"><h2>{esc(name)}<span class="kind">{esc(kind)}</span></h2>'
            f"{body}</section>")


def _contents(names: list[str], problems: dict, drifts: dict) -> str:
    items = []
    for index, name in enumerate(names):
        badge = (' <span class="badge-a" title="anomaly">⚠</span>' if problems.get(name) else "") + (
            ' <span class="badge-d" title="drift">↔</span>' if drifts.get(name) else "")
        items.append(f'<li><a href="#f{index}">{esc(name)}</a>{badge}</li>')
    return f'<nav><ul>{"".join(items)}</ul></nav>'


def render(stats, schema=None, anomalies=None, previous=None, drift: Sequence[str] = (), title: str = "",
           previous_run: str = "") -> str:
    """The whole page. previous: the previous run's statistics, or None; drift: validate's drift lines;
    previous_run: which run those statistics come from, in words (its id and date)."""
    current, old = summaries(stats), summaries(previous) if previous is not None else {}
    rows = int(stats.datasets[0].num_examples) if stats.datasets else 0
    old_rows = int(previous.datasets[0].num_examples) if previous is not None and previous.datasets else 0
    allowed, problems = domains(schema), anomaly_texts(anomalies)
    names = list(dict.fromkeys([*current, *old, *allowed, *(n for n in problems if n)]))
    drifts = drift_texts(drift, names)
    sections = [_feature_section(i, name, {
        "current": current.get(name), "previous": old.get(name), "anomalies": problems.get(name, []),
        "drift": drifts.get(name, []), "domain": allowed.get(name, ""), "rows": rows, "old_rows": old_rows})
        for i, name in enumerate(names)]
    anomalous = sum(1 for n in names if problems.get(n))
    overview = (f"{rows} rows, {len(current)} columns; {anomalous} column(s) with anomalies"
                + (f"; compared with the previous run of this data set ({previous_run or f'{old_rows} rows'}): "
                   f"{sum(1 for n in names if drifts.get(n))} column(s) drifted"
                   if previous is not None else "; no previous run to compare with"))
    general = "".join(f'<p class="problem">⚠ {esc(text)}</p>' for text in problems.get("", []) + drifts.get("", []))
    heading = f"Data report{': ' + title if title else ''}"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<link rel="icon" href="data:,">'  # or the browser asks the server for /favicon.ico
            f"<title>{esc(heading)}</title><style>{STYLE}</style></head><body>"
            f'<header><h1>{esc(heading)}</h1><p id="overview">{esc(overview)}</p>{general}'
            '<p class="note">This page is self-contained and works offline. stats.html beside it is TFDV\'s '
            "interactive Facets view of the same statistics: it loads its scripts from the internet, so it "
            "stays blank without a connection.</p></header>"
            f'{_contents(names, problems, drifts)}{"".join(sections)}</body></html>\n')


def write(path: Path, stats, schema, anomalies, previous=None, drift: Sequence[str] = (), title: str = "",
          previous_run: str = "") -> None:
    """previous: the previous run's statistics (a proto) or None."""
    storage.write_text(Path(path), render(stats, schema, anomalies, previous, drift, title, previous_run))
