"""Small JSON facts kept between runs in the platformdirs cache (private: 0700 folder, 0600 files)."""

from __future__ import annotations

import json
import re
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
