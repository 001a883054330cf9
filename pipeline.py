"""Run the pipeline: validate -> split -> train -> evaluate -> push.

    python pipeline.py --runner=local                      # the embedded bank data, in this process
    python pipeline.py --data other.csv --label y          # any CSV of this kind

Flags become one PipelineConfig (defaults in components/config/); the DAG is components/orchestration/dag.py;
the runner only decides where each step runs. Exit codes: see --help or the README.
"""
from __future__ import annotations

import argparse
import datetime
import importlib
import logging
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Sequence

from components.config import sections, train
from components.config.overrides import with_overrides
from components.core import console, filenames, progress
from components.core.errors import DataError, UsageError
from components.core.interface import DATA, SCHEMA, SERVING_DIR
from components.storage import objectstore
from components.storage.mirror import Mirror

HERE = Path(__file__).resolve().parent
EMBEDDED_DATA = HERE / "data" / "bank.csv"
EMBEDDED_SCHEMA = HERE / "data" / "schema.pbtxt"
# Each runner module offers add_flags(parser) for its own flags, options_from(args) -> its frozen options,
# and executor(options, run) -> Executor (see runners/common.py).
RUNNERS = {"local": "components.runners.local", "kubernetes": "components.runners.kubernetes.runner"}
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
log = logging.getLogger("pipeline")


def build_parser() -> argparse.ArgumentParser:
    p = console.parser("python pipeline.py", __doc__.split("\n\n")[0] + " Components: validate (TFDV), split, "
                   "train (Keras, tf.distribute), evaluate, push (gate).", prints=True)
    p.add_argument("--runner", choices=sorted(RUNNERS), default="local",
                   help="local: this machine (in-process, worker processes or containers); kubernetes: "
                        "Jobs on a cluster (default: local)")
    p.add_argument("--data", help=f"CSV file; the delimiter is detected (default: the embedded {EMBEDDED_DATA.name})")
    p.add_argument("--label", help="label column; positive values yes/1/true, any case (default: deposit)")
    p.add_argument("--schema", help="TFDV schema .pbtxt (default: the committed one for the embedded data; "
                                    "for other data, a schema inferred from it and saved with the run)")
    p.add_argument("--format", choices=sections.SPLIT_FORMATS, help="split file format (default: npz)")
    p.add_argument("--pipeline-root", default="runs", help="runs are kept in <pipeline-root>/<run-id>/ "
                                                           "(default: ./runs)")
    p.add_argument("--serving-dir", default="serving", help="blessed models go to <serving-dir>/<model>/<version>/ "
                                                            "(default: ./serving)")
    p.add_argument("--run-id", help="name of this run (default: a UTC timestamp)")
    p.add_argument("--epochs", type=int, help="maximum epochs (default: 100; early stopping ends sooner)")
    p.add_argument("--batch-size", type=int, help="batch size per replica (default: 100)")
    p.add_argument("--seed", type=int, help="seed of the split and of training (default: 42)")
    p.add_argument("--strategy", choices=train.STRATEGIES, help="tf.distribute strategy (default: auto, "
                   "chosen from the devices and TF_CONFIG the trainer sees)")
    p.add_argument("--no-cache", action="store_true",
                   help="recompute every step, even one whose config, code and input content match a step of another "
                        "run under --pipeline-root (by default its outputs are reused)")
    p.add_argument("--beam-pipeline-args", metavar='"--runner=... ..."',
                   help="Beam pipeline options for validate and split (TFX's beam_pipeline_args), given with '=': "
                        "--beam-pipeline-args=\"--runner=FlinkRunner --flink_master=localhost:8081 "
                        "--environment_type=LOOPBACK\" runs them on the local Flink cluster (`make flink`); "
                        "the split is then written as TFRecord")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="any other config value, e.g. --set train.hidden_layers=3 --set push.min_auc=0.9")
    shared = p.add_argument_group("every runner")
    shared.add_argument("--workers", type=int, default=1, metavar="N",
                        help="train with N workers (MultiWorkerMirroredStrategy): local, N processes on 127.0.0.1; "
                             "kubernetes, an Indexed Job of N pods (default: 1)")
    shared.add_argument("--image-tag", help="tag of the images (local --containers, kubernetes; default: the project "
                                            "version)")
    for module in RUNNERS.values():
        importlib.import_module(module).add_flags(p)
    return p


