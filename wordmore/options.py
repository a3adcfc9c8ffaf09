"""Config fields that carry their --help text, choices (Literal types) and limits, read by the CLI and validate()."""
from __future__ import annotations

import typing
from dataclasses import MISSING, field, fields
from typing import Literal

from .errors import WordmoreError

INTERNAL = {"cli": False}  # a field the CLI does not offer: the code fills it in


def opt(default, help: str, **limits):
    """A dataclass field with its --help text and limits (min, max, gt, lt)."""
    meta = {"help": help, **limits}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


def field_choices(kls, name: str) -> tuple | None:
    """The allowed values of a Literal-typed field, else None."""
    hint = typing.get_type_hints(kls).get(name)
    return typing.get_args(hint) if typing.get_origin(hint) is Literal else None


def field_default(f):
    """A dataclass field's default value."""
    return f.default if f.default is not MISSING else f.default_factory()


def limit_error(value, meta: dict) -> str | None:
    """Why value breaks a field's limits (min, max, gt, lt), or None."""
    for v in value if isinstance(value, list) else [value]:
        if isinstance(v, float) and v != v:
            return "must be a number, got nan"
        if "min" in meta and v < meta["min"]:
            return f"must be at least {meta['min']}, got {v}"
        if "gt" in meta and v <= meta["gt"]:
            return f"must be > {meta['gt']}, got {v}"
        if "lt" in meta and v >= meta["lt"]:
            return f"must be < {meta['lt']}, got {v}"
        if "max" in meta and v > meta["max"]:
            return f"must be at most {meta['max']:,}, got {v}"
    return None


def check_fields(obj) -> None:
    """Each field of a config dataclass within its choices and limits; raises WordmoreError."""
    for f in fields(obj):
        value, flag = getattr(obj, f.name), "--" + f.name.replace("_", "-")
        choices = field_choices(type(obj), f.name)
        if choices and value not in choices:
            raise WordmoreError(f"{flag} must be one of {', '.join(map(str, choices))}, not {value!r}")
        why = limit_error(value, f.metadata)
        if why:
            raise WordmoreError(f"{flag} {why}")
