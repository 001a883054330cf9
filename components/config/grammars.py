"""The grammars of config values that are text (Beam flags, decision rules, payoffs, sentinels, crosses):
checked when a config is built, parsed again where the value is used."""
from __future__ import annotations

import shlex

from components.core.errors import UsageError

# Beam 2.61's StandardOptions.ALL_KNOWN_RUNNERS, by short name (Beam also accepts them without "Runner").
KNOWN_RUNNERS = ("DirectRunner", "FlinkRunner", "PortableRunner", "PrismRunner", "SparkRunner", "DataflowRunner",
                 "BundleBasedDirectRunner", "SwitchingDirectRunner", "InteractiveRunner")
EXAMPLE = '--beam-pipeline-args="--runner=FlinkRunner --flink_master=localhost:8081 --environment_type=LOOPBACK"'


def parse_flags(text: str) -> list[str]:
    """Split the flags as a shell would; refuse what Beam would silently ignore or fail on much later."""
    try:
        flags = shlex.split(text)
    except ValueError as exc:
        raise UsageError(f"beam_pipeline_args={text!r} cannot be parsed ({exc}): quote it as a shell would, "
                         f"e.g. {EXAMPLE}.") from None
    stray = [flag for flag in flags if not flag.startswith("--")]
    if stray and not _follows_a_flag(flags, stray[0]):
        raise UsageError(f"beam_pipeline_args={text!r}: {stray[0]!r} is not a --flag; pass Beam pipeline options "
                         f"as --name=value, e.g. {EXAMPLE}.")
    runner = runner_of(flags)
    known = {name.lower() for name in KNOWN_RUNNERS} | {name[:-6].lower() for name in KNOWN_RUNNERS}
    if runner is not None and "." not in runner and runner.lower() not in known:
        raise UsageError(f"beam_pipeline_args={text!r} names runner {runner!r}, which Beam does not know: use one "
                         f"of {', '.join(KNOWN_RUNNERS[:5])} (FlinkRunner for the local cluster of `make flink`).")
    return flags


def _follows_a_flag(flags: list[str], value: str) -> bool:
    """`--runner FlinkRunner` (a value as the next word) is fine too."""
    at = flags.index(value)
    return at > 0 and flags[at - 1].startswith("--") and "=" not in flags[at - 1]


def runner_of(flags: list[str]) -> str | None:
    for at, flag in enumerate(flags):
        if flag.startswith("--runner="):
            return flag.split("=", 1)[1]
        if flag == "--runner" and at + 1 < len(flags):
            return flags[at + 1]
    return None


# ── Decision rules: train.decision_rule and train.payoffs ──
RULES = ("max_f1", "accuracy", "precision>=P", "recall>=R", "profit")
RULE_HELP = ("how the decision threshold is chosen on the validation split: max_f1, accuracy, precision>=0.8 (most "
             "recall at that precision), recall>=0.7 (most precision at that recall) or profit (train.payoffs)")


def parse_rule(rule: str) -> tuple[str, float | None]:
    """'precision>=0.8' -> ('precision', 0.8); 'max_f1' -> ('max_f1', None). Errors name the fix."""
    text = rule.replace(" ", "")
    for name in ("precision", "recall"):
        if text.startswith(name + ">="):
            try:
                target = float(text[len(name) + 2:])
            except ValueError:
                target = -1.0
            if not 0 < target <= 1:
                raise UsageError(f"config value train.decision_rule={rule!r}: the target after '>=' must be a number "
                                 f"in (0, 1], e.g. {name}>=0.8.")
            return name, target
    if text in ("max_f1", "accuracy", "profit"):
        return text, None
    raise UsageError(f"config value train.decision_rule={rule!r} is unknown: use one of {', '.join(RULES)}.")


def parse_payoffs(text: str) -> tuple[float, float, float, float]:
    """'0,-1,-5,10' -> payoffs of a true negative, false positive, false negative, true positive."""
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4:
        raise UsageError(f"config value train.payoffs={text!r} is not four numbers: write the payoff of a true "
                         f"negative, false positive, false negative and true positive, e.g. 0,-1,0,4.")
    return values  # type: ignore[return-value]


# ── Sentinels: train.sentinels ("-1,999") ──
def parse_sentinels(text: str) -> tuple[float, ...]:
    return tuple(float(v) for v in text.split(",") if v.strip())


def sentinels_ok(text: str) -> bool:
    try:
        return all(v == v for v in parse_sentinels(text))  # NaN is no code
    except ValueError:
        return False


# ── Feature crosses: the grammar of train.crosses ("month*day,contact*month,month*day/7") ───────────────
AUTO = "auto"  # a value found from the data (crosses) or chosen for the run (teacher)
CROSS_MIN_COUNT = 5  # rarer joint values share one out-of-vocabulary slot: one-hots of single rows overfit


def parse_crosses(text: str) -> tuple[tuple[str, ...], ...]:
    """'month*day, a*b/7' -> (('month', 'day'), ('a', 'b/7'))."""
    return tuple(tuple(name.strip() for name in item.split("*")) for item in text.split(",") if item.strip())


def cross_term(term: str) -> tuple[str, int]:
    """'day/7' -> ('day', 7): the column and the width of its buckets (1: each integer its own value)."""
    name, _, width = term.partition("/")
    return name.strip(), int(width) if width.strip() else 1


def cross_term_ok(term: str) -> bool:
    name, slash, width = term.partition("/")
    return bool(name.strip()) and (not slash or width.strip().isdigit() and int(width) >= 1)
