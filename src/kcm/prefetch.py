"""A big kubeconfig's data, parsed by a forked child while this process asks AWS.

`kcm sync` spends a tenth of a second parsing a 1,000-cluster file and longer asking AWS; both are
Python and hold one interpreter lock, so a thread would not overlap them. A child process does, on
another core. It reads the file without the lock (as kubectl reads), parses it and sends back the data
with a digest of the text it parsed. Under the lock, the data is used only if the file's text is that
same text, and only to plan: a sync that changes nothing needs no more. Anything that writes parses the
file again in this process, for the node positions an edit needs.

The child never writes a file, takes no lock and ends with `os._exit`; it dies with a broken pipe if
this process goes first. Without fork (not POSIX), for small files, or on any failure, there is no data
and the caller parses as before.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# Below this size a parse takes under 10 ms: not worth a process.
MIN_BYTES = 256 * 1024


def digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


class Prefetch:
    """The data of one kubeconfig file, parsed in a child; see the module's docstring."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._pid: int | None = None
        self._payload: bytes | None = None
        target = Path(os.path.realpath(path))
        try:
            if not hasattr(os, "fork") or target.stat().st_size < MIN_BYTES:
                return
        except OSError:
            return  # missing or unreadable: the edit says so
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: parse, send, end; never return into the caller's code
            try:
                os.close(read_end)
                _send(write_end, _parsed(target))
            finally:
                os._exit(0)
        os.close(write_end)
        self._fd, self._pid = read_end, pid

    def data(self, text: str | None) -> dict[str, Any] | None:
        """The data the child parsed, if it parsed exactly `text`; None otherwise."""
        payload = self._receive()
        if not payload or text is None:
            return None
        try:
            parsed_digest, data = marshal.loads(payload)  # noqa: S302 (our child's, by our own pipe)
        except (EOFError, ValueError, TypeError):
            return None
        if parsed_digest != digest(text) or not isinstance(data, dict):
            return None
        return data

    def _receive(self) -> bytes | None:
        if self._fd is not None:
            chunks = []
            with contextlib.suppress(OSError):
                while chunk := os.read(self._fd, 1 << 20):
                    chunks.append(chunk)
            self._payload = b"".join(chunks)
            os.close(self._fd)
            self._fd = None
            self.close()  # the child has sent all and is ending: reaped, not killed
        return self._payload

    def close(self) -> None:
        """Reap the child; one whose data was never asked for (the scan failed) is ended first."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            if self._pid is not None:
                with contextlib.suppress(OSError):
                    os.kill(self._pid, signal.SIGKILL)
        if self._pid is not None:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self._pid, 0)
            self._pid = None


@contextlib.contextmanager
def prefetch(path: Path) -> Iterator[Prefetch]:
    early = Prefetch(path)
    try:
        yield early
    finally:
        early.close()


def _parsed(target: Path) -> bytes:
    """In the child: the marshalled (digest, data) of the file, or nothing if it does not parse."""
    from kcm import kubeconfig, store

    try:
        text = store.read_text(target)
        if text is None:
            return b""
        data = kubeconfig.plain_data(text, str(target))
        return marshal.dumps((digest(text), data))
    except Exception:  # the parent parses again and reports it, with the lock held; marshal refuses
        return b""  # data nested past 2,000 levels, which kubectl reads: the parent parses it then


def _send(fd: int, payload: bytes) -> None:
    view = memoryview(payload)
    with contextlib.suppress(OSError):
        while view:
            view = view[os.write(fd, view) :]
