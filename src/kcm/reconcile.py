"""Plan, then apply: the changes that take a kubeconfig from what it holds to what kcm wants. Pure.

kcm marks what it owns with an extension named `kcm` in the entry's `cluster`, `user` or `context`
(kubectl keeps extensions when it rewrites a file). Only marked entries are ever pruned; an unmarked
entry in the way is left as it is.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from kcm.eks import Entries
from kcm.errors import InputError
from kcm.kubeconfig import Document

MARK = "kcm"
BODY = {"clusters": "cluster", "users": "user", "contexts": "context"}
# kubectl spells out these exec defaults whenever it rewrites a file: they are not a change.
_NONE = object()
_KUBECTL_EXEC_DEFAULTS: dict[str, Any] = {
    "env": None,
    "interactiveMode": "IfAvailable",
    "provideClusterInfo": False,
}
_FACTS = ("server", "certificate-authority-data")  # what AWS says about a cluster, whoever wrote its entry


@dataclass(frozen=True)
class Change:
    kind: str  # "add", "update" or "remove"
    section: str
    name: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...]
    current_context: str | None  # the new value, or None when it stays
    conflicts: dict[str, str]  # context name -> why kcm could not write it (an entry it did not write)
    users: dict[str, str]  # context name -> the user it ended up with (renamed around a foreign one)

    @functools.cached_property
    def _index(self) -> dict[tuple[str, str], Change]:
        return {(change.section, change.name): change for change in self.changes}

    def of(self, section: str, name: str) -> Change | None:
        """The change to one entry: a look-up, since a sync asks it three times per context."""
        return self._index.get((section, name))


def _extensions(entry: dict[str, Any], section: str) -> list[Any]:
    body = entry.get(BODY[section])
    found = body.get("extensions") if isinstance(body, dict) else None
    return found if isinstance(found, list) else []


def _is_mark(extension: Any) -> bool:
    return isinstance(extension, dict) and extension.get("name") == MARK


def origin(section: str, entry: dict[str, Any]) -> dict[str, Any] | None:
    """kcm's record of where an entry came from, or None for an entry kcm did not write."""
    for extension in _extensions(entry, section):
        if _is_mark(extension) and isinstance(extension.get("extension"), dict):
            found: dict[str, Any] = extension["extension"]
            return found
    return None


