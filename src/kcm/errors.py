"""The errors a user sees: one line each, and the exit code it maps to."""

from __future__ import annotations


class KcmError(Exception):
    """A failure kcm explains in one line; `cli` prints it and exits with `exit_code`."""

    exit_code = 1


class InputError(KcmError):
    """Bad input: a kubeconfig that does not parse, a flag value that cannot be right."""

    exit_code = 2


class AwsError(KcmError):
    """AWS refused or could not be reached; the message names the call and what to do."""

    exit_code = 3


class LockError(KcmError):
    """Another writer holds the kubeconfig lock for longer than we wait."""

    exit_code = 4


class WriteError(KcmError, OSError):
    """A file could not be written (a full disk, a read-only folder); the old file is untouched."""


def printable(text: str) -> str:
    """`text` safe for a terminal: control characters (an escape sequence in a context name, a line
    break in a message) shown as escapes, so a line stays one line and cannot drive the terminal."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)
