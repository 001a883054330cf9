"""The `wide_deep` model family (train.family=wide_deep): engineered inputs, embeddings, a wide linear part.

Inputs, all decided from the column kinds and the training rows (components/data/feature_kinds.py), none from names:
numerics with sentinel flags and a signed log on heavy tails, normalized; the calendar (a month-name column and
a day-of-month column) as sin/cos of month and day and the day of the year, ordered, in a piecewise-linear
encoding (14 May sits between 13 and 15 May, which one-hot crosses cannot say); categoricals and crosses as
integer indices, each with a learned embedding (deep part) and a learned weight per value (wide part).

The preprocessor emits one float matrix, [dense values | indices], like the `mlp` family's, so the input
pipeline, the in-memory cache and the serving module treat both families alike; the classifier slices it.
"""
from __future__ import annotations

import dataclasses
import logging
import math

import numpy as np

from components.config import grammars
from components.config.train import TrainConfig
from components.data import feature_kinds
from components.data.features import FeatureSet
from components.model.keras_compat import keras
from components.model.preprocessing import Preprocessor

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Layout:
    """Where things are in the preprocessed matrix: `dense` values first, then one index per embedded column."""
    dense: int
    vocabularies: tuple[tuple[str, int], ...]  # (layer-safe name, vocabulary size incl. the OOV slot)


class WideDeepPreprocessor(Preprocessor):
    def __init__(self, spec: FeatureSet, config: TrainConfig):
        super().__init__(spec, config, output_mode="int")
        self.config, self.kinds, self.month, self.day = config, {}, None, None
        self.doy_edges, self.numeric_edges = np.zeros(0), {}

    def adapt(self, features: dict[str, np.ndarray]) -> None:
        layers = keras().layers
        sentinels = grammars.parse_sentinels(self.config.features.sentinels)
        self.kinds = {n: feature_kinds.numeric_kind(n, features[n], sentinels) for n in self.spec.numeric}
        if not any(kind.sentinels for kind in self.kinds.values()):
            log.debug("sentinel flags skipped: no numeric column has a code of train.sentinels (%s) at its min or "
                      "max in >= 1%% of rows", self.config.features.sentinels)
        log.info("signed log on heavy-tailed numerics: %s", [n for n, k in self.kinds.items() if k.log] or "none")
        self.month, self.day = feature_kinds.calendar({n: features[n] for n in self.spec.numeric},
                                              {n: features[n] for n in self.spec.categorical})
        self.months = layers.StringLookup(vocabulary=list(feature_kinds.MONTHS), num_oov_indices=1, name="month_names")
        values = self._numeric_np(features)
        if values.shape[1]:
            self.stats = values.mean(axis=0), values.var(axis=0)
            self.normalize = layers.Normalization(axis=-1, mean=self.stats[0], variance=self.stats[1],
                                                  name="normalize_numeric")
        if self.config.features.numeric_bins:  # in this family: piecewise-linear, not one-hot, bins
            self.numeric_edges = {n: feature_kinds.piecewise_edges(values[:, i], self.config.features.numeric_bins)
                                  for i, n in enumerate(self.spec.numeric)}
        if self.month and self.day and self.config.features.date_bins:
            doy = feature_kinds.day_of_year(feature_kinds.month_index(features[self.month]), features[self.day])
            self.doy_edges = feature_kinds.piecewise_edges(doy, self.config.features.date_bins)
            log.info("calendar: %s (month) and %s (day): day of year in %d piecewise-linear bins", self.month,
                     self.day, len(self.doy_edges) - 1)
        self.adapt_lookups(features)

    def _numeric_np(self, features) -> np.ndarray:
        """The training rows' numerics as the network sees them before normalizing (NumPy twin of _numeric)."""
        out = []
        for name in self.spec.numeric:
            kind, x = self.kinds[name], np.asarray(features[name], np.float64)
            x = np.where(np.isin(x, kind.sentinels), kind.fill, x) if kind.sentinels else x
            out.append(np.sign(x) * np.log1p(np.abs(x)) if kind.log else x)
        return np.stack(out, axis=-1) if out else np.zeros((len(next(iter(features.values()))), 0))

    def _numeric(self, features):
        import tensorflow as tf

        values, flags = [], []
        for name in self.spec.numeric:
            kind, x = self.kinds[name], tf.cast(features[name], tf.float32)
            for code in kind.sentinels:
                flags.append(tf.cast(tf.equal(x, code), tf.float32))
                x = tf.where(tf.equal(x, code), tf.constant(kind.fill, tf.float32), x)
            values.append(tf.sign(x) * tf.math.log1p(tf.abs(x)) if kind.log else x)
        return values, flags

    def _calendar(self, features) -> list:
        """sin/cos of the month and of the day (December is next to January) and the ordered day of the year."""
        import tensorflow as tf

        parts = []
        if self.month:
            text = tf.strings.substr(tf.strings.lower(tf.strings.strip(features[self.month])), 0, 3)
            month = tf.cast(tf.maximum(self.months(text) - 1, 0), tf.float32)  # 0-11; unknown names as January
            parts += [tf.sin(2 * math.pi * month / 12), tf.cos(2 * math.pi * month / 12)]
        if self.day:
            day = tf.cast(features[self.day], tf.float32)
            parts += [tf.sin(2 * math.pi * (day - 1) / 31), tf.cos(2 * math.pi * (day - 1) / 31)]
        if self.month and self.day and len(self.doy_edges) > 1:
            parts += tf.unstack(piecewise_linear(month * 31 + day, self.doy_edges), axis=-1)
        return parts

    @property
    def layout(self) -> Layout:
        names = [self.names[n] for n in self.lookups] + [lk.name for lk in self.crosses.values()]
        sizes = [lk.vocabulary_size() for lk in (*self.lookups.values(), *self.crosses.values())]
        return Layout(self.width - len(sizes), tuple(zip(names, sizes)))

    @property
    def width(self) -> int:
        flags = sum(len(k.sentinels) for k in self.kinds.values())
        calendar = 2 * bool(self.month) + 2 * bool(self.day) + max(len(self.doy_edges) - 1, 0)
        bins = sum(len(e) - 1 for e in self.numeric_edges.values())
        return len(self.spec.numeric) + flags + calendar + bins + len(self.lookups) + len(self.crosses)

    def layers(self) -> dict:
        return {**super().layers(), "month_names": self.months}

    def __call__(self, features):
        import tensorflow as tf

        values, flags = self._numeric(features)
        parts = []
        if values:
            normalized = self.normalize(tf.stack(values, axis=-1))
            parts.append(normalized)
            parts += [piecewise_linear(normalized[:, i], (e - m) / math.sqrt(max(v, 1e-12)))
                      for i, (e, m, v) in enumerate(self._edges_normalized())]
        columns = flags + self._calendar(features)
        columns += [tf.cast(self.lookups[n](features[n]), tf.float32) for n in self.lookups]
        columns += [tf.cast(lk(self._cross_key(features, c)), tf.float32) for c, lk in self.crosses.items()]
        if columns:
            parts.append(tf.stack(columns, axis=-1))
        return tf.concat(parts, axis=-1)

    def _edges_normalized(self):
        """Numeric bin edges with the normalization's mean and variance: the bins apply to normalized values."""
        if not self.numeric_edges:
            return []
        mean, variance = self.stats
        return [(self.numeric_edges[n], mean[i], variance[i]) for i, n in enumerate(self.spec.numeric)]


