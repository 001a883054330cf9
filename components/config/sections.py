"""Frozen config dataclasses, one per component, composed into PipelineConfig.

Defaults live here (train's in config/train.py); overrides are applied once at the edge (a CLI or
pipeline.py) through config/overrides.py, and every value is checked on construction (config/checks.py).
"""
from __future__ import annotations

import dataclasses

from components.config.checks import check, check_seed, field
from components.config.grammars import parse_flags
from components.config.train import TrainConfig
from components.core.errors import UsageError

SPLIT_FORMATS = ("npz", "tfrecord")
BEAM_ARGS_HELP = ("Beam pipeline options, as one string (TFX's beam_pipeline_args), e.g. \"--runner=FlinkRunner "
                  "--flink_master=localhost:8081 --environment_type=LOOPBACK --parallelism=2\": when set, {what} "
                  "on that runner, whatever the file size ('' = in this process)")


@dataclasses.dataclass(frozen=True)
class ValidateConfig:
    label: str = field("deposit", "name of the label column")
    beam_threshold_mb: float = field(
        256.0, "CSV files larger than this (MB) get statistics through the Beam path instead of in memory")
    drift_js_threshold: float = field(
        0.1, "Jensen-Shannon divergence above which a numeric feature is reported as drifted")
    drift_linf_threshold: float = field(
        0.1, "L-infinity distance above which a categorical feature is reported as drifted")
    fail_on_drift: bool = field(False, "treat drift against the previous run as a blocking anomaly")
    big_data: str = field("sample", "statistics of files above beam_threshold_mb: 'sample' (a seeded random "
                                     "sample of sample_rows rows, fast, reported as such) or 'beam' (exact)")
    sample_rows: int = field(500_000, "rows in the statistics sample of a big file")
    beam_pipeline_args: str = field("", BEAM_ARGS_HELP.format(what="exact statistics through Beam"))

    def __post_init__(self) -> None:
        check(bool(self.label), "label", self.label, "a column name")
        parse_flags(self.beam_pipeline_args)
        check(self.beam_threshold_mb > 0, "beam_threshold_mb", self.beam_threshold_mb, "> 0")
        check(self.big_data in ("sample", "beam"), "big_data", self.big_data, "sample or beam")
        check(self.sample_rows >= 1000, "sample_rows", self.sample_rows, ">= 1000")
        for key in ("drift_js_threshold", "drift_linf_threshold"):
            value = getattr(self, key)
            check(0 < value <= 1, key, value, "a number in (0, 1]")


@dataclasses.dataclass(frozen=True)
class SplitConfig:
    label: str = field("deposit", "name of the label column")
    train_fraction: float = field(0.8, "fraction of rows for training")
    validation_fraction: float = field(0.1, "fraction of rows for validation (early stopping)")
    test_fraction: float = field(0.1, "fraction of rows for the held-out test set")
    seed: int = field(42, "random seed of the stratified shuffle")
    format: str = field("npz", "split file format: npz (compressed NumPy) or tfrecord (gzip'd, sharded)")
    shards: int = field(4, "TFRecord shards per split (at least the number of training workers)")
    min_rows_per_class: int = field(5, "each split needs at least this many rows of each class")
    stream_threshold_mb: float = field(
        256.0, "CSV files larger than this are split chunk by chunk (TFRecord only): memory stays flat")
    chunk_rows: int = field(200_000, "rows per chunk when streaming")
    beam_pipeline_args: str = field("", BEAM_ARGS_HELP.format(what="the split as a Beam pipeline (TFRecord)"))

    def __post_init__(self) -> None:
        parse_flags(self.beam_pipeline_args)
        fractions = (self.train_fraction, self.validation_fraction, self.test_fraction)
        for key, value in zip(("train_fraction", "validation_fraction", "test_fraction"), fractions):
            check(0 < value < 1, key, value, "a number in (0, 1)")
        total = sum(fractions)
        check(abs(total - 1) < 1e-6, "train_fraction+validation_fraction+test_fraction", round(total, 6),
               "fractions that sum to 1")
        check(self.format in SPLIT_FORMATS, "format", self.format, " or ".join(SPLIT_FORMATS))
        if self.beam_pipeline_args and self.format != "tfrecord":  # workers write shards; an .npz is one array
            raise UsageError(f"config value split.beam_pipeline_args={self.beam_pipeline_args!r} needs TFRecord "
                             f"splits, but split.format={self.format!r}: add --format tfrecord.")
        check(1 <= self.shards <= 1024, "shards", self.shards, "an integer in [1, 1024]")
        check(self.min_rows_per_class >= 1, "min_rows_per_class", self.min_rows_per_class, ">= 1")
        check(self.stream_threshold_mb > 0, "stream_threshold_mb", self.stream_threshold_mb, "> 0")
        check(self.chunk_rows >= 1000, "chunk_rows", self.chunk_rows, ">= 1000")
        check_seed(self.seed)


@dataclasses.dataclass(frozen=True)
class EvaluateConfig:
    batch_size: int = field(1024, "scoring batch size")

    def __post_init__(self) -> None:
        check(self.batch_size >= 1, "batch_size", self.batch_size, ">= 1")


@dataclasses.dataclass(frozen=True)
class PushConfig:
    model_name: str = field("bank", "name of the model directory under the serving directory")
    min_accuracy: float = field(0.80, "gate: minimum test accuracy")
    min_auc: float = field(0.85, "gate: minimum test ROC AUC")
    min_balanced_accuracy: float = field(
        0.6, "gate: minimum mean recall of the two classes (0.5: a model that always answers one class)")
    baseline_tolerance: float = field(
        0.0, "gate: how much worse than the deployed model (accuracy, AUC, on test rows the deployed model never "
             "trained on) a candidate may be; 0 = no worse, so quality cannot slide push after push")
    intended_use: str = field("", "model card: what the model is for, in words (empty: not stated)")
    not_for: str = field("", "model card: what the model must not be used for, in words (empty: not stated)")

    def __post_init__(self) -> None:
        check(self.model_name.replace("-", "").replace("_", "").isalnum(), "model_name", self.model_name,
               "letters, digits, '-' and '_'")
        for key in ("min_accuracy", "min_auc", "min_balanced_accuracy", "baseline_tolerance"):
            value = getattr(self, key)
            check(0 <= value <= 1, key, value, "a number in [0, 1]")


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

