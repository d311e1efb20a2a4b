"""Where kubeconfig text meets the disk: kubectl's lock, atomic writes, backups, undo.

Lock protocol: `<file>.lock`, kubectl's, taken by `kcm.lock` (created with our PID and host in it, so
that a lock left by a dead process can be reclaimed). kubectl gives up at once when it meets the lock,
so it is held only around read-plan-write, never around AWS calls.

A watchdog process (kcm.watchdog), in a session of its own, started before the lock is taken, removes
the lock and our temporary files if kcm dies without doing so (SIGKILL of its whole process group
included): no crash leaves a lock that blocks kubectl, or a stray file. Only regular files are read or
replaced.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from kcm import folders, lock, regular, watchdog
from kcm.errors import InputError, KcmError, WriteError
from kcm.lock import Lock


def lock_timeout() -> float:
    """How long to wait for a lock: KCM_LOCK_TIMEOUT seconds (30 when unset)."""
    text = os.environ.get("KCM_LOCK_TIMEOUT", "").strip() or "30"
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:  # also NaN
        raise InputError(f"KCM_LOCK_TIMEOUT={text!r}: give a number of seconds, 0 or more")
    return seconds


BACKUPS_KEPT = 20  # steps of `kcm undo` per kubeconfig: only changes of entries take one
BACKUPS_MIN = 5  # kept whatever their size
BACKUP_BYTES = 64 << 20  # past the newest 5, older steps go once a file's backups pass this
_TEMP_TAG = watchdog.TEMP_TAG


def read_text(path: Path) -> str | None:
    """The file's text exactly as stored (newlines untouched), or None when it does not exist; only a
    regular file is read (`kcm.regular`)."""
    data = regular.read_bytes(path)
    return regular.decode(data, path) if data is not None else None


check_replaceable = regular.check_replaceable


def _target_codec(target: Path) -> str:
    """A file is written back in the encoding it has."""
    try:
        with target.open("rb") as stream:
            return regular.codec(stream.read(2))
    except OSError:
        return "utf-8"


def _temp_name(target: Path, pid: int) -> str:
    return f".{target.name}{_TEMP_TAG}{pid}-{os.urandom(4).hex()}.tmp"


def remove_stale_temps(directory: Path, name: str) -> None:
    """Temporary files of ours whose writer is gone (a crash before the watchdog could act)."""
    prefix = f".{name}{_TEMP_TAG}"
    with contextlib.suppress(OSError):
        for entry in os.scandir(directory):
            if not (entry.name.startswith(prefix) and entry.name.endswith(".tmp")):
                continue
            pid = entry.name[len(prefix) :].split("-", 1)[0]
            if pid.isdigit() and not lock.alive(int(pid)):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


class ChangedMeanwhile(KcmError):
    """The file changed between kcm's read and its rename, by a writer that takes no lock."""


_ANY = object()


