"""The local runner's executor: each component's `run` called in this process."""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from components.dag import Step


def in_process(step: Step, config: Any, inputs: dict[str, Path | None], outputs: dict[str, Path]) -> dict:
    component = importlib.import_module(step.module)
    return component.run(config, inputs, outputs)
