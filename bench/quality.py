"""Quality benchmark: the pipeline's trained model against the reference recipe, logistic regression and
gradient-boosted trees (LightGBM, XGBoost, CatBoost: bench/trees.py, and `best-tree`, the one of them chosen on
validation per seed), on the same seeded splits. Each seed varies the split and the training seed together.

    .venv/bin/python bench/quality.py                          # bank data, seeds 0-4, every model
    .venv/bin/python bench/quality.py --data bank-full.csv --label y --seeds 100 101 102 --models pipeline best-tree
    .venv/bin/python bench/quality.py --models pipeline --variant ens5="ensemble=5 signed_log=true patience=5"
    .venv/bin/python bench/quality.py --models pipeline best-tree --seeds $(seq 20 39) \
        --variant wd="family=wide_deep patience=5 reduce_lr_patience=2 numeric_bins=16 teacher=lightgbm"

Per model and seed, on the test rows at threshold 0.5 (as for every model): accuracy, ROC AUC, balanced accuracy,
F1, PR AUC (average precision), Brier score, expected calibration error; for our trainer also accuracy and F1 at the
threshold it serves (`label`, chosen on validation by train.decision_rule: add e.g. decision_rule=accuracy to a
variant to compare rules) and the seconds of its training alone. Paired differences (mean, 95% t interval, seeds won)
against `best-tree` (or the first tree in the run). Writes bench/results/<name>.json and .png (name: quality-<data
file's stem> unless --name) and prints markdown tables.
"""
from __future__ import annotations

import shlex
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from bench import _common as common
from bench import reference, trees
from bench._common import RESULTS, Dataset, machine, mean_std, quiet_tensorflow, write_json
from components.config.overrides import from_dict
from components.config.train import TrainConfig
from components.evaluation.metrics import binary_metrics, reliability

MODELS = ("pipeline", "reference", "logreg", *trees.TREES, "best-tree")
TARGET_ACCURACY = 0.86  # mean test accuracy on the bank data the project first aimed at
RULES = ("max_f1", "accuracy", "precision>=0.8", "recall>=0.9", "profit")  # train.decision_rule values
PAYOFFS = "0,-1,0,4"  # TrainConfig's default: a subscription is worth four wasted calls
METRICS = {"accuracy": "accuracy", "auc": "ROC AUC", "balanced_accuracy": "balanced acc.", "f1": "F1",
           "pr_auc": "PR AUC"}  # compared paired; all at threshold 0.5 but the AUCs
OPTIONAL = ("brier", "ece", "seconds", "train_seconds", "accuracy_decided", "f1_decided")


def score_pipeline(dataset: Dataset, seed: int, overrides: dict, scratch: Path) -> tuple:
    """Our trainer, as the train component runs it (defaults of TrainConfig), on the split files: test labels,
    positive probabilities, the served decisions (`label`, at the threshold chosen on validation), each rule's
    outcome and the seconds of training."""
    import tensorflow as tf

    from components.training import loop

    split_dir = scratch / f"split-{seed}"
    if not split_dir.exists():
        dataset.write_split(seed, split_dir)
    config = from_dict(TrainConfig, {"seed": seed, "histogram_freq": 0, **overrides})
    started = time.perf_counter()
    signature = loop.fit_model(config, split_dir, Path(tempfile.mkdtemp(dir=scratch)),
                               tf.distribute.get_strategy()).signature
    train_seconds = round(time.perf_counter() - started, 2)
    test = dataset.indices(seed)["test"]
    features = {name: tf.constant(dataset.columns[name][test]) for name in dataset.spec.columns}
    out = signature(**features)
    validation = dataset.indices(seed)["validation"]
    scores = signature(**{name: tf.constant(dataset.columns[name][validation]) for name in dataset.spec.columns})
    rules = rule_outcomes(dataset.labels[validation], scores["positive_probability"].numpy(), dataset.labels[test],
                          out["positive_probability"].numpy())
    return dataset.labels[test], out["positive_probability"].numpy(), out["label"].numpy(), rules, train_seconds


