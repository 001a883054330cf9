"""Generated stand-ins for the two other UCI Bank Marketing releases, which are not available here.

    python bench/synth_uci.py --shape bank-full --rows 20000 --seed 0 --out /tmp/bank-full.csv
    python bench/synth_uci.py --shape bank-additional-full --seed 0 --out /tmp/bank-additional-full.csv

Same columns, value sets and file format as the real files (`;`-separated, text quoted), label `y` yes/no:
  bank-full             45,211 rows, 11.7% positive; bank.csv's 16 features, `pdays` -1 for never contacted.
  bank-additional-full  41,188 rows, 11.3% positive; no `balance` or `day` but `day_of_week`, `pdays` 999 for never,
                        and five economic indicators (emp.var.rate, cons.price.idx, cons.conf.idx, euribor3m,
                        nr.employed).
How the signal is made, so that it is learnable but noisy as in the real data: every row is a call on a weekday
between May 2008 and November 2010, most of them in 2008 (the year is not a column). The label is drawn from a
logistic model whose log-odds add the period (success rose as rates fell in 2009-2010), the month of the year, a random
effect per call date (the campaign's pushes: what the day of the year can learn), `duration` (the strongest
feature, more so in the later period), a previous success and a recent contact (`pdays` under a threshold), the
client's job, loans (housing loans only before the crisis) and contact channel, and the number of calls (with a step
above four); the intercept is solved so the positive share matches the release. The indicators are monthly or
quarterly series that follow the
period (so they correlate with month, year and label), euribor with daily noise. Deterministic per seed.
"""
from __future__ import annotations

import argparse
import csv
import os
from pathlib import Path

import numpy as np
import pandas as pd

SHAPES = {"bank-full": (45_211, 0.117), "bank-additional-full": (41_188, 0.113)}
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
PERIODS = 31  # months from May 2008 to November 2010
JOBS = {"blue-collar": (0.215, -0.3), "management": (0.209, 0.05), "technician": (0.168, 0.0),
        "admin.": (0.114, 0.1), "services": (0.092, -0.15), "retired": (0.050, 0.6), "self-employed": (0.035, 0.0),
        "entrepreneur": (0.033, -0.1), "unemployed": (0.029, 0.3), "housemaid": (0.027, -0.05),
        "student": (0.021, 0.8), "unknown": (0.007, 0.0)}  # share of rows, effect on the log-odds
MONTH_EFFECT = {"mar": 1.0, "sep": 0.8, "oct": 0.8, "dec": 0.9, "may": -0.4, "jul": -0.1, "apr": 0.2}


