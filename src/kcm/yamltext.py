"""Render kubeconfig values as YAML text that kubectl (YAML 1.1) and YAML 1.2 readers agree on.

Pure string work: no parser. `kubeconfig.py` splices what this renders into a file's own text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# Plain scalars that YAML 1.1 (kubectl) resolves to something other than a string.
_YAML11_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_YAML11_BOOL = re.compile(
    r"^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$"
)
_YAML11_INT = re.compile(
    r"""^(?:[-+]?0b[0-1_]+
    |[-+]?0[0-7_]+
    |[-+]?(?:0|[1-9][0-9_]*)
    |[-+]?0x[0-9a-fA-F_]+
    |[-+]?0o[0-7_]+
    |[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$""",
    re.X,
)
_YAML11_FLOAT = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+][0-9]+)?
    |[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)
# Neither kubectl nor we read these as strings with confidence: always quote them.
_AMBIGUOUS = re.compile(r"^(?:<<|=|\d{4}-\d\d?-\d\d?(?:[Tt\s].*)?)$")
_PLAIN_FIRST = re.compile(r"[A-Za-z0-9_./$^(+]|-[^\s]", re.UNICODE)
_BLOCK_UNSAFE = set("#'\"`\\")
_FLOW_UNSAFE = _BLOCK_UNSAFE | set(",[]{}:")


def resolve_plain(text: str) -> Any:
    """The value YAML 1.1 gives an unquoted scalar, as kubectl reads it."""
    if _YAML11_NULL.match(text):
        return None
    if _YAML11_BOOL.match(text):
        return text.lower() in ("y", "yes", "true", "on")
    if _YAML11_INT.match(text):
        return _to_int(text)
    if _YAML11_FLOAT.match(text):
        return _to_float(text)
    return text


def _to_int(text: str) -> int:
    digits = text.replace("_", "")
    sign = -1 if digits.startswith("-") else 1
    digits = digits.lstrip("+-")
    if ":" in digits:
        total = 0
        for part in digits.split(":"):
            total = total * 60 + int(part)
        return sign * total
    for prefix, base in (("0b", 2), ("0x", 16), ("0o", 8)):
        if digits.startswith(prefix):
            return sign * int(digits[2:], base)
    if len(digits) > 1 and digits.startswith("0"):
        return sign * int(digits, 8)
    return sign * int(digits)


def _to_float(text: str) -> float:
    digits = text.replace("_", "").lower()
    if digits.endswith("nan"):
        return float("nan")
    if digits.endswith("inf"):
        return float("-inf") if digits.startswith("-") else float("inf")
    if ":" in digits:
        sign = -1.0 if digits.startswith("-") else 1.0
        total = 0.0
        for part in digits.lstrip("+-").split(":"):
            total = total * 60 + float(part)
        return sign * total
    return float(digits)


def _plain_ok(text: str, flow: bool) -> bool:
    if not text or not _PLAIN_FIRST.match(text) or not text.isprintable():
        return False
    unsafe = _FLOW_UNSAFE if flow else _BLOCK_UNSAFE
    if any(ch.isspace() or ch in unsafe for ch in text) or text.endswith(":"):
        return False
    return resolve_plain(text) == text and not _AMBIGUOUS.match(text)


def scalar(value: Any, flow: bool = False) -> str:
    """One scalar as YAML text; strings are quoted whenever YAML 1.1 could misread them."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if not isinstance(value, str):
        raise TypeError(f"not a scalar: {value!r}")
    if _plain_ok(value, flow):
        return value
    if value.isprintable():
        return "'" + value.replace("'", "''") + "'"
    return '"' + "".join(_escape(ch) for ch in value) + '"'


def _escape(ch: str) -> str:
    """One character inside a double-quoted scalar; anything not printable as an escape."""
    if ch in '"\\':
        return "\\" + ch
    if ch.isprintable() and not 0xD800 <= ord(ch) <= 0xDFFF:
        return ch
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


@dataclass(frozen=True)
class Style:
    """How a file lays out block collections, so new text looks like the text around it."""

    indent: int = 2  # a nested mapping's indent under its key
    seq_indent: int = 0  # where "- " stands under its key: 0 (kubectl, aws) or indented
    newline: str = "\n"


def flow(value: Any) -> str:
    """A value in flow style, for collections written as `{...}` or `[...]`."""
    if isinstance(value, Mapping):
        items = ", ".join(f"{scalar(k, True)}: {flow(v)}" for k, v in value.items())
        return "{" + items + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(flow(v) for v in value) + "]"
    return scalar(value, True)


def _inline(value: Any) -> str:
    """A scalar, or an empty collection, on the line of its key in block context."""
    return flow(value) if isinstance(value, Mapping | list | tuple) else scalar(value)


def block(value: Mapping[str, Any], column: int, style: Style) -> list[str]:
    """A mapping in block style; the first line carries no indent (it follows `- ` or a key)."""
    lines: list[str] = []
    pad = " " * column
    for key, item in value.items():
        head = ("" if not lines else pad) + scalar(key) + ":"
        if isinstance(item, Mapping) and item:
            lines.append(head)
            inner = column + style.indent
            lines.extend(
                " " * inner + line if i == 0 else line for i, line in enumerate(block(item, inner, style))
            )
        elif isinstance(item, list | tuple) and item:
            lines.append(head)
            lines.extend(sequence(item, column + style.seq_indent, style))
        else:
            lines.append(f"{head} {_inline(item)}")
    return lines


def sequence(items: Sequence[Any], column: int, style: Style) -> list[str]:
    """Block sequence items, each `- ` at `column`."""
    lines: list[str] = []
    pad = " " * column
    for item in items:
        if isinstance(item, Mapping) and item:
            lines.append(pad + "- " + "\n".join(block(item, column + 2, style)))
        else:
            lines.append(f"{pad}- {_inline(item)}")
    return [line for chunk in lines for line in chunk.split("\n")]
