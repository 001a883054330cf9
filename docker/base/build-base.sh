#!/usr/bin/env bash
# An offline-capable base image for when no registry is reachable: a minimal Debian bookworm root
# filesystem (debootstrap, from Debian's own package mirror) with Python 3.11 and venv, imported as an
# image. Elsewhere, the Dockerfiles' default BASE_IMAGE (python:3.11-slim) plays the same part.
# Idempotent: an existing image of that tag is kept (`make clean-images` removes it).
set -euo pipefail
TAG=${1:-bankpipe-base:bookworm-py3.11}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

if docker image inspect "$TAG" >/dev/null 2>&1; then
    echo "base image $TAG already built"; exit 0
fi
command -v debootstrap >/dev/null || { echo "debootstrap is missing: apt-get install debootstrap" >&2; exit 1; }
root=$(mktemp -d /tmp/bankpipe-base.XXXXXX)
trap 'rm -rf "$root"' EXIT
echo "debootstrap bookworm into $root (a few minutes)"
# passwd gives useradd; libgomp1 is what TensorFlow's and numpy's wheels expect beside libstdc++.
debootstrap --variant=minbase --include=python3,python3-venv,passwd,libgomp1 bookworm "$root" "$MIRROR" \
    >/tmp/bankpipe-debootstrap.log 2>&1 || { tail -20 /tmp/bankpipe-debootstrap.log >&2; exit 1; }
# Package lists and caches are only needed to install more packages, which the images never do.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/var/cache/debconf/*-old \
       "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/*
tar --numeric-owner -C "$root" -c . | docker import \
    --change 'ENV LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["python3"]' - "$TAG"
docker run --rm --network none "$TAG" python3 -c 'import sys, venv; assert sys.version_info[:2] == (3, 11), sys.version'
echo "base image $TAG built"
