"""The Kubernetes runner: each component as a Job on a cluster (work in progress: issue 4)."""
from __future__ import annotations

import argparse

from components.errors import UsageError


def add_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument_group("kubernetes runner (not available yet)")


def executor(args: argparse.Namespace, run):
    raise UsageError("--runner=kubernetes is not available yet; use --runner=local.")
