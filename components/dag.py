"""The pipeline's DAG, defined once and shared by every runner.

Each step names its component (a module under components/), the image it runs in, and where each of
its inputs comes from: a run parameter (the data file, the serving directory...) or another step's
output directory (or a file or folder inside it). A runner resolves these references to paths of its
own world (host folders, container mounts, a PersistentVolumeClaim) and decides where each step runs.
"""
from __future__ import annotations

import dataclasses

from components import artifacts


@dataclasses.dataclass(frozen=True)
class Param:
    """A run parameter; None when the run has none (e.g. no deployed model yet)."""
    name: str


@dataclasses.dataclass(frozen=True)
class StepOutput:
    """Another step's output directory, or `path` inside it."""
    step: str
    path: str = ""


@dataclasses.dataclass(frozen=True)
class Step:
    name: str
    image: str                                  # "data" (TFDV, Beam) or "trainer" (TensorFlow only)
    inputs: dict[str, Param | StepOutput]
    extra_outputs: dict[str, Param] = dataclasses.field(default_factory=dict)

    @property
    def module(self) -> str:
        return f"components.{self.name}"

    @property
    def upstream(self) -> set[str]:
        return {ref.step for ref in self.inputs.values() if isinstance(ref, StepOutput)}


PIPELINE: tuple[Step, ...] = (
    Step("validate", "data", {"data": Param("data"), "schema": Param("schema"),
                              "previous_statistics": Param("previous_statistics")}),
    Step("split", "data", {"data": Param("data"), "schema": StepOutput("validate", artifacts.SCHEMA)}),
    Step("train", "trainer", {"split": StepOutput("split")}),
    Step("evaluate", "trainer", {"model": StepOutput("train", artifacts.MODEL), "split": StepOutput("split"),
                                 "baseline_model": Param("baseline_model")}),
    Step("push", "trainer", {"model": StepOutput("train", artifacts.MODEL), "metrics": StepOutput("evaluate")},
         extra_outputs={"serving_dir": Param("serving_dir")}),
)


def topological(steps: tuple[Step, ...] = PIPELINE) -> list[Step]:
    """Steps in an order where each comes after the steps it reads from (stable for a valid DAG)."""
    done: list[Step] = []
    pending = list(steps)
    while pending:
        ready = [s for s in pending if s.upstream <= {d.name for d in done}]
        if not ready:
            raise ValueError(f"the DAG has a cycle or a missing step among {[s.name for s in pending]}")
        done.append(ready[0])
        pending.remove(ready[0])
    return done
