"""kubectl's lock on a kubeconfig: `<file>.lock`, held while it exists.

kubectl creates the file empty (`O_CREAT|O_EXCL`) and deletes it after its write, milliseconds later;
it never waits and never reclaims. kcm's lock is the same file, made with its content in one step (a
hard link to a finished temporary file), so a kcm lock always names its holder: `PID\\nhost\\n`. That
makes every lock readable:
- a kcm lock whose process is gone (on this host) is reclaimed at once, by any kcm;
- an empty lock is kubectl's: waited for, but one a minute old is a crashed kubectl's, and kcm says so
  at once rather than after its timeout (`kcm unlock` removes it);
- anything else is waited for, up to the timeout, then named in the error.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import time
from pathlib import Path

from kcm.errors import InputError, LockError, WriteError
from kcm.regular import kind_of

POLL = 0.02
_NO_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK}
STALE_EMPTY = 60.0  # seconds: kubectl holds its lock for milliseconds


def alive(pid: int) -> bool:
    """Whether a process of that number runs (one of another user counts: it exists)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    return True


def hostname() -> str:
    """This machine's name, as a kcm lock records it (socket.gethostname's, without importing socket)."""
    if hasattr(os, "uname"):
        return os.uname().nodename
    import socket

    return socket.gethostname()


class Holder:
    """What a lock file says about who holds it."""

    __slots__ = ("age", "empty", "host", "ident", "pid")

    def __init__(
        self, pid: int | None, host: str, age: float, empty: bool, ident: tuple[int, ...] = ()
    ) -> None:
        self.pid = pid  # None: not a kcm lock (empty: kubectl's; or text of another tool)
        self.host = host
        self.age = age
        self.empty = empty
        self.ident = ident  # (device, inode, mtime_ns): which lock file this is, not just who it names

    def same_file(self, other: Holder | None) -> bool:
        """Whether `other` was read from the very lock file this was read from."""
        return other is not None and (other.ident, other.pid, other.host) == (self.ident, self.pid, self.host)

    @property
    def dead(self) -> bool:
        """A kcm holder on this host whose process has ended."""
        return self.pid is not None and self.host == hostname() and not alive(self.pid)

    @property
    def crashed_kubectl(self) -> bool:
        return self.empty and self.age > STALE_EMPTY

    def describe(self) -> str:
        if self.pid is not None:
            state = "no longer running" if self.dead else "running"
            return f"kcm (PID {self.pid} on {self.host}, {state}) for {self.age:.0f}s"
        if self.empty:
            return f"kubectl (an empty lock file) for {self.age:.0f}s"
        return f"another tool for {self.age:.0f}s"


_MAX_PID = 1 << 22  # Linux's pid_max at most; a larger number is no PID


