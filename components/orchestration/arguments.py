"""A step's config and paths as the arguments of its component CLI, for runners that start it elsewhere."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from components.config import overrides
from components.core.console import flag


def cli_args(config: Any, inputs: dict[str, Path | None], outputs: dict[str, Path]) -> list[str]:
    """The component CLI's arguments for one step: its paths, then every config value (fully resolved).

    Runners that start a component elsewhere (a process, a container, a pod) use this, so the CLI there
    gets exactly the config the in-process runner would pass to `run`.
    """
    args: list[str] = []
    for name, path in {**inputs, **outputs}.items():
        if path is not None:
            args += [flag(name), str(path)]
    for key, value in overrides.to_dict(config).items():
        name, text = flag(key), str(value).lower() if isinstance(value, bool) else str(value)
        # A value that starts with '-' (train.sentinels "-1,999", Beam's "--runner=...") would read as a flag.
        args += [f"{name}={text}"] if text.startswith("-") else [name, text]
    return args
