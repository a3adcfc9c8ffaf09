"""Config fields that carry their --help text, choices (Literal types) and limits; their checks and --flags."""
from __future__ import annotations

import argparse
import json
import math
import sys
import typing
from dataclasses import MISSING, field, fields
from typing import Literal

from .errors import WordmoreError

INTERNAL = {"cli": False}  # a field the CLI does not offer: the code fills it in
SEED_MAX = 2**63 - 1  # torch's generators take no more


class Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one JSON line on stderr (exit 2) when --json is among the arguments."""

    json_errors = False  # set by the top parser's parse_args, read by whichever subparser fails

    def parse_args(self, args=None, namespace=None):
        Parser.json_errors = "--json" in (sys.argv[1:] if args is None else args)
        return super().parse_args(args, namespace)

    def error(self, message):
        if not Parser.json_errors:
            super().error(message)
        print(json.dumps({"error": f"{self.prog}: {message}"}, ensure_ascii=False), file=sys.stderr)
        sys.exit(2)


def opt(default, help: str, **limits):
    """A dataclass field with its --help text, limits (min, max, gt, lt) and heads (the output layers that read it)."""
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
        if isinstance(v, float) and not math.isfinite(v):  # inf would overflow a plan or blow up the weights
            return f"must be a finite number, got {v}"
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


def field_type(kind, meta: dict):
    """argparse type for an int or float, checked against a field's limits (min, max, gt, lt)."""
    def conv(s):
        try:
            v = kind(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{s!r} is not {'an integer' if kind is int else 'a number'}") from None
        why = limit_error(v, meta)
        if why:
            raise argparse.ArgumentTypeError(why)
        return v
    return conv


def add_config_flags(p: argparse.ArgumentParser, sections: dict, presets: dict, skip: tuple = ()) -> None:
    """One --flag per field of each config dataclass, with its help, choices and limits; defaults per preset."""
    for section, kls in sections.items():
        g = p.add_argument_group(section)
        for f in fields(kls):
            if f.metadata.get("cli") is False or f"{section}.{f.name}" in skip:
                continue
            default = field_default(f)
            per = {name: pr.get(section, {}).get(f.name, default) for name, pr in presets.items()}
            dflt = (f"default {next(iter(per.values()))!r}" if len(set(map(repr, per.values()))) == 1 else
                    "default: " + ", ".join(f"{name} {v!r}" for name, v in per.items()))
            limit = f", at most {f.metadata['max']:,}" if "max" in f.metadata else ""
            kw = {"dest": f"{section}.{f.name}", "default": argparse.SUPPRESS,
                  "help": f"{f.metadata.get('help', '')} ({dflt}{limit})".strip()}
            flag, choices = "--" + f.name.replace("_", "-"), field_choices(kls, f.name)
            if isinstance(default, bool):
                g.add_argument(flag, action=argparse.BooleanOptionalAction, **kw)
            elif choices:
                g.add_argument(flag, choices=choices, **kw)
            elif isinstance(default, list):
                g.add_argument(flag, type=field_type(int, f.metadata), nargs="+", metavar="N", **kw)
            elif isinstance(default, (int, float)):
                g.add_argument(flag, type=field_type(type(default), f.metadata),
                               metavar="N" if isinstance(default, int) else "X", **kw)
            else:
                g.add_argument(flag, metavar=f.name.upper(), **kw)
