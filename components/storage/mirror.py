"""Local scratch space that mirrors the object store, so that every step keeps reading and writing paths.

`s3://bucket/a/b` is `<scratch>/bucket/a/b` here. What a step reads is pulled into scratch before it runs,
what it wrote is pushed after it succeeds (components/orchestration/staging.py decides what and when);
files that name paths (the manifest, run.json) are stored with URIs and read back with scratch paths, so
nothing in the store names a machine's scratch folder, and nothing ever names a credential.
"""
from __future__ import annotations

import contextlib
import dataclasses
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

from components.storage import objectstore
from components.storage.files import read_json, write_json
from components.storage.objectstore import Store, Uri


@dataclasses.dataclass
class Mirror:
    scratch: Path
    store: Store = dataclasses.field(default_factory=Store)

    def local(self, uri: Uri | str, flag: str = "the URI") -> Path:
        """Where `uri` is mirrored in scratch."""
        uri = objectstore.parse(uri, flag) if isinstance(uri, str) else uri
        return self.scratch / uri.bucket / uri.key if uri.key else self.scratch / uri.bucket

    def uri(self, path: Path) -> Uri:
        """The object-store URI a scratch path stands for."""
        relative = Path(path).resolve().relative_to(self.scratch.resolve()).parts
        return Uri(relative[0], "/".join(relative[1:]))

    def holds(self, path: Path | None) -> bool:
        return path is not None and Path(path).resolve().is_relative_to(self.scratch.resolve())

    def to_uris(self, value: Any) -> Any:
        """`value` (strings, dicts and lists of them) with every scratch path written as its URI."""
        return _rewrite(value, f"{self.scratch.resolve()}/", objectstore.SCHEME)

    def to_paths(self, value: Any) -> Any:
        """The inverse of `to_uris`: URIs read from the store as scratch paths."""
        return _rewrite(value, objectstore.SCHEME, f"{self.scratch.resolve()}/")

    def pull_file(self, path: Path) -> bool:
        """The object a scratch path stands for, downloaded; False if the store has none."""
        uri = self.uri(path)
        if not self.store.exists(uri):
            return False
        self.store.download_file(uri, path)
        return True

    def pull(self, path: Path, keep=lambda name: True) -> int:
        """The folder a scratch path stands for, replaced by what the store holds there; how many files."""
        path = Path(path)
        if path.exists():
            shutil.rmtree(path)
        return self.store.download_tree(self.uri(path), path, keep)

    def push_file(self, path: Path) -> None:
        self.store.upload_file(path, self.uri(path))

    def push(self, path: Path, last: tuple[str, ...] = ()) -> None:
        """A scratch folder into the store, published whole (objectstore.Store.upload_tree)."""
        self.store.upload_tree(path, self.uri(path), last)

    def read_json(self, path: Path) -> Any:
        """A JSON file written by `write_json`, its URIs as scratch paths."""
        return self.to_paths(read_json(path))

    def write_json(self, path: Path, value: Any) -> None:
        """A JSON file with URIs instead of scratch paths, here and in the store."""
        write_json(path, self.to_uris(value))
        self.push_file(path)


def _rewrite(value: Any, old: str, new: str) -> Any:
    if isinstance(value, dict):
        return {k: _rewrite(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_rewrite(v, old, new) for v in value]
    return value.replace(old, new) if isinstance(value, str) else value


@contextlib.contextmanager
def scratch_mirror(prefix: str = "bankpipe-s3-") -> Iterator[Mirror]:
    """A mirror in a fresh temporary folder, removed afterwards (what it held is in the store)."""
    directory = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield Mirror(directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
