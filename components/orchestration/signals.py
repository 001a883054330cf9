"""SIGTERM while a step runs elsewhere: raise, so that the executor removes what it started."""
from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

from components.core.errors import InfraError


class Terminated(InfraError):
    """SIGTERM (a CI cancel, `kill`, a pod's own eviction) arrived while a step ran elsewhere."""


@contextlib.contextmanager
def sigterm_raises(message: str) -> Iterator[None]:
    """SIGTERM would end this process without `finally`, leaving a container or Jobs behind: raise
    Terminated (exit 75, retryable) instead, so the executor cleans up on the way out."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise Terminated(message)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
