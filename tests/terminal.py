"""kcm run on a pseudo-terminal, as a person runs it: keys in, the screen out, the terminal's mode read.

The terminal is the process's controlling one (stdin, stderr and /dev/tty); stdout is a second
pseudo-terminal of its own, so a test sees that the picker never draws on stdout.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import subprocess
import termios
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.conftest import VENV_BIN

_CSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\x1b[=>]")


def _controlling() -> None:  # in the child, after setsid: stdin's terminal becomes the controlling one
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    def __init__(self, *args: str, env: dict[str, str], rows: int = 24, columns: int = 80) -> None:
        self.master, self.slave = os.openpty()
        self.out_master, self.out_slave = os.openpty()
        for fd in (self.slave, self.out_slave):
            fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        self.mode_before = termios.tcgetattr(self.slave)
        self.screen_bytes = bytearray()
        self.stdout_bytes = bytearray()
        self.process = subprocess.Popen(
            [str(VENV_BIN / "kcm"), *args],
            stdin=self.slave,
            stdout=self.out_slave,
            stderr=self.slave,
            env=env,
            start_new_session=True,
            preexec_fn=_controlling,
        )

    def __enter__(self) -> Terminal:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for fd in (self.master, self.slave, self.out_master, self.out_slave):
            os.close(fd)

    def _pump(self, timeout: float) -> None:
        ready, _, _ = select.select([self.master, self.out_master], [], [], timeout)
        for fd in ready:
            try:
                data = os.read(fd, 65536)
            except OSError:  # the other end is closed: kcm has ended
                time.sleep(0.05)
                continue
            (self.screen_bytes if fd == self.master else self.stdout_bytes).extend(data)

    def wait_for(self, check: Callable[[list[str]], Any], timeout: float = 20) -> list[str]:
        """The screen once `check(screen)` holds (the last frame drawn, as lines of text)."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if check(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"the screen never got there: {screen!r}\nall: {bytes(self.screen_bytes)!r}"
                )
            self._pump(0.05)

    def screen(self) -> list[str]:
        """The last frame: what follows the picker's last cursor-home, without its escape sequences."""
        text = self.screen_bytes.decode("utf-8", "replace")
        frame = text.rsplit("\x1b[H", 1)[-1] if "\x1b[H" in text else ""
        frame = frame.split("\x1b[?1049l", 1)[0]  # up to the screen's leaving
        return [line.rstrip() for line in _CSI.sub("", frame).split("\r\n")]

    def press(self, keys: str | bytes) -> None:
        os.write(self.master, keys.encode() if isinstance(keys, str) else keys)

    def finish(self, timeout: float = 20) -> int:
        """The exit status, once the process ended (all its output read)."""
        deadline = time.monotonic() + timeout
        while self.process.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"kcm is still running: {bytes(self.screen_bytes)!r}")
            self._pump(0.05)
        self._pump(0.1)
        return self.process.returncode

    def mode(self) -> list[Any]:
        return termios.tcgetattr(self.slave)

    @property
    def stdout(self) -> str:
        return self.stdout_bytes.decode("utf-8", "replace").replace("\r\n", "\n")


def raw(mode: list[Any]) -> bool:
    """The picker's mode: no echo, no line editing, no signals from keys."""
    return not mode[3] & (termios.ECHO | termios.ICANON | termios.ISIG)


def write_config(path: Path, names: list[str], current: str = "") -> None:
    contexts = "".join(f"- name: {name}\n  context: {{cluster: c, user: u}}\n" for name in names)
    tail = f"current-context: {current}\n" if current else ""
    path.write_text(f"apiVersion: v1\nkind: Config\ncontexts:\n{contexts}{tail}")