def piecewise_linear(x, edges: np.ndarray):
    """[batch] -> [batch, len(edges) - 1]: component t is 0 below edge t, 1 above edge t+1, linear between
    (Gorishniy et al. 2022's piecewise-linear encoding; the first and last are left open so extremes still
    count)."""
    import tensorflow as tf

    low, width = np.asarray(edges[:-1], np.float32), np.maximum(np.diff(edges), 1e-6).astype(np.float32)
    ramp = (tf.expand_dims(tf.cast(x, tf.float32), -1) - low) / width
    count = len(width)
    lower = np.where(np.arange(count) == 0, -np.inf, 0).astype(np.float32)
    upper = np.where(np.arange(count) == count - 1, np.inf, 1).astype(np.float32)
    return tf.clip_by_value(ramp, lower, upper)


def _tower(inputs, layout: Layout, config: TrainConfig, prefix: str):
    """One member: embeddings + dense values through the Dense stack, plus the wide part's weight per value;
    returns the logit. All columns share one embedding table (each column's indices offset into it): two
    gathers per step instead of two per column, which on a model this small is most of a step's time."""
    import tensorflow as tf

    k = keras()
    x = dense = inputs[:, :layout.dense]
    wide = []
    if layout.vocabularies:
        sizes = [size for _, size in layout.vocabularies]
        offsets = np.cumsum([0, *sizes[:-1]]).astype(np.int32)
        index = tf.cast(inputs[:, layout.dense:], tf.int32) + offsets
        embedded = k.layers.Embedding(sum(sizes), config.wide_deep.embedding_dim, name=f"{prefix}embeddings")(index)
        x = k.layers.Concatenate(name=f"{prefix}deep_inputs")([dense, k.layers.Flatten()(embedded)])
        if config.wide_deep.wide:
            weights = k.layers.Embedding(sum(sizes), 1, embeddings_initializer="zeros", name=f"{prefix}wide")(index)
            wide = [tf.reduce_sum(weights, axis=1)]
    for i, units in enumerate(deep_units(config)):
        x = k.layers.Dense(units, activation="relu", name=f"{prefix}hidden_{i}")(x)
        x = k.layers.Dropout(config.wide_deep.dropout,
                             name=f"{prefix}dropout_{i}")(x) if config.wide_deep.dropout else x
    logit = k.layers.Dense(1, name=f"{prefix}deep_logit")(x)
    return k.layers.Add(name=f"{prefix}logit")([logit, *wide]) if wide else logit