def resolve_config(args: argparse.Namespace) -> sections.PipelineConfig:
    """Flags and --set overrides applied once, on top of the defaults in code."""
    overrides: dict[str, object] = {}
    for flag, keys in (("label", ("validate.label", "split.label")), ("format", ("split.format",)),
                       ("epochs", ("train.epochs",)), ("batch_size", ("train.batch_size",)),
                       ("seed", ("split.seed", "train.seed")), ("strategy", ("train.strategy",)),
                       ("beam_pipeline_args", ("validate.beam_pipeline_args", "split.beam_pipeline_args"))):
        value = getattr(args, flag)
        if value is not None:
            overrides.update({key: value for key in keys})
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or "." not in key:
            raise UsageError(f"--set {item!r} is not SECTION.KEY=VALUE (e.g. train.epochs=5).")
        overrides[key.strip()] = value.strip()
    if overrides.get("split.beam_pipeline_args") and "split.format" not in overrides:
        # Beam workers write shards: TFRecord is the format that goes with them, so it is chosen, not asked for
        log.info("--beam-pipeline-args: the split is written as TFRecord shards (--format tfrecord)")
        overrides["split.format"] = "tfrecord"
    if "push.model_name" not in overrides and args.data:  # other data never joins the bank model's lineage
        overrides["push.model_name"] = model_name_for(Path(args.data))
    config = with_overrides(sections.PipelineConfig(), overrides)
    workers = args.workers
    if workers > config.split.shards:  # multi-worker training shards TFRecords by file: one per worker at least
        config = with_overrides(config, {"split.shards": workers})
    return config


def model_name_for(data: Path) -> str:
    """The model a CSV's runs push to unless push.model_name is set: its file name, in letters, digits, '-' and
    '_' (the embedded data's is `bank`), so runs on different data sets never share versions silently."""
    if data.name == EMBEDDED_DATA.name and data.parent.resolve() == EMBEDDED_DATA.parent:
        return sections.PushConfig().model_name
    return re.sub(r"[^A-Za-z0-9_-]+", "-", data.stem).strip("-_").lower()[:60] or "model"


def resolve_params(args: argparse.Namespace, mirror: Mirror | None = None) -> dict:
    """The run parameters that specs' `Param`s name; lookups (components/registry/lookups.py) are found per step.
    An s3:// file is downloaded into the mirror's scratch once; an s3:// directory is its scratch folder."""
    data = file_flag(args.data, "--data", mirror) if args.data else EMBEDDED_DATA
    if args.schema:
        schema = file_flag(args.schema, "--schema", mirror)
    elif data == EMBEDDED_DATA:
        schema = EMBEDDED_SCHEMA
    else:
        schema = None  # validate infers one from this data and saves it with the run
    serving = mirror.local(args.serving_dir, "--serving-dir") if objectstore.is_uri(args.serving_dir) \
        else directory_flag(args.serving_dir, "--serving-dir")
    return {DATA.name: data, SCHEMA.name: schema, SERVING_DIR.name: serving}


def file_flag(text: str, flag: str, mirror: Mirror | None) -> Path:
    """An input file: a local path, resolved, or an s3:// object, downloaded into scratch."""
    if not objectstore.is_uri(text):
        return resolve_path(text, flag, DataError)
    path = mirror.local(text, flag)
    if not mirror.pull_file(path):
        raise DataError(f"{flag} {text}: no such object in the store; check the URI (`aws s3 ls` lists them).")
    return path


def on_store(args: argparse.Namespace) -> bool:
    return any(objectstore.is_uri(v) for v in (args.pipeline_root, args.serving_dir, args.data, args.schema))


def resolve_path(text: str, flag: str, error: type = UsageError) -> Path:
    """An absolute path with symlinks resolved; a symlink loop (or a path the OS refuses) names the flag."""
    try:
        return Path(text).resolve()
    except (RuntimeError, OSError) as exc:  # Python 3.11 raises RuntimeError for a symlink loop
        raise error(f"{flag} {text!r} cannot be resolved ({exc}): it is a symlink loop or an unreachable path; "
                    f"pass a real path.") from None


