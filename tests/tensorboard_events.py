"""Reading TensorBoard event files back, for the tests."""
from __future__ import annotations

from pathlib import Path


def tags_by_run(logdir: Path) -> dict[str, set[str]]:
    """{run directory relative to logdir: set of summary tags written there}."""
    import tensorflow as tf

    found: dict[str, set[str]] = {}
    for events in Path(logdir).rglob("events.out.tfevents.*"):
        run = str(events.parent.relative_to(logdir))
        for event in tf.compat.v1.train.summary_iterator(str(events)):
            found.setdefault(run, set()).update(v.tag for v in event.summary.value)
            if event.graph_def:
                found[run].add("__graph__")
    return found
