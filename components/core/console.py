"""What every command line (component CLIs, pipeline.py, predict, models) shares: flag names, logging,
errors mapped to exit codes.

A PipelineError prints one clear line and exits with its documented code; an unexpected exception is a
bug and exits 1 with the traceback. `--debug` shows tracebacks for every failure.
"""
from __future__ import annotations

import argparse
import logging
import os
import select
import sys
import warnings
from typing import Any, Callable, Iterable, Sequence

from components.core import native_logs
from components.core.errors import EXIT_CODES, PipelineError

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


ALL_CODES = tuple(e.code for e in EXIT_CODES)
READER_GONE = 141  # 128 + SIGPIPE: what `yes | head -1` leaves as yes's exit status


def exit_code_epilog(codes: Iterable[int] = ALL_CODES, prints: bool = False) -> str:
    """The exit codes this command can return (each tool lists its own, not the whole pipeline's)."""
    wanted = set(codes) | {0, 1, 2}  # every command can succeed, hit a bug or be given a bad flag
    lines = [f"  {e.code:>3}  {e.name}: {e.meaning if e.code or 6 in wanted else 'Done.'}" for e in EXIT_CODES
             if e.code in wanted]
    if prints:
        lines.append(f"  {READER_GONE}  reader_gone: whatever read the output stopped reading (e.g. `| head`).")
    return "exit codes:\n" + "\n".join(lines)


def flag(name: str) -> str:
    """The command-line flag of a config field or path name: `serving_dir` -> `--serving-dir`."""
    return "--" + name.replace("_", "-")


def parser(prog: str, description: str, codes: Iterable[int] = ALL_CODES,
           prints: bool = False) -> argparse.ArgumentParser:
    """A command's parser; `codes` are the exit codes it can return, `prints` whether it prints to stdout."""
    result = argparse.ArgumentParser(prog=prog, description=description, epilog=exit_code_epilog(codes, prints),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    result.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    return result


def quiet_tensorflow() -> None:
    """TensorFlow's C++ start-up chatter (CUDA probes, CPU flags) hides our progress lines."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # tf_keras (Keras 2) is the Keras that trains under MultiWorkerMirroredStrategy on TF 2.16.
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    # Google client libraries (pulled in by Beam) warn about future Python versions on import.
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"google\.")


def tool_name(logger: str) -> str:
    """How a logger is named in the output: every line of ours under `pipeline`, with the module's last part
    (`components.steps.validate` -> `pipeline.validate`), also when the module runs as `python -m` (`__main__`)."""
    if logger == "__main__":
        spec = getattr(sys.modules.get("__main__"), "__spec__", None)
        logger = spec.name if spec is not None else "pipeline"
    if logger.startswith("components."):
        return "pipeline." + logger.rsplit(".", 1)[-1]
    return logger


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        shown = logging.makeLogRecord(record.__dict__)  # other handlers (pytest's caplog) keep the real name
        shown.name = tool_name(record.name)
        return super().format(shown)


def setup_logging(debug: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter(LOG_FORMAT, datefmt="%H:%M:%S"))
    logging.basicConfig(level=logging.DEBUG if debug else logging.INFO, handlers=[handler], force=True)
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
    except BrokenPipeError:
        if output_gone():
            raise  # not a failure of the work: entry() ends quietly
        log.exception("internal error (a bug, not a problem with your input); please report it with this "
                      "traceback")
        return 1
    except Exception:  # a bug: say so, with the traceback that a report needs
        log.exception("internal error (a bug, not a problem with your input); please report it with this "
                      "traceback")
        return 1


def parse(arg_parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse flags; argparse's own usage errors keep exit code 2, which is our usage code too."""
    args = arg_parser.parse_args(argv)
    setup_logging(args.debug)
    return args


def output_gone() -> bool:
    """Whether stdout is a pipe whose reader has closed it (poll reports an error on its write end)."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(event & (select.POLLERR | select.POLLHUP) for _, event in poller.poll(0))
    except (OSError, ValueError):
        return False


def entry(main: Callable[[], int]) -> int:
    """A command's process entry point: native libraries' log lines filtered out of stderr (all shown under
    --debug), and a reader that goes away (`| head -1`) ends the command quietly, as it does a Unix tool."""
    native_logs.install("--debug" in sys.argv[1:])
    try:
        code = main()
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        if not output_gone():
            raise
        # Python flushes stdout again at exit; point it at /dev/null so that flush does not fail too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return READER_GONE
