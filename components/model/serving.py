"""The exported model: preprocessing + classifier behind one serving signature that takes raw CSV columns
(and the column record that predict and evaluate check a CSV against)."""
from __future__ import annotations

import json

import numpy as np

from components.data.columns import signature_names
from components.data.features import FeatureSet
from components.model.decision import Decision
from components.model.preprocessing import Preprocessor

MAX_RECORDED_CATEGORIES = 1000  # a column with more distinct values (an id, free text) is not checked for them


def training_values(features: dict, spec: FeatureSet) -> dict:
    """What the model saw in training, for predict to flag serving rows unlike it: each categorical's values
    (up to MAX_RECORDED_CATEGORIES) and each numeric's range, from the rows preprocessing was adapted on."""
    categories = {}
    for name in spec.categorical:
        values = np.unique([v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in features[name]])
        if len(values) <= MAX_RECORDED_CATEGORIES:
            categories[name] = values.tolist()
    ranges = {name: [float(np.min(features[name])), float(np.max(features[name]))] for name in spec.numeric
              if len(features[name])}
    return {"categories": categories, "ranges": ranges}


def columns_record(spec: FeatureSet, decision: Decision | None = None, seen: dict | None = None) -> dict:
    """What the model records about its inputs: CSV column -> signature input name, and each column's kind; its
    decision (threshold, rule, temperature), which its `label` output applies; and what it saw in training."""
    return {"inputs": signature_names(spec.columns), "numeric": list(spec.numeric),
            "categorical": list(spec.categorical), "label": spec.label, "decision": (decision or Decision()).to_dict(),
            "seen": seen or {}}


def serving_state(layer) -> list:
    """What the exported graph reads of a Keras preprocessing layer: its variables and, for a lookup, its table."""
    table = getattr(layer, "lookup_table", None)
    return [*layer.variables, *([table] if table is not None else [])]


def serving_module(preprocessor: Preprocessor, classifier, spec: FeatureSet, decision: Decision | None = None,
                   seen: dict | None = None):
    """A tf.Module whose `serving_default` takes raw columns (strings and numbers) and returns `probabilities`
    ([no, yes]), `positive_probability` and `label` (1 when positive_probability >= the decision threshold).

    Signature inputs carry TensorFlow names (`emp.var.rate` -> `emp_var_rate`); the mapping from CSV names is
    the module's `columns()` (JSON) and, once exported, assets.extra/columns.json, with the decision."""
    import tensorflow as tf

    decision = decision or Decision()
    module = tf.Module()
    # Serving needs the weights and the lookup tables, not the Keras objects: tracked, those make the export
    # trace every layer's functions and save the optimizer (3x the export time, twice the size).
    module.classifier_weights = list(classifier.variables)
    module.preprocessing = {name: serving_state(layer) for name, layer in preprocessor.layers().items()}
    names = signature_names(spec.columns)
    record = tf.constant(json.dumps(columns_record(spec, decision, seen), ensure_ascii=False))
    threshold, temperature = tf.constant(decision.threshold, tf.float32), tf.constant(decision.temperature, tf.float32)

    def serve(**inputs):
        probabilities = classifier(preprocessor({column: inputs[name] for column, name in names.items()}),
                                   training=False)
        if decision.temperature != 1.0:  # calibrated: the same ranking, probabilities nearer the truth
            p = tf.clip_by_value(probabilities[:, 1], 1e-7, 1 - 1e-7)
            positive = tf.sigmoid((tf.math.log(p) - tf.math.log1p(-p)) / temperature)
            probabilities = tf.stack([1 - positive, positive], axis=-1)
        positive = probabilities[:, 1]
        return {"probabilities": probabilities, "positive_probability": positive,
                "label": tf.cast(positive >= threshold, tf.int64)}

    module.columns = tf.function(lambda: record, input_signature=[], autograph=False)
    specs = {names[n]: tf.TensorSpec([None], tf.float32, name=names[n]) for n in spec.numeric}
    specs.update({names[n]: tf.TensorSpec([None], tf.string, name=names[n]) for n in spec.categorical})
    # No Python control flow depends on tensors here: AutoGraph would only slow the trace down.
    module.serve = tf.function(serve, autograph=False)
    module.serve.get_concrete_function(**specs)
    return module, module.serve.get_concrete_function(**specs)
