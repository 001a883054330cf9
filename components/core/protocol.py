"""The one protocol between a step and its runner.

Every executor ends a step with a Record: the in-process runner builds it from run()'s return value or
error; a component CLI writes it to its output directory (result.json, or error.json on failure) and,
when a runner reads its log (worker processes, containers, pods), prints it as one marked line.
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Sequence

from components.core import filenames
from components.core.errors import PipelineError, describe, error_for_exit_code

# ── The one protocol between a step and its runner ──────────────────────────────────────────────────
# Every executor ends a step with a Record: the in-process runner builds it from run()'s return value or
# error; a component CLI writes it to its output directory (result.json, or error.json on failure) and,
# when a runner reads its log (worker processes, containers, pods), prints it as one marked line.
RECORD_MARKER = "BANKPIPE_RECORD "
RECORD_LINE_ENV = "BANKPIPE_RECORD_LINE"  # set by runners that read the record from the log


@dataclasses.dataclass(frozen=True)
class Record:
    exit_code: int
    result: dict | None = None
    error: str = ""                              # the full message, continuation lines included

    @classmethod
    def of_error(cls, exc: PipelineError) -> "Record":
        return cls(exc.exit_code, None, exc.message)

    def unwrap(self) -> dict:
        """The step's result; or the domain error its exit code stands for, with its own message."""
        if self.exit_code == 0:
            return self.result if self.result is not None else {}
        raise error_for_exit_code(self.exit_code, self.error or f"exited with code {self.exit_code}")

    def line(self) -> str:
        return RECORD_MARKER + json.dumps(dataclasses.asdict(self), separators=(",", ":"))


def print_record(record: Record) -> None:
    if os.environ.get(RECORD_LINE_ENV):
        sys.stdout.write(record.line() + "\n")
        sys.stdout.flush()


def parse_record_line(line: str) -> Record | None:
    if not line.startswith(RECORD_MARKER):
        return None
    try:
        return Record(**json.loads(line[len(RECORD_MARKER):]))
    except (ValueError, TypeError):
        return None  # a truncated line (a killed process): the exit code still says what happened


def record_from_log(exit_code: int, lines: Sequence[str]) -> Record:
    """What a process, container or pod ended with: its record line, else its exit code and last lines."""
    records = [r for r in map(parse_record_line, lines) if r is not None]
    if records and records[-1].exit_code == exit_code:
        return records[-1]
    if exit_code == 0:
        return Record(0, None)
    tail = "\n".join(line for line in lines[-10:] if not line.startswith(RECORD_MARKER))
    error = error_for_exit_code(exit_code, tail or f"exited with code {exit_code} ({describe(exit_code)})")
    return Record(error.exit_code, None, error.message)  # a signal's kill is infrastructure: 75


def succeeded(output_dir: str | os.PathLike, result_file: str = "") -> bool:
    """Whether a step's output directory holds a finished success: its result on disk and no error record."""
    output = Path(output_dir)
    return (output / (result_file or filenames.RESULT)).is_file() and not (output / filenames.ERROR).exists()


class LineSplitter:
    """Byte chunks (docker and pod log streams) -> text lines, carrying a partial line to the next chunk."""

    def __init__(self) -> None:
        self.pending = b""

    def feed(self, chunk: bytes) -> list[str]:
        self.pending += chunk
        *complete, self.pending = self.pending.split(b"\n")
        return [line.decode("utf-8", "replace").rstrip("\r") for line in complete]

    def close(self) -> list[str]:
        rest, self.pending = self.pending, b""
        return [rest.decode("utf-8", "replace").rstrip("\r")] if rest else []
