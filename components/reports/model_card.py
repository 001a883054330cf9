"""A model card per pushed version: what the model is, what it learned from, how good it is, how it decides,
what the gate checked, and what it must not be used for. After TFX's Model Card Toolkit, without its
dependencies: `facts` gathers plain values (pure), `markdown` and `html` render them. The HTML page is
self-contained like the data report: inline CSS, the plots as data: URIs, no script, no fetch.
"""
from __future__ import annotations

import base64

from components.core.interface import DATA
from components.evaluation.metrics import TEST_METRICS
from components.reports.charts import esc, number

# The hyperparameters a reader asks about first; the full config is in the lineage.
KEY_HPARAMS = ("family", "hidden_layers", "hidden_units", "deep_units", "learning_rate", "batch_size", "epochs",
               "seed", "crosses", "decision_rule")
SPLIT_ORDER = ("train", "validation", "test")
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:980px;
padding:16px 24px;color:#1d2433;background:#fff}h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:18px 0 6px}
table{border-collapse:collapse;font-variant-numeric:tabular-nums}td,th{padding:2px 12px 2px 0;text-align:left}
.fail{color:#c0392b;font-weight:700}.pass{color:#1e8449}.muted{color:#5b6475}
.plots{display:flex;flex-wrap:wrap;gap:12px}.plots img{width:300px;border:1px solid #d6dbe4}
"""


def facts(lineage: dict, metrics: dict, split: dict | None, columns: dict, intended: tuple[str, str]) -> dict:
    """The card's values. lineage: what push records for the version; metrics: evaluate's metrics.json;
    split: split's summary (rows and label balance per split) or None; columns: the model's column record;
    intended: (intended use, must not be used for), as the user configured them."""
    run = lineage.get("run") or {}
    train = (run.get("config") or {}).get("train") or {}
    candidate = metrics["candidate"]
    found = (split or {}).get("splits") or {}
    splits = {name: found[name] for name in sorted(found, key=lambda n: (SPLIT_ORDER + (n,)).index(n))}
    return {
        "model_name": lineage.get("model_name", ""), "version": lineage.get("version"),
        "pushed_at": lineage.get("pushed_at"),
        "run_id": run.get("run_id"), "data_file": (run.get("params") or {}).get(DATA.name),
        "data_sha256": str(run.get("data_sha256") or "")[:12],
        "rows": {name: part["rows"] for name, part in splits.items()},
        "positive_fraction": {name: part["positive_fraction"] for name, part in splits.items()},
        "label": columns.get("label"), "columns": list(columns.get("columns") or columns.get("inputs") or []),
        "hyperparameters": {key: train[key] for key in KEY_HPARAMS if key in train},
        "test_metrics": {key: candidate[key] for key in TEST_METRICS if key in candidate and key != "loss"},
        "intervals": candidate.get("intervals") or {}, "test_rows": metrics.get("test_rows"),
        "threshold": candidate.get("threshold"), "rule": (candidate.get("decision") or {}).get("rule"),
        "calibration": {key: (metrics.get("calibration") or {}).get(key) for key in ("brier", "ece")},
        "gate": lineage.get("gate") or [], "intended_use": intended[0], "not_for": intended[1]}


def _rows(card: dict) -> list[tuple[str, str]]:
    """(section, line) pairs shared by both renderings."""
    out = [("Model", f"{card['model_name']} version {card['version']}, pushed {card['pushed_at']} by run "
                     f"{card['run_id']}")]
    out.append(("Intended use", card["intended_use"] or "not stated (push.intended_use)"))
    out.append(("Must not be used for", card["not_for"] or "not stated (push.not_for)"))
    rows = ", ".join(f"{name} {count}" for name, count in card["rows"].items()) or "not recorded"
    balance = ", ".join(f"{name} {100 * share:.1f}%" for name, share in card["positive_fraction"].items())
    out += [("Data", f"{card['data_file']} (sha256 {card['data_sha256']}); rows: {rows}"),
            ("Data", f"label {card['label']}; positive share: {balance or 'not recorded'}"),
            ("Data", f"{len(card['columns'])} columns: {', '.join(map(str, card['columns']))}")]
    out += [("Model family and hyperparameters", f"{key}: {value}") for key, value in card["hyperparameters"].items()]
    for key, value in card["test_metrics"].items():
        low_high = card["intervals"].get(key)
        shown = f" (95% interval [{low_high[0]:.4f}, {low_high[1]:.4f}])" if low_high else ""
        out.append((f"Test metrics ({card['test_rows']} rows)", f"{key}: {value:.4f}{shown}"))
    out.append(("Decision", f"threshold {number(card['threshold'])}, rule: {card['rule'] or 'fixed 0.5'}"))
    calibration = card["calibration"]
    out.append(("Calibration", f"Brier score {number(calibration['brier'])}, expected calibration error "
                               f"{number(calibration['ece'])}"))
    for check in card["gate"]:
        out.append(("The gate's checks", f"{check['name']}: {check['value']:.4f} against {check['threshold']:.4f}, "
                                         f"{'pass' if check['passed'] else 'FAIL'}"))
    return out


def markdown(card: dict) -> str:
    lines, section = [f"# Model card: {card['model_name']} version {card['version']}"], None
    for heading, text in _rows(card):
        if heading != section:
            lines += ["", f"## {heading}", ""]
            section = heading
        lines.append(f"- {text}")
    lines += ["", "The plots (ROC, precision-recall, confusion matrix, reliability) are in model_card.html."]
    return "\n".join(lines) + "\n"


def html(card: dict, images: dict[str, bytes]) -> str:
    title = f"Model card: {card['model_name']} version {card['version']}"
    body, section = [], None
    for heading, text in _rows(card):
        if heading != section:
            body.append(("</ul>" if section else "") + f"<h2>{esc(heading)}</h2><ul>")
            section = heading
        css = ' class="fail"' if text.endswith("FAIL") else ""
        body.append(f"<li{css}>{esc(text)}</li>")
    plots = "".join(f'<figure><img alt="{esc(name)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'
                    f"<figcaption>{esc(name)}</figcaption></figure>" for name, png in images.items())
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}"><link rel="icon" href="data:,">'
            f"<title>{esc(title)}</title><style>{STYLE}</style></head><body><h1>{esc(title)}</h1>"
            f'{"".join(body)}</ul><h2>Plots (test split)</h2><div class="plots">{plots}</div></body></html>\n')
