"""Plan, then apply: the changes that take a kubeconfig from what it holds to what kcm wants. Pure.

kcm marks what it owns with an extension named `kcm` in the entry's `cluster`, `user` or `context`
(kubectl keeps extensions when it rewrites a file). Only marked entries are ever pruned; an unmarked
entry in the way is left as it is.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from kcm.eks import Entries
from kcm.errors import InputError
from kcm.kubeconfig import Document
from kcm.schema import name_of

MARK = "kcm"
ALIAS = "alias"  # in a context's mark: the name the user gave it with `kcm rename`, kept by every sync
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
    kind: str  # "add", "update", "remove", or "adopt": an entry another tool wrote, taken over
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
    contexts: dict[str, str] = dataclasses.field(default_factory=dict)  # wanted name -> the name kept
    adopted: dict[str, str] = dataclasses.field(default_factory=dict)  # context -> who wrote it
    notes: tuple[str, ...] = ()  # what the plan left alone, and why
    extensions: list[Any] | None = None  # the file's top-level extensions, when they change

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
        extra = _extra_env(old["exec"].get("env"), body["exec"].get("env"))
        if extra:
            body["exec"]["env"] = [*(body["exec"].get("env") or []), *extra]
    return {**existing, **wanted, key: body}


def _extra_env(old: Any, new: Any) -> list[Any]:
    """Variables the user (or eksctl: AWS_STS_REGIONAL_ENDPOINTS) set in an exec's env that kcm's does
    not set: they stay. AWS_PROFILE is kcm's to say: it is the identity."""
    taken = {item.get("name") for item in new or [] if isinstance(item, dict)} | {"AWS_PROFILE"}
    return [item for item in old or [] if isinstance(item, dict) and item.get("name") not in taken]


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
            section: {name_of(e): e for e in current.get(section) or [] if isinstance(e, dict)}
            for section in BODY
        }
        self.changes: dict[tuple[str, str], Change] = {}
        self.wanted: dict[str, set[str]] = {section: set() for section in BODY}
        self.removed: set[tuple[str, str]] = set()
        self.adopted: set[tuple[str, str]] = set()  # entries another tool wrote that kcm takes over

    def put(self, section: str, entry: dict[str, Any]) -> None:
        name = entry["name"]
        self.wanted[section].add(name)
        before = self.existing[section].get(name)
        if (section, name) in self.changes or before == entry:
            return
        kind = "add" if before is None else "update"
        self.changes[(section, name)] = Change(kind, section, name, before, entry)

    def now(self, section: str, name: str) -> dict[str, Any] | None:
        """The entry as the plan so far leaves it (None: absent)."""
        change = self.changes.get((section, name))
        return change.after if change is not None else self.existing[section].get(name)

    def replace(self, section: str, entry: dict[str, Any]) -> None:
        """`entry` in place of the one with its name, whatever the plan said about it before."""
        name = entry["name"]
        self.wanted[section].add(name)
        before = self.existing[section].get(name)
        if before == entry:
            self.changes.pop((section, name), None)
        else:
            self.changes[(section, name)] = Change(
                "add" if before is None else "update", section, name, before, entry
            )

    def foreign(self, section: str, name: str) -> dict[str, Any] | None:
        """The entry of that name when another tool wrote it (and kcm is not taking it over)."""
        entry = self.existing[section].get(name)
        if entry is None or origin(section, entry) is not None or (section, name) in self.adopted:
            return None
        return entry

    def ours(self, section: str, name: str) -> bool:
        """Whether kcm owns the entry of that name, or is taking it over in this plan."""
        entry = self.existing[section].get(name)
        return entry is not None and (origin(section, entry) is not None or (section, name) in self.adopted)

    def merged(self, section: str, entry: dict[str, Any]) -> dict[str, Any]:
        before = self.existing[section].get(entry["name"])
        return entry if before is None else _merge(section, before, entry)


