"""The one way the project fingerprints things: a file, a directory tree, a JSON-able value (SHA-256)."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterable


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def tree_digests(directory: str | os.PathLike, skip: Iterable[str] = ()) -> dict[str, str]:
    """SHA-256 of every file under `directory` by relative POSIX path; files named in `skip`, and Python's
    bytecode caches, are left out."""
    root, skipped = Path(directory), set(skip)
    return {p.relative_to(root).as_posix(): file_sha256(p) for p in sorted(root.rglob("*"))
            if p.is_file() and p.name not in skipped and "__pycache__" not in p.parts}


def value_digest(value: Any) -> str:
    """SHA-256 of a JSON-able value, independent of its dicts' key order."""
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()
