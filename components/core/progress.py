"""Progress of long phases as log lines: rows read so far from a big CSV, steps done within a training epoch.

Log lines rather than a live bar: the same output reads well in a terminal, in `docker logs` and in a pod's
log. On by default when stderr is a terminal; BANKPIPE_PROGRESS=1 forces it on (a CI log, a pod),
BANKPIPE_PROGRESS=0 off; BANKPIPE_PROGRESS_SECS sets the seconds between lines (default 5). Off, nothing is
added to the hot paths: the training callback is not even installed (a batch hook makes Keras fetch the
logs of every execution).
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
from typing import Callable, Iterable, Iterator, Mapping

log = logging.getLogger("components.core.progress")
ENABLE, EVERY = "BANKPIPE_PROGRESS", "BANKPIPE_PROGRESS_SECS"
DEFAULT_SECONDS = 5.0


def enabled(env: Mapping[str, str] | None = None, stream=None) -> bool:
    env = os.environ if env is None else env
    forced = env.get(ENABLE, "").strip().lower()
    if forced in ("1", "true", "yes", "on"):
        return True
    if forced in ("0", "false", "no", "off"):
        return False
    stream = sys.stderr if stream is None else stream
    return bool(getattr(stream, "isatty", lambda: False)())


def interval(env: Mapping[str, str] | None = None) -> float:
    """Seconds between progress lines; a value that is not a number >= 0 falls back to the default."""
    text = (os.environ if env is None else env).get(EVERY, "")
    try:
        return max(float(text), 0.0) if text.strip() else DEFAULT_SECONDS
    except ValueError:
        return DEFAULT_SECONDS


class Ticker:
    """Says when the next line is due: `every` seconds after the last one (the first after `every`)."""

    def __init__(self, every: float, clock: Callable[[], float] = time.monotonic):
        self.every, self.clock = every, clock
        self.started = self.last = clock()

    def due(self) -> bool:
        now = self.clock()
        if now - self.last < self.every:
            return False
        self.last = now
        return True

    def elapsed(self) -> float:
        return self.clock() - self.started


def rows_line(what: str, rows: int, seconds: float) -> str:
    rate = f", {rows / seconds:,.0f} rows/s" if seconds > 0 else ""
    return f"{what}: {rows:,} rows so far ({seconds:.0f}s{rate})"


def counted(chunks: Iterable, what: str, env: Mapping[str, str] | None = None) -> Iterator:
    """Yield DataFrame chunks unchanged, logging the rows seen so far every few seconds when enabled."""
    if not enabled(env):
        yield from chunks
        return
    ticker, rows = Ticker(interval(env)), 0
    for chunk in chunks:
        rows += len(chunk)
        if ticker.due():
            log.info("%s", rows_line(what, rows, ticker.elapsed()))
        yield chunk



class _LastLine(logging.Handler):
    """Remembers when the last log line was written, so a heartbeat speaks only into silence."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.at = time.monotonic()

    def emit(self, record: logging.LogRecord) -> None:
        self.at = time.monotonic()


@contextlib.contextmanager
def heartbeat(what: str, env: Mapping[str, str] | None = None) -> Iterator[None]:
    """While a phase runs whose work cannot report its own progress (TFDV's statistics, a TensorFlow trace,
    TFRecord writing): when progress is on and nothing was logged for a few seconds, log
    `<what>: still working (12 s)`, so a silent phase is not taken for a hung one."""
    if not enabled(env):
        yield
        return
    # a little under the interval: a line lands before the silence reaches it, whatever the scheduling
    every, started, done, last = 0.8 * (interval(env) or DEFAULT_SECONDS), time.monotonic(), threading.Event(), \
        _LastLine()
    root = logging.getLogger()
    root.addHandler(last)

    def beat() -> None:
        while not done.wait(max(every - (time.monotonic() - last.at), 0.1)):
            if time.monotonic() - last.at >= every:
                log.info("%s: still working (%.0f s)", what, time.monotonic() - started)

    thread = threading.Thread(target=beat, name="progress-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        root.removeHandler(last)
