"""Overrides applied once, at the edge: dicts, dotted `--set` keys and CLI flags into frozen config dataclasses.

Values arrive as strings (flags, `--set key=value`) or JSON values; each is coerced to its field's type or
refused with a UsageError naming the key, and unknown keys get the closest known one suggested.
"""
from __future__ import annotations

import argparse
import dataclasses
import difflib
import typing
from typing import Any

from components.core import console
from components.core.errors import UsageError


def is_group(field: dataclasses.Field) -> bool:
    """An option group (TrainConfig's fit, mlp, ...): its keys belong to the section that holds it."""
    return bool(field.metadata.get("group"))


def leaves(cls: type) -> list[tuple[dataclasses.Field, type]]:
    """(field, type) of every key of `cls` as users name it: an option group's keys in place of the group."""
    hints = typing.get_type_hints(cls)
    found = []
    for field in dataclasses.fields(cls):
        found += leaves(hints[field.name]) if is_group(field) else [(field, hints[field.name])]
    return found


def to_dict(config: Any) -> dict[str, Any]:
    """Sections as nested dicts, option groups flattened into their section: the keys `--set` takes."""
    values = {}
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if is_group(field):
            values.update(to_dict(value))
        else:
            values[field.name] = to_dict(value) if dataclasses.is_dataclass(value) else value
    return values


def from_dict(cls: type, values: dict[str, Any], where: str = "") -> Any:
    """Build `cls` from a (possibly nested) dict of flat keys; unknown keys and wrong types raise UsageError."""
    known = {field.name: (field, kind) for field, kind in leaves(cls)}
    kwargs = {}
    for key, value in values.items():
        name = f"{where}{key}"
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" Did you mean {where}{close[0]}?" if close else f" Known keys: {', '.join(known)}."
            raise UsageError(f"unknown config key {name!r}.{hint}")
        kind = known[key][1]
        if dataclasses.is_dataclass(kind):
            if not isinstance(value, dict):
                raise UsageError(f"config key {name!r} must be a mapping, got {value!r}.")
            kwargs[key] = from_dict(kind, value, where=f"{name}.")
        else:
            kwargs[key] = _coerce(name, kind, value)
    return _build(cls, kwargs)


def _build(cls: type, flat: dict[str, Any]) -> Any:
    """`cls` from flat keyword values, each option group built from its own keys."""
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for field in dataclasses.fields(cls):
        if is_group(field):
            own = {f.name for f, _ in leaves(hints[field.name])}
            kwargs[field.name] = _build(hints[field.name], {k: v for k, v in flat.items() if k in own})
        elif field.name in flat:
            kwargs[field.name] = flat[field.name]
    return cls(**kwargs)


def with_overrides(config: Any, overrides: dict[str, Any]) -> Any:
    """Apply dotted overrides such as {"train.epochs": 5} to a (nested) config."""
    nested = to_dict(config)
    for dotted, value in overrides.items():
        node = nested
        *parents, leaf = dotted.split(".")
        for part in parents:
            if not isinstance(node.get(part), dict):
                raise UsageError(f"unknown config key {dotted!r}: {part!r} is not a config section.")
            node = node[part]
        node[leaf] = value
    return from_dict(type(config), nested)


def _coerce(name: str, kind: type, value: Any) -> Any:
    """Accept strings from flags or `--set key=value`; reject values of the wrong type."""
    try:
        if kind is bool:
            if isinstance(value, str):
                lowered = value.strip().lower()
                if lowered not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(value)
                return lowered in ("true", "1", "yes")
            if not isinstance(value, bool):
                raise ValueError(value)
            return value
        if kind is int and isinstance(value, float) and not value.is_integer():
            raise ValueError(value)
        if kind in (int, float) and isinstance(value, bool):
            raise ValueError(value)
        return kind(value)
    except (TypeError, ValueError):
        raise UsageError(f"config value {name}={value!r} is not a valid {kind.__name__}.") from None


def add_flags(parser: argparse.ArgumentParser, cls: type) -> None:
    """One `--some-key` flag per field of `cls`, with its default and help text."""
    group = parser.add_argument_group(f"{cls.__name__} (defaults in code)")
    for field, kind in leaves(cls):
        flag = console.flag(field.name)
        help_text = f"{field.metadata.get('help', '')} (default: {field.default})"
        meta = "BOOL" if kind is bool else kind.__name__.upper()
        group.add_argument(flag, dest=field.name, default=None, metavar=meta, help=help_text)


def from_flags(cls: type, args: argparse.Namespace) -> Any:
    values = {f.name: getattr(args, f.name) for f, _ in leaves(cls) if getattr(args, f.name, None) is not None}
    return from_dict(cls, values)
