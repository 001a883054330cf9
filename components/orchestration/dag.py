"""The pipeline's DAG: the five steps' specs (components/steps/), wired by their inputs, for every runner.

Each spec says where its inputs come from (a run parameter, another step's output, a lookup) and its
traits; a runner resolves the references to paths of its own world (host folders, container mounts,
the artifacts volume) and decides where each step runs, without naming a step.
"""
from __future__ import annotations

from components.core.interface import ComponentSpec
from components.steps import evaluate, push, split, train, validate

PIPELINE: tuple[ComponentSpec, ...] = (validate.SPEC, split.SPEC, train.SPEC, evaluate.SPEC, push.SPEC)


def topological(specs: tuple[ComponentSpec, ...] = PIPELINE) -> list[ComponentSpec]:
    """Steps in an order where each comes after the steps it reads from (stable: declaration order wins)."""
    done: list[ComponentSpec] = []
    pending = list(specs)
    while pending:
        ready = [s for s in pending if s.upstream <= {d.name for d in done}]
        if not ready:
            raise ValueError(f"the DAG has a cycle or a missing step among {[s.name for s in pending]}")
        done.append(ready[0])
        pending.remove(ready[0])
    return done