def write_atomic(target: Path, text: str, mode: int | None = None, expected: object = _ANY) -> None:
    """Replace `target` with `text`: temp file beside it, fsync, rename; keeps mode and owner. With
    `expected` (the text read before, None for no file), the file is read again just before the
    rename, and left alone if it changed: a writer that takes no lock (`aws eks update-kubeconfig`,
    `aws configure set`) does not lose its change."""
    directory = target.parent
    check_replaceable(target)
    try:
        folders.create(directory)
    except OSError as exc:
        raise WriteError(f"{directory}: cannot create folder: {exc.strerror or exc}") from None
    try:
        info: os.stat_result | None = target.stat()
    except FileNotFoundError:
        info = None
    file_mode = mode if mode is not None else (info.st_mode & 0o7777 if info else 0o600)
    temp = directory / _temp_name(target, os.getpid())
    codec = _target_codec(target) if info is not None else "utf-8"
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        raise WriteError(f"{target}: cannot write: {exc.strerror}; the file is unchanged") from None
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(text.encode(codec))
            stream.flush()
            os.fchmod(stream.fileno(), file_mode)
            if info is not None and (info.st_uid, info.st_gid) != (os.getuid(), os.getgid()):
                with contextlib.suppress(PermissionError):
                    os.fchown(stream.fileno(), info.st_uid, info.st_gid)
            os.fsync(stream.fileno())
        if expected is not _ANY and read_text(target) != expected:
            raise ChangedMeanwhile(
                f"{target}: changed while kcm was writing it (by a tool that takes no lock, such as "
                "aws eks update-kubeconfig or aws configure); nothing was written: run it again"
            )
        os.replace(temp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if isinstance(exc, OSError) and not isinstance(exc, KcmError):  # ENOSPC, EDQUOT, EROFS, EIO
            raise WriteError(f"{target}: cannot write: {exc.strerror}; the file is unchanged") from None
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class Edit:
    """The text under the lock, and the text to write (None: leave the file alone)."""

    __slots__ = ("new_text", "path", "target", "text")

    def __init__(self, path: Path, target: Path, text: str | None, new_text: str | None = None) -> None:
        self.path = path
        self.target = target
        self.text = text
        self.new_text = new_text


def backups_dir() -> Path:
    return folders.user_state() / "backups"


def _backup_folder(target: Path) -> Path:
    return backups_dir() / f"{target.name}-{_sha256(str(target))[:12]}"


def _sha256(text: str | None) -> str:
    try:  # CPython's own SHA-256, without loading OpenSSL as hashlib does (a switch pays for this)
        from _sha256 import sha256  # type: ignore[import-not-found]
    except ImportError:  # Python 3.12 named it _sha2; else OpenSSL's, through hashlib
        try:
            from _sha2 import sha256  # type: ignore[import-not-found]
        except ImportError:
            from hashlib import sha256
    digest: str = sha256((text or "").encode()).hexdigest()
    return digest


_COMMAND_CHARS = 200


def command_line() -> str:
    """The command that is writing, as `kcm undo --list` shows it: kcm's own words, a password in a
    URL (`--proxy-url http://user:pass@host`) taken out, control characters escaped, kept short."""
    import re
    import shlex

    from kcm.errors import printable

    words = [re.sub(r"://[^/@\s]*@", "://***@", word) for word in sys.argv[1:]]
    text = printable(shlex.join(["kcm", *words]))
    return text if len(text) <= _COMMAND_CHARS else text[: _COMMAND_CHARS - 3] + "..."


def _stamps(folder: Path) -> list[str]:
    """The backups in `folder`, oldest first."""
    return sorted({p.stem for p in folder.glob("*.json")})


def _save_backup(target: Path, before: str | None, after: str) -> str:
    """Keep `before` for `kcm undo`; returns the backup's stamp."""
    import json

    folder = folders.private(_backup_folder(target), parents=3)  # <file>, backups, kcm, XDG state
    stamp = f"{time.time_ns():020d}"
    meta = {
        "path": str(target),
        "existed": before is not None,
        "written_sha256": _sha256(after),
        "command": command_line(),
    }
    if before is not None:
        write_atomic(folder / f"{stamp}.yaml", before, mode=0o600)
    write_atomic(folder / f"{stamp}.json", json.dumps(meta), mode=0o600)
    _prune(folder)
    return stamp


def _prune(folder: Path) -> None:
    """The newest `BACKUPS_KEPT` steps stay, but only while they hold `BACKUP_BYTES` in all; the newest
    `BACKUPS_MIN` whatever their size (a 1,000-cluster kubeconfig is 2.3 MB: its 20 steps, 47 MB)."""
    total = 0
    for kept, stamp in enumerate(reversed(_stamps(folder))):
        for suffix in (".yaml", ".json"):
            with contextlib.suppress(OSError):
                total += os.lstat(folder / f"{stamp}{suffix}").st_size
        if kept >= BACKUPS_KEPT or (kept >= BACKUPS_MIN and total > BACKUP_BYTES):
            _drop_backup(folder, stamp)


def _carry_over(target: Path, before: str | None, after: str) -> None:
    """A write that is no step of `kcm undo` (a switch of context): when the file was as kcm's last
    backed-up write left it, the last backup goes on undoing that write, from the file as it is now."""
    folder = _backup_folder(target)
    stamps = _stamps(folder) if os.path.isdir(folder) else []
    if not stamps:
        return
    import json

    meta_path = folder / f"{stamps[-1]}.json"
    try:
        folders.check(folder, parents=3)
        meta = json.loads(_meta_bytes(meta_path))
    except (OSError, ValueError):
        return  # no backup to carry: undo finds it unsafe or damaged and says so
    if not isinstance(meta, dict) or meta.get("written_sha256") != _sha256(before):
        return  # changed by someone else meanwhile: undo asks for --force, as before
    try:
        write_atomic(meta_path, json.dumps({**meta, "written_sha256": _sha256(after)}), mode=0o600)
    except (OSError, KcmError) as exc:
        from kcm import output

        output.warn(f"`kcm undo` of {target} will need --force: its last backup could not follow: {exc}")


def _drop_backup(folder: Path, stamp: str) -> None:
    for suffix in (".yaml", ".json"):
        with contextlib.suppress(FileNotFoundError):
            (folder / f"{stamp}{suffix}").unlink()


def _write_with_backup(target: Path, before: str | None, after: str, backup: bool) -> None:
    """The write, with its backup; a backup that cannot be kept is warned about (the write goes on),
    and a write that fails (a full disk) leaves no backup behind that claims it happened. Without
    `backup`, the last backup is carried over the write."""
    stamp = None
    if backup:
        try:
            stamp = _save_backup(target, before, after)
        except (OSError, KcmError) as exc:  # a full state disk, an unsafe folder, a FIFO in the way
            from kcm import output

            output.warn(f"no backup of {target} for `kcm undo`: {exc}")
    try:
        write_atomic(target, after, expected=before)
    except BaseException:
        if stamp is not None:
            _drop_backup(_backup_folder(target), stamp)
        raise
    if not backup:
        _carry_over(target, before, after)


@contextlib.contextmanager
def edit(
    path: Path, *, write: bool = True, backup: bool = True, timeout: float | None = None
) -> Iterator[Edit]:
    """Lock `path` as kubectl does, hand over its text, write `new_text` atomically if it changed.
    `backup=False`: the write is no step of `kcm undo` (a switch of context or namespace, a restore)."""
    path = Path(os.path.abspath(path))
    target = Path(os.path.realpath(path))  # a symlinked kubeconfig stays a link to the new text
    if not write:
        yield Edit(path, target, read_text(target))
        return
    check_replaceable(target)  # before the lock: /dev/null.lock is not to be made either
    for folder in (target.parent, path.parent):
        try:
            folders.create(folder)
        except OSError as exc:
            raise InputError(f"{folder}: cannot create directory: {exc.strerror}") from None
    wait = lock_timeout() if timeout is None else timeout  # a bad KCM_LOCK_TIMEOUT: before any fork
    lock_path = Path(f"{path}.lock")
    temp_dirs = [target.parent, _backup_folder(target)]
    # The watchdog is running before the lock file exists: a SIGKILL between the two would otherwise
    # leave a lock behind that blocks kubectl. It removes the lock only if the file names this process.
    with watchdog.watching(("lock", str(lock_path), *(str(folder) for folder in temp_dirs))):
        held = Lock(lock_path)
        held.acquire(wait)
        try:
            remove_stale_temps(target.parent, target.name)
            current = Edit(path, target, read_text(target))
            yield current
            if current.new_text is not None and current.new_text != current.text:
                _write_with_backup(target, current.text, current.new_text, backup)
        finally:
            held.release()


@contextlib.contextmanager
def edit_all(paths: list[Path], *, backup: bool = True) -> Iterator[list[Edit]]:
    """`edit` for every file of a KUBECONFIG list that exists, locked in path order as kubectl locks
    them; one Edit per path, in the list's order (text None and never written for a missing file)."""
    with contextlib.ExitStack() as stack:
        held: dict[Path, Edit] = {}
        for path in sorted(paths):
            if os.path.exists(path):
                held[path] = stack.enter_context(edit(path, backup=backup))
        yield [held.get(path) or Edit(path, path, None) for path in paths]


class Backup:
    """One step of `kcm undo`: the file as it was before one of kcm's writes to it. (A plain class,
    not a dataclass: a switch imports this module, and dataclasses costs it milliseconds.)"""

    __slots__ = ("command", "damage", "existed", "folder", "stamp", "written_sha256")

    def __init__(
        self,
        folder: Path,
        stamp: str,  # the write's time.time_ns(), 20 digits
        existed: bool = True,  # False: kcm created the file, and undo removes it
        written_sha256: str = "",  # the text kcm wrote (or carried the backup over to)
        command: str | None = None,  # None: kept by a kcm that did not record it
        damage: str | None = None,  # why it cannot be restored
    ) -> None:
        self.folder = folder
        self.stamp = stamp
        self.existed = existed
        self.written_sha256 = written_sha256
        self.command = command
        self.damage = damage

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Backup) and all(
            getattr(self, name) == getattr(other, name) for name in self.__slots__
        )

    __hash__ = None  # type: ignore[assignment]

    @property
    def copy(self) -> Path:
        return self.folder / f"{self.stamp}.yaml"

    @property
    def seconds(self) -> float | None:
        """When the write was made (seconds since the epoch), None for a stamp kcm did not make."""
        return int(self.stamp) / 1e9 if len(self.stamp) == 20 and self.stamp.isdigit() else None

    def wrote(self, text: str | None) -> bool:
        """Whether `text` (None: no file) is what kcm left in the file after this step."""
        return _sha256(text) == self.written_sha256

    def text(self) -> str | None:
        """The file as it was (None: there was none); raises ValueError if its copy is gone."""
        if not self.existed:
            return None
        restored = read_text(self.copy)
        if restored is None:
            raise ValueError("its copy of the file is missing")
        return restored