def plan(
    current: dict[str, Any],
    wanted: Iterable[Entries],
    *,
    prunable: Callable[[str, dict[str, Any]], bool] | None = None,
    set_current: str | None = None,
    adopt: bool = False,
) -> Plan:
    """The changes that write `wanted` (entries carrying kcm's mark) into `current`, and with `prunable`
    remove the marked entries it selects that are no longer wanted. With `adopt`, a context another
    tool wrote for the same cluster and the same identity is taken over (kcm.adoption) instead of a
    second one being added."""
    from kcm import adoption

    planner = _Planner(current)
    conflicts: dict[str, str] = {}
    users: dict[str, str] = {}
    renamed: dict[str, str] = {}
    adopted: dict[str, str] = {}
    notes: list[str] = []
    by_origin = _by_origin(planner)
    candidates = adoption.Candidates(planner.existing) if adopt else None
    for entries in wanted:
        context_name = entries.context["name"]
        record = origin("contexts", entries.context) or {}
        moved = by_origin.get(_key(record))
        if candidates is not None and moved is None and context_name not in planner.existing["contexts"]:
            taken = candidates.take(entries, notes)
            if taken is not None:
                moved = taken.context
                adopted[moved] = taken.source
                planner.adopted.update(taken.entries)
        if context_name not in planner.existing["contexts"] and moved is not None:
            # The user named this context (`kcm rename`, or another tool did and kcm adopted it): the
            # name stays theirs, whatever the template, and so do the cluster and user it names.
            renamed[context_name] = context_name = moved
            entries = _named_as(planner, entries, moved, {**record, ALIAS: moved})
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
        change = planner.changes.get(("contexts", context_name))
        if context_name in adopted and change is not None:
            planner.changes[("contexts", context_name)] = dataclasses.replace(change, kind="adopt")
    if prunable is not None:
        _prune(planner, prunable)
    return Plan(
        tuple(planner.changes.values()),
        _current_context(planner, current, set_current),
        conflicts,
        users,
        renamed,
        adopted,
        tuple(notes),
    )


def _named_as(planner: _Planner, entries: Entries, name: str, record: dict[str, Any]) -> Entries:
    """`entries` for the context `name` kcm keeps (or takes over): pointing at the cluster and user it
    names when those are kcm's too, under their names (eksctl's, say), rather than at new ones."""
    existing = planner.existing["contexts"].get(name) or {}
    body = existing.get("context") if isinstance(existing.get("context"), dict) else {}
    assert isinstance(body, dict)
    cluster, user = entries.cluster, entries.user
    for section, key in (("clusters", "cluster"), ("users", "user")):
        kept = body.get(key)
        if isinstance(kept, str) and kept and planner.ours(section, kept):
            if section == "clusters":
                cluster = {**cluster, "name": kept}
            else:
                user = {**user, "name": kept}
    context = {
        **entries.context,
        "name": name,
        "context": {**entries.context["context"], "cluster": cluster["name"], "user": user["name"]},
    }
    return Entries(cluster, user, marked("contexts", context, record))


def _key(record: dict[str, Any]) -> str:
    return repr(sorted((k, v) for k, v in record.items() if k != ALIAS))


def _by_origin(planner: _Planner) -> dict[str, str]:
    """kcm's contexts that the user named (`alias` in the mark is their name), by where they came from."""
    found: dict[str, str] = {}
    for name, entry in planner.existing["contexts"].items():
        record = origin("contexts", entry)
        if record and record.get(ALIAS) == name:
            found.setdefault(_key(record), name)
    return found


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
    if planned.extensions is not None:
        doc.set("extensions", planned.extensions)


# ---- what the user removed -----------------------------------------------------------------------------
# `kcm rm` of a context kcm manages records where it came from in the file's own top-level extensions
# (kubectl keeps them), so that the next sync does not bring it back: {name: kcm, extension: {removed:
# [record, ...]}}.
REMOVED = "removed"


