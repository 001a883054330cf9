"""The train step's config: one option group per concern, a model family's options in its own group.

Flags and `--set train.KEY` keys stay flat (`--hidden-units`, `train.decision_rule`): config/overrides.py
routes each key to its group, and `TrainConfig.of(**flat)` builds one from flat keys in code.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from components.config.checks import check, check_seed, field
from components.config.grammars import (
    AUTO,
    CROSS_MIN_COUNT,
    RULE_HELP,
    cross_term_ok,
    parse_crosses,
    parse_payoffs,
    parse_rule,
    sentinels_ok,
)

STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker")
FAMILIES = ("mlp", "wide_deep")
TEACHERS = (AUTO, "", "lightgbm")


def group(cls: type) -> Any:
    """A field holding an option group: its keys are the train section's own (flat) keys."""
    return dataclasses.field(default_factory=cls, metadata={"group": True})


@dataclasses.dataclass(frozen=True)
class FitOptions:
    """How the network is fitted: optimiser, batches, epochs, early stopping, the seed."""
    learning_rate: float = field(0.001, "Adam learning rate (not scaled with the global batch; docs/distributed.md "
                                        "says when to raise it)")
    batch_size: int = field(100, "batch size per replica (global = batch_size x replicas)")
    per_replica_batch: bool = field(True, "scale the global batch with the replica count; false keeps "
                                           "batch_size as the global batch")
    epochs: int = field(100, "maximum number of epochs")
    patience: int = field(5, "early stopping: epochs without val_loss improvement before stopping")
    seed: int = field(42, "random seed of weight initialisation and shuffling")
    weight_decay: float = field(0.0, "decoupled weight decay (AdamW) when > 0; 0 = plain Adam")
    reduce_lr_patience: int = field(2, "halve the learning rate after this many epochs without val_loss "
                                        "improvement (0 = never)")

    def __post_init__(self) -> None:
        for key in ("batch_size", "epochs"):
            check(isinstance(getattr(self, key), int) and getattr(self, key) >= 1, key, getattr(self, key),
                  "an integer >= 1")
        check(0 < self.learning_rate < 10, "learning_rate", self.learning_rate, "a number in (0, 10)")
        check(self.patience >= 0, "patience", self.patience, ">= 0")
        check(0 <= self.weight_decay < 1, "weight_decay", self.weight_decay, "a number in [0, 1)")
        check(self.reduce_lr_patience >= 0, "reduce_lr_patience", self.reduce_lr_patience, "an integer >= 0")
        check_seed(self.seed)


@dataclasses.dataclass(frozen=True)
class FeatureOptions:
    """How raw columns become inputs: numeric encodings, crosses, dates and sentinels."""
    numeric_bins: int = field(16, "quantile bins per numeric column, one-hot beside its normalized value "
                                  "(piecewise encoding adapted on the training split; 0 = none)")
    signed_log: bool = field(False, "sign(x)*log1p(|x|) on numerics before normalizing (tames heavy tails)")
    crosses: str = field(
        AUTO,
        "feature crosses, comma-separated, each columns joined by '*' (a numeric column as its integer value, or "
        "name/k for buckets of k: day/7 is the week of the month): one-hot of the joint value when it occurs "
        f"in at least {CROSS_MIN_COUNT} training rows; crosses naming a column the data lacks are skipped. "
        "auto: the calendar's, month*day and month*day/4, /8, /16, when a month-name and a day-of-month column "
        "are found ('' = none)")
    date_bins: int = field(48, "wide_deep: piecewise-linear bins of the day of the year, when a month-name and "
                                "a day-of-month column are found (0 = none)")
    sentinels: str = field("-1,999", "wide_deep: numeric codes read as 'not a value' (a flag plus the median) "
                                      "when one sits at a column's min or max in >= 1 percent of training rows")

    def __post_init__(self) -> None:
        check(self.numeric_bins == 0 or 2 <= self.numeric_bins <= 1024, "numeric_bins", self.numeric_bins,
              "0 or an integer in [2, 1024]")
        check(self.date_bins >= 0, "date_bins", self.date_bins, "an integer >= 0")
        check(sentinels_ok(self.sentinels), "sentinels", self.sentinels, "comma-separated numbers, e.g. -1,999")
        written = () if self.crosses == AUTO else parse_crosses(self.crosses)
        check(all(len(c) >= 2 and all(cross_term_ok(t) for t in c) for c in written), "crosses",
              self.crosses, "comma-separated crosses of two or more columns joined by '*', a numeric column "
                            "optionally as name/k (bucketed by k), e.g. month*day,month*day/7")


