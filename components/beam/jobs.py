"""Running our Beam pipelines (validate's statistics, split) on the runner `--beam-pipeline-args` names.

The flags are TFX's `beam_pipeline_args`: Beam PipelineOptions passed through, e.g.
`--runner=FlinkRunner --flink_master=localhost:8081 --environment_type=LOOPBACK --parallelism=2`.
This module parses them once (a bad value is a usage error), keeps Beam's LOOPBACK worker pool on
loopback, checks that a Flink master or job server answers before submitting (else: run `make flink`),
gives Flink jobs blocking data exchanges (see with_defaults), and turns a failed job into the domain error its DoFn raised, whatever the runner wrapped it in: the
DirectRunner re-raises the DoFn's exception; Flink reports `RuntimeError("Pipeline ... failed in state
FAILED: java.lang.RuntimeException: ... <Python traceback>")`.
"""
from __future__ import annotations

import logging
import re
import socket
import urllib.error
import urllib.request
from typing import Callable

from components.config.grammars import runner_of
from components.core import errors
from components.core.errors import DataError, InfraError, PipelineError

log = logging.getLogger(__name__)

NOT_UTF8 = "invalid UTF-8 in"  # a DoFn's marker: run() names the line from the file itself
_STEP_NOTE = re.compile(r" \[while running '[^']*'\]")
_DOMAIN_ERROR = re.compile(r"components\.(?:core\.)?errors\.(\w+): (.*)")
# What a DoFn raises on a row it cannot read (the CSV module, pandas, Arrow, a decode): bad data, exit 3.
DATA_ERRORS = ("ValueError", "UnicodeDecodeError", "UnicodeError", "Error", "ParserError", "ArrowInvalid")
_PYTHON_ERROR = re.compile(r"^(\w+(?:\.\w+)*(?:Error|Exception)): (.*)$", re.MULTILINE)


def pipeline_options(flags: list[str]):
    from apache_beam.options.pipeline_options import PipelineOptions

    _define_flink_batch_option()
    return PipelineOptions(flags)


_FLINK_BATCH_OPTIONS: list = []


def _define_flink_batch_option() -> None:
    """Beam's Java FlinkPipelineOptions.executionModeForBatch, which Python's FlinkRunnerOptions lacks: without
    this definition Beam drops the flag before it reaches the job server. Defined once (a second definition
    would be a conflicting argparse option)."""
    if _FLINK_BATCH_OPTIONS:
        return
    from apache_beam.options.pipeline_options import PipelineOptions

    class FlinkBatchOptions(PipelineOptions):
        @classmethod
        def _add_argparse_args(cls, parser):
            parser.add_argument("--execution_mode_for_batch", default=None,
                                help="Flink's data exchange for batch jobs: PIPELINED or BATCH_FORCED")

    _FLINK_BATCH_OPTIONS.append(FlinkBatchOptions)


def with_defaults(flags: list[str], job: str) -> list[str]:
    """The job's name, and on Flink blocking data exchanges (BATCH_FORCED), unless the flags say otherwise.
    Flink's default, PIPELINED, deadlocks on a branch that joins again (FLINK-10672): a PCollection read both as a
    side input and as the main input (the CSV types, TFDV's own slicing) stalled the statistics job at 10^7 rows."""
    given = {flag.split("=", 1)[0] for flag in flags}
    extra = [] if "--job_name" in given else [f"--job_name={job}"]
    if "flink" in (runner_of(flags) or "").lower() and "--execution_mode_for_batch" not in given:
        extra.append("--execution_mode_for_batch=BATCH_FORCED")
    return [*flags, *extra]


def check_reachable(options) -> None:
    """A Flink master or job server that does not answer would make Beam wait, then fail with a Java trace:
    say at once what to start. Retryable (exit 75): the job is fine, the service is not up."""
    from apache_beam.options.pipeline_options import FlinkRunnerOptions, PortableOptions, StandardOptions

    runner = (options.view_as(StandardOptions).runner or "").lower()
    portable = options.view_as(PortableOptions)
    master = options.view_as(FlinkRunnerOptions).flink_master
    if (portable.environment_type or "").upper() == "EXTERNAL" and portable.environment_config:
        port = portable.environment_config.rpartition(":")[2]
        _answers(portable.environment_config, "the SDK worker pool",
                 f"start it with `.venv/bin/python flink/worker_pool.py {port}` (see flink/README.md)")
    if portable.job_endpoint and portable.job_endpoint != "embed":
        _answers(portable.job_endpoint, "the Beam job server", FLINK_FIX)
    elif "flink" in runner and master and not master.startswith("["):  # "[auto]", "[local]": embedded Flink
        url = (master if "://" in master else f"http://{master}").rstrip("/") + "/overview"
        try:
            urllib.request.urlopen(url, timeout=3).read()
        except (OSError, urllib.error.URLError, ValueError) as exc:
            raise _unreachable(f"Flink at {master} ({url})", exc, FLINK_FIX) from None