def marked(section: str, entry: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    """`entry` carrying kcm's mark with `record` (after any extensions it already has)."""
    body = dict(entry[BODY[section]])
    others = [item for item in body.get("extensions") or [] if not _is_mark(item)]
    body["extensions"] = [*others, {"extension": record, "name": MARK}]
    return {**entry, BODY[section]: body}


def unmarked(section: str, entry: dict[str, Any]) -> dict[str, Any]:
    body = dict(entry[BODY[section]])
    others = [item for item in body.get("extensions") or [] if not _is_mark(item)]
    if others:
        body["extensions"] = others
    else:
        body.pop("extensions", None)
    return {**entry, BODY[section]: body}


def _merge(section: str, existing: dict[str, Any], wanted: dict[str, Any]) -> dict[str, Any]:
    """kcm's fields over an entry it owns: fields and extensions the user added stay where they are."""
    key = BODY[section]
    old = existing.get(key) if isinstance(existing.get(key), dict) else {}
    assert isinstance(old, dict)
    body = {**old, **wanted[key]}
    mine = [item for item in wanted[key].get("extensions", []) if _is_mark(item)]
    theirs = old.get("extensions")
    if not isinstance(theirs, list):
        theirs = []
    merged = [mine[0] if _is_mark(item) and mine else item for item in theirs]
    body["extensions"] = merged if any(_is_mark(item) for item in merged) else [*merged, *mine]
    if section == "users" and isinstance(old.get("exec"), dict) and "exec" in wanted[key]:
        body["exec"] = {**wanted[key]["exec"]} | {
            name: value
            for name, value in old["exec"].items()
            if name not in wanted[key]["exec"] and _KUBECTL_EXEC_DEFAULTS.get(name, _NONE) == value
        }
    return {**existing, **wanted, key: body}


def _cluster_facts(existing: dict[str, Any], wanted: dict[str, Any]) -> dict[str, Any]:
    """An entry for this cluster that kcm did not write: only what AWS reports changes in it."""
    body = existing.get("cluster")
    if not isinstance(body, dict):
        return existing
    facts = {key: wanted["cluster"][key] for key in _FACTS if key in wanted["cluster"]}
    return {**existing, "cluster": {**body, **facts}}


class _Planner:
    def __init__(self, current: dict[str, Any]) -> None:
        self.existing: dict[str, dict[str, dict[str, Any]]] = {
            section: {e["name"]: e for e in current.get(section) or [] if isinstance(e, dict)}
            for section in BODY
        }
        self.changes: dict[tuple[str, str], Change] = {}
        self.wanted: dict[str, set[str]] = {section: set() for section in BODY}
        self.removed: set[tuple[str, str]] = set()

    def put(self, section: str, entry: dict[str, Any]) -> None:
        name = entry["name"]
        self.wanted[section].add(name)
        before = self.existing[section].get(name)
        if (section, name) in self.changes or before == entry:
            return
        kind = "add" if before is None else "update"
        self.changes[(section, name)] = Change(kind, section, name, before, entry)

    def foreign(self, section: str, name: str) -> dict[str, Any] | None:
        entry = self.existing[section].get(name)
        return entry if entry is not None and origin(section, entry) is None else None

    def merged(self, section: str, entry: dict[str, Any]) -> dict[str, Any]:
        before = self.existing[section].get(entry["name"])
        return entry if before is None else _merge(section, before, entry)


def plan(
    current: dict[str, Any],
    wanted: Iterable[Entries],
    *,
    prunable: Callable[[str, dict[str, Any]], bool] | None = None,
    set_current: str | None = None,
) -> Plan:
    """The changes that write `wanted` (entries carrying kcm's mark) into `current`, and with `prunable`
    remove the marked entries it selects that are no longer wanted."""
    planner = _Planner(current)
    conflicts: dict[str, str] = {}
    users: dict[str, str] = {}
    for entries in wanted:
        context_name = entries.context["name"]
        if planner.foreign("contexts", context_name) is not None:
            conflicts[context_name] = (
                f"context '{context_name}' exists and was not written by kcm: left as it is "
                "(rename it, or choose another --alias-template)"
            )
            continue
        cluster = entries.cluster
        foreign = planner.foreign("clusters", cluster["name"])
        planner.put(
            "clusters", _cluster_facts(foreign, cluster) if foreign else planner.merged("clusters", cluster)
        )
        user = entries.user
        foreign = planner.foreign("users", user["name"])
        if foreign is not None and foreign == unmarked("users", user):
            user = foreign  # the same credentials the user set up: use them, as theirs
        elif foreign is not None:
            user = {**user, "name": f"{user['name']}@{context_name}"}
        if user is not foreign:
            planner.put("users", planner.merged("users", user))
        users[context_name] = user["name"]
        context = {**entries.context, "context": {**entries.context["context"], "user": user["name"]}}
        planner.put("contexts", planner.merged("contexts", context))
    if prunable is not None:
        _prune(planner, prunable)
    return Plan(
        tuple(planner.changes.values()),
        _current_context(planner, current, set_current),
        conflicts,
        users,
    )


def _prune(planner: _Planner, prunable: Callable[[str, dict[str, Any]], bool]) -> None:
    """Marked entries no longer wanted go, except a cluster or user that a remaining context uses."""
    for section in ("contexts", "clusters", "users"):
        in_use = {
            context["context"].get(BODY[section])
            for name, context in planner.existing["contexts"].items()
            if ("contexts", name) not in planner.removed and isinstance(context.get("context"), dict)
        }
        for name, entry in planner.existing[section].items():
            if name in planner.wanted[section] or origin(section, entry) is None:
                continue
            if (section == "contexts" or name not in in_use) and prunable(section, entry):
                planner.changes[(section, name)] = Change("remove", section, name, entry, None)
                planner.removed.add((section, name))


def _current_context(planner: _Planner, current: dict[str, Any], set_current: str | None) -> str | None:
    now = current.get("current-context") or ""
    if set_current is not None:
        exists = set_current in planner.existing["contexts"] or set_current in planner.wanted["contexts"]
        if not exists or ("contexts", set_current) in planner.removed:
            raise InputError(f"--set-current {set_current!r}: no such context after this sync")
        return set_current if set_current != now else None
    return "" if ("contexts", now) in planner.removed else None


def apply(planned: Plan, doc: Document) -> None:
    """Carry out `planned` on a kubeconfig.Document."""
    for change in planned.changes:
        if change.after is None:
            doc.remove(change.section, change.name)
        else:
            doc.upsert(change.section, change.after)
    if planned.current_context is not None:
        doc.set("current-context", planned.current_context)