def rule_outcomes(valid_labels, valid_scores, test_labels, test_scores) -> dict:
    """Each decision rule's threshold, chosen on the validation rows, applied to the test rows."""
    from components.model.decision import choose_threshold

    out = {}
    for rule in RULES:
        threshold = choose_threshold(valid_labels, valid_scores, rule, PAYOFFS)
        m = binary_metrics(test_labels, test_scores, threshold)
        out[rule] = {"threshold": threshold, **{k: m[k] for k in ("accuracy", "precision", "recall", "f1")},
                     "profit": float(np.array(PAYOFFS.split(","), float) @ np.ravel(m["confusion_matrix"]))}
    return out


def score_reference(dataset: Dataset, seed: int) -> tuple[np.ndarray, np.ndarray]:
    data = reference.prepare(dataset, dataset.indices(seed))
    model = reference.build_model(data["train"][0].shape[1], seed)
    reference.fit(model, data)
    return reference.test_scores(model, data)


def score_logreg(dataset: Dataset, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """On the reference's features (one-hot + standardized); validation rows unused."""
    from sklearn.linear_model import LogisticRegression

    data = reference.prepare(dataset, dataset.indices(seed))
    model = LogisticRegression(max_iter=2000, random_state=seed).fit(*data["train"])
    x, y = data["test"]
    return y, model.predict_proba(x)[:, 1]


def metric_row(seed: int, labels: np.ndarray, scores: np.ndarray) -> dict:
    from sklearn.metrics import average_precision_score

    m = binary_metrics(labels, scores)
    (tn, fp), (fn, tp) = m["confusion_matrix"]
    return {"seed": seed, "accuracy": m["accuracy"], "auc": m["auc"],
            "balanced_accuracy": (tp / max(tp + fn, 1) + tn / max(tn + fp, 1)) / 2, "f1": m["f1"],
            "pr_auc": float(average_precision_score(labels, scores)), "brier": m["brier"],
            "ece": reliability(labels, scores)["ece"]}


def run_pipeline(dataset: Dataset, seed: int, overrides: dict, scratch: Path) -> dict:
    started = time.perf_counter()
    labels, scores, decided, rules, train_seconds = score_pipeline(dataset, seed, overrides, scratch)
    tp = int(((decided == 1) & (labels == 1)).sum())  # at the served threshold, chosen on validation
    return {**metric_row(seed, labels, scores), "seconds": round(time.perf_counter() - started, 2),
            "train_seconds": train_seconds, "accuracy_decided": float((decided == labels).mean()),
            "f1_decided": 2 * tp / max(int(decided.sum()) + int(labels.sum()), 1), "rules": rules}


def run_seed(dataset: Dataset, seed: int, names: list[str], overrides: dict, scratch: Path) -> dict[str, dict]:
    """Every model's row for one seed; the trees are fitted once, for themselves and for best-tree."""
    rows = {name: run_pipeline(dataset, seed, overrides[name], scratch) for name in names if name in overrides}
    wanted = [t for t in trees.TREES if t in names or "best-tree" in names]
    fitted = trees.fit_trees(dataset, seed, wanted) if wanted else {}
    for name in names:
        started = time.perf_counter()
        if name in fitted:
            r = fitted[name]
            rows[name] = {**metric_row(seed, r["labels"], r["scores"]), "seconds": r["seconds"],
                          "train_seconds": r["seconds"], "rounds": r["rounds"],
                          "valid_log_loss": r["valid_log_loss"], **({"chosen": r["chosen"]} if "chosen" in r else {})}
        elif name in ("reference", "logreg"):
            labels, scores = {"reference": score_reference, "logreg": score_logreg}[name](dataset, seed)
            rows[name] = {**metric_row(seed, labels, scores), "seconds": round(time.perf_counter() - started, 2)}
    return {name: rows[name] for name in names}


def summarise(runs: dict[str, list[dict]]) -> dict:
    out = {}
    for name, rows in runs.items():
        out[name] = {"accuracy_min": min(r["accuracy"] for r in rows), "accuracy_max": max(r["accuracy"] for r in rows)}
        for key in (*METRICS, *OPTIONAL):
            if key in rows[0]:
                out[name][f"{key}_mean"], out[name][f"{key}_std"] = mean_std([r[key] for r in rows])
        if "chosen" in rows[0]:
            out[name]["chosen"] = [r["chosen"] for r in rows]
    return out


def table(summary: dict, seeds: list[int]) -> str:
    """Markdown: mean ± sd per metric over the seeds, the Brier score and the seconds (training; all for trees)."""
    lines = [f"| model (seeds {seeds[0]}..{seeds[-1]}, n={len(seeds)}) | "
             + " | ".join(METRICS.values()) + " | Brier | acc@thr | train s |", "|---" * (len(METRICS) + 4) + "|"]
    for name, s in summary.items():
        cells = [f"{s[f'{k}_mean']:.4f} ± {s[f'{k}_std']:.4f}" for k in METRICS]
        cells += [f"{s[f'{k}_mean']:.4f}" if f"{k}_mean" in s else "" for k in ("brier", "accuracy_decided")]
        seconds = s.get("train_seconds_mean", s["seconds_mean"])
        chosen = f" ({', '.join(s['chosen'])})" if "chosen" in s else ""
        lines.append(f"| {name}{chosen} | " + " | ".join(cells) + f" | {seconds:.1f} |")
    return "\n".join(lines)


def paired_rows(runs: dict[str, list[dict]], against: str) -> dict:
    """Each model minus `against` on the same seeds, per metric: mean, 95% t interval, seeds won and tied."""
    from scipy import stats

    out = {}
    for name, rows in runs.items():
        if name == against:
            continue
        for metric in METRICS:
            diff = np.array([r[metric] for r in rows]) - np.array([r[metric] for r in runs[against]])
            half = (stats.t.ppf(0.975, len(diff) - 1) * diff.std(ddof=1) / np.sqrt(len(diff))
                    if len(diff) > 1 else float("nan"))
            out.setdefault(name, {})[metric] = {"mean": float(diff.mean()), "low": float(diff.mean() - half),
                                                "high": float(diff.mean() + half), "won": int((diff > 0).sum()),
                                                "tied": int((diff == 0).sum()), "n": len(diff)}
    return out


def paired_table(differences: dict, against: str) -> str:
    lines = [f"| minus {against}: mean [95% interval] won/n | " + " | ".join(METRICS.values()) + " |",
             "|---" * (len(METRICS) + 1) + "|"]
    for name, metrics in differences.items():
        lines.append(f"| {name} | " + " | ".join(f"{d['mean']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}] "
                                                 f"{d['won']}/{d['n']}" for d in metrics.values()) + " |")
    return "\n".join(lines)


def rules_table(runs: dict[str, list[dict]]) -> str:
    """Per model and decision rule (threshold chosen on validation): mean test threshold, accuracy, precision,
    recall, F1 and profit (payoffs PAYOFFS, per test split)."""
    lines = [f"{'model / rule':<34} {'threshold':>9} {'accuracy':>8} {'precision':>9} {'recall':>7} {'F1':>6} "
             f"{'profit':>7}"]
    for name, rows in runs.items():
        for rule in RULES if rows and rows[0].get("rules") else ():
            mean = {k: np.mean([r["rules"][rule][k] for r in rows]) for k in rows[0]["rules"][rule]}
            lines.append(f"{name + ' / ' + rule:<34} {mean['threshold']:>9.3f} {mean['accuracy']:>8.4f} "
                         f"{mean['precision']:>9.4f} {mean['recall']:>7.4f} {mean['f1']:>6.4f} {mean['profit']:>7.0f}")
    return "\n".join(lines)


def plot(runs: dict[str, list[dict]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for ax, metric in zip(axes, ("accuracy", "auc", "brier")):  # brier: calibration (lower is better)
        for i, (name, rows) in enumerate(runs.items()):
            values = [r[metric] for r in rows]
            ax.scatter(np.full(len(values), i) + np.linspace(-0.12, 0.12, len(values)), values, s=14, alpha=0.7)
            ax.errorbar(i + 0.3, np.mean(values), yerr=np.std(values, ddof=1) if len(values) > 1 else 0,
                        fmt="o", color="black", capsize=3)
        ax.set_xticks(range(len(runs)), list(runs), fontsize=8, rotation=35, ha="right")
        if metric == "accuracy":
            ax.axhline(TARGET_ACCURACY, linestyle=":", color="red", label=f"target {TARGET_ACCURACY}")
            ax.legend(fontsize=7, loc="lower left")
        ax.set_title("test " + {"auc": "ROC AUC", "brier": "Brier score (lower: better calibrated)"}.get(metric,
                                                                                                         metric))
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def parse_set(values: list[str]) -> dict:
    out = {}
    for item in values:
        key, _, value = item.partition("=")
        out[key.strip()] = value.strip()
    return out


def main(argv=None) -> int:
    parser = common.parser(__doc__, seeds=[0, 1, 2, 3, 4])
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS), help="models to compare")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="TrainConfig override for the pipeline model, e.g. --set ensemble=5 (repeatable)")
    parser.add_argument("--variant", action="append", default=[], metavar='NAME="KEY=VALUE ..."',
                        help="also our trainer with these TrainConfig overrides, as model pipeline-NAME (repeatable)")
    parser.add_argument("--name", help="result file name under bench/results/ (default: quality-<data file stem>)")
    args = parser.parse_args(argv)
    name = args.name or f"quality-{args.data.stem}"
    quiet_tensorflow()
    dataset = Dataset(args.data, args.label)
    overrides = {m: parse_set(args.set) for m in args.models if m == "pipeline"}
    for item in args.variant:
        variant, _, spec = item.partition("=")
        overrides[f"pipeline-{variant}"] = {**parse_set(args.set), **parse_set(spec.split())}
    names = [*overrides, *(m for m in args.models if m != "pipeline")]
    runs: dict[str, list[dict]] = {n: [] for n in names}
    with tempfile.TemporaryDirectory(prefix="bench-quality-") as scratch:
        for seed in args.seeds:
            for model, row in run_seed(dataset, seed, names, overrides, Path(scratch)).items():
                runs[model].append(row)
                print(f"seed {seed} {model:<22} accuracy {row['accuracy']:.4f} auc {row['auc']:.4f} "
                      f"pr_auc {row['pr_auc']:.4f} ({row['seconds']:.1f}s) {row.get('chosen', '')}", flush=True)
    summary = summarise(runs)
    against = next((m for m in ("best-tree", *trees.TREES) if m in runs), None)
    differences = paired_rows(runs, against) if against else {}
    print(f"\n{args.data.name} ({len(dataset.labels)} rows, {dataset.labels.mean():.1%} positive)\n")
    print(table(summary, args.seeds))
    if differences:
        print("\n" + paired_table(differences, against))
    print("\n" + rules_table(runs))
    command = shlex.join(["bench/quality.py", *(argv if argv is not None else sys.argv[1:])])
    write_json(f"{name}.json", {"command": command.strip(), "data": str(args.data), "label": args.label,
                                "rows": len(dataset.labels), "positive_share": float(dataset.labels.mean()),
                                "seeds": args.seeds, "pipeline_overrides": overrides, "machine": machine(),
                                "summary": summary, "paired_against": against, "paired": differences, "runs": runs})
    plot(runs, RESULTS / f"{name}.png", f"{args.data.name}: {len(args.seeds)} seeds, same splits")
    print(f"wrote {RESULTS / (name + '.json')} and .png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
