"""Paths as another machine sees them: a run's paths rewritten for a container or a pod."""
from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any

# Where a container or pod sees the run's files: <ARTIFACTS>/runs (or /run), <ARTIFACTS>/serving.
ARTIFACTS = PurePosixPath("/artifacts")
MAX_WORKERS = 64  # keeps `<job>-<index>` pod hostnames within 63 characters; one limit for every runner


def replace_paths(value: Any, pairs: list[tuple[Any, Any]]) -> Any:
    """`value` (a string, or dicts and lists of them) with each path `old` of `pairs` written as `new`, in
    the order given (deepest first where they nest); `/a/run` never matches inside `/a/run-2`."""
    if isinstance(value, dict):
        return {k: replace_paths(v, pairs) for k, v in value.items()}
    if isinstance(value, list):
        return [replace_paths(v, pairs) for v in value]
    if not isinstance(value, str):
        return value
    for old, new in pairs:
        value = re.sub(re.escape(str(old)) + r"(?![\w.-])", lambda _: str(new), value)
    return value
