"""Pick one name on a terminal, for `kcm use` and `kcm ns` without one: fzf when it is on PATH (as
kubectx; KCM_IGNORE_FZF=1 says no), else kcm's own list, filtered as you type.

kcm's list draws on the terminal itself (/dev/tty, else stderr), never on stdout, in the alternate
screen; the terminal's mode is put back however the list ends: a pick, Esc, an error, or a signal.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import select
import signal
import sys
import termios
import unicodedata
from collections.abc import Iterator, Sequence

from kcm.errors import KcmError, printable


class Cancelled(KcmError):
    """Esc or Ctrl-C: nothing was picked, nothing changed (130, as fzf and a shell's Ctrl-C say)."""

    exit_code = 130


def interactive() -> bool:
    """Someone at a terminal: stdin and stdout are one (`kcm use | grep x` wants the names)."""
    return sys.stdin.isatty() and sys.stdout.isatty()


def pick(names: Sequence[str], current: str, what: str) -> str:
    """The name picked from `names` (`current` marked and selected first); Cancelled if none was."""
    if not names:
        raise KcmError(f"no {what}s to pick from")
    labels = [printable(name) for name in names]  # a name cannot drive the terminal
    marked = names.index(current) if current in names else -1
    if not os.environ.get("KCM_IGNORE_FZF") and _which("fzf"):
        index = _fzf(labels, marked)
    else:
        index = _List(labels, marked, what).run()
    if index is None:
        raise Cancelled(f"no {what} picked; nothing changed")
    return names[index]


def _which(command: str) -> str | None:
    import shutil

    return shutil.which(command)


def _fzf(labels: list[str], current: int) -> int | None:
    """fzf as kubectx runs it (`fzf --ansi --no-preview`, the names on stdin, the current one in
    bold green); it draws on /dev/tty and prints the line picked."""
    import subprocess

    lines = [f"\x1b[1;32m{label}\x1b[0m" if index == current else label for index, label in enumerate(labels)]
    previous = signal.signal(signal.SIGINT, lambda *_: None)  # Ctrl-C is fzf's to answer (130)
    try:
        done = subprocess.run(
            ["fzf", "--ansi", "--no-preview"],
            input="".join(f"{line}\n" for line in lines).encode(),
            stdout=subprocess.PIPE,
            check=False,
        )
    except OSError as exc:
        raise KcmError(f"fzf: cannot run it: {exc.strerror}; KCM_IGNORE_FZF=1 uses kcm's own list") from None
    finally:
        signal.signal(signal.SIGINT, previous)
    chosen = done.stdout.decode("utf-8", "replace").split("\n")[0]
    if done.returncode in (1, 130) or (done.returncode == 0 and not chosen):  # no match, Esc, Ctrl-C
        return None
    if done.returncode != 0:
        raise KcmError(f"fzf failed (exit {done.returncode}); KCM_IGNORE_FZF=1 uses kcm's own list")
    if chosen not in labels:
        raise KcmError(f"fzf printed {chosen!r}, which is none of the names it was given")
    return labels.index(chosen)


_KEYS = {
    "\x1b[A": "up",
    "\x1bOA": "up",
    "\x10": "up",  # Ctrl-P
    "\x1b[B": "down",
    "\x1bOB": "down",
    "\x0e": "down",  # Ctrl-N
    "\x1b[5~": "page-up",
    "\x1b[6~": "page-down",
    "\r": "pick",
    "\n": "pick",
    "\x1b": "cancel",  # Esc
    "\x03": "cancel",  # Ctrl-C (raw mode: a key, not a signal)
    "\x07": "cancel",  # Ctrl-G
    "\x04": "cancel",  # Ctrl-D
    "\x7f": "erase",
    "\x08": "erase",
    "\x15": "clear",  # Ctrl-U
    "\x17": "erase-word",  # Ctrl-W
    "\x1a": "suspend",  # Ctrl-Z
    "\x0c": "redraw",  # Ctrl-L
}
_ENDING = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGQUIT)


def _width(text: str) -> int:
    return sum(
        0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        for ch in text
    )


def _clip(text: str, columns: int) -> str:
    """`text` cut to fit `columns` terminal cells (a line that wraps would break the frame)."""
    if _width(text) <= columns:
        return text
    kept, used = [], 0
    for ch in text:
        used += _width(ch)
        if used > columns - 1:
            break
        kept.append(ch)
    return "".join(kept) + "…"


