"""Small JSON facts kept between runs in the platformdirs cache (private: 0700 folder, 0600 files)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import stat
import threading
import time
from pathlib import Path
from typing import Any

from kcm.errors import KcmError

DAY = 24 * 3600


def folder() -> Path:
    from kcm import folders

    return folders.user_cache()


def _path(kind: str, key: str) -> Path:
    return folder() / kind / (re.sub(r"[^A-Za-z0-9._-]", "_", key) + ".json")


def get(kind: str, key: str, max_age: float) -> Any:
    """The value stored under `kind/key` if it is younger than `max_age` seconds, else None."""
    from kcm import folders

    data = folders.read_private(_path(kind, key))
    try:
        entry = json.loads(data) if data is not None else None
        age = time.time() - float(entry.get("saved", 0)) if isinstance(entry, dict) else max_age + 1
    except (ValueError, TypeError, AttributeError):
        return None
    if not isinstance(entry, dict) or not -60 < age <= max_age:  # from the future: the clock jumped
        return None
    return entry.get("value")


def put(kind: str, key: str, value: Any) -> None:
    """Store `value`; a cache that cannot be written is no reason to fail the run."""
    from kcm import folders, store

    path = _path(kind, key)
    try:
        folders.private(path.parent, parents=2)
        store.write_atomic(path, json.dumps({"saved": time.time(), "value": value}), mode=0o600)
    except (OSError, KcmError):  # a full disk, a folder of another user, a FIFO in the way
        pass


def now() -> float:
    """The clock the AWS caches (kcm.awscache) read: a test moves it, no sleeps."""
    return time.time()


class Unusable(Exception):
    """A cache file that is there but cannot be used: the message says why, in a few words."""


def read(path: Path, limit: int = 64 << 20) -> Any:
    """The JSON value of the cache file `path`; None when there is no such file."""
    from kcm import folders, regular

    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise Unusable(f"cannot be read ({exc.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise Unusable(f"is {regular.kind_of(info.st_mode)}, not a cache file")
    try:
        folders.check(path.parent)
    except OSError as exc:
        raise Unusable(str(exc)) from None
    data = folders.read_private(path, limit)
    if data is None:
        raise Unusable("cannot be read (another user's file?)")
    try:
        return json.loads(data)
    except ValueError:  # UnicodeDecodeError is one
        raise Unusable("is not JSON") from None


def write(path: Path, value: Any) -> None:
    """`value` as JSON in `path`, 0600 in 0700 folders, by a rename: never half a file. No fsync: a
    cache file a crash left torn is read as unusable and written again. A cache that cannot be
    written is no reason to fail the run."""
    from kcm import folders

    temp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        folders.private(path.parent, parents=2)
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            os.fchmod(stream.fileno(), 0o600)  # whatever the umask took away
            json.dump(value, stream, separators=(",", ":"))
        try:
            os.replace(temp, path)
        except IsADirectoryError:  # an empty folder in the way goes; anything else in it stays
            os.rmdir(path)
            os.replace(temp, path)
    except OSError:  # a full disk, a folder of another user, a directory in the way
        with contextlib.suppress(OSError):
            os.unlink(temp)


def remove(*kinds: str) -> list[Path]:
    """Remove the cache folders of `kinds`; the ones that were there."""
    removed = []
    for kind in kinds:
        path = folder() / kind
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        elif os.path.lexists(path):
            os.unlink(path)
        else:
            continue
        removed.append(path)
    return removed
