"""Preprocessing adapted on the training split: raw columns -> one dense matrix (the mlp family's input).

No I/O here. Preprocessing (Normalization for numerics, optionally after a signed log and beside one-hot
quantile bins; one-hot StringLookup for categoricals and feature crosses) is a separate module so the input
pipeline can apply it outside the distribution strategy (lookup tables need no mirroring) and the exported
SavedModel applies the very same layers to raw columns.
"""
from __future__ import annotations

import logging

import numpy as np

from components.config.grammars import AUTO, CROSS_MIN_COUNT, cross_term, parse_crosses
from components.config.train import TrainConfig
from components.core.errors import UsageError
from components.data import feature_kinds
from components.data.columns import signature_names
from components.data.features import FeatureSet
from components.model.keras_compat import keras

log = logging.getLogger(__name__)


class Preprocessor:
    """Raw columns (dict of [batch] tensors) -> one dense float matrix [batch, width].

    Numerics: optionally signed-log, then normalized; with `numeric_bins`, also one-hot quantile bins
    (a piecewise encoding: the net gets the shape of a skewed column like `duration` or `pdays` without
    having to carve it out of one scaled number). Categoricals: one-hot StringLookup. Crosses: one-hot
    of the joint value of several columns (month*day is the calendar date of the call: the campaign's
    success varied by period in a way neither column shows alone; month*day/4 and coarser buckets let
    neighbouring days share what one day has too few rows to show).
    """

    def __init__(self, spec: FeatureSet, config: TrainConfig | None = None, output_mode: str = "one_hot"):
        config = config or TrainConfig()
        self.spec, self.signed_log, self.numeric_bins = spec, config.features.signed_log, config.features.numeric_bins
        self.normalize, self.bins = None, {}
        # Keras layer names allow fewer characters than CSV headers: layers are named by unique TensorFlow
        # names (the signature's), so `a.b` and `a_b` never share a layer name.
        self.names = signature_names(spec.columns)
        self.lookups = {name: keras().layers.StringLookup(output_mode=output_mode,
                                                                  name=f"{output_mode}_{self.names[name]}")
                        for name in spec.categorical}
        # Crosses the user wrote are checked against the columns now; `auto` finds the calendar's in adapt.
        self.written_crosses = None if config.features.crosses == AUTO else \
            [columns for columns in parse_crosses(config.features.crosses) if self._cross_ok(columns)]
        self.output_mode, self.crosses = output_mode, {}

    def _make_crosses(self, features: dict[str, np.ndarray]) -> None:
        """The crosses' lookups: those the user wrote, or with `auto` the calendar's (found from the data)."""
        kept = _calendar_crosses(self.spec, features) if self.written_crosses is None else self.written_crosses
        labels = signature_names("cross_" + "_x_".join(c.replace("/", "_by_") for c in columns) for columns in kept)
        self.crosses = {columns: keras().layers.StringLookup(output_mode=self.output_mode, name=label)
                        for columns, label in zip(kept, labels.values())}

    def _cross_ok(self, columns: tuple[str, ...]) -> bool:
        """A cross the user wrote that names a column the data lacks is skipped (said in the log); one that
        buckets a text column is a usage error."""
        terms = [cross_term(column) for column in columns]
        missing = [name for name, _ in terms if name not in self.spec.columns]
        if missing:
            log.info("feature cross %s skipped: the data has no column %s", "*".join(columns), missing[0])
            return False
        bucketed = [name for name, width in terms if width > 1 and name not in self.spec.numeric]
        if bucketed:
            raise UsageError(f"feature cross {'*'.join(columns)}: {bucketed[0]} is not numeric, so it cannot be "
                             f"bucketed with '/': write {bucketed[0]} alone (--set train.crosses=...).")
        return True

    def adapt(self, features: dict[str, np.ndarray]) -> None:
        """Learn means, variances, bin edges and vocabularies from training rows only.

        Computed with NumPy and handed to the layers: Keras' own `adapt` builds a tf.data pipeline per
        layer and took ~8 s of the ~10 s before the first step on the bank data; this takes milliseconds
        and gives the same statistics (population variance; vocabularies by count, then token, descending).
        """
        layers = keras().layers
        if self.spec.numeric:
            numeric = np.stack([features[n] for n in self.spec.numeric], axis=-1).astype(np.float64)
            numeric = _signed_log(numeric) if self.signed_log else numeric
            self.normalize = layers.Normalization(axis=-1, mean=numeric.mean(axis=0), variance=numeric.var(axis=0),
                                                  name="normalize_numeric")
        if self.numeric_bins:
            quantiles = np.linspace(0, 1, self.numeric_bins + 1)[1:-1]
            self.bins = {name: layers.Discretization(
                bin_boundaries=np.unique(np.quantile(features[name], quantiles)).tolist(), output_mode="one_hot",
                name=f"bins_{self.names[name]}") for name in self.spec.numeric}
        self.adapt_lookups(features)

    def adapt_lookups(self, features: dict[str, np.ndarray]) -> None:
        """Vocabularies of the categoricals and of the crosses (rare joint values left out)."""
        self._make_crosses(features)
        for name, lookup in self.lookups.items():
            lookup.set_vocabulary(vocabulary_by_count(features[name]))
        for columns, lookup in self.crosses.items():
            keys = np.char.decode(self._cross_key(features, columns).numpy().astype("S"), "utf-8")
            lookup.set_vocabulary(vocabulary_by_count(keys, CROSS_MIN_COUNT) or ["[none]"])

    def _cross_key(self, features, columns: tuple[str, ...]):
        """One string per row, e.g. 'may|15': numerics enter as integers (a day, a count), not as floats;
        `day/4` as the day's bucket of 4 (0 for days 0-3, 1 for 4-7, ...)."""
        import tensorflow as tf

        parts = []
        for name, width in map(cross_term, columns):
            if name in self.spec.numeric:
                integer = tf.cast(tf.round(tf.cast(features[name], tf.float64)), tf.int64)
                parts.append(tf.strings.as_string(tf.math.floordiv(integer, width)))
            else:
                parts.append(tf.convert_to_tensor(features[name]))
        return tf.strings.join(parts, separator="|")

    @property
    def width(self) -> int:
        vocab = sum(lookup.vocabulary_size() for lookup in (*self.lookups.values(), *self.crosses.values()))
        bins = sum(len(layer.bin_boundaries) + 1 for layer in self.bins.values())
        return len(self.spec.numeric) + bins + vocab

    def layers(self) -> dict:
        """Every stateful layer, for the serving module to track."""
        named = {"normalize": self.normalize} if self.normalize is not None else {}
        return {**named, **{f"bins_{self.names[n]}": b for n, b in self.bins.items()},
                **{f"lookup_{self.names[n]}": lk for n, lk in self.lookups.items()},
                **{lk.name: lk for lk in self.crosses.values()}}

    def __call__(self, features):
        import tensorflow as tf

        parts = []
        if self.normalize is not None:
            numeric = tf.stack([tf.cast(features[n], tf.float32) for n in self.spec.numeric], axis=-1)
            parts.append(self.normalize(_signed_log(numeric) if self.signed_log else numeric))
        parts += [tf.cast(layer(tf.cast(features[n], tf.float32)), tf.float32) for n, layer in self.bins.items()]
        parts += [tf.cast(self.lookups[n](features[n]), tf.float32) for n in self.spec.categorical]
        parts += [tf.cast(lookup(self._cross_key(features, c)), tf.float32) for c, lookup in self.crosses.items()]
        return tf.concat(parts, axis=-1)