class _List:
    """kcm's own picker: a query line, a count, and the window of matching names around the selection."""

    def __init__(self, labels: list[str], current: int, what: str) -> None:
        self.labels = labels
        self.lowered = [label.lower() for label in labels]
        self.current = current  # -1: none of them
        self.prompt = f"{what.capitalize()}> "
        self.query = ""
        self.matches = list(range(len(labels)))
        self.selected = max(current, 0)  # an index into labels
        self.top = 0  # the first match shown

    def run(self) -> int | None:
        with _Terminal() as terminal:
            self.terminal = terminal
            self._draw()
            while True:
                for key in terminal.pressed():
                    if key == "pick" and self.matches:
                        return self.selected
                    if key in ("cancel", "hangup"):
                        return None
                    self._press(key)
                self._draw()

    def _press(self, key: str) -> None:
        if key == "suspend":
            self.terminal.suspend()
        elif key in ("up", "down", "page-up", "page-down") and self.matches:
            step = {"up": -1, "down": 1, "page-up": -self._rows(), "page-down": self._rows()}[key]
            at = self.matches.index(self.selected) if self.selected in self.matches else 0
            self.selected = self.matches[max(0, min(len(self.matches) - 1, at + step))]
        elif key in ("erase", "clear", "erase-word") or len(key) == 1:
            if key == "erase":
                self.query = self.query[:-1]
            elif key == "clear":
                self.query = ""
            elif key == "erase-word":
                self.query = self.query.rstrip()
                self.query = self.query[: self.query.rfind(" ") + 1]
            else:
                self.query += key
            self._filter()

    def _filter(self) -> None:
        """Names holding every word of the query, case aside (as `kcm use PART` matches)."""
        words = self.query.lower().split()
        self.matches = [i for i, label in enumerate(self.lowered) if all(word in label for word in words)]
        if self.selected not in self.matches:
            self.selected = self.matches[0] if self.matches else max(self.current, 0)
        self.top = 0

    def _rows(self) -> int:
        """How many names fit: below the query and the count line (on 2 lines, below the query)."""
        lines = self.terminal.size()[1]
        return lines - 2 if lines >= 3 else 1

    def _draw(self) -> None:
        columns, lines = self.terminal.size()
        rows = self._rows()
        at = self.matches.index(self.selected) if self.selected in self.matches else 0
        self.top = min(max(self.top, at - rows + 1), at)
        head = _clip(self.prompt + printable(self.query), columns - 1)
        shown = self.matches[self.top : self.top + rows]
        if lines == 1:  # one line: the query, and the name Enter would pick
            picked = f"  -> {self.labels[self.selected]}" if self.matches else "  (none)"
            self.terminal.write(f"\x1b[H{_clip(head + picked, columns - 1)}\x1b[K\x1b[1;{_width(head) + 1}H")
            return
        frame = [head]
        if lines >= 3:
            hint = "  up/down move, Enter picks, Esc cancels"
            frame.append(_clip(f"  {len(self.matches)}/{len(self.labels)}{hint}", columns - 1))
        for index in shown:
            mark = ("> " if index == self.selected else "  ") + ("* " if index == self.current else "  ")
            line = _clip(mark + self.labels[index], columns - 1)
            frame.append(f"\x1b[7m{line}\x1b[0m" if index == self.selected else line)
        body = "\x1b[K\r\n".join(frame)
        self.terminal.write(f"\x1b[H{body}\x1b[K\x1b[J\x1b[1;{_width(head) + 1}H")


