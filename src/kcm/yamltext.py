"""Render kubeconfig values as YAML text that kubectl (YAML 1.1) and YAML 1.2 readers agree on.

Pure string work: no parser. `kubeconfig.py` splices what this renders into a file's own text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


class _Lazy:
    """A regular expression compiled when first used: compiling them all costs an everyday command
    (`kcm list` reads, and never needs the writer's) a few milliseconds."""

    def __init__(self, source: str, flags: int = 0) -> None:
        self.source, self.flags = source, flags

    def __getattr__(self, name: str) -> Any:
        compiled = re.compile(self.source, self.flags)
        for method in ("match", "fullmatch", "search"):
            setattr(self, method, getattr(compiled, method))
        return getattr(compiled, name)


# Plain scalars that YAML 1.1 resolves to something other than a string.
_YAML11_NULL = _Lazy(r"^(?:~|null|Null|NULL|)$")
_YAML11_BOOL = _Lazy(
    r"^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$"
)
_YAML11_INT = _Lazy(
    r"""^(?:[-+]?0b[0-1_]+
    |[-+]?0[0-7_]+
    |[-+]?(?:0|[1-9][0-9_]*)
    |[-+]?0x[0-9a-fA-F_]+
    |[-+]?0o[0-7_]+
    |[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$""",
    re.X,
)
_YAML11_FLOAT = _Lazy(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+][0-9]+)?
    |[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)
# Neither kubectl nor we read these as strings with confidence: always quote them.
_AMBIGUOUS = _Lazy(r"^(?:<<|=|\d{4}-\d\d?-\d\d?(?:[Tt\s].*)?)$")
_PLAIN_FIRST = _Lazy(r"[A-Za-z0-9_./$^(+]|-[^\s]", re.UNICODE)
_BLOCK_UNSAFE = set("#'\"`\\")
_FLOW_UNSAFE = _BLOCK_UNSAFE | set(",[]{}:?")  # go-yaml refuses a ? inside a flow scalar


_GO_WORDS: dict[str, Any] = {
    **dict.fromkeys(("", "~", "null", "Null", "NULL"), None),
    **dict.fromkeys(["y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "true", "True", "TRUE"], True),
    **dict.fromkeys(["n", "N", "no", "No", "NO", "off", "Off", "OFF", "false", "False", "FALSE"], False),
    **dict.fromkeys((".nan", ".NaN", ".NAN"), math.nan),
    **dict.fromkeys((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), math.inf),
    **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), -math.inf),
}
# Go's ParseInt with base 0 (after go-yaml strips every `_`): sign, then a base prefix or a leading 0.
_GO_INT = _Lazy(r"([-+]?)(?:0[xX]([0-9a-fA-F]+)|0[oO]([0-7]+)|0[bB]([01]+)|0([0-7]+)|([0-9]+))")
_GO_FLOAT = _Lazy(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_LONE_UNDERSCORE = _Lazy(r"(?<![0-9])_|_(?![0-9])")
_INT64 = range(-(2**63), 2**64)  # int64, and uint64 above it


def resolve_plain(text: str) -> Any:
    """The value go-yaml v2 (kubectl's YAML reader) gives an unquoted scalar: YAML 1.1's words for
    null and booleans, Go's integer syntax, floats; everything else (`1:20`, dates, numbers too big
    for a float64) stays a string."""
    if text in _GO_WORDS:
        return _GO_WORDS[text]
    if text[0] not in "+-.0123456789":
        return text
    plain = text.replace("_", "")
    if text[0] == ".":  # go-yaml hands these to ParseFloat as written, where `_` must stand between digits
        if _GO_FLOAT.fullmatch(plain) and not _LONE_UNDERSCORE.search(text):
            return float(plain)
        return text
    found = _GO_INT.fullmatch(plain)
    if found and len(plain) <= 80:  # 64 binary digits at most; longer never fits
        sign, hexa, octal, binary, old_octal, decimal = found.groups()
        value = int(
            hexa or octal or binary or old_octal or decimal,
            16 if hexa else 8 if octal else 2 if binary else 8 if old_octal else 10,
        )
        value = -value if sign == "-" else value
        if value in _INT64 and not (value >= 2**63 and sign):  # ParseUint takes no sign
            return value
    if _GO_FLOAT.fullmatch(plain):
        number = float(plain)
        if not math.isinf(number):  # out of a float64's range: Go's ParseFloat fails, a string stays
            return number
    return text


def _yaml11_plain(text: str) -> bool:
    """Whether YAML 1.1 itself (PyYAML, other readers) reads an unquoted `text` as other than a string."""
    return bool(
        _YAML11_NULL.match(text)
        or _YAML11_BOOL.match(text)
        or _YAML11_INT.match(text)
        or _YAML11_FLOAT.match(text)
    )


def _plain_ok(text: str, flow: bool) -> bool:
    if not text or not _PLAIN_FIRST.match(text) or not text.isprintable():
        return False
    unsafe = _FLOW_UNSAFE if flow else _BLOCK_UNSAFE
    if any(ch.isspace() or ch in unsafe for ch in text) or text.endswith(":"):
        return False
    return resolve_plain(text) == text and not _yaml11_plain(text) and not _AMBIGUOUS.match(text)


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
