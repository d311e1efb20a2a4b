"""What `kcm sync` remembers of AWS between runs, so that the next sync asks only what may have changed.

Under `cache.folder()/aws`, one folder per AWS setup (`Reach.setup`: the partition and the endpoints
botocore would use), so two setups never share an entry. In it, per account, `<account>.json`:
the account's enabled regions; per region, when it was last listed in full and which clusters that
listing showed; per ACTIVE cluster, what `EksCluster` holds, with its `createdAt`. And, per account
that lists an organisation, `organization-<account>.json`: the organisation's accounts. One file per
account keeps a run's reads and writes to the accounts it scans, and a file is written only when
what it holds changed.

When a fact is due again. Each account has its moment of the day, a hash of its setup and id: a fact
saved before the last time that moment came round is due (never more than a day after it was saved).
So the daily sweep of an organisation's empty regions is spread over the day rather than falling on
one run, and an account with nothing due needs no call at all (with --org-role, no AssumeRole). The
organisation's account list is refreshed when older than a day. With `full` (sync --full), nothing
remembered is trusted, and everything asked is remembered anew.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kcm import cache
from kcm.eks import EksCluster

DAY = cache.DAY
FOLDER = "aws"
_FORMAT = 1
Warn = Callable[[str], None]


def folder(setup: str) -> Path:
    return cache.folder() / FOLDER / setup


def moment(setup: str, account: str) -> float:
    """The account's moment of the day, in seconds after midnight UTC: the same in every run."""
    digest = hashlib.sha256(f"{setup}/{account}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % DAY


def due(saved: float, at: float, now: float) -> bool:
    """Whether a fact saved at `saved` is due again: the daily moment `at` has come round since, or
    it is from the future (the clock was set back)."""
    return saved > now + 60 or now - saved >= DAY or (now - at) // DAY != (saved - at) // DAY


def _unusable(path: Path, reason: str, warn: Warn) -> None:
    warn(f"cache {path}: {reason}; ignored, and written again by this sync")


class Account:
    """What is remembered of one account: read at the start of a run, changed by it (from any of the
    scan's threads), saved at its end when changed."""

    def __init__(self, setup: str, account: str, *, full: bool, warn: Warn) -> None:
        self.path = folder(setup) / f"{account}.json"
        self._at = moment(setup, account)
        self._now = cache.now()
        self._lock = threading.Lock()
        self._changed = False
        self._regions: dict[str, Any] | None = None
        self._listings: dict[str, dict[str, Any]] = {}
        self._clusters: dict[str, dict[str, dict[str, Any]]] = {}
        self._full = full  # read, but trusted for nothing: what this run learns replaces it
        try:
            data = cache.read(self.path)
            if data is not None:
                self._regions, self._listings, self._clusters = _account_shape(data)
        except cache.Unusable as exc:
            _unusable(self.path, str(exc), warn)
            self._changed = True

    def _fresh(self, saved: float) -> bool:
        return not self._full and not due(saved, self._at, self._now)

    def regions(self) -> list[str] | None:
        """The enabled regions, unless due."""
        known = self._regions
        return list(known["names"]) if known and self._fresh(known["saved"]) else None

    def remember_regions(self, names: list[str]) -> None:
        with self._lock:
            self._regions = {"saved": self._now, "names": names}
            self._changed = True

    def known_empty(self, region: str) -> bool:
        """The region's last full listing showed no cluster, and is not due: no need to list it."""
        listing = self._listings.get(region)
        return listing is not None and not listing["names"] and self._fresh(listing["saved"])

    def listed(self, region: str, names: list[str]) -> None:
        """A full listing of the region: its clusters' names. A cluster no longer listed is forgotten."""
        with self._lock:
            before = self._listings.get(region)
            # when it was listed matters only while it is empty (or with --full, which starts the day anew)
            if before is None or before["names"] != names or not names or self._full:
                self._listings[region] = {"saved": self._now, "names": names}
                self._changed = True
        self.keep_only(region, names)

    def keep_only(self, region: str, names: list[str]) -> None:
        """Forget the descriptions of the region's clusters that are not among `names` (gone)."""
        with self._lock:
            described = self._clusters.get(region, {})
            for name in [name for name in described if name not in names]:
                del described[name]
                self._changed = True

    def description(self, region: str, name: str) -> EksCluster | None:
        """The cluster as last described, unless due."""
        entry = self._clusters.get(region, {}).get(name)
        if entry is None or not self._fresh(entry["saved"]):
            return None
        return EksCluster(
            name, entry["arn"], entry["endpoint"], entry["ca"], "ACTIVE", entry["id"], entry["outpost"],
            entry["created"],
        )  # fmt: skip

    def described(self, region: str, cluster: EksCluster) -> None:
        """Remember an ACTIVE cluster's description; one in any other state is described every time."""
        with self._lock:
            clusters = self._clusters.setdefault(region, {})
            if cluster.status != "ACTIVE":
                self._changed |= clusters.pop(cluster.name, None) is not None
                return
            clusters[cluster.name] = {
                "saved": self._now,
                "arn": cluster.arn,
                "endpoint": cluster.endpoint,
                "ca": cluster.certificate_authority,
                "id": cluster.id,
                "outpost": cluster.outpost,
                "created": cluster.created,
            }
            self._changed = True

    def save(self) -> None:
        if not self._changed:
            return
        cache.write(
            self.path,
            {
                "format": _FORMAT,
                "regions": self._regions,
                "listings": self._listings,
                "clusters": {region: names for region, names in self._clusters.items() if names},
            },
        )
        self._changed = False


def organization(setup: str, account: str, *, full: bool, warn: Warn) -> list[tuple[str, str]] | None:
    """The organisation's (id, name) accounts as `account` listed them less than a day ago; None when
    there is no such list (or `full`)."""
    path = folder(setup) / f"organization-{account}.json"
    if full:
        return None
    try:
        data = cache.read(path)
        if data is None:
            return None
        saved, accounts = _organization_shape(data)
    except cache.Unusable as exc:
        _unusable(path, str(exc), warn)
        return None
    return accounts if 0 <= cache.now() - saved < DAY else None


def remember_organization(setup: str, account: str, accounts: list[tuple[str, str]]) -> None:
    path = folder(setup) / f"organization-{account}.json"
    cache.write(
        path, {"format": _FORMAT, "saved": cache.now(), "accounts": [list(item) for item in accounts]}
    )


# ---- what a file must hold: anything else is unusable ------------------------------------------------
def _wrong(what: str) -> cache.Unusable:
    return cache.Unusable(f"holds {what}, not what kcm writes")


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _wrong(what)
    return value


def _time(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _wrong(what)
    return float(value)


def _names(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _wrong(what)
    return value


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise _wrong(what)
    return value


def _account_shape(
    data: Any,
) -> tuple[dict[str, Any] | None, dict[str, dict[str, Any]], dict[str, dict[str, dict[str, Any]]]]:
    data = _object(data, "something other than an object")
    if data.get("format") != _FORMAT:
        raise _wrong(f"format {data.get('format')!r}")
    regions = data.get("regions")
    if regions is not None:
        regions = _object(regions, "bad regions")
        regions = {
            "saved": _time(regions.get("saved"), "a bad time"),
            "names": _names(regions.get("names"), "bad regions"),
        }
    listings = {}
    for region, listing in _object(data.get("listings"), "bad listings").items():
        listing = _object(listing, "a bad listing")
        listings[region] = {
            "saved": _time(listing.get("saved"), "a bad time"),
            "names": _names(listing.get("names"), "a bad listing"),
        }
    clusters: dict[str, dict[str, dict[str, Any]]] = {}
    for region, described in _object(data.get("clusters"), "bad clusters").items():
        for name, entry in _object(described, "bad clusters").items():
            entry = _object(entry, "a bad cluster")
            cluster_id = entry.get("id")
            if cluster_id is not None:
                _text(cluster_id, "a bad cluster id")
            if not isinstance(entry.get("outpost"), bool):
                raise _wrong("a bad cluster")
            clusters.setdefault(region, {})[name] = {
                "saved": _time(entry.get("saved"), "a bad time"),
                **{
                    key: _text(entry.get(key), "a bad cluster")
                    for key in ("arn", "endpoint", "ca", "created")
                },
                "id": cluster_id,
                "outpost": entry["outpost"],
            }
    return regions, listings, clusters


def _organization_shape(data: Any) -> tuple[float, list[tuple[str, str]]]:
    data = _object(data, "something other than an object")
    if data.get("format") != _FORMAT:
        raise _wrong(f"format {data.get('format')!r}")
    accounts = data.get("accounts")
    if not isinstance(accounts, list) or not accounts:
        raise _wrong("no accounts")
    pairs = []
    for item in accounts:
        if not (isinstance(item, list) and len(item) == 2 and all(isinstance(part, str) for part in item)):
            raise _wrong("a bad account")
        pairs.append((item[0], item[1]))
    return _time(data.get("saved"), "a bad time"), pairs
