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
from pathlib import Path


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


def private(path: Path) -> Path:
    """`path`, made as `create` makes it, checked fit for private data."""
    create(path)
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        raise UnsafeFolder(f"{path}: is a symbolic link; kcm keeps private files only in a real folder")
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafeFolder(f"{path}: is not a folder")
    if info.st_uid != os.geteuid():
        raise UnsafeFolder(f"{path}: belongs to another user (uid {info.st_uid})")
    if info.st_mode & 0o022:
        raise UnsafeFolder(
            f"{path}: others can write into it (mode {stat.S_IMODE(info.st_mode):o}; chmod 700 it)"
        )
    return path
