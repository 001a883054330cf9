"""The models in a serving directory: list them, show one version's lineage, roll back.

    python -m components.models list [--serving-dir serving]            # every model and version
    python -m components.models show bank [3]                            # a version's lineage (default: newest)
    python -m components.models rollback bank 2                          # serve version 2 again, as a new version
    python -m components.models --serving-dir s3://bucket/serving list   # on the object store

Rollback re-publishes the earlier version's files as the next version number (atomically, under the
model's lock, exactly as push does), so the newest version is always the one served and history is kept.
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Sequence

from components.core import console, filenames
from components.core.errors import UsageError
from components.orchestration import staging
from components.registry import integrity, lookups, versions
from components.storage import objectstore
from components.storage.mirror import Mirror, scratch_mirror

log = logging.getLogger("pipeline")


def build_parser():
    p = console.parser("python -m components.models", __doc__.split("\n\n")[0], (3, 75), prints=True)
    serving = "the serving directory, a path or an s3:// URI (default: ./serving)"
    p.add_argument("--serving-dir", default="serving", help=serving)
    # the same flag after the subcommand too (`list --serving-dir X`), where a person types it
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("--serving-dir", default=argparse.SUPPRESS, help=serving)
    commands = p.add_subparsers(dest="command", required=True)
    commands.add_parser("list", parents=[where],
                        help="every model and version, newest first, with test metrics and its run")
    show = commands.add_parser("show", parents=[where],
                               help="one version's lineage: run, data, config, metrics, gate, baseline")
    show.add_argument("model", help="the model's name: its folder in the serving directory (e.g. bank)")
    show.add_argument("version", nargs="?", type=int, help="the version number (default: the newest)")
    back = commands.add_parser("rollback", parents=[where], help="publish an earlier version again as the newest one")
    back.add_argument("model", help="the model's name: its folder in the serving directory (e.g. bank)")
    back.add_argument("version", type=int, help="the earlier version to serve again (see `list`)")
    return p


def version_dir(serving_dir: Path, model: str, version: int | None) -> Path:
    found = lookups.versions(serving_dir / model)
    if not found:
        known = ", ".join(versions.models(serving_dir)) or "none"
        raise UsageError(f"no model {model!r} in {serving_dir} (models there: {known}).")
    if version is None:
        return serving_dir / model / str(found[-1])
    if version not in found:
        raise UsageError(f"{model} has no version {version} in {serving_dir} (versions: "
                         f"{', '.join(map(str, found))}).")
    return serving_dir / model / str(version)


def one_line(directory: Path) -> str:
    lineage = versions.read_lineage(directory)
    metrics, run = lineage.get("test_metrics") or {}, lineage.get("run") or {}
    scores = "  ".join(f"{k} {metrics[k]:.4f}" for k in ("accuracy", "auc", "f1") if k in metrics)
    origin = f"rollback of {lineage['rollback_of']}" if lineage.get("rollback_of") else \
        f"run {run.get('run_id', '?')}, data {str(run.get('data_sha256') or '?')[:12]}"
    return f"  {directory.name:>4}  {lineage.get('pushed_at', '(no lineage)'):<25}  {scores:<40}  {origin}"


def list_models(serving_dir: Path) -> str:
    lines = []
    for model in versions.models(serving_dir):
        lines.append(f"{model}  (served: version {lookups.versions(serving_dir / model)[-1]})")
        lines += [one_line(serving_dir / model / str(v)) for v in reversed(lookups.versions(serving_dir / model))]
    return "\n".join(lines) if lines else f"no models in {serving_dir}"


def rollback(serving_dir: Path, model: str, version: int) -> Path:
    source = version_dir(serving_dir, model, version)
    integrity.verify(source)  # only bytes the gate once pushed may be served again
    lineage = dict(versions.read_lineage(source), rollback_of=version)
    cards = {name: (source / name).read_text(encoding="utf-8") for name in (filenames.MODEL_CARD_HTML,
                                                                           filenames.MODEL_CARD_MD)
             if (source / name).is_file()}  # the card of the version served again
    target, new = versions.publish(source, serving_dir, model, lineage, source / filenames.SEEN_ROWS,
                                   lambda final: cards)
    if not new:
        raise UsageError(f"version {version} of {model} has the same files as the newest ({target.name}): it is "
                         f"served already; nothing to roll back.")
    return target


def command(args, serving_dir: Path, mirror: Mirror | None) -> str:
    """What the command prints; on the store, the scratch copy of what it reads, and what it adds published."""
    shown = mirror.to_uris if mirror is not None else (lambda text: text)
    if mirror is not None:
        models = [args.model] if args.command != "list" else mirror.store.folders(mirror.uri(serving_dir))
        for model in models:
            staging.pull_versions(mirror, serving_dir / model, (args.version,) if args.version else ())
    if args.command == "list":
        return shown(list_models(serving_dir))
    if args.command == "show":
        directory = version_dir(serving_dir, args.model, args.version)
        card = directory / filenames.MODEL_CARD_HTML
        card_uri = shown(str(card)) if card.is_file() else None
        shown_lineage = json.dumps({"version": str(directory), **versions.read_lineage(directory),
                                    "model_card": card_uri}, indent=2, ensure_ascii=False)
        if card_uri:  # for the person reading; standard output stays one JSON document
            log.info("model card: %s (and %s beside it)", card_uri, card.with_suffix(".md").name)
        return shown(shown_lineage)
    target = rollback(serving_dir, args.model, args.version)
    if mirror is not None:
        staging.publish_version(mirror, target)
    return shown(f"{args.model}: version {args.version} published again as version {target.name} ({target})")


def main(argv: Sequence[str] | None = None) -> int:
    args = console.parse(build_parser(), argv)
    args.version = getattr(args, "version", None)

    def main_() -> None:
        if not objectstore.is_uri(args.serving_dir):
            print(command(args, Path(args.serving_dir), None))
            return
        with scratch_mirror() as mirror:
            print(command(args, mirror.local(args.serving_dir, "--serving-dir"), mirror))

    return console.run_cli(main_, args.debug)


if __name__ == "__main__":
    raise SystemExit(console.entry(main))