def directory_flag(text: str, flag: str) -> Path:
    """A directory flag: resolved, and not an existing regular file (a usage error, not a full disk)."""
    path = resolve_path(text, flag)
    existing = next(p for p in (path, *path.parents) if p.exists())  # the root always exists
    if not existing.is_dir():
        raise UsageError(f"{flag} {text!r}: {existing} is a file, not a directory: pass a directory (it is "
                         f"created if missing).")
    return path


def make_run_id(requested: str | None) -> str:
    run_id = requested or datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
    if not RUN_ID.fullmatch(run_id) or ".." in run_id:  # fullmatch: `$` would let a trailing newline in
        raise UsageError(f"--run-id {run_id!r} is not a valid run name: use letters, digits, '.', '_' and '-' "
                         f"(no '/' or '..'), at most 100 characters.")
    return run_id


def summary(manifest: dict, run_dir: Path, logdir: object = None) -> str:
    from components.orchestration.dag import PIPELINE  # the steps' modules: after the run's first line

    lines = [f"run {manifest['run_id']}: {manifest['status']}"]
    for spec in PIPELINE:  # DAG order, whatever order the manifest file keeps
        step = manifest["steps"].get(spec.name, {"status": "pending"})
        seconds = f"{step['seconds']:7.1f}s" if "seconds" in step else " " * 8
        note = step["error"].splitlines()[0] if step.get("error") else ""
        if step.get("cached_from"):
            note = f"reused from run {step['cached_from']}"
        lines.append(f"  {spec.name:<9} {step['status']:<10}{seconds}  {note}")
    for spec in PIPELINE:
        record = manifest["steps"].get(spec.name, {})
        if spec.summarize and record.get("status") in ("succeeded", "cached", "failed"):
            lines += spec.summarize(record, run_dir / spec.name)
    lines.append(f"manifest: {run_dir / filenames.MANIFEST}")
    lines.append(f"inspect:  {Path(sys.executable).with_name('tensorboard')} --logdir {logdir or run_dir.parent}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    console.setup_logging("--debug" in argv)
    with progress.heartbeat("starting"):  # the runners' flags come with their modules: pandas, Beam, clients
        arg_parser = build_parser()
    args = console.parse(arg_parser, argv)
    console.quiet_tensorflow()
    started: dict = {}

    def main_() -> None:
        config = resolve_config(args)
        run_id = make_run_id(args.run_id)
        mirror = started["mirror"] = Mirror(Path(tempfile.mkdtemp(prefix="bankpipe-s3-"))) if on_store(args) else None
        root = mirror.local(args.pipeline_root, "--pipeline-root") if objectstore.is_uri(args.pipeline_root) \
            else directory_flag(args.pipeline_root, "--pipeline-root")
        log.info("run %s in %s: starting", run_id, root / run_id)
        # imported here, after the first line: pandas, TensorFlow and TFDV take seconds to load
        from components.orchestration.run import run_steps
        from components.orchestration.state import Run

        runner = importlib.import_module(RUNNERS[args.runner])
        options = runner.options_from(args)
        run = Run(run_id, root / run_id, config, resolve_params(args, mirror), mirror=mirror)
        started["run"] = run
        run_steps(run, runner.executor(options, run), args.runner, use_cache=not args.no_cache)

    try:
        code = console.run_cli(main_, args.debug)
        run = started.get("run")
        if run is not None and run.manifest and run.mirror is None:
            print(summary(run.manifest, run.run_dir), flush=True)
        elif run is not None and run.manifest:  # the run's small results, here, whatever the pipeline root
            from components.orchestration.staging import keep_results

            local = keep_results(run.run_dir, Path("runs").resolve() / run.run_id)
            log.info("object store: %.1f MB uploaded, %.1f MB downloaded", run.mirror.store.uploaded / 1e6,
                     run.mirror.store.downloaded / 1e6)
            print(summary(run.shown(run.manifest), local, run.shown(str(run.run_dir.parent))), flush=True)
        return code
    finally:
        if started.get("mirror") is not None:
            shutil.rmtree(started["mirror"].scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(console.entry(main))
