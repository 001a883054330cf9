"""The mlp family: a Dense ReLU stack (or several averaged side by side) over the preprocessed matrix."""
from __future__ import annotations

import numpy as np

from components.config.train import TrainConfig
from components.model.keras_compat import keras


def _dense_stack(inputs, config: TrainConfig):
    k = keras()
    x = inputs
    for i in range(config.mlp.hidden_layers):
        x = k.layers.Dense(config.mlp.hidden_units, activation="relu", name=f"hidden_{i}")(x)
    return k.layers.Dense(2, activation="softmax", name="probabilities")(x)


def _ensemble_stacks(inputs, config: TrainConfig):
    """K Dense stacks with their own weights as one stack of grouped layers: each EinsumDense holds all K members'
    kernels ([K, in, out]), so K members cost three ops per step, not 3K. Each member is initialised as a
    lone Dense layer would be (Glorot uniform over its own fan-in and fan-out)."""
    k, members, units = keras(), config.mlp.ensemble, config.mlp.hidden_units

    def glorot(fan_in: int, fan_out: int):
        limit = float(np.sqrt(6.0 / (fan_in + fan_out)))
        return k.initializers.RandomUniform(-limit, limit)

    x = k.layers.EinsumDense("bi,imo->bmo", output_shape=(members, units), bias_axes="mo", activation="relu",
                             kernel_initializer=glorot(inputs.shape[-1], units), name="hidden_0")(inputs)
    for i in range(1, config.mlp.hidden_layers):
        x = k.layers.EinsumDense("bmi,mio->bmo", output_shape=(members, units), bias_axes="mo",
                                 activation="relu", kernel_initializer=glorot(units, units), name=f"hidden_{i}")(x)
    equation = "bmi,mio->bmo" if config.mlp.hidden_layers else "bi,imo->bmo"
    fan_in = units if config.mlp.hidden_layers else inputs.shape[-1]
    logits = k.layers.EinsumDense(equation, output_shape=(members, 2), bias_axes="mo",
                                  kernel_initializer=glorot(fan_in, 2), name="member_logits")(x)
    probabilities = k.layers.Softmax(axis=-1, name="member_probabilities")(logits)
    return k.layers.GlobalAveragePooling1D(name="probabilities")(probabilities)


def build_classifier(width: int, config: TrainConfig, jit_compile: bool = False):
    """The reference recipe: hidden Dense ReLU layers, a 2-unit softmax, Adam, sparse categorical CE.

    With `ensemble` K > 1, K such stacks side by side whose probabilities are averaged: one model, one
    SavedModel, less variance than any single stack (trained together on the averaged output).
    """
    k = keras()
    inputs = k.Input(shape=(width,), name="features")
    outputs = _dense_stack(inputs, config) if config.mlp.ensemble == 1 else _ensemble_stacks(inputs, config)
    model = k.Model(inputs, outputs, name="classifier")
    optimizer = (k.optimizers.AdamW(learning_rate=config.fit.learning_rate, weight_decay=config.fit.weight_decay)
                 if config.fit.weight_decay else k.optimizers.Adam(learning_rate=config.fit.learning_rate))
    model.compile(optimizer=optimizer, loss=k.losses.SparseCategoricalCrossentropy(), metrics=["accuracy"],
                  steps_per_execution=config.execution.steps_per_execution, jit_compile=jit_compile)
    return model