def holder(lock_path: Path) -> Holder | None:
    """Who holds `lock_path`; None when it is not there. Never waits (a FIFO planted at the path)."""
    try:
        fd = os.open(lock_path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:  # kubectl makes its lock with mode 000 (only root reads it); or a link, a socket
        try:
            info = os.lstat(lock_path)
        except OSError:
            return None
        if stat.S_ISREG(info.st_mode) and exc.errno in (errno.EACCES, errno.EPERM):
            return Holder(None, "", time.time() - info.st_mtime, empty=True)
        raise NotALock(lock_path, info.st_mode) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotALock(lock_path, info.st_mode)
        data = os.read(fd, 4096)
    finally:
        os.close(fd)
    age = time.time() - info.st_mtime
    ident = (info.st_dev, info.st_ino, info.st_mtime_ns)
    lines = data.decode("utf-8", "replace").splitlines()
    if len(lines) >= 2 and lines[0].isascii() and lines[0].isdigit() and 0 < int(lines[0]) < _MAX_PID:
        return Holder(int(lines[0]), lines[1], age, empty=False, ident=ident)
    return Holder(None, "", age, empty=not data, ident=ident)


class NotALock(LockError):
    """Something that is not a file stands where the lock file goes: kcm never waits on it or removes it."""

    def __init__(self, path: Path, mode: int) -> None:
        super().__init__(
            f"{path}: is {kind_of(mode)}, not a lock file; remove it yourself if nothing should be there"
        )


class Lock:
    """One kubeconfig's lock, taken the kcm way (see the module's docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.content = f"{os.getpid()}\n{hostname()}\n"
        self.held = False

    def _try(self) -> bool:
        temp = self.path.with_name(f".{self.path.name}.kcm-{os.getpid()}-{os.urandom(4).hex()}.tmp")
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            try:
                written = os.write(fd, self.content.encode())
                if written != len(self.content):
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            finally:
                os.close(fd)
            try:
                os.link(temp, self.path)  # fails if the lock exists; never a half-made lock
            except FileExistsError:
                return False
            except OSError as exc:
                if exc.errno not in _NO_LINKS:
                    raise
                return self._create()  # a filesystem without hard links (some FUSE, SMB, vfat mounts)
            return True
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise InputError(f"{self.path}: cannot create lock file: {exc.strerror}") from None
            raise WriteError(f"{self.path}: cannot create lock file: {exc.strerror}") from None
        finally:
            with contextlib.suppress(OSError):
                os.unlink(temp)

    def _create(self) -> bool:
        """kubectl's way, with the holder written right after: for filesystems without hard links."""
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        except FileExistsError:
            return False
        try:
            os.write(fd, self.content.encode())
        finally:
            os.close(fd)
        return True

    def _reclaim(self, found: Holder) -> bool:
        """Take away a dead kcm's lock: rename it aside (one of several reclaimers wins), and remove it
        if it still says what it said; a live lock renamed by mistake is linked back.

        `found` was read before its holder was seen dead, and the holder may have released it, ended and
        been reaped in between, with another writer's lock now in its place: renaming that live lock
        away, even for the moment before it is linked back, lets a third writer (a kcm, a kubectl) in
        beside it. So the lock is read again first: the same file (device, inode, mtime) naming the same
        holder, read after that holder was seen dead, is a dead lock, and no writer can take the lock
        while it is there. Only another remover (a second reclaimer, the dead kcm's watchdog, `kcm
        unlock`) can change it before the rename; the check after the rename still links back a live
        lock found there."""
        if not found.same_file(holder(self.path)):
            return True  # released, reclaimed or taken meanwhile: try the lock again
        # named as kcm's temporary files are, so the watchdog removes it if we die right here
        aside = self.path.with_name(f".{self.path.name}.kcm-{os.getpid()}-{os.urandom(4).hex()}.stale.tmp")
        try:
            os.rename(self.path, aside)
        except OSError:  # another user's, in a sticky folder: not ours to take away
            return False
        taken = holder(aside)
        if found.same_file(taken):
            os.unlink(aside)
            return True
        with contextlib.suppress(OSError):
            os.link(aside, self.path)
        with contextlib.suppress(OSError):
            os.unlink(aside)
        return True

    def acquire(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self._try():
            found = holder(self.path)
            if found is not None and found.dead and self._reclaim(found):
                continue
            if found is not None and found.crashed_kubectl:
                raise LockError(
                    f"{self.path}: an empty lock file left {found.age:.0f}s ago, most likely by a kubectl "
                    "that crashed while writing; `kcm unlock` removes it"
                )
            if time.monotonic() >= deadline:
                who = found.describe() if found else "another process"
                raise LockError(
                    f"{self.path}: locked by {who}; waited {timeout:.0f}s "
                    "(`kcm unlock` removes it if no kcm or kubectl is running)"
                )
            time.sleep(POLL)
        self.held = True

    def release(self) -> None:
        """Remove the lock if it is still ours."""
        if not self.held:
            return
        self.held = False
        found = holder(self.path)
        if found is not None and found.pid == os.getpid() and found.host == hostname():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)


def unlock(lock_path: Path) -> str:
    """`kcm unlock`: remove a lock that nothing holds any more; what was done, in a line."""
    found = holder(lock_path)
    if found is None:
        return f"{lock_path}: no lock"
    if found.pid is not None and not found.dead:
        if found.host == hostname():
            raise LockError(f"{lock_path}: held by {found.describe()}; not removed")
        raise LockError(f"{lock_path}: held by {found.describe()} on another host; not removed")
    if found.pid is None and not found.empty:
        raise LockError(
            f"{lock_path}: held by {found.describe()}, not by kcm or kubectl; kcm does not remove it: "
            "delete it yourself if that tool is not running"
        )
    if found.pid is None and not found.crashed_kubectl:
        raise LockError(
            f"{lock_path}: held by {found.describe()}; a kubectl holds it for milliseconds: "
            f"if it is still there in {STALE_EMPTY - found.age:.0f}s, run `kcm unlock` again"
        )
    try:
        os.unlink(lock_path)
    except OSError as exc:
        raise LockError(f"{lock_path}: cannot remove it: {exc.strerror}") from None
    return f"{lock_path}: removed, it was held by {found.describe()}"