@dataclasses.dataclass(frozen=True)
class MlpOptions:
    """The mlp family: a Dense ReLU stack over one-hot and normalized inputs."""
    hidden_layers: int = field(2, "number of hidden Dense layers")
    hidden_units: int = field(30, "ReLU units per hidden layer")
    ensemble: int = field(1, "Dense stacks side by side whose probabilities are averaged, in the one model "
                              "(1 = a single stack, the reference recipe's model)")

    def __post_init__(self) -> None:
        for key in ("hidden_layers", "hidden_units", "ensemble"):
            check(isinstance(getattr(self, key), int) and getattr(self, key) >= 1, key, getattr(self, key),
                  "an integer >= 1")
        check(self.hidden_layers <= 64 and self.hidden_units <= 65536, "hidden_layers/hidden_units",
              (self.hidden_layers, self.hidden_units), "at most 64 layers of at most 65536 units")
        check(self.ensemble <= 64, "ensemble", self.ensemble, "an integer in [1, 64]")


@dataclasses.dataclass(frozen=True)
class WideDeepOptions:
    """The wide_deep family: embeddings and a deep stack beside a wide linear part."""
    deep_units: str = field("128,64", "wide_deep: units of the hidden ReLU layers, comma-separated")
    dropout: float = field(0.2, "wide_deep: dropout after each hidden layer")
    embedding_dim: int = field(8, "wide_deep: embedding size of each categorical and cross")
    wide: bool = field(True, "wide_deep: add a learned weight per categorical and cross value to the logit")

    def __post_init__(self) -> None:
        check(0 <= self.dropout < 1, "dropout", self.dropout, "a number in [0, 1)")
        check(1 <= self.embedding_dim <= 1024, "embedding_dim", self.embedding_dim, "an integer in [1, 1024]")
        check(all(u.strip().isdigit() and int(u) >= 1 for u in self.deep_units.split(",")), "deep_units",
              self.deep_units, "comma-separated integers >= 1, e.g. 128,64")


@dataclasses.dataclass(frozen=True)
class TeacherOptions:
    """Distillation from a tree model at training time only (the exported model is Keras)."""
    teacher: str = field(AUTO, "distil a teacher at training time (components/model/teacher.py): lightgbm, '' "
                                  "(none) or auto (lightgbm with family=wide_deep when the training split is held "
                                  "in memory, see cache_rows; else none)")
    teacher_weight: float = field(0.6, "weight of the teacher's probability in each training row's target")

    def __post_init__(self) -> None:
        check(self.teacher in TEACHERS, "teacher", self.teacher, " or ".join(repr(t) for t in TEACHERS))
        check(0 < self.teacher_weight <= 1, "teacher_weight", self.teacher_weight, "a number in (0, 1]")


@dataclasses.dataclass(frozen=True)
class DecisionOptions:
    """How the decision threshold is chosen, and calibration."""
    decision_rule: str = field("max_f1", RULE_HELP)
    payoffs: str = field("0,-1,0,4", "payoffs of a true negative, false positive, false negative and true "
                                      "positive, for decision_rule=profit")
    temperature_scaling: bool = field(False, "fit a temperature on the validation split to calibrate the "
                                              "probabilities (changes no ranking)")

    def __post_init__(self) -> None:
        parse_rule(self.decision_rule)
        parse_payoffs(self.payoffs)


