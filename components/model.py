"""The model: preprocessing adapted on the training split, a Dense stack, and the serving module.

No I/O here. Preprocessing (Normalization for numerics, one-hot StringLookup for categoricals) is a
separate module so the input pipeline can apply it outside the distribution strategy (lookup tables
need no mirroring) and the exported SavedModel applies the very same layers to raw columns.
"""
from __future__ import annotations

import numpy as np

from components.config import TrainConfig
from components.features import FeatureSpec


def keras():
    import tf_keras

    return tf_keras


class Preprocessor:
    """Raw columns (dict of [batch] tensors) -> one dense float matrix [batch, width]."""

    def __init__(self, spec: FeatureSpec):
        layers = keras().layers
        self.spec = spec
        self.normalize = layers.Normalization(axis=-1, name="normalize_numeric") if spec.numeric else None
        self.lookups = {name: layers.StringLookup(output_mode="one_hot", name=f"one_hot_{name}")
                        for name in spec.categorical}

    def adapt(self, features: dict[str, np.ndarray]) -> None:
        """Learn means, variances and vocabularies from training rows only."""
        if self.normalize is not None:
            self.normalize.adapt(np.stack([features[n] for n in self.spec.numeric], axis=-1).astype(np.float32))
        for name, lookup in self.lookups.items():
            lookup.adapt(features[name])

    @property
    def width(self) -> int:
        vocab = sum(lookup.vocabulary_size() for lookup in self.lookups.values())
        return len(self.spec.numeric) + vocab

    def __call__(self, features):
        import tensorflow as tf

        parts = []
        if self.normalize is not None:
            numeric = tf.stack([tf.cast(features[n], tf.float32) for n in self.spec.numeric], axis=-1)
            parts.append(self.normalize(numeric))
        parts += [tf.cast(self.lookups[n](features[n]), tf.float32) for n in self.spec.categorical]
        return tf.concat(parts, axis=-1)


def build_classifier(width: int, config: TrainConfig):
    """The reference recipe: hidden Dense ReLU layers, a 2-unit softmax, Adam, sparse categorical CE."""
    k = keras()
    model = k.Sequential([k.Input(shape=(width,), name="features")], name="classifier")
    for i in range(config.hidden_layers):
        model.add(k.layers.Dense(config.hidden_units, activation="relu", name=f"hidden_{i}"))
    model.add(k.layers.Dense(2, activation="softmax", name="probabilities"))
    model.compile(optimizer=k.optimizers.Adam(learning_rate=config.learning_rate),
                  loss=k.losses.SparseCategoricalCrossentropy(), metrics=["accuracy"],
                  steps_per_execution=config.steps_per_execution)
    return model


def serving_module(preprocessor: Preprocessor, classifier, spec: FeatureSpec):
    """A tf.Module whose `serving_default` takes raw columns (strings and numbers) and returns probabilities."""
    import tensorflow as tf

    module = tf.Module()
    module.normalize = preprocessor.normalize
    module.lookups = dict(preprocessor.lookups)
    module.classifier = classifier

    def serve(**features):
        probabilities = classifier(preprocessor(features), training=False)
        return {"probabilities": probabilities, "positive_probability": probabilities[:, 1]}

    specs = {n: tf.TensorSpec([None], tf.float32, name=n) for n in spec.numeric}
    specs.update({n: tf.TensorSpec([None], tf.string, name=n) for n in spec.categorical})
    module.serve = tf.function(serve)
    module.serve.get_concrete_function(**specs)
    return module, module.serve.get_concrete_function(**specs)
