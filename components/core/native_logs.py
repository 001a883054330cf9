"""Keep native libraries' log lines (TFDV's and TensorFlow's C++ code) out of a normal run's output.

TF_CPP_MIN_LOG_LEVEL quiets TensorFlow's own C++ logging only: TFDV logs through Abseil, which has no such
switch at run time and writes warnings (e.g. `statistics_view.cc:197] ... can't find: 'tenure.months'`)
straight to file descriptor 2. So a command's entry point points fd 2 at a pipe and forwards every line
but those in the native log formats; Python's own sys.stderr is moved to a copy of the real stderr first,
so the project's log lines are written directly, in order, with no thread in their way. `--debug` installs
nothing: everything is shown. Child processes inherit the filtered fd 2, and progress lines stay on in
them when the real stderr is a terminal.
"""
from __future__ import annotations

import atexit
import os
import re
import sys
import threading

# glog/Abseil: "W0000 00:00:1796436150.861204   22730 statistics_view.cc:197] ..."; TensorFlow's own:
# "2026-12-05 01:59:05.123456: I tensorflow/core/....cc:42] ..."; Abseil's one-off notice before its init.
NATIVE_LINE = re.compile(
    rb"^(?:[IWEF]\d{4} [\d:]+\.\d+\s+\d+ \S+:\d+\]"
    rb"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] \S+:\d+\]"
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR)")
_installed = False


def is_native(line: bytes) -> bool:
    return NATIVE_LINE.match(line) is not None


def _forward(source: int, target: int) -> None:
    pending = b""
    while True:
        try:
            chunk = os.read(source, 65536)
        except OSError:
            chunk = b""
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        kept = b"".join(line + b"\n" for line in lines if not is_native(line))
        if kept:
            os.write(target, kept)
    if pending and not is_native(pending):
        os.write(target, pending)


def install(debug: bool) -> None:
    """Filter native log lines out of fd 2 for the rest of this process (once; nothing under --debug)."""
    global _installed
    if debug or _installed:
        return
    _installed = True
    sys.stderr.flush()
    real = os.dup(2)
    if os.isatty(real):
        os.environ.setdefault("BANKPIPE_PROGRESS", "1")  # children see a pipe where a person sees a terminal
    reader, writer = os.pipe()
    os.dup2(writer, 2)
    os.close(writer)
    sys.stderr = open(real, "w", buffering=1, encoding=sys.stderr.encoding, errors="backslashreplace",
                      closefd=False)
    thread = threading.Thread(target=_forward, args=(reader, real), name="native-log-filter", daemon=True)
    thread.start()

    def restore() -> None:
        """fd 2 back to the real stderr: what native code writes while exiting is not lost in the pipe."""
        os.dup2(real, 2)
        thread.join(timeout=1.0)

    atexit.register(restore)