@dataclasses.dataclass(frozen=True)
class ExecutionOptions:
    """Where and how training runs: strategy, compilation, caching, checkpoints, logs."""
    strategy: str = field("auto", "tf.distribute strategy: auto, one_device, mirrored or multi_worker")
    steps_per_execution: int = field(128, "training steps per tf.function call: fewer Python round trips "
                                           "and callback calls (SIGTERM is seen between calls)")
    jit_compile: bool = field(False, "compile the training step with XLA on one device (fuses the small "
                                     "ops of a small model; distributed strategies always run without)")
    cache_rows: int = field(100_000, "keep the preprocessed training and validation sets in memory when "
                                        "the training split has at most this many rows (0 = never)")
    histogram_freq: int = field(5, "epochs between weight histograms in TensorBoard (0 = none; each costs "
                                    "more than an epoch of training on the bank data)")
    checkpoint_every_steps: int = field(0, "BackupAndRestore checkpoint every N steps (0 = at epoch ends, "
                                            "see checkpoint_secs)")
    checkpoint_secs: float = field(30.0, "checkpoint at the end of an epoch once this many seconds have passed "
                                          "since the last one (0 = every epoch): a kill loses at most about "
                                          "this much training; multi-worker runs checkpoint every epoch")
    cpu_replicas: int = field(1, "split the CPU into this many logical devices (tests multi-replica code "
                                  "without GPUs; needs a fresh process)")

    def __post_init__(self) -> None:
        for key in ("steps_per_execution", "cpu_replicas"):
            check(isinstance(getattr(self, key), int) and getattr(self, key) >= 1, key, getattr(self, key),
                  "an integer >= 1")
        check(self.strategy in STRATEGIES, "strategy", self.strategy, " or ".join(STRATEGIES))
        for key in ("cache_rows", "histogram_freq", "checkpoint_every_steps", "checkpoint_secs"):
            check(getattr(self, key) >= 0, key, getattr(self, key), ">= 0")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    family: str = field("wide_deep", "model family: wide_deep (components/model/wide_deep.py: engineered inputs, "
                                     "embeddings, a wide linear part) or mlp (a Dense stack over one-hot inputs)")
    fit: FitOptions = group(FitOptions)
    features: FeatureOptions = group(FeatureOptions)
    mlp: MlpOptions = group(MlpOptions)
    wide_deep: WideDeepOptions = group(WideDeepOptions)
    distill: TeacherOptions = group(TeacherOptions)
    decision: DecisionOptions = group(DecisionOptions)
    execution: ExecutionOptions = group(ExecutionOptions)

    def __post_init__(self) -> None:
        check(self.family in FAMILIES, "family", self.family, " or ".join(FAMILIES))
        check(self.distill.teacher != "lightgbm" or self.family == "wide_deep", "teacher", self.distill.teacher,
              "'' with family=mlp (its loss takes hard labels only): add --set train.family=wide_deep")

    def teacher(self, in_memory: bool) -> str:
        """The teacher this run distils ('' for none): auto takes LightGBM where it applies."""
        if self.distill.teacher != AUTO:
            return self.distill.teacher
        return "lightgbm" if self.family == "wide_deep" and in_memory else ""

    @classmethod
    def of(cls, **flat: Any) -> "TrainConfig":
        """A TrainConfig from flat keys, as flags and `--set` name them: TrainConfig.of(epochs=3, wide=False)."""
        return cls().with_values(**flat)

    def with_values(self, **flat: Any) -> "TrainConfig":
        """This config with some flat keys changed (each routed to its group)."""
        groups = {f.name: {} for f in dataclasses.fields(self) if f.metadata.get("group")}
        top = {}
        for key, value in flat.items():
            owner = next((g for g in groups if key in {f.name for f in dataclasses.fields(getattr(self, g))}), None)
            if owner is None and key not in {f.name for f in dataclasses.fields(self)} - groups.keys():
                raise TypeError(f"TrainConfig has no key {key!r}")
            (groups[owner] if owner else top)[key] = value
        changed = {g: dataclasses.replace(getattr(self, g), **values) for g, values in groups.items() if values}
        return dataclasses.replace(self, **top, **changed)
