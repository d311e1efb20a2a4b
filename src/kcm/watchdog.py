"""The watchdog: a process that cleans up after kcm once kcm is gone, however it went (SIGKILL of its
whole process group too). It waits for the end of a pipe that only kcm holds: when kcm ends, by any
means, the operating system closes it. It runs in a session (a process group) of its own, so a signal
to kcm's group does not reach it, and it ignores the signals that end kcm by name.

Where `os.fork` exists (Linux and macOS, the platforms kcm supports) the watchdog is forked: a
millisecond. Where it does not, or with `KCM_WATCHDOG=spawn` (which the tests set, to run this path on
Linux too), it is a new Python process, `python -m kcm.watchdog`, told what to clean as JSON: a path that
depends on nothing fork gives. What it cleans is one of two things, named so that either way can do
it: a writer's lock and temporary files, or a private folder.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from kcm.errors import WriteError

# What the watchdog cleans: ("lock", lock file, folder...) or ("tree", folder).
Cleanup = tuple[str, ...]
TEMP_TAG = ".kcm-"  # in the names of kcm's temporary files (kcm.store makes them)


def clean(cleanup: Cleanup, parent: int) -> None:
    """Carry out `cleanup` for the kcm process `parent`, which has ended."""
    kind, *paths = cleanup
    if kind == "tree":
        import shutil

        shutil.rmtree(paths[0], ignore_errors=True)
        return
    from kcm import lock
    from kcm.errors import KcmError

    lock_path, *folders = paths
    with contextlib.suppress(OSError, KcmError):
        found = lock.holder(Path(lock_path))  # never waits: a FIFO planted there would hold it
        if found is not None and found.pid == parent and found.host == lock.hostname():
            os.unlink(lock_path)
    mark = f"{TEMP_TAG}{parent}-"
    for folder in folders:
        with contextlib.suppress(OSError):
            for entry in os.scandir(folder):
                if entry.name.startswith(".") and mark in entry.name and entry.name.endswith(".tmp"):
                    os.unlink(entry.path)


def _ignore_ending_signals() -> None:
    import signal

    for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"):  # those this platform has
        number = getattr(signal, name, None)
        if number is not None:
            signal.signal(number, signal.SIG_IGN)


@contextlib.contextmanager
def watching(cleanup: Cleanup) -> Iterator[None]:
    """A watchdog that carries out `cleanup` once this process is gone, running before this returns."""
    spawn = os.environ.get("KCM_WATCHDOG") == "spawn" or not hasattr(os, "fork")
    with _spawned(cleanup) if spawn else _forked(cleanup):
        yield


@contextlib.contextmanager
def _forked(cleanup: Cleanup) -> Iterator[None]:
    read_end, write_end = os.pipe()
    ready_read, ready_write = os.pipe()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(write_end)
            os.close(ready_read)
            os.setsid()
            _ignore_ending_signals()
            os.write(ready_write, b".")
            os.close(ready_write)
            while os.read(read_end, 64):
                pass
            clean(cleanup, parent)
        finally:
            os._exit(0)
    os.close(read_end)
    os.close(ready_write)
    try:  # until the watchdog is out of our group, a signal to the group would end it with us
        ready = os.read(ready_read, 1)
    finally:
        os.close(ready_read)
    try:
        if ready != b".":
            raise WriteError("cannot start kcm's watchdog (its forked process ended at once)")
        yield
    finally:
        os.close(write_end)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


@contextlib.contextmanager
def _spawned(cleanup: Cleanup) -> Iterator[None]:
    import json
    import subprocess

    # -P: never the current folder's `kcm` (anyone may put one there), only this process's own,
    # named first on its path
    ours = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [ours, os.environ.get("PYTHONPATH")]))}
    child = subprocess.Popen(
        [sys.executable, "-P", "-m", "kcm.watchdog", json.dumps([os.getpid(), *cleanup])],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        close_fds=True,
        start_new_session=True,  # out of our process group: a signal to the group misses it
        env=env,
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        ready = child.stdout.read(1)  # its signals ignored, in its own group
        child.stdout.close()
        if ready != b".":
            raise WriteError(f"cannot start kcm's watchdog ({sys.executable} -m kcm.watchdog ended at once)")
        yield
    finally:
        child.stdin.close()  # the end of the pipe it waits on, as our end would be at our death
        child.wait()


def main(argv: list[str]) -> int:
    """`python -m kcm.watchdog '[PARENT, KIND, PATH...]'`: the spawned watchdog."""
    import json

    parent, *cleanup = json.loads(argv[0])
    _ignore_ending_signals()
    sys.stdout.buffer.write(b".")
    sys.stdout.buffer.flush()
    while sys.stdin.buffer.read(64):
        pass
    clean(tuple(str(item) for item in cleanup), int(parent))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
