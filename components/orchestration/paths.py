"""Paths as another machine sees them: a run's paths rewritten for a container or a pod."""
from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Any, Callable

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


class PathMap:
    """Host paths <-> the paths a container or a pod sees, as a table of mounts (host folder -> target folder).

    A path under no mount goes to `unmapped(host, name)`: the container runner mounts it (read-only, by the
    input's name), the Kubernetes runner refuses it. Target paths (under `targets`) pass as they are.
    """

    def __init__(self, unmapped: Callable[["PathMap", Path, str], PurePosixPath],
                 targets: tuple[PurePosixPath, ...] = ()) -> None:
        self.mounts: list[tuple[Path, PurePosixPath, bool]] = []  # (host, target, read_only)
        self.unmapped, self.targets = unmapped, targets

    def mount(self, host: Path, target: PurePosixPath, read_only: bool = False) -> None:
        self.mounts.append((Path(host).resolve(), PurePosixPath(target), read_only))

    def to_target(self, host: Path | None, name: str) -> str | None:
        if host is None:
            return None
        host = Path(host)
        if any(PurePosixPath(host.as_posix()).is_relative_to(t) for t in self.targets):  # equal counts too
            return host.as_posix()
        host = host.resolve()
        for source, target, _ in sorted(self.mounts, key=lambda m: -len(m[0].parts)):
            if host.is_relative_to(source):
                return str(target / host.relative_to(source).as_posix())
        return str(self.unmapped(self, host, name))

    def to_host(self, value: Any) -> Any:
        """Target paths in a result or a message, as the host names them (as in-process runs report them)."""
        deepest_first = sorted(self.mounts, key=lambda m: -len(m[1].parts))
        return replace_paths(value, [(target, source) for source, target, _ in deepest_first])