class _Terminal:
    """The terminal in raw mode, in its alternate screen, for as long as the `with` lasts.

    Signals that end a program (TERM, HUP, INT, QUIT) are caught only to put the terminal back first,
    then delivered again as if never caught; a terminal resize redraws; Ctrl-Z suspends as in a shell."""

    def __enter__(self) -> _Terminal:
        try:
            self.fd_in = self.fd_out = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
            self.owned = True
        except OSError:  # no controlling terminal: the one on stdin, drawn on stderr
            self.fd_in, self.fd_out, self.owned = sys.stdin.fileno(), sys.stderr.fileno(), False
        try:
            if not os.isatty(self.fd_out):
                raise termios.error("not a terminal")
            self.saved = termios.tcgetattr(self.fd_in)
        except termios.error:
            self._close()
            raise KcmError(
                "no terminal to draw the list on: name one (`kcm list -o name` lists them)"
            ) from None
        self.wake_read, self.wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.handlers = {number: signal.getsignal(number) for number in (*_ENDING, signal.SIGWINCH)}
        self.old_wakeup = signal.set_wakeup_fd(self.wake_write, warn_on_full_buffer=False)
        for number in self.handlers:
            signal.signal(number, lambda *_: None)  # its number arrives through the wake-up pipe
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.ending: int | None = None
        try:
            self._enter()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _enter(self) -> None:
        mode = termios.tcgetattr(self.fd_in)
        mode[0] &= ~(termios.ICRNL | termios.IXON | termios.INLCR | termios.ISTRIP)
        mode[3] &= ~(termios.ECHO | termios.ICANON | termios.ISIG | termios.IEXTEN)
        mode[6][termios.VMIN], mode[6][termios.VTIME] = 1, 0
        termios.tcsetattr(self.fd_in, termios.TCSADRAIN, mode)
        self.write("\x1b[?1049h\x1b[H\x1b[J")

    def _leave(self) -> None:
        with contextlib.suppress(OSError):
            self.write("\x1b[?1049l")
        with contextlib.suppress(termios.error):  # a terminal hung up has no mode to put back
            termios.tcsetattr(self.fd_in, termios.TCSADRAIN, self.saved)

    def _close(self) -> None:
        if self.owned:
            os.close(self.fd_in)

    def __exit__(self, *_: object) -> None:
        self._leave()
        signal.set_wakeup_fd(self.old_wakeup)
        for number, handler in self.handlers.items():
            signal.signal(number, handler)
        self._signals()  # one that came on the way out
        for fd in (self.wake_read, self.wake_write):
            os.close(fd)
        self._close()
        if self.ending is not None and self.ending != signal.SIGINT:
            signal.signal(self.ending, signal.SIG_DFL)
            os.kill(os.getpid(), self.ending)  # ends as the signal would have ended it

    def size(self) -> tuple[int, int]:
        try:
            found = os.get_terminal_size(self.fd_out)
            return max(found.columns, 10), max(found.lines, 1)
        except OSError:
            return 80, 24

    def write(self, text: str) -> None:
        data = text.encode("utf-8", "replace")
        while data:
            data = data[os.write(self.fd_out, data) :]

    def _signals(self) -> list[int]:
        try:
            numbers = list(os.read(self.wake_read, 64))
        except BlockingIOError:
            return []
        for number in numbers:
            if number in _ENDING and self.ending is None:
                self.ending = number
        return numbers

    def pressed(self) -> Iterator[str]:
        """The keys pressed since the last call (waits for one), by name, or characters typed."""
        ready, _, _ = select.select([self.fd_in, self.wake_read], [], [])
        if self.wake_read in ready:
            self._signals()
            if self.ending is not None:
                yield "hangup"
                return
        if self.fd_in not in ready:
            return
        data = os.read(self.fd_in, 4096)
        if not data:
            yield "hangup"  # the terminal is gone
            return
        # an Esc alone, or the start of a sequence whose rest is still on its way
        while data.endswith((b"\x1b", b"\x1b[", b"\x1bO")) and select.select([self.fd_in], [], [], 0.05)[0]:
            data += os.read(self.fd_in, 4096)
        text = self.decoder.decode(data)
        i = 0
        while i < len(text):
            sequence = next((text[i : i + n] for n in (4, 3, 2, 1) if text[i : i + n] in _KEYS), None)
            if sequence is not None and not (sequence == "\x1b" and text[i + 1 : i + 2] in ("[", "O")):
                yield _KEYS[sequence]
                i += len(sequence)
            elif text[i] == "\x1b":  # a sequence kcm does not use (Home, F1, a mouse report): skipped
                i += 2
                while i < len(text) and not ("@" <= text[i] <= "~"):
                    i += 1
                i += 1
            else:
                if text[i].isprintable():
                    yield text[i]
                i += 1

    def suspend(self) -> None:
        """Ctrl-Z: the shell's terminal back, the job stopped; on `fg`, the list again."""
        self._leave()
        previous = signal.signal(signal.SIGTSTP, signal.SIG_DFL)
        os.killpg(os.getpgrp(), signal.SIGTSTP)
        signal.signal(signal.SIGTSTP, previous)
        self._enter()
