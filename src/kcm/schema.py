"""The kubeconfig v1 schema as kubectl decodes it (client-go's clientcmd/api/v1 through Go's JSON).

Field names are case-sensitive; unknown fields are ignored; `null` is every field's zero value (a
null entry in a list is an entry with no name). A value of the wrong type, a `*-data` field that is
not padded standard base64, and two entries with one name in a list are errors: the file does not
load at all. `check` makes those same refusals, as one line with the position of the value.
"""

from __future__ import annotations

import binascii
from collections.abc import Callable, Mapping
from typing import Any

from kcm.errors import InputError

Path = tuple[str | int, ...]
Where = Callable[[Path], tuple[str, str | None]]  # a path -> "file:line:column", and its text if plain

STRING, BOOL, BYTES, ANY = "string", "bool", "bytes", "any"
STRINGS = ("list", STRING)
EXTENSIONS = ("list", {"name": STRING, "extension": ANY})
CLUSTER: dict[str, Any] = {
    "server": STRING,
    "tls-server-name": STRING,
    "insecure-skip-tls-verify": BOOL,
    "certificate-authority": STRING,
    "certificate-authority-data": BYTES,
    "proxy-url": STRING,
    "disable-compression": BOOL,
    "extensions": EXTENSIONS,
}
EXEC: dict[str, Any] = {
    "command": STRING,
    "args": STRINGS,
    "env": ("list", {"name": STRING, "value": STRING}),
    "apiVersion": STRING,
    "installHint": STRING,
    "provideClusterInfo": BOOL,
    "interactiveMode": STRING,
}
USER: dict[str, Any] = {
    "client-certificate": STRING,
    "client-certificate-data": BYTES,
    "client-key": STRING,
    "client-key-data": BYTES,
    "token": STRING,
    "tokenFile": STRING,
    "as": STRING,
    "as-uid": STRING,
    "as-groups": STRINGS,
    "as-user-extra": ("map", STRINGS),
    "username": STRING,
    "password": STRING,
    "auth-provider": {"name": STRING, "config": ("map", STRING)},
    "exec": EXEC,
    "extensions": EXTENSIONS,
}
CONTEXT: dict[str, Any] = {"cluster": STRING, "user": STRING, "namespace": STRING, "extensions": EXTENSIONS}
BODIES = {"clusters": ("cluster", CLUSTER), "users": ("user", USER), "contexts": ("context", CONTEXT)}
CONFIG: dict[str, Any] = {
    "kind": STRING,
    "apiVersion": STRING,
    "preferences": {"colors": BOOL, "extensions": EXTENSIONS},
    **{section: ("list", {"name": STRING, body: shape}) for section, (body, shape) in BODIES.items()},
    "current-context": STRING,
    "extensions": EXTENSIONS,
}


def _found(value: Any, written: str | None) -> str:
    shown = f"`{written}`" if written is not None else repr(value)
    if isinstance(value, bool):
        return f"a boolean {shown}"
    if isinstance(value, int | float):
        return f"a number {shown}"
    if isinstance(value, str):
        return f"a string {value!r}"
    return "a list" if isinstance(value, list) else "a mapping"


def _named(path: Path) -> str:
    """`clusters[2].cluster.server`: where a value is, as kubectl's own errors name fields."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text or "the top level"


def _refuse(path: Path, where: Where, wanted: str, value: Any) -> InputError:
    place, written = where(path)
    hint = ": quote it" if wanted == "a string" and written is not None else ""
    return InputError(f"{place}: '{_named(path)}' must be {wanted}, found {_found(value, written)}{hint}")


def _check(value: Any, shape: Any, path: Path, where: Where) -> None:
    if value is None or shape == ANY:
        return
    wanted: str | None = None
    if shape in (STRING, BYTES):
        if not isinstance(value, str):
            raise _refuse(path, where, "a string", value)
        if shape == BYTES:
            try:
                binascii.a2b_base64(value.replace("\n", "").replace("\r", ""), strict_mode=True)
            except binascii.Error:
                place = where(path)[0]
                raise InputError(
                    f"{place}: '{_named(path)}' is not base64 (padded, standard alphabet)"
                ) from None
        return
    if shape == BOOL:
        if not isinstance(value, bool):
            raise _refuse(path, where, "true or false", value)
        return
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            wanted = "a mapping"
        else:
            for key, item in value.items():
                if key in shape:
                    _check(item, shape[key], (*path, key), where)
            return
    elif shape[0] == "list":
        if not isinstance(value, list):
            wanted = "a list"
        else:
            for index, item in enumerate(value):
                _check(item, shape[1], (*path, index), where)
            return
    elif not isinstance(value, dict):  # a map of strings (or lists of strings) by string keys
        wanted = "a mapping"
    else:
        for key, item in value.items():
            _check(item, shape[1], (*path, key), where)
        return
    raise _refuse(path, where, wanted, value)


def check(data: Mapping[str, Any], where: Where) -> None:
    """Refuse `data` (a document's top-level mapping) where kubectl would refuse to load it."""
    _check(dict(data), CONFIG, (), where)
    for key, wanted in (("apiVersion", "v1"), ("kind", "Config")):
        if data.get(key) not in (None, "", wanted):
            raise InputError(f"{where((key,))[0]}: '{key}' must be {wanted!r}, found {data[key]!r}")
    for section in BODIES:
        first: dict[str, int] = {}
        for index, entry in enumerate(data.get(section) or []):
            name = (entry or {}).get("name") or ""
            if name in first:
                also = where((section, first[name]))[0].rsplit(":", 2)[-2]
                place = where((section, index))[0]
                raise InputError(f"{place}: duplicate name {name!r} in '{section}' (also on line {also})")
            first[name] = index


def name_of(entry: Mapping[str, Any] | None) -> str:
    """An entry's name as kubectl reads it: "" when it has none."""
    name = (entry or {}).get("name")
    return name if isinstance(name, str) else ""
