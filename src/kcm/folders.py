"""The folders kcm creates: mode 0700 whatever the umask, and never changed when they were there before.

`mkdir -p` (and `Path.mkdir(parents=True)`) makes the missing parents with the umask's mode: under
umask 000, world-writable, so another local user could swap the files inside. kcm makes each missing
folder itself, 0700. A folder that already exists is the user's (or the system's: /tmp): kcm changes
nothing about it. A folder that kcm keeps private data in (backups, the token and discovery caches)
must also be a real folder, owned by this user, that no one else can write; else `UnsafeFolder`.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path


def user_state() -> Path:
    """kcm's state folder (backups, the previous context), as platformdirs names it; on Linux without
    importing platformdirs, by the XDG rule it follows."""
    return _user_folder("XDG_STATE_HOME", "~/.local/state", "user_state_dir")


def user_cache() -> Path:
    """kcm's cache folder (tokens, discovery, what a kubeconfig holds): `$KCM_CACHE_DIR`, else as
    platformdirs names it."""
    explicit = os.environ.get("KCM_CACHE_DIR")
    if explicit:
        return Path(explicit)
    return _user_folder("XDG_CACHE_HOME", "~/.cache", "user_cache_dir")


def _user_folder(variable: str, default: str, platformdirs_name: str) -> Path:
    if sys.platform == "linux":  # platformdirs' rule: an absolute $XDG_..., else the default
        base = os.environ.get(variable, "")
        return Path(base if os.path.isabs(base) else os.path.expanduser(default)) / "kcm"
    import platformdirs

    return Path(getattr(platformdirs, platformdirs_name)("kcm"))


class UnsafeFolder(OSError):
    """A folder for private data that another user could write into, or a link kcm did not make."""


def create(path: Path) -> None:
    """Make `path` and its missing parents, each 0700; existing folders are left as they are."""
    missing: list[Path] = []
    folder = Path(os.path.abspath(path))
    while not os.path.lexists(folder):
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:  # made meanwhile by someone else: theirs, and checked where it matters
            continue
        # a umask can only take bits away from 0700 (umask 077 leaves it; 0277 would leave it unwritable)
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            os.fchmod(fd, 0o700)
        finally:
            os.close(fd)


def _unsafe(path: Path, info: os.stat_result, final: bool) -> str | None:
    """Why another user could swap what kcm keeps in `path`; None when no one can."""
    if stat.S_ISLNK(info.st_mode):
        return "is a symbolic link; kcm keeps private files only in a real folder"
    if not stat.S_ISDIR(info.st_mode):
        return "is not a folder"
    ours = info.st_uid == os.geteuid()
    if final and not ours:
        return f"belongs to another user (uid {info.st_uid})"
    if not final and not ours and info.st_uid != 0:  # its owner could rename what kcm made inside
        return f"is another user's folder (uid {info.st_uid})"
    # the folder kcm keeps files in: no one else writes; a parent: not world-writable unless sticky
    # (a group-writable home folder, under umask 002 with a group of one's own, is the user's)
    loose = info.st_mode & (0o022 if final else 0o002)
    if loose and (final or not info.st_mode & stat.S_ISVTX):
        return f"others can write into it (mode {stat.S_IMODE(info.st_mode):o}; chmod 700 it)"
    return None


def check(path: Path, parents: int = 0) -> Path:
    """`path`, checked fit for private data, with its `parents` nearest parents: each a real folder
    that no other user can rename things in (ours or root's, written only by us or sticky)."""
    for level, folder in enumerate([path, *list(path.parents)[:parents]]):
        reason = _unsafe(folder, os.lstat(folder), final=level == 0)
        if reason:
            raise UnsafeFolder(f"{folder}: {reason}")
    return path


def private(path: Path, parents: int = 0) -> Path:
    """`path`, made as `create` makes it, checked as `check` checks it."""
    create(path)
    return check(path, parents)


def read_private(path: Path, limit: int = 1 << 20) -> bytes | None:
    """The bytes of a file kcm keeps private (a cache entry): None unless it is a regular file of this
    user's, opened without following a link or waiting on a FIFO, in a folder that passes `check`."""
    try:
        check(path.parent)
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
            return None
        return os.read(fd, limit)
    except OSError:
        return None
    finally:
        os.close(fd)


def shared_base(path: Path) -> Path:
    """A folder where kcm makes a private folder of its own (`$RUNNER_TEMP`, `$TMPDIR`): fit only if
    no other user can rename that folder away and put theirs in its place."""
    reason = _unsafe(path, os.stat(path), final=False)
    if reason:
        raise UnsafeFolder(f"{path}: {reason}")
    return path
