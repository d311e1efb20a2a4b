"""Defaults for kcm's options from a TOML file: `$KCM_CONFIG`, else `config.toml` in the platformdirs
user config folder (`~/.config/kcm/config.toml` on Linux). Flags override what it says."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from kcm import options
from kcm.errors import InputError

_TYPES = {"list": list, "flag": bool, "value": str, "int": int}
# The settings of each table, with their type (`list` holds strings): the options kcm.options marks.
KNOWN: dict[str, dict[str, type]] = {
    table: {opt.key: _TYPES[opt.kind] for opt in options.COMMANDS[table].options if opt.setting}
    for table in ("sync",)
}
_TYPE_NAMES = {list: "a list of strings", bool: "true or false", str: "a string", int: "a whole number"}


def path() -> Path:
    explicit = os.environ.get("KCM_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir("kcm")) / "config.toml"


def load(table: str) -> dict[str, Any]:
    """The settings of `[table]`, checked; empty when there is no file."""
    source = path()
    try:
        document = tomllib.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{source}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{source}: invalid TOML: {exc}") from None
    unknown_tables = sorted(set(document) - set(KNOWN))
    if unknown_tables:
        raise InputError(f"{source}: unknown table [{unknown_tables[0]}] (known: {', '.join(KNOWN)})")
    settings = document.get(table, {})
    known = KNOWN[table]
    for key, value in settings.items():
        if key not in known:
            raise InputError(f"{source}: [{table}] unknown setting '{key}' (known: {', '.join(known)})")
        kind = known[key]
        if kind is list and isinstance(value, str):
            settings[key] = value = [value]
        valid = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if kind is list and valid:
            valid = all(isinstance(item, str) for item in value)
        if not valid:
            raise InputError(f"{source}: [{table}] '{key}' must be {_TYPE_NAMES[kind]}")
    return dict(settings)
