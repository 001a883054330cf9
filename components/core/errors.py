"""Domain errors and their exit codes: the one table every runner and the README use.

Exit code 1 is reserved for unexpected internal errors (bugs); each class of user-facing failure has
its own code so that scripts, containers and Kubernetes pod-failure policies can tell them apart.
"""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class ExitCode:
    code: int
    name: str
    meaning: str
    what_to_do: str
    retryable: bool = False


EXIT_CODES: tuple[ExitCode, ...] = (
    ExitCode(0, "ok", "The run finished; the model was pushed if blessed.", "Nothing."),
    ExitCode(1, "internal", "Unexpected internal error (a bug).", "Re-run with --debug and report the traceback."),
    ExitCode(2, "usage", "Bad flag, config key or config value; object-store credentials refused or missing.",
             "Fix the flag named in the message; see --help."),
    ExitCode(3, "bad_data", "Input file missing, unreadable or malformed (delimiter, label, rows).",
             "Fix the file or the flag named in the message."),
    ExitCode(4, "anomalies", "The data does not match the schema (TFDV anomalies); nothing downstream ran.",
             "Read anomalies.txt in the validate output; fix the data, or update the schema if the change "
             "is intended."),
    ExitCode(5, "training", "Training failed (diverged, corrupt split, no progress).",
             "Read the train log; check the split files and the hyperparameters."),
    ExitCode(6, "gate_refused", "The model did not pass the gate; it was not pushed.",
             "Read gate.txt in the push output: each metric, its threshold and its margin."),
    ExitCode(75, "infrastructure",
             "Interrupted or out of resources (SIGTERM, disk full, object store unreachable); retryable.",
             "Re-run the same command with the same --run-id: finished steps are kept and training "
             "resumes from its checkpoint (free space or fix permissions first if the message says so)."),
)
_BY_CODE = {e.code: e for e in EXIT_CODES}


class PipelineError(Exception):
    """A failure the user can act on; its message names the bad value and the fix."""

    exit_code = 1

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class UsageError(PipelineError):
    exit_code = 2


class DataError(PipelineError):
    exit_code = 3


class AnomaliesError(PipelineError):
    exit_code = 4


class TrainingError(PipelineError):
    exit_code = 5


class GateRefused(PipelineError):
    exit_code = 6


class InfraError(PipelineError):
    exit_code = 75


_ERROR_CLASSES = {cls.exit_code: cls for cls in (UsageError, DataError, AnomaliesError, TrainingError,
                                                  GateRefused, InfraError)}


def error_for_exit_code(code: int, message: str) -> PipelineError:
    """Map a child process's or container's exit code back to the domain error it stands for. A process
    killed by a signal (negative code from Python, 128+N from a shell, a container or a pod) was
    interrupted, not wrong: infrastructure, retryable."""
    if code < 0 or code >= 128:
        return InfraError(f"{message} (killed by signal {-code if code < 0 else code - 128}: interrupted or out "
                          f"of memory; retryable)")
    cls = _ERROR_CLASSES.get(code)
    if cls is None:
        return PipelineError(f"{message} (exit code {code}: {describe(code)})")
    return cls(message)


def describe(code: int) -> str:
    entry = _BY_CODE.get(code)
    return entry.meaning if entry else "unknown exit code"


def markdown_table() -> str:
    """The exit-code table as rendered into the README (a test keeps the two in step)."""
    rows = ["| exit code | name | meaning | what to do |", "|---|---|---|---|"]
    rows += [f"| {e.code} | {e.name} | {e.meaning} | {e.what_to_do} |" for e in EXIT_CODES]
    return "\n".join(rows)