def calendar(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Call dates (datetime64[D], weekdays only) and their period index 0..30; early periods get most calls."""
    t = np.arange(PERIODS)
    volume = 0.1 * np.exp(-t / 4) + 0.004
    volume[[0, 12]] *= 2.0  # the May campaigns
    period = np.sort(rng.choice(PERIODS, n, p=volume / volume.sum()))
    start = (np.datetime64("2008-05") + period).astype("datetime64[D]")
    weekdays = np.busday_count(start, (np.datetime64("2008-06") + period).astype("datetime64[D]"))
    return np.busday_offset(start, (rng.random(n) * weekdays).astype(int), roll="forward"), period


def indicators(period: np.ndarray, dates: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The economic series: a crisis curve over the periods (rates and employment fall from late 2008), quarterly
    for employment, monthly for prices and confidence, euribor with noise per day."""
    t = np.arange(PERIODS)
    crisis = 1 / (1 + np.exp(-(t - 8) / 2.0))
    quarter = np.repeat(rng.normal(0, 1, PERIODS // 3 + 1), 3)[:PERIODS]
    day = (dates - dates.min()).astype(int)
    euribor = 4.9 - 4.1 * crisis[period] + 0.15 * np.sin(t[period] / 3) + rng.normal(0, 0.03, day.max() + 1)[day]
    return {"emp.var.rate": np.round(1.4 - 4.6 * crisis + 0.25 * quarter, 1)[period],
            "cons.price.idx": np.round(93.5 + 0.6 * rng.standard_normal(PERIODS) - 0.4 * crisis, 3)[period],
            "cons.conf.idx": np.round(-40 + 6 * rng.standard_normal(PERIODS) + 3 * crisis, 1)[period],
            "euribor3m": np.round(np.clip(euribor, 0.63, 5.05), 3),
            "nr.employed": np.round(5228.1 - 240 * crisis + 15 * quarter, 1)[period]}


def clients(n: int, rng: np.random.Generator, additional: bool) -> pd.DataFrame:
    job = rng.choice(list(JOBS), n, p=np.array([s for s, _ in JOBS.values()]) / sum(s for s, _ in JOBS.values()))
    age = np.where(job == "retired", rng.normal(62, 8, n), np.where(job == "student", rng.normal(25, 4, n),
                                                                     rng.normal(40, 9.5, n)))
    unknown = ["unknown"] if additional else []
    education = (["basic.4y", "basic.6y", "basic.9y", "high.school", "professional.course", "university.degree",
                  "illiterate", "unknown"], [.10, .06, .15, .23, .13, .29, .001, .039]) if additional else \
        (["primary", "secondary", "tertiary", "unknown"], [.15, .51, .30, .04])

    def pick(values, p):
        return rng.choice(values, n, p=np.array(p) / sum(p))

    return pd.DataFrame({
        "age": np.clip(np.round(age), 18, 95).astype(int), "job": job,
        "marital": pick(["married", "single", "divorced", *unknown], [.60, .28, .11, .01][:3 + additional]),
        "education": pick(*education),
        "default": pick(["no", "yes", *unknown], [.98, .018, .2][:2 + additional]),
        "balance": np.round(rng.lognormal(6.3, 1.6, n) - rng.exponential(300, n)).astype(int),
        "housing": pick(["yes", "no", *unknown], [.55, .45, .024][:2 + additional]),
        "loan": pick(["no", "yes", *unknown], [.84, .16, .024][:2 + additional]),
    })


def campaign(n: int, period: np.ndarray, rng: np.random.Generator, additional: bool) -> pd.DataFrame:
    """Contact channel, call duration and counts, and the previous campaign (more likely in later periods)."""
    contacted = rng.random(n) < np.where(additional, 0.02, 0.10) + 0.25 * (period > 12)
    previous = np.where(contacted, 1 + rng.poisson(1.2, n), (rng.random(n) < 0.08 * additional))
    outcome = rng.choice(["failure", "success", "other"], n, p=[0.55, 0.30, 0.15])
    never = ("nonexistent", 999) if additional else ("unknown", -1)
    poutcome = np.where(previous == 0, never[0], np.where(contacted, outcome, "failure"))
    channels = (["cellular", "telephone"], [.64, .36]) if additional else (["cellular", "telephone", "unknown"],
                                                                             [.65, .06, .29])
    return pd.DataFrame({
        "contact": rng.choice(channels[0], n, p=channels[1]),
        "duration": np.clip(np.round(rng.lognormal(5.2, 0.8, n)), 0, 4918).astype(int),
        "campaign": rng.geometric(0.45, n) + (rng.random(n) < 0.05) * rng.integers(3, 40, n),
        "pdays": np.where(contacted, np.clip(np.round(rng.gamma(2, 90, n) / (30 if additional else 1)), 1, 871),
                          never[1]).astype(int),
        "previous": previous.astype(int), "poutcome": poutcome})


def log_odds(frame: pd.DataFrame, period: np.ndarray, dates: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The label's log-odds before the intercept: what a model can learn from the columns (and the hidden year)."""
    t = np.arange(PERIODS)
    late = (1 / (1 + np.exp(-(t - 9) / 2.0)))[period]  # 0 in 2008, 1 from late 2009
    era = 2.6 * late + rng.normal(0, 0.35, PERIODS)[period]
    day = (dates - dates.min()).astype(int)
    pushes = rng.normal(0, 0.5, day.max() + 1)[day]  # one effect per call date
    month = frame["month"].map(MONTH_EFFECT).fillna(0).to_numpy()
    job = frame["job"].map({k: e for k, (_, e) in JOBS.items()}).to_numpy()
    # Not only additive: effects that change with the period or jump at a threshold, as in the real campaigns
    # (a long call meant more once rates fell; housing loans mattered before the crisis; a recent contact helps).
    z = era + pushes + month + job + (2.0 + 0.8 * late) * (np.log1p(frame["duration"]) - 5.3)
    z += 2.3 * (frame["poutcome"] == "success") - 0.1 * (frame["poutcome"] == "failure")
    recent = frame["pdays"].between(0, 7 if "euribor3m" in frame else 119)  # never: -1 or 999
    z += 0.8 * recent - 0.8 * (frame["housing"] == "yes") * (1 - late) - 0.3 * (frame["loan"] == "yes")
    z -= 0.12 * np.log(frame["campaign"]) + 0.4 * (frame["campaign"] > 4)
    z -= 0.9 * (frame["contact"] == "unknown") + 0.4 * (frame["contact"] == "telephone")
    z += 0.25 * ((frame["age"] > 60) | (frame["age"] < 25)) + 0.25 * (frame["education"].isin(["tertiary",
                                                                                       "university.degree"]))
    if "euribor3m" in frame:
        z -= 0.3 * (frame["euribor3m"] - 3)  # beyond the period: the indicators carry signal of their own
    else:
        z += 0.05 * np.log1p(np.maximum(frame["balance"], 0))
    return np.where(frame["duration"] < 5, -8.0, z)  # a call cut short never subscribes


def generate(shape: str, rows: int | None = None, seed: int = 0) -> pd.DataFrame:
    """A data frame shaped like the named release (its row count unless `rows`), the label last."""
    size, positive = SHAPES[shape]
    n, additional = rows or size, shape == "bank-additional-full"
    rng = np.random.default_rng(seed)
    dates, period = calendar(n, rng)
    frame = pd.concat([clients(n, rng, additional), campaign(n, period, rng, additional)], axis=1)
    frame["month"] = np.array(MONTHS)[dates.astype("datetime64[M]").astype(int) % 12]
    frame["day"] = (dates - dates.astype("datetime64[M]")).astype(int) + 1
    frame["day_of_week"] = np.array(["mon", "tue", "wed", "thu", "fri", "sat", "sun"])[
        (dates.astype(int) - 4) % 7]  # 1970-01-05 was a Monday
    for name, values in indicators(period, dates, rng).items():
        frame[name] = values
    z = log_odds(frame, period, dates, rng)
    low, high = -20.0, 20.0
    for _ in range(60):  # the intercept that gives the release's positive share
        mid = (low + high) / 2
        low, high = (mid, high) if np.mean(1 / (1 + np.exp(-(z + mid)))) < positive else (low, mid)
    frame["y"] = np.where(rng.random(n) < 1 / (1 + np.exp(-(z + low))), "yes", "no")
    return frame[columns(shape)].iloc[rng.permutation(n) if not additional else np.arange(n)].reset_index(drop=True)


def columns(shape: str) -> list[str]:
    if shape == "bank-full":
        return ["age", "job", "marital", "education", "default", "balance", "housing", "loan", "contact", "day",
                "month", "duration", "campaign", "pdays", "previous", "poutcome", "y"]
    return ["age", "job", "marital", "education", "default", "housing", "loan", "contact", "month", "day_of_week",
            "duration", "campaign", "pdays", "previous", "poutcome", "emp.var.rate", "cons.price.idx",
            "cons.conf.idx", "euribor3m", "nr.employed", "y"]


def write(frame: pd.DataFrame, path: Path) -> Path:
    """As UCI ships the files (`;`, text quoted), atomically: a partial file never has the final name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    frame.to_csv(tmp, sep=";", index=False, quoting=csv.QUOTE_NONNUMERIC)
    os.replace(tmp, path)
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", choices=list(SHAPES), required=True)
    parser.add_argument("--rows", type=int, help="number of rows (default: as many as the real release)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True, help="CSV file to write")
    args = parser.parse_args(argv)
    if args.rows is not None and args.rows < 100:
        parser.error(f"--rows {args.rows}: at least 100 rows are needed for both classes to appear")
    frame = generate(args.shape, args.rows, args.seed)
    write(frame, args.out)
    print(f"{len(frame)} rows, {np.mean(frame['y'] == 'yes'):.1%} positive -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