FLINK_FIX = ("start the local cluster with `make flink` (see flink/README.md; `make flink-status` shows it), or "
             "point --beam-pipeline-args at a running one")


def _answers(address: str, what: str, fix: str) -> None:
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host or "localhost", int(port)), timeout=3).close()
    except (OSError, ValueError) as exc:
        raise _unreachable(f"{what} at {address}", exc, fix) from None


def _unreachable(what: str, exc: Exception, fix: str) -> InfraError:
    reason = getattr(exc, "reason", None) or exc
    return InfraError(f"{what} does not answer ({reason}): {fix}; then re-run.")


def bind_worker_pool_to_loopback() -> None:
    """Beam 2.61 opens the LOOPBACK worker pool (the SDK workers Flink's TaskManager connects to) on
    '[::]:port', every interface, with no option to change it; nothing here may listen beyond loopback.
    This makes that one gRPC server bind 'localhost'; it touches only the grpc module as seen by
    apache_beam.runners.worker.worker_pool_main, and is idempotent."""
    import grpc
    from apache_beam.runners.worker import worker_pool_main

    class _LoopbackGrpc:
        def __getattr__(self, name):
            return getattr(grpc, name)

        @staticmethod
        def server(*args, **kwargs):
            server = grpc.server(*args, **kwargs)
            add_port = server.add_insecure_port
            server.add_insecure_port = lambda address: add_port(address.replace("[::]", "localhost", 1))
            return server

    worker_pool_main.grpc = _LoopbackGrpc()


def run(build: Callable, flags: list[str], what: str, data=None, job: str = "bankpipe") -> None:
    """Build the pipeline with `build(pipeline)` and run it to the end; failures become domain errors
    whose message names `what` (the job and its file). Workers read lines in parallel and cannot tell a
    line's number: a row that is not UTF-8 is named by reading `data` from the start. `job` names the job on
    the runner (Flink's web UI and REST API) unless the flags give --job_name."""
    try:
        _run(build, with_defaults(flags, job), what)
    except DataError as exc:
        if data is not None and exc.message.startswith(NOT_UTF8):
            from components import storage

            raise storage.not_utf8_error(data) from None
        raise


def _run(build: Callable, flags: list[str], what: str) -> None:
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PortableOptions

    options = pipeline_options(flags)
    check_reachable(options)
    if (options.view_as(PortableOptions).environment_type or "").upper() == "LOOPBACK":
        bind_worker_pool_to_loopback()
    try:
        with beam.Pipeline(options=options) as pipeline:
            build(pipeline)
    except PipelineError as exc:  # the DirectRunner re-raises the DoFn's own exception, step noted
        raise type(exc)(_STEP_NOTE.sub("", exc.message)) from None
    except Exception as exc:  # noqa: BLE001 - every runner failure is mapped, none passes as a bug
        raise job_error(exc, what) from None


def job_error(exc: Exception, what: str) -> Exception:
    """The domain error a DoFn raised, found in the runner's report; a parsing error from a DoFn (a row the
    CSV decoder refuses) is bad data; any other Python error is a bug (exit 1); a failure with no Python
    error in it is the cluster's (retryable)."""
    text = _STEP_NOTE.sub("", str(exc))
    domain = _DOMAIN_ERROR.findall(text)
    if domain:
        name, message = domain[-1]
        cls = getattr(errors, name, None)
        if isinstance(cls, type) and issubclass(cls, PipelineError):
            return cls(message.strip())
    if isinstance(exc, RuntimeError) and "Traceback (most recent call last)" in text:
        python = [m for m in _PYTHON_ERROR.findall(text) if not m[0].startswith(("java.", "org.", "io.", "com."))]
        name, message = python[-1] if python else ("", "")
    elif isinstance(exc, RuntimeError):
        first = text.strip().splitlines()[0][:500] if text.strip() else type(exc).__name__
        return InfraError(f"{what} failed on the runner, not on the data: {first}. Check the runner (for the "
                          f"local Flink cluster: `make flink-status`, logs in .cache/flink/log) and re-run.")
    else:
        name, message = type(exc).__name__, text
    short = name.rsplit(".", 1)[-1]
    if short in DATA_ERRORS:
        return DataError(f"{what} failed on a row of the data: {short}: {message.strip()[:500]}. Fix that row "
                         f"(every row needs as many fields as the header, in UTF-8).")
    return exc if not isinstance(exc, RuntimeError) else PipelineError(
        f"{what} failed with an internal error (a bug): {short}: {message.strip()[:500]}. Re-run with --debug and "
        f"report it.")