def _calendar_crosses(spec: FeatureSet, features: dict[str, np.ndarray]) -> list[tuple[str, ...]]:
    """month*day at 1, 4, 8 and 16 days, when a month-name and a day-of-month column are found: the date of
    a call, and coarser periods around it that pool the rows one day has too few of."""
    month, day = feature_kinds.calendar({n: features[n] for n in spec.numeric},
                                        {n: features[n] for n in spec.categorical})
    if not (month and day):
        return []
    return [(month, day)] + [(month, f"{day}/{width}") for width in (4, 8, 16)]


def vocabulary_by_count(values: np.ndarray, min_count: int = 1) -> list[str]:
    """Distinct values seen at least min_count times, most frequent first, ties by value descending:
    StringLookup.adapt's order."""
    tokens, counts = np.unique(feature_kinds.as_text(values), return_counts=True)
    order = np.lexsort((np.char.encode(tokens, "utf-8"), counts))[::-1]
    return [t for t, n in zip(tokens[order].tolist(), counts[order].tolist()) if t != "[UNK]" and n >= min_count]


def _signed_log(x):
    """sign(x) * log1p(|x|): works on NumPy arrays and tensors alike."""
    if isinstance(x, np.ndarray):
        return np.sign(x) * np.log1p(np.abs(x))
    import tensorflow as tf

    return tf.sign(x) * tf.math.log1p(tf.abs(x))


