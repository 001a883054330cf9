"""What identifies this build, in one place: the project version, image names, the code digest, labels.

Runners, docker/build.py and the Kubernetes templates' renderer all ask here, so an image name or a
label key is never spelled twice.
"""
from __future__ import annotations

import importlib.metadata
import tomllib
from pathlib import Path

from components.core import digests

ROOT = Path(__file__).resolve().parents[2]
CODE_LABEL = "org.bankpipe.code-digest"    # image label: the digest of the components/ it was built from
LABEL_RUN = "bankpipe.io/run"              # on containers, Jobs, pods: the run (Kubernetes-safe key)
LABEL_STEP = "bankpipe.io/step"            # ... and the step
ANNOTATION_RUN_ID = "bankpipe.io/run-id"   # the run id as given (labels must be DNS-safe)
IMAGE_KINDS = ("data", "trainer", "trainer-gpu")  # docker/<kind>.Dockerfile -> bankpipe-<kind>


def version() -> str:
    """pyproject.toml's version in a checkout, else the installed package's."""
    try:
        return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        try:
            return importlib.metadata.version("bankpipe")
        except importlib.metadata.PackageNotFoundError:
            return "0.0.0+unknown"


def commit(root: Path = ROOT) -> str | None:
    """The checkout's git commit, when there is one (an installed package or an image has none)."""
    head = root / ".git" / "HEAD"
    try:
        ref = head.read_text().strip()
        if not ref.startswith("ref: "):
            return ref
        packed = root / ".git" / "packed-refs"
        loose = root / ".git" / ref[5:]
        if loose.is_file():
            return loose.read_text().strip()
        for line in packed.read_text().splitlines() if packed.is_file() else ():
            if line.endswith(" " + ref[5:]):
                return line.split()[0]
    except OSError:
        pass
    return None


def image_kind(kind: str, gpu: bool = False) -> str:
    """A spec's image kind, or its GPU variant (only the trainer has one)."""
    return f"{kind}-gpu" if gpu and f"{kind}-gpu" in IMAGE_KINDS else kind


def image_name(kind: str) -> str:
    return f"bankpipe-{kind}"


def image_ref(kind: str, tag: str, registry: str = "") -> str:
    name = f"{image_name(kind)}:{tag}"
    return f"{registry.rstrip('/')}/{name}" if registry else name


def code_digest(root: Path = ROOT) -> str:
    """A digest of components/ as the images' last layer copies it (docker/build.py labels images with it)."""
    return digests.value_digest(digests.tree_digests(root / "components"))[:16]
