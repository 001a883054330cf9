"""What every command line (component CLIs, pipeline.py, predict, models) shares: flag names, logging,
errors mapped to exit codes.

A PipelineError prints one clear line and exits with its documented code; an unexpected exception is a
bug and exits 1 with the traceback. `--debug` shows tracebacks for every failure.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from typing import Any, Callable, Sequence

from components.core.errors import EXIT_CODES, PipelineError

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def exit_code_epilog() -> str:
    return "exit codes:\n" + "\n".join(f"  {e.code:>3}  {e.name}: {e.meaning}" for e in EXIT_CODES)


def flag(name: str) -> str:
    """The command-line flag of a config field or path name: `serving_dir` -> `--serving-dir`."""
    return "--" + name.replace("_", "-")


def parser(prog: str, description: str) -> argparse.ArgumentParser:
    result = argparse.ArgumentParser(prog=prog, description=description, epilog=exit_code_epilog(),
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
