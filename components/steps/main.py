"""The CLI of every component, which is also its container entry point: path flags from the step's spec,
one flag per config field, then `run(config, inputs, outputs)`, ending with the step's Record."""
from __future__ import annotations

import logging
import traceback
from pathlib import Path
from typing import Callable, Sequence

from components import storage
from components.config import overrides
from components.core import console, filenames, progress
from components.core.errors import PipelineError
from components.core.interface import OUTPUT, ComponentSpec
from components.core.protocol import Record, print_record


def write_record(output: str | Path, record: Record, result_file: str = "") -> None:
    """On success, <output>/result.json unless run() already wrote its result to `result_file` (the record
    points to that file rather than copying it); error.json on failure. Stale records of an earlier attempt go."""
    output = Path(output)
    if record.exit_code == 0:
        (output / filenames.ERROR).unlink(missing_ok=True)
        if result_file:
            (output / filenames.RESULT).unlink(missing_ok=True)
        else:
            storage.write_json(output / filenames.RESULT, record.result)
        return
    (output / filenames.RESULT).unlink(missing_ok=True)
    storage.write_json(output / filenames.ERROR, {"exit_code": record.exit_code, "error": record.error})


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
    arg_parser = console.parser(f"python -m {spec.module}", spec.description, spec.exit_codes)
    overrides.add_flags(arg_parser, config_cls)
    for name, help_text, required in path_flags(spec):
        arg_parser.add_argument(console.flag(name), dest=name, required=required, help=help_text)
    args = console.parse(arg_parser, argv)
    console.quiet_tensorflow()
    output_names = {o.name for o in spec.outputs} | {OUTPUT}

    def main_() -> None:
        config = overrides.from_flags(config_cls, args)
        inputs = {i.name: getattr(args, i.name) for i in spec.inputs}
        outputs = {name: getattr(args, name) for name in output_names}
        try:
            with progress.heartbeat(spec.name):
                result = run(config, inputs, outputs, **(run_kwargs() if run_kwargs else {}))
        except PipelineError as exc:
            _finish(args.output, Record.of_error(exc), spec.result_file)
            raise
        except Exception as exc:  # a bug: run_cli logs the traceback; the record says what it was
            _finish(args.output, Record(1, None, "".join(traceback.format_exception_only(exc)).strip()),
                    spec.result_file)
            raise
        _finish(args.output, Record(0, result), spec.result_file, keep=keep_result(result))

    return console.run_cli(main_, args.debug)


def _finish(output: str, record: Record, result_file: str, keep: bool = True) -> None:
    """Write and print the record; a failure to write it must not hide the step's own error."""
    if not keep:
        return
    try:
        write_record(output, record, result_file)
    except PipelineError as exc:
        if record.exit_code == 0:
            raise
        logging.getLogger("pipeline").warning("could not write the error record: %s", exc.message)
    print_record(record)
