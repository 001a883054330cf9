"""What every component CLI (and pipeline.py) shares: logging, errors mapped to exit codes, and the one
protocol by which a step tells its runner how it ended (Record).

A PipelineError prints one clear line and exits with its documented code; an unexpected exception is a
bug and exits 1 with the traceback. `--debug` shows tracebacks for every failure.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
import traceback
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

from components import config as config_lib
from components.errors import EXIT_CODES, PipelineError, describe, error_for_exit_code
from components.spec import OUTPUT, ComponentSpec

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def exit_code_epilog() -> str:
    return "exit codes:\n" + "\n".join(f"  {e.code:>3}  {e.name}: {e.meaning}" for e in EXIT_CODES)


def parser(prog: str, description: str, config_cls: type | None = None) -> argparse.ArgumentParser:
    result = argparse.ArgumentParser(prog=prog, description=description, epilog=exit_code_epilog(),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    result.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    if config_cls is not None:
        config_lib.add_flags(result, config_cls)
    return result


def quiet_tensorflow() -> None:
    """TensorFlow's C++ start-up chatter (CUDA probes, CPU flags) hides our progress lines."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # tf_keras (Keras 2) is the Keras that trains under MultiWorkerMirroredStrategy on TF 2.16.
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    # Google client libraries (pulled in by Beam) warn about future Python versions on import.
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"google\.")


def setup_logging(debug: bool = False) -> None:
    logging.basicConfig(level=logging.DEBUG if debug else logging.INFO, format=LOG_FORMAT, datefmt="%H:%M:%S",
                        stream=sys.stderr, force=True)
    for noisy in ("tensorflow", "absl", "apache_beam", "matplotlib", "h5py", "urllib3", "docker", "kubernetes"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def run_cli(main: Callable[[], Any], debug: bool) -> int:
    """Run `main`, turning domain errors into their exit codes."""
    log = logging.getLogger("pipeline")
    try:
        main()
        return 0
    except PipelineError as exc:
        if debug:
            log.exception("%s", exc.message)
        else:
            log.error("%s", exc.message)
        return exc.exit_code
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130
    except Exception:  # a bug: say so, with the traceback that a report needs
        log.exception("internal error (a bug, not a problem with your input); please report it with this "
                      "traceback")
        return 1


def parse(arg_parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse flags; argparse's own usage errors keep exit code 2, which is our usage code too."""
    args = arg_parser.parse_args(argv)
    setup_logging(args.debug)
    return args


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


def write_record(output: str | Path, record: Record) -> None:
    """<output>/result.json on success (removing a failed attempt's error.json), error.json on failure."""
    from components import artifacts, storage

    output = Path(output)
    stale, keep = (artifacts.ERROR, artifacts.RESULT) if record.exit_code == 0 else (artifacts.RESULT, artifacts.ERROR)
    (output / stale).unlink(missing_ok=True)
    payload = record.result if record.exit_code == 0 else {"exit_code": record.exit_code, "error": record.error}
    storage.write_json(output / keep, payload)


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


def path_flags(spec: ComponentSpec) -> list[tuple[str, str, bool]]:
    """(name, help, required) of the CLI's path flags, from the spec: inputs, extra outputs, --output."""
    flags = [(i.name, i.help, i.required) for i in spec.inputs]
    flags += [(o.name, o.help, True) for o in spec.outputs]
    return flags + [(OUTPUT, "output directory for this component", True)]


def component_main(argv: Sequence[str] | None, spec: ComponentSpec, config_cls: type, run: Callable[..., dict],
                   run_kwargs: Callable[[], dict] | None = None,
                   keep_result: Callable[[dict], bool] = lambda result: True) -> int:
    """The CLI of every component (and its container entry point): path flags from the spec plus one flag
    per config field, then `run(config, inputs, outputs)`; ends with the step's Record (see above)."""
    arg_parser = parser(f"python -m {spec.module}", spec.description, config_cls)
    for name, help_text, required in path_flags(spec):
        arg_parser.add_argument("--" + name.replace("_", "-"), dest=name, required=required, help=help_text)
    args = parse(arg_parser, argv)
    quiet_tensorflow()
    output_names = {o.name for o in spec.outputs} | {OUTPUT}

    def main_() -> None:
        config = config_lib.from_flags(config_cls, args)
        inputs = {i.name: getattr(args, i.name) for i in spec.inputs}
        outputs = {name: getattr(args, name) for name in output_names}
        try:
            result = run(config, inputs, outputs, **(run_kwargs() if run_kwargs else {}))
        except PipelineError as exc:
            _finish(args.output, Record.of_error(exc), keep=True)
            raise
        except Exception as exc:  # a bug: run_cli logs the traceback; the record says what it was
            _finish(args.output, Record(1, None, "".join(traceback.format_exception_only(exc)).strip()), keep=True)
            raise
        _finish(args.output, Record(0, result), keep=keep_result(result))

    return run_cli(main_, args.debug)


def _finish(output: str, record: Record, keep: bool) -> None:
    """Write and print the record; a failure to write it must not hide the step's own error."""
    if not keep:
        return
    try:
        write_record(output, record)
    except PipelineError as exc:
        if record.exit_code == 0:
            raise
        logging.getLogger("pipeline").warning("could not write the error record: %s", exc.message)
    print_record(record)
