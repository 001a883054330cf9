"""The one way to reach Keras: tf_keras (Keras 2), the Keras that trains under MultiWorkerMirroredStrategy on
TF 2.16, with AutoGraph told to leave its code alone."""
from __future__ import annotations


def keras():
    import tf_keras

    _do_not_autograph("tf_keras")
    return tf_keras


def _do_not_autograph(package: str) -> None:
    """Tell AutoGraph not to convert a package's Python code when tracing.

    TensorFlow's list of packages to leave alone names `keras` but not `tf_keras`, so each trace of a
    training step rewrote some 2,000 tf_keras functions: ~1 s of the first epoch and ~1 s to trace the
    serving signature on the bank data. tf_keras is the Keras 2 code that ran unconverted under that
    name. The list is private API: if it moves, tracing is just slower.
    """
    try:
        from tensorflow.python.autograph.core import config, config_lib
    except ImportError:
        return
    rules = getattr(config, "CONVERSION_RULES", None)
    if isinstance(rules, tuple) and not any(getattr(r, "_prefix", None) == package for r in rules):
        config.CONVERSION_RULES = (*rules, config_lib.DoNotConvert(package))
