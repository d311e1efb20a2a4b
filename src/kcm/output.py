"""The one printer: results to stdout, messages and warnings to stderr."""

from __future__ import annotations

import sys
from typing import Any

from kcm import yamltext


def out(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")


def warn(message: str) -> None:
    print(f"kcm: warning: {message}", file=sys.stderr)


def error(message: str) -> None:
    print(f"kcm: {message}", file=sys.stderr)


def entry_yaml(entry: dict[str, Any]) -> str:
    return "\n".join(yamltext.block(entry, 0, yamltext.Style())) + "\n"