def deep_units(config: TrainConfig) -> tuple[int, ...]:
    return tuple(int(u) for u in config.wide_deep.deep_units.split(",") if u.strip())


def build_wide_deep(layout: Layout, config: TrainConfig, jit_compile: bool = False):
    """Sigmoid output as two probabilities [1 - p, p] (what the pipeline's loss, validation and signature take).
    With `ensemble` K > 1, K towers whose probabilities are averaged, each trained on its own loss: members
    trained on the average co-adapt and lose the diversity that makes an ensemble worth it."""
    k = keras()
    inputs = k.Input(shape=(layout.dense + len(layout.vocabularies),), name="features")
    members = [k.layers.Activation("sigmoid")(_tower(inputs, layout, config,
                                                     f"m{i}_" if config.mlp.ensemble > 1 else ""))
               for i in range(config.mlp.ensemble)]
    positive = k.layers.Average()(members) if len(members) > 1 else members[0]
    outputs = k.layers.Concatenate(name="probabilities")([1 - positive, positive])
    if len(members) > 1:
        model = _member_model_class()(inputs, outputs, name="classifier")
        model.member_probabilities = k.Model(inputs, k.layers.Concatenate()(members), name="members")
        model.loss_tracker = k.metrics.Mean(name="loss")
    else:
        model = k.Model(inputs, outputs, name="classifier")
    model.compile(optimizer=k.optimizers.Adam(learning_rate=config.fit.learning_rate), loss=positive_cross_entropy,
                  metrics=[target_accuracy()], steps_per_execution=config.execution.steps_per_execution,
                  jit_compile=jit_compile)
    return model


def target_accuracy():
    """Accuracy against the target rounded to 0/1: a teacher's soft target (0.73) is never equal to a class."""
    import tensorflow as tf

    class TargetAccuracy(keras().metrics.SparseCategoricalAccuracy):
        def update_state(self, y_true, y_pred, sample_weight=None):
            return super().update_state(tf.round(tf.cast(y_true, tf.float32)), y_pred, sample_weight)

    return TargetAccuracy(name="accuracy")


def positive_cross_entropy(y, probabilities):
    """Binary cross-entropy of the positive probability; y may be a soft target in [0, 1] (a teacher's
    probability mixed with the label), which sparse categorical cross-entropy would truncate to 0."""
    import tensorflow as tf

    y = tf.cast(tf.reshape(y, [-1]), tf.float32)
    return keras().losses.binary_crossentropy(y[:, None], probabilities[:, 1:])


def _member_model_class():
    """A functional model whose training step gives each member its own cross-entropy (mean over members);
    its output, for validation and serving, stays the members' average."""
    import tensorflow as tf

    class IndependentMembers(keras().Model):
        def train_step(self, data):
            x, y = data
            labels = tf.cast(tf.reshape(y, [-1, 1]), tf.float32)
            with tf.GradientTape() as tape:
                p = tf.clip_by_value(self.member_probabilities(x, training=True), 1e-7, 1 - 1e-7)
                per_row = -tf.reduce_mean(labels * tf.math.log(p) + (1 - labels) * tf.math.log(1 - p), axis=1)
                loss = tf.nn.compute_average_loss(per_row)  # divided by the global batch, as Keras' own loss
            self.optimizer.apply_gradients(zip(tape.gradient(loss, self.trainable_variables), self.trainable_variables))
            mean = tf.reduce_mean(p, axis=1)
            self.loss_tracker.update_state(tf.reduce_mean(per_row))
            self.compiled_metrics.update_state(tf.round(labels[:, 0]), tf.stack([1 - mean, mean], axis=-1))
            return {m.name: m.result() for m in self.metrics}

        @property
        def metrics(self):  # reset each epoch by fit; the compiled loss's tracker is unused here
            return [self.loss_tracker, *(self.compiled_metrics.metrics if self.compiled_metrics else [])]

    return IndependentMembers
