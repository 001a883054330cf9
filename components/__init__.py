"""bankpipe: TFX-style pipeline components (validate, split, train, evaluate, push) and their runners.

Packages by concern, in layers: a module imports only from its own layer or the ones before it
(tests/test_architecture.py checks every import, module-level, in a function or re-exported).

    core           errors, file names, release and code digest, the spec types, the record protocol,
                   console (flags, logging, exit codes), progress lines, the one tree digest
    config         one frozen config per component, the grammars of text values, overrides
    data           columns, the label and feature set, feature kinds, drift and skew
    storage        atomic files, protos, split files, CSV tables, datasets, the training rows' identities
    beam           Beam options and jobs, statistics and split as Beam pipelines
    model          Keras access, preprocessing, the mlp and wide_deep families, teacher, decision, serving
    registry       pushed versions, their integrity digests, lookups of the deployed model
    evaluation     metrics, plots, scoring a model on rows
    reports        the data report, its charts, TensorBoard summaries
    training       the fit loop, its callbacks, the tf.distribute strategy
    steps          the five steps and their shared CLI (main)
    orchestration  the DAG, a run's state and lock, caching, arguments, path rewriting, signals
    runners        in-process, worker processes, containers, Kubernetes
    predict, models  user commands: score a CSV; list, show and roll back versions
"""

LAYERS = ("core", "config", "data", "storage", "beam", "model", "registry", "evaluation", "reports", "training",
          "steps", "orchestration", "runners", "predict", "models")