def removed(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The records of the contexts the user removed with `kcm rm`, from the file's extensions."""
    for extension in data.get("extensions") or []:
        if _is_mark(extension) and isinstance(extension.get("extension"), dict):
            found = extension["extension"].get(REMOVED)
            return [item for item in found if isinstance(item, dict)] if isinstance(found, list) else []
    return []


def with_removed(data: dict[str, Any], records: list[dict[str, Any]]) -> list[Any]:
    """The file's top-level extensions with kcm's list of removed contexts set to `records` (kcm's
    extension gone when there are none); every other extension as it is."""
    others = [item for item in data.get("extensions") or [] if not _is_mark(item)]
    if not records:
        return others
    unique = list(
        {_key(record): {k: v for k, v in record.items() if k != ALIAS} for record in records}.values()
    )
    return [*others, {"extension": {REMOVED: unique}, "name": MARK}]


def removed_key(record: dict[str, Any]) -> str:
    """What two records of one cluster reached one way have in common (the user's name aside)."""
    return _key(record)


# ---- merging other kubeconfigs -------------------------------------------------------------------------
ON_CONFLICT = ("fail", "keep", "theirs", "rename")
_ORDER = ("clusters", "users", "contexts")  # contexts last: they name clusters and users, maybe renamed


def upserts(
    current: dict[str, Any], entries: Iterable[tuple[str, dict[str, Any]]], *, set_current: str | None = None
) -> Plan:
    """The changes that put each (section, entry) in place of the one with its name, as
    `aws eks update-kubeconfig` does, and make `set_current` the current context."""
    planner = _Planner(current)
    for section, entry in entries:
        planner.replace(section, entry)
    now = current.get("current-context") or ""
    changed = set_current if set_current is not None and set_current != now else None
    return Plan(tuple(planner.changes.values()), changed, {}, {})


def merge(current: dict[str, Any], sources: Iterable[tuple[str, dict[str, Any]]], on_conflict: str) -> Plan:
    """The changes that bring the clusters, users and contexts of each source (its label and data, file
    references already resolved) into `current`, one source after the other. A name that is new is
    added; the same content is nothing to do; different content is a conflict, settled by `on_conflict`:
    fail (recorded in the plan's conflicts), keep ours, take theirs, or rename theirs (`name-2`, ...)
    and point that source's contexts at the new names. current-context: ours, or when we have none
    the first source's, as kubectl's merge of a KUBECONFIG list does."""
    if on_conflict not in ON_CONFLICT:
        raise InputError(f"--on-conflict {on_conflict!r}: choose {', '.join(ON_CONFLICT)}")
    planner = _Planner(current)
    conflicts: dict[str, str] = {}
    chosen = current.get("current-context") or ""
    for label, data in sources:
        renamed: dict[str, dict[str, str]] = {section: {} for section in BODY}
        for section in _ORDER:
            # an entry with no name is kubectl's "" and cannot be named by any context: never written
            theirs = [e for e in data.get(section) or [] if isinstance(e, dict) and name_of(e)]
            for entry in theirs:
                if section == "contexts":
                    entry = _pointed(entry, renamed)
                name = entry["name"]
                ours = planner.now(section, name)
                if ours is None or on_conflict == "theirs":
                    planner.replace(section, entry)
                elif ours == entry or on_conflict == "keep":
                    continue
                elif on_conflict == "rename":
                    new = _renamed(planner, section, entry, {e["name"] for e in theirs})
                    renamed[section][name] = new
                    planner.replace(section, {**entry, "name": new})
                else:
                    conflicts[f"{section[:-1]} {name}"] = (
                        f"{label}: {section[:-1]} '{name}' differs from the one in the kubeconfig"
                    )
        if not chosen and data.get("current-context"):
            candidate = renamed["contexts"].get(data["current-context"], data["current-context"])
            chosen = candidate if planner.now("contexts", candidate) is not None else ""
    now = current.get("current-context") or ""
    return Plan(tuple(planner.changes.values()), chosen if chosen != now else None, conflicts, {})


def _renamed(planner: _Planner, section: str, entry: dict[str, Any], theirs: set[str]) -> str:
    """The first `name-N` free in both files, or already holding this very entry (merged before)."""
    for n in itertools.count(2):
        name = f"{entry['name']}-{n}"
        ours = planner.now(section, name)
        if ours == {**entry, "name": name} or (ours is None and name not in theirs):
            return name
    raise AssertionError("unreachable")


def _pointed(context: dict[str, Any], renamed: dict[str, dict[str, str]]) -> dict[str, Any]:
    """A context of a source, pointing at its cluster and user under their new names."""
    body = context.get("context")
    if not isinstance(body, dict):
        return context
    moved = {
        key: renamed[section][body[key]]
        for section, key in (("clusters", "cluster"), ("users", "user"))
        if isinstance(body.get(key), str) and body[key] in renamed[section]
    }
    return {**context, "context": {**body, **moved}} if moved else context


# ---- showing a plan ------------------------------------------------------------------------------------
_SECRETS = frozenset({"token", "password", "client-key-data", "client-secret", "id-token", "refresh-token"})
_DATA = frozenset({"certificate-authority-data", "client-certificate-data"})


def redacted(value: Any) -> Any:
    """`value` with secrets and certificate data replaced, as `kubectl config view` shows them."""
    if isinstance(value, dict):
        return {
            key: "REDACTED"
            if key in _SECRETS and item
            else "DATA+OMITTED"
            if key in _DATA and item
            else redacted(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [redacted(item) for item in value]
    return value


def field_changes(before: Any, after: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """The fields that differ between two entries, as (dotted path, before, after); lists whole."""
    if isinstance(before, dict) and isinstance(after, dict):
        found: list[tuple[str, Any, Any]] = []
        for key in [*before, *(k for k in after if k not in before)]:
            if before.get(key, _NONE) != after.get(key, _NONE):
                inner = f"{path}.{key}" if path else str(key)
                found += field_changes(before.get(key, _NONE), after.get(key, _NONE), inner)
        return found
    return [(path, None if before is _NONE else before, None if after is _NONE else after)]


_READS = {"users": ("tokenFile", "client-certificate", "client-key"), "clusters": ("certificate-authority",)}


def _runs_and_reads(section: str, entry: dict[str, Any] | None) -> list[str]:
    """What kubectl runs or reads on every call through `entry`: an exec command, an auth provider,
    a token or key file."""
    body = (entry or {}).get(BODY.get(section, ""))
    if not isinstance(body, dict):
        return []
    found = []
    command = body.get("exec") if section == "users" else None
    if isinstance(command, dict) and command.get("command"):
        args = [str(arg) for arg in command.get("args") or []]
        env = [
            f"{item.get('name')}={item.get('value') or ''}"
            for item in command.get("env") or []
            if isinstance(item, dict)
        ]
        with_env = f" with {shlex.join(env)}" if env else ""  # LD_PRELOAD, PATH: what runs, too
        found.append(f"runs `{shlex.join([str(command['command']), *args])}`{with_env}")
    provider = body.get("auth-provider") if section == "users" else None
    if isinstance(provider, dict):
        config = provider.get("config")
        path = config.get("cmd-path") if isinstance(config, dict) else None
        extra = str(config.get("cmd-args") or "") if isinstance(config, dict) else ""
        runs = f" (which runs `{path}{' ' + extra if extra else ''}`)" if path else ""
        found.append(f"uses the auth provider '{provider.get('name')}'{runs}")
    found += [f"reads {key} {body[key]}" for key in _READS.get(section, ()) if body.get(key)]
    return found


def carried(planned: Plan) -> list[str]:
    """The commands and files that the plan's new or replaced entries make kubectl run or read, each
    with the entry it comes with (and what it replaces): what a merge of someone's file brings in."""
    found = []
    for change in planned.changes:
        before = _runs_and_reads(change.section, change.before)
        for item in _runs_and_reads(change.section, change.after):
            if item in before:
                continue
            instead = f" instead of: {'; '.join(before)}" if before else ""
            found.append(f"{change.section[:-1]} '{change.name}' {item}{instead}")
    return found
