"""Frozen config dataclasses, one per component, composed into PipelineConfig.

Defaults live here; overrides are applied once at the edge (a CLI or pipeline.py) through `from_dict`
or `add_flags`/`from_flags` (components/config_overrides.py, importable from here), and every value is checked on construction so that a bad value fails fast
with a message naming the key and the allowed range.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from components.beam_runner import parse_flags
from components.config_overrides import add_flags, from_dict, from_flags, to_dict, with_overrides  # noqa: F401
from components.decision import RULE_HELP, parse_payoffs, parse_rule
from components.errors import UsageError
from components.feature_kinds import sentinels_ok
from components.features import CROSS_MIN_COUNT, cross_term_ok, parse_crosses

SPLIT_FORMATS = ("npz", "tfrecord")
MAX_SEED = 2**32 - 1  # NumPy's and TensorFlow's seeds are unsigned 32-bit
STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker")
FAMILIES = ("mlp", "wide_deep")
BEAM_ARGS_HELP = ("Beam pipeline options, as one string (TFX's beam_pipeline_args), e.g. \"--runner=FlinkRunner "
                  "--flink_master=localhost:8081 --environment_type=LOOPBACK --parallelism=2\": when set, {what} "
                  "on that runner, whatever the file size ('' = in this process)")


def _field(default: Any, help: str) -> Any:
    return dataclasses.field(default=default, metadata={"help": help})


def _check_seed(seed: int) -> None:
    _check(0 <= seed <= MAX_SEED, "seed", seed, f"an integer in [0, {MAX_SEED}] (an unsigned 32-bit seed)")


def _check(ok: bool, key: str, value: Any, expected: str) -> None:
    if not ok:
        raise UsageError(f"config value {key}={value!r} is out of range: expected {expected}.")


@dataclasses.dataclass(frozen=True)
class ValidateConfig:
    label: str = _field("deposit", "name of the label column")
    beam_threshold_mb: float = _field(
        256.0, "CSV files larger than this (MB) get statistics through the Beam path instead of in memory")
    drift_js_threshold: float = _field(
        0.1, "Jensen-Shannon divergence above which a numeric feature is reported as drifted")
    drift_linf_threshold: float = _field(
        0.1, "L-infinity distance above which a categorical feature is reported as drifted")
    fail_on_drift: bool = _field(False, "treat drift against the previous run as a blocking anomaly")
    big_data: str = _field("sample", "statistics of files above beam_threshold_mb: 'sample' (a seeded random "
                                     "sample of sample_rows rows, fast, reported as such) or 'beam' (exact)")
    sample_rows: int = _field(500_000, "rows in the statistics sample of a big file")
    beam_pipeline_args: str = _field("", BEAM_ARGS_HELP.format(what="exact statistics through Beam"))

    def __post_init__(self) -> None:
        _check(bool(self.label), "label", self.label, "a column name")
        parse_flags(self.beam_pipeline_args)
        _check(self.beam_threshold_mb > 0, "beam_threshold_mb", self.beam_threshold_mb, "> 0")
        _check(self.big_data in ("sample", "beam"), "big_data", self.big_data, "sample or beam")
        _check(self.sample_rows >= 1000, "sample_rows", self.sample_rows, ">= 1000")
        for key in ("drift_js_threshold", "drift_linf_threshold"):
            value = getattr(self, key)
            _check(0 < value <= 1, key, value, "a number in (0, 1]")


@dataclasses.dataclass(frozen=True)
class SplitConfig:
    label: str = _field("deposit", "name of the label column")
    train_fraction: float = _field(0.8, "fraction of rows for training")
    validation_fraction: float = _field(0.1, "fraction of rows for validation (early stopping)")
    test_fraction: float = _field(0.1, "fraction of rows for the held-out test set")
    seed: int = _field(42, "random seed of the stratified shuffle")
    format: str = _field("npz", "split file format: npz (compressed NumPy) or tfrecord (gzip'd, sharded)")
    shards: int = _field(4, "TFRecord shards per split (at least the number of training workers)")
    min_rows_per_class: int = _field(5, "each split needs at least this many rows of each class")
    stream_threshold_mb: float = _field(
        256.0, "CSV files larger than this are split chunk by chunk (TFRecord only): memory stays flat")
    chunk_rows: int = _field(200_000, "rows per chunk when streaming")
    beam_pipeline_args: str = _field("", BEAM_ARGS_HELP.format(what="the split as a Beam pipeline (TFRecord)"))

    def __post_init__(self) -> None:
        parse_flags(self.beam_pipeline_args)
        fractions = (self.train_fraction, self.validation_fraction, self.test_fraction)
        for key, value in zip(("train_fraction", "validation_fraction", "test_fraction"), fractions):
            _check(0 < value < 1, key, value, "a number in (0, 1)")
        total = sum(fractions)
        _check(abs(total - 1) < 1e-6, "train_fraction+validation_fraction+test_fraction", round(total, 6),
               "fractions that sum to 1")
        _check(self.format in SPLIT_FORMATS, "format", self.format, " or ".join(SPLIT_FORMATS))
        if self.beam_pipeline_args and self.format != "tfrecord":  # workers write shards; an .npz is one array
            raise UsageError(f"config value split.beam_pipeline_args={self.beam_pipeline_args!r} needs TFRecord "
                             f"splits, but split.format={self.format!r}: add --format tfrecord.")
        _check(1 <= self.shards <= 1024, "shards", self.shards, "an integer in [1, 1024]")
        _check(self.min_rows_per_class >= 1, "min_rows_per_class", self.min_rows_per_class, ">= 1")
        _check(self.stream_threshold_mb > 0, "stream_threshold_mb", self.stream_threshold_mb, "> 0")
        _check(self.chunk_rows >= 1000, "chunk_rows", self.chunk_rows, ">= 1000")
        _check_seed(self.seed)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    hidden_layers: int = _field(2, "number of hidden Dense layers")
    hidden_units: int = _field(30, "ReLU units per hidden layer")
    learning_rate: float = _field(0.001, "Adam learning rate (per global batch; see README for scaling)")
    batch_size: int = _field(100, "batch size per replica (global = batch_size x replicas)")
    per_replica_batch: bool = _field(True, "scale the global batch with the replica count; false keeps "
                                           "batch_size as the global batch")
    epochs: int = _field(100, "maximum number of epochs")
    patience: int = _field(2, "early stopping: epochs without val_loss improvement before stopping")
    seed: int = _field(42, "random seed of weight initialisation and shuffling")
    strategy: str = _field("auto", "tf.distribute strategy: auto, one_device, mirrored or multi_worker")
    steps_per_execution: int = _field(128, "training steps per tf.function call: fewer Python round trips "
                                           "and callback calls (SIGTERM is seen between calls)")
    jit_compile: bool = _field(False, "compile the training step with XLA on one device (fuses the small "
                                     "ops of a small model; distributed strategies always run without)")
    numeric_bins: int = _field(0, "quantile bins per numeric column, one-hot beside its normalized value "
                                  "(piecewise encoding adapted on the training split; 0 = none)")
    signed_log: bool = _field(False, "sign(x)*log1p(|x|) on numerics before normalizing (tames heavy tails)")
    ensemble: int = _field(1, "Dense stacks side by side whose probabilities are averaged, in the one model "
                              "(1 = a single stack, the reference recipe's model)")
    weight_decay: float = _field(0.0, "decoupled weight decay (AdamW) when > 0; 0 = plain Adam")
    crosses: str = _field(
        "month*day,contact*month,month*day/4,month*day/8,month*day/16",
        "feature crosses, comma-separated, each columns joined by '*' (a numeric column as its integer value, or "
        "name/k for buckets of k: day/7 is the week of the month): one-hot of the joint value when it occurs "
        f"in at least {CROSS_MIN_COUNT} training rows; crosses naming a column the data lacks are skipped "
        "('' = none)")
    family: str = _field("mlp", "model family: mlp (the Dense stack above, one-hot inputs) or wide_deep "
                                "(components/wide_deep.py: engineered inputs, embeddings, a wide linear part)")
    deep_units: str = _field("128,64", "wide_deep: units of the hidden ReLU layers, comma-separated")
    dropout: float = _field(0.2, "wide_deep: dropout after each hidden layer")
    embedding_dim: int = _field(8, "wide_deep: embedding size of each categorical and cross")
    wide: bool = _field(True, "wide_deep: add a learned weight per categorical and cross value to the logit")
    date_bins: int = _field(48, "wide_deep: piecewise-linear bins of the day of the year, when a month-name and "
                                "a day-of-month column are found (0 = none)")
    sentinels: str = _field("-1,999", "wide_deep: numeric codes read as 'not a value' (a flag plus the median) "
                                      "when one sits at a column's min or max in >= 1 percent of training rows")
    teacher: str = _field("", "distil a teacher at training time: '' (none) or lightgbm (components/teacher.py; "
                              "needs requirements-dev.lock and the training split in memory)")
    teacher_weight: float = _field(0.6, "weight of the teacher's probability in each training row's target")
    reduce_lr_patience: int = _field(0, "halve the learning rate after this many epochs without val_loss "
                                        "improvement (0 = never)")
    decision_rule: str = _field("max_f1", RULE_HELP)
    payoffs: str = _field("0,-1,0,4", "payoffs of a true negative, false positive, false negative and true "
                                      "positive, for decision_rule=profit")
    temperature_scaling: bool = _field(False, "fit a temperature on the validation split to calibrate the "
                                              "probabilities (changes no ranking)")
    cache_rows: int = _field(100_000, "keep the preprocessed training and validation sets in memory when "
                                        "the training split has at most this many rows (0 = never)")
    histogram_freq: int = _field(5, "epochs between weight histograms in TensorBoard (0 = none; each costs "
                                    "more than an epoch of training on the bank data)")
    checkpoint_every_steps: int = _field(0, "BackupAndRestore checkpoint every N steps (0 = at epoch ends, "
                                            "see checkpoint_secs)")
    checkpoint_secs: float = _field(30.0, "checkpoint at the end of an epoch once this many seconds have passed "
                                          "since the last one (0 = every epoch): a kill loses at most about "
                                          "this much training; multi-worker runs checkpoint every epoch")
    cpu_replicas: int = _field(1, "split the CPU into this many logical devices (tests multi-replica code "
                                  "without GPUs; needs a fresh process)")

    def __post_init__(self) -> None:
        for key in ("hidden_layers", "hidden_units", "batch_size", "epochs", "steps_per_execution", "cpu_replicas",
                    "ensemble"):
            value = getattr(self, key)
            _check(isinstance(value, int) and value >= 1, key, value, "an integer >= 1")
        _check(self.hidden_layers <= 64 and self.hidden_units <= 65536, "hidden_layers/hidden_units",
               (self.hidden_layers, self.hidden_units), "at most 64 layers of at most 65536 units")
        _check(0 < self.learning_rate < 10, "learning_rate", self.learning_rate, "a number in (0, 10)")
        _check(self.patience >= 0, "patience", self.patience, ">= 0")
        _check(self.numeric_bins == 0 or 2 <= self.numeric_bins <= 1024, "numeric_bins", self.numeric_bins,
               "0 or an integer in [2, 1024]")
        _check(self.ensemble <= 64, "ensemble", self.ensemble, "an integer in [1, 64]")
        _check(0 <= self.weight_decay < 1, "weight_decay", self.weight_decay, "a number in [0, 1)")
        _check(self.cache_rows >= 0, "cache_rows", self.cache_rows, ">= 0")
        _check(self.histogram_freq >= 0, "histogram_freq", self.histogram_freq, ">= 0")
        _check(self.checkpoint_every_steps >= 0, "checkpoint_every_steps", self.checkpoint_every_steps, ">= 0")
        _check(self.checkpoint_secs >= 0, "checkpoint_secs", self.checkpoint_secs, ">= 0")
        _check(self.strategy in STRATEGIES, "strategy", self.strategy, " or ".join(STRATEGIES))
        _check(self.family in FAMILIES, "family", self.family, " or ".join(FAMILIES))
        _check(0 <= self.dropout < 1, "dropout", self.dropout, "a number in [0, 1)")
        _check(self.teacher in ("", "lightgbm"), "teacher", self.teacher, "'' or lightgbm")
        _check(not self.teacher or self.family == "wide_deep", "teacher", self.teacher,
               "'' with family=mlp (its loss takes hard labels only): add --set train.family=wide_deep")
        _check(0 < self.teacher_weight <= 1, "teacher_weight", self.teacher_weight, "a number in (0, 1]")
        for key in ("date_bins", "reduce_lr_patience"):
            _check(getattr(self, key) >= 0, key, getattr(self, key), "an integer >= 0")
        _check(1 <= self.embedding_dim <= 1024, "embedding_dim", self.embedding_dim, "an integer in [1, 1024]")
        _check(all(u.strip().isdigit() and int(u) >= 1 for u in self.deep_units.split(",")), "deep_units",
               self.deep_units, "comma-separated integers >= 1, e.g. 128,64")
        _check(sentinels_ok(self.sentinels), "sentinels", self.sentinels, "comma-separated numbers, e.g. -1,999")
        parse_rule(self.decision_rule)
        parse_payoffs(self.payoffs)
        _check_seed(self.seed)
        _check(all(len(c) >= 2 and all(cross_term_ok(t) for t in c) for c in parse_crosses(self.crosses)), "crosses",
               self.crosses, "comma-separated crosses of two or more columns joined by '*', a numeric column "
                             "optionally as name/k (bucketed by k), e.g. month*day,month*day/7")


@dataclasses.dataclass(frozen=True)
class EvaluateConfig:
    batch_size: int = _field(1024, "scoring batch size")

    def __post_init__(self) -> None:
        _check(self.batch_size >= 1, "batch_size", self.batch_size, ">= 1")


@dataclasses.dataclass(frozen=True)
class PushConfig:
    model_name: str = _field("bank", "name of the model directory under the serving directory")
    min_accuracy: float = _field(0.80, "gate: minimum test accuracy")
    min_auc: float = _field(0.85, "gate: minimum test ROC AUC")
    min_balanced_accuracy: float = _field(
        0.6, "gate: minimum mean recall of the two classes (0.5: a model that always answers one class)")
    baseline_tolerance: float = _field(
        0.0, "gate: how much worse than the deployed model (accuracy, AUC, on test rows the deployed model never "
             "trained on) a candidate may be; 0 = no worse, so quality cannot slide push after push")

    def __post_init__(self) -> None:
        _check(self.model_name.replace("-", "").replace("_", "").isalnum(), "model_name", self.model_name,
               "letters, digits, '-' and '_'")
        for key in ("min_accuracy", "min_auc", "min_balanced_accuracy", "baseline_tolerance"):
            value = getattr(self, key)
            _check(0 <= value <= 1, key, value, "a number in [0, 1]")


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    validate: ValidateConfig = dataclasses.field(default_factory=ValidateConfig)
    split: SplitConfig = dataclasses.field(default_factory=SplitConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    evaluate: EvaluateConfig = dataclasses.field(default_factory=EvaluateConfig)
    push: PushConfig = dataclasses.field(default_factory=PushConfig)

    def __post_init__(self) -> None:
        # One label for the whole run: validate checks the column that split encodes. Each step keeps its
        # own copy (a step runs alone from its section), so the two must agree; --label sets both.
        if self.validate.label != self.split.label:
            raise UsageError(f"config values validate.label={self.validate.label!r} and split.label="
                             f"{self.split.label!r} disagree: the run has one label; pass it with --label, which "
                             f"sets both.")

