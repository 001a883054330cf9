"""What every component CLI (and pipeline.py) shares: logging set-up and errors mapped to exit codes.

A PipelineError prints one clear line and exits with its documented code; an unexpected exception is a
bug and exits 1 with the traceback. `--debug` shows tracebacks for every failure.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

from components import config as config_lib
from components.errors import EXIT_CODES, PipelineError

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


def write_result(output: str | Path, result: dict) -> None:
    """The CLI's record of what `run` returned, for runners that start components out of process."""
    from components import artifacts, io

    io.write_json(Path(output) / artifacts.RESULT, result)


@dataclasses.dataclass(frozen=True)
class PathFlag:
    """A component CLI's path flag: `name` is the key in run()'s inputs (or outputs, when `output`)."""
    name: str
    help: str
    required: bool = True
    output: bool = False


OUTPUT = PathFlag("output", "output directory for this component", output=True)


def component_main(argv: Sequence[str] | None, prog: str, description: str, config_cls: type,
                   run: Callable[..., dict], flags: Sequence[PathFlag],
                   run_kwargs: Callable[[], dict] | None = None,
                   keep_result: Callable[[dict], bool] = lambda result: True) -> int:
    """The CLI of every component (and its container entry point): path flags plus one flag per config
    field, then `run(config, inputs, outputs)`, whose result is written to <output>/result.json."""
    arg_parser = parser(prog, description, config_cls)
    for flag in flags:
        arg_parser.add_argument("--" + flag.name.replace("_", "-"), dest=flag.name, required=flag.required,
                                help=flag.help)
    args = parse(arg_parser, argv)
    quiet_tensorflow()

    def main_() -> None:
        config = config_lib.from_flags(config_cls, args)
        inputs = {f.name: getattr(args, f.name) for f in flags if not f.output}
        outputs = {f.name: getattr(args, f.name) for f in flags if f.output}
        result = run(config, inputs, outputs, **(run_kwargs() if run_kwargs else {}))
        if keep_result(result):
            write_result(outputs["output"], result)

    return run_cli(main_, args.debug)