def _meta_bytes(path: Path) -> bytes:
    """A backup's record, read as kcm reads its private files: a regular file of this user's, never
    waiting on a FIFO put in its place (under the lock, that would block kubectl too)."""
    data = folders.read_private(path, limit=1 << 20)
    if data is None:
        raise ValueError(f"{path.name} is missing or not a regular file of this user's")
    return data


def _backup(folder: Path, stamp: str) -> Backup:
    import json

    try:
        meta = json.loads(_meta_bytes(folder / f"{stamp}.json"))
        if not isinstance(meta, dict) or not isinstance(meta.get("existed"), bool):
            raise ValueError("no record of whether the file existed")
        if not isinstance(meta.get("written_sha256"), str):
            raise ValueError("no checksum")
        command = meta.get("command")  # absent from backups kept before kcm recorded it
        if command is not None and not isinstance(command, str):
            raise ValueError("its command is not text")
    except (OSError, ValueError) as exc:  # a file cut short, not JSON, not UTF-8
        return Backup(folder, stamp, damage=str(exc) or type(exc).__name__)
    return Backup(folder, stamp, meta["existed"], meta["written_sha256"], command)


def backups(path: Path) -> tuple[Path, list[Backup]]:
    """The file `path` resolves to, and kcm's backups of it, newest first (each one step of undo)."""
    target = Path(os.path.realpath(os.path.abspath(path)))
    folder = _backup_folder(target)
    if not os.path.lexists(folder):
        raise KcmError(f"{target}: kcm has no backup of this file")
    try:
        folders.check(folder, parents=3)  # a backup someone else could have put there is no backup
    except OSError as exc:
        raise KcmError(f"{target}: its backups are not safe to restore: {exc}; not restored") from None
    found = [_backup(folder, stamp) for stamp in reversed(_stamps(folder))]
    if not found:
        raise KcmError(f"{target}: kcm has no backup of this file")
    return target, found


