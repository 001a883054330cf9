"""How a config value is declared (a default with its help) and checked: a bad value fails at construction
with a message naming the key and the allowed range."""
from __future__ import annotations

import dataclasses
from typing import Any

from components.core.errors import UsageError

MAX_SEED = 2**32 - 1  # NumPy's and TensorFlow's seeds are unsigned 32-bit


def field(default: Any, help: str) -> Any:
    return dataclasses.field(default=default, metadata={"help": help})


def check_seed(seed: int) -> None:
    check(0 <= seed <= MAX_SEED, "seed", seed, f"an integer in [0, {MAX_SEED}] (an unsigned 32-bit seed)")


def check(ok: bool, key: str, value: Any, expected: str) -> None:
    if not ok:
        raise UsageError(f"config value {key}={value!r} is out of range: expected {expected}.")
