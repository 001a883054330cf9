"""Build the component images offline: `make images` runs this after it has made the base image and
filled the wheel cache.

    python docker/build.py                      # data, trainer and trainer-gpu on the local base image
    python docker/build.py trainer --base-image python:3.11-slim

Each image is tagged <name>:<version> (the project version in pyproject.toml) and <name>:sha256-<12 hex>,
its content digest. The host's wheel cache is served over HTTP on 127.0.0.1 for the length of the build
and the build runs with the host network, so the Dockerfiles install pinned wheels without a registry.
The Docker SDK's (classic) builder is used: the engine here has no BuildKit plugin, and it works the same
on any engine.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import logging
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: components/ is beside docker/
from components.core import release  # noqa: E402

LOCAL_BASE = "bankpipe-base:bookworm-py3.11"
# A fixed port: the URL is a build argument, and a different value would invalidate the cached layers.
WHEELS_PORT = 18765
log = logging.getLogger("images")



class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # one line per wheel would bury the build output
        pass


@contextlib.contextmanager
def wheel_server(directory: Path, port: int):
    """Serve `directory` (pip's --find-links reads the listing) while the images build."""
    if not any(directory.glob("*.whl")):
        raise SystemExit(f"no wheels in {directory}: run `make wheels` (or `make images`) first")
    try:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port),
                                                 functools.partial(_QuietHandler, directory=str(directory)))
    except OSError as exc:
        raise SystemExit(f"cannot serve the wheel cache on 127.0.0.1:{port} ({exc}): is another build "
                         f"running? Pass --wheels-port to use another port.") from None
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.shutdown()
        server.server_close()


def build_one(client, name: str, version: str, buildargs: dict[str, str]):
    """Build docker/<name>.Dockerfile, stream its output, tag it; return the image."""
    repo = release.image_name(name)
    started = time.monotonic()
    log.info("building %s:%s (BASE_IMAGE=%s)", repo, version, buildargs["BASE_IMAGE"])
    stream = client.api.build(path=str(ROOT), dockerfile=f"docker/{name}.Dockerfile", tag=f"{repo}:{version}",
                              buildargs=buildargs, network_mode="host", rm=True, forcerm=True, pull=False,
                              decode=True)
    for chunk in stream:
        if "error" in chunk:
            raise SystemExit(f"building {repo} failed: {chunk['error'].strip()}")
        for line in chunk.get("stream", "").splitlines():
            if line.strip():
                log.info("%s | %s", name, line.rstrip())
    image = client.images.get(f"{repo}:{version}")
    digest_tag = "sha256-" + image.id.split(":", 1)[1][:12]
    image.tag(repo, digest_tag)
    log.info("built %s:%s = %s:%s, %.2f GB, in %.0f s", repo, version, repo, digest_tag,
             image.attrs["Size"] / 1e9, time.monotonic() - started)
    remove_superseded(client, repo, image.id)
    return image


def remove_superseded(client, repo: str, current: str) -> None:
    """Earlier builds of this image that only their digest tag still names: each code or lock change leaves one
    (GBs for the trainers), and a machine that builds often would fill its disk."""
    import docker

    for old in client.images.list(name=repo):
        if old.id != current and all(tag.split(":", 1)[1].startswith("sha256-") for tag in old.tags):
            try:
                client.images.remove(old.id, force=False)
                log.info("removed the superseded %s", ", ".join(old.tags))
            except docker.errors.APIError as exc:  # still used by a container: kept
                log.info("kept %s: %s", ", ".join(old.tags), exc.explanation)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("names", nargs="*", metavar="NAME",
                   help=f"images to build: {', '.join(release.IMAGE_KINDS)} (default: all)")
    p.add_argument("--base-image", default=LOCAL_BASE, help=f"BASE_IMAGE of every image (default: {LOCAL_BASE})")
    p.add_argument("--gpu-base-image", help="BASE_IMAGE of trainer-gpu, e.g. a CUDA image (default: --base-image)")
    p.add_argument("--wheels", type=Path, default=ROOT / ".cache" / "wheels", help="the wheel cache")
    p.add_argument("--wheels-port", type=int, default=WHEELS_PORT)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")

    unknown = sorted(set(args.names) - set(release.IMAGE_KINDS))
    if unknown:
        p.error(f"unknown image(s) {', '.join(unknown)}: choose from {', '.join(release.IMAGE_KINDS)}")
    import docker  # the SDK is in the project's lock; imported here so --help works without it

    client = docker.from_env(timeout=1800)
    version = release.version()
    names = args.names or list(release.IMAGE_KINDS)

    with wheel_server(args.wheels, args.wheels_port) as wheels_url:
        for name in names:
            base = args.gpu_base_image if name == "trainer-gpu" and args.gpu_base_image else args.base_image
            build_one(client, name, version, {"BASE_IMAGE": base, "WHEELS_URL": wheels_url,
                                              "CODE_DIGEST": release.code_digest()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
