"""A component's interface, declared once: what a step reads, writes and needs, for every runner to ask.

Like TFX's `ComponentSpec` (INPUTS / OUTPUTS / PARAMETERS), each step module under components/steps/
declares a `SPEC`; the DAG wires the specs, the CLI derives its path flags from them, and runners loop
over specs without naming a step: they ask `spec.distributed`, `spec.image`, `spec.inputs`...

An input comes from one of three places:
- `Param`: a run parameter the user gives (the CSV, the schema, the serving directory);
- `StepOutput`: another step's output directory, or a path inside it;
- `Lookup`: something found where the run lives (the deployed model, the previous run's statistics), by a
  function of components/registry/lookups.py that the host and a pod call alike, each with its own roots.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable


@dataclasses.dataclass(frozen=True)
class Param:
    """A run parameter, by its name in the run's parameters (pipeline.py resolves them)."""
    name: str


# The run parameters, named once: pipeline.py gives their values, specs refer to them.
DATA, SCHEMA, SERVING_DIR = Param("data"), Param("schema"), Param("serving_dir")
RUN_INFO = Param("run_info")  # <run_dir>/run.json, written by the runner before the first step


@dataclasses.dataclass(frozen=True)
class StepOutput:
    """Another step's output directory, or `path` inside it."""
    step: str
    path: str = ""


@dataclasses.dataclass(frozen=True)
class Lookup:
    """Found at run time by `find(where)` (components/registry/lookups.py); None when there is nothing to find."""
    find: Callable


@dataclasses.dataclass(frozen=True)
class Input:
    name: str                               # the key in run()'s inputs and the CLI flag (--name-with-dashes)
    source: Param | StepOutput | Lookup
    help: str
    required: bool = True


@dataclasses.dataclass(frozen=True)
class Output:
    """A path the step writes besides its own output directory (e.g. push's serving directory)."""
    name: str
    source: Param
    help: str


OUTPUT = "output"  # every step's own output directory: outputs["output"], --output


@dataclasses.dataclass(frozen=True)
class ComponentSpec:
    name: str                               # the step's name: its output folder, Job and log prefix
    description: str                        # one line, for --help
    image: str                              # "data" (TFDV, Beam) or "trainer" (TensorFlow only)
    inputs: tuple[Input, ...]
    outputs: tuple[Output, ...] = ()
    distributed: bool = False               # may run as several workers (TF_CONFIG), on GPUs
    result_file: str = ""                   # the user-facing file run() writes its result to, which is then
                                            # the step's record on disk ('' = result.json)
    # What the run summary says of this step, from its manifest record and its output directory.
    summarize: Callable[[dict, Path], list[str]] | None = None
    exit_codes: tuple[int, ...] = (3, 75)   # what its CLI can return besides 0, 1 (bug) and 2 (usage)

    @property
    def module(self) -> str:
        return f"components.steps.{self.name}"

    @property
    def upstream(self) -> set[str]:
        return {i.source.step for i in self.inputs if isinstance(i.source, StepOutput)}

    def config_of(self, pipeline_config):
        """This step's section of the PipelineConfig (its field is named like the step)."""
        return getattr(pipeline_config, self.name)
