"""One process per run directory: a second one with the same --run-id stops at once."""
from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from pathlib import Path
from typing import Iterator

from components.core import filenames
from components.core.errors import InfraError, UsageError


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """One process per run directory: a second one with the same --run-id stops at once."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InfraError(f"cannot create the run directory {run_dir}: {exc.strerror or exc}.") from exc
    with open(run_dir / filenames.RUN_LOCK, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise UsageError(f"run {run_dir.name!r} is running in another process ({holder}): wait for it to "
                             f"finish, or pass another --run-id.") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        handle.flush()
        yield