def undo(path: Path, *, force: bool = False, check: Callable[[str], object] | None = None) -> str:
    """Put back the file as it was before kcm's last write to it; returns what was done. `check`
    refuses a backup that kubectl could not load (raises); a damaged backup is refused too."""
    path = Path(os.path.abspath(path))
    target, found = backups(path)
    latest = found[0]
    try:
        if latest.damage is not None:
            raise ValueError(latest.damage)
        restored = latest.text()
    except (OSError, ValueError, KcmError) as exc:
        where = latest.folder / latest.stamp
        raise KcmError(f"{target}: kcm's last backup of it ({where}) is damaged: {exc}") from None
    if restored is not None and check is not None:
        check(restored)  # never put back a file kubectl cannot read
    with edit(path, backup=False) as current:
        if not latest.wrote(current.text) and not force:
            raise KcmError(
                f"{target}: changed since kcm last wrote it; `kcm undo --force` puts back the "
                "older version anyway"
            )
        by = f" ({latest.command})" if latest.command else ""
        if restored is not None:
            # the restore itself is not backed up: undo walks back one write at a time
            current.new_text = restored
            action = f"Restored {target} as it was before kcm's last change{by}"
        else:
            target.unlink(missing_ok=True)
            action = f"Removed {target}: kcm had created it{by}"
    _drop_backup(latest.folder, latest.stamp)
    return action
