"""The everyday verbs on contexts: use, rm, rename, export. kubectl's rules for a KUBECONFIG list
(files.py); every write through the same locks, atomic writes and backups as add and sync."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kcm import files, kubeconfig, paths, quick, reconcile, store
from kcm.errors import InputError, KcmError
from kcm.files import View
from kcm.kubeconfig import Document
from kcm.schema import name_of


@dataclass
class Done:
    """What a verb changed, file by file, and what the user should know."""

    messages: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@contextlib.contextmanager
def _editing(kubeconfig_path: str | None, backup: bool = True) -> Iterator[View]:
    """Lock every file of the list, load them, hand over kubectl's view; write the files that changed
    (`backup=False`: a change that is no step of `kcm undo`)."""
    targets = paths.kubeconfig_paths(kubeconfig_path)
    with store.edit_all(targets, backup=backup) as edits:
        view = files.load(targets, [edit.text for edit in edits])
        yield view
        texts = [
            (edit, doc.dump()) for edit, (_, doc) in zip(edits, view.docs, strict=True) if doc and doc.changed
        ]
        for edit, text in texts:  # every file dumped (and checked) before any is written
            edit.new_text = text


def _previous_file(kubeconfig_path: str | None, context: str) -> Path:
    """Where `kcm ns -` finds the context's namespace before the last change: one small file per
    kubeconfig (per KUBECONFIG list) and context, in kcm's state folder (`kcm use -`'s is kcm.quick's)."""
    import hashlib

    first = Path(paths.kubeconfig_paths(kubeconfig_path)[0]).absolute()
    digest = hashlib.sha256(f"{first}\0{context}".encode()).hexdigest()[:12]
    return store.backups_dir().parent / "previous-namespace" / f"{first.name}-{digest}"


def _recalled(path: Path) -> str | None:
    """The name kept in `path`; None when nothing is ("": a namespace that was not set)."""
    from kcm import folders

    data = folders.read_private(path, limit=4096)
    return data.decode("utf-8", "replace").rstrip("\n") if data else None


def _remember(kubeconfig_path: str | None, name: str, context: str) -> None:
    """Keep the namespace `context` leaves, for `kcm ns -`; a state folder that cannot hold it costs
    only that."""
    from kcm import folders

    path = _previous_file(kubeconfig_path, context)
    with contextlib.suppress(OSError, KcmError):
        folders.private(path.parent, parents=3)
        store.write_atomic(path, name + "\n", mode=0o600)


def use(name: str, kubeconfig_path: str | None = None, *, exact: bool = False) -> Done:
    """Make the context current: named exactly, or by a part of its name that only it holds; `-` is
    the one before the last switch, as in kubectx. `exact`: the name only (one picked from a list)."""
    with _editing(kubeconfig_path, backup=False) as view:  # a switch: `kcm use -` is its undo
        leaving = str(view.data.get("current-context") or "")
        if name == "-" and not exact:  # exactly the context remembered: one that is gone is an error
            wanted, exact = quick.previous(kubeconfig_path, leaving), True
        else:
            wanted = name
        full = wanted if exact else view.match(wanted)
        view.context(full)
        holder = view.current_holder()
        assert holder is not None  # the context exists, so a file does
        holder.set("current-context", full)
    if leaving and leaving != full:
        quick.remember(kubeconfig_path, leaving, full)
    return Done([quick.switched(full, wanted)])


def choose(kubeconfig_path: str | None = None) -> Done | None:
    """`kcm use` without a name: on a terminal, pick one from a list (the current one marked and
    selected); else print the names one a line, as `kcm list -o name` does (None: nothing switched)."""
    from kcm import picker
    from kcm.commands import listing

    if not picker.interactive():
        listing.show(kubeconfig_path, "name")
        return None
    view = files.read(paths.kubeconfig_paths(kubeconfig_path))
    names = [name_of(entry) for entry in view.data["contexts"] if name_of(entry)]
    if not names:
        raise KcmError(f"no contexts to pick from in {', '.join(str(path) for path, _ in view.docs)}")
    return use(picker.pick(names, view.data["current-context"], "context"), kubeconfig_path, exact=True)


DEFAULT_NAMESPACE = "default"  # what kubectl uses for a context that names none


def _namespace_of(context: dict[str, Any]) -> str:
    """The namespace the context names; "" when it names none (kubectl then uses "default")."""
    body = context.get("context")
    namespace = body.get("namespace") if isinstance(body, dict) else None
    return str(namespace) if namespace else ""


def _current_context(view: View) -> tuple[str, dict[str, Any]]:
    name = str(view.data.get("current-context") or "")
    if not name:
        where = ", ".join(str(path) for path, _ in view.docs)
        raise InputError(f"no current context in {where}: `kcm use CONTEXT` sets one")
    return name, view.context(name)


def _check_namespace(name: str) -> None:
    """A namespace's name is an RFC 1123 label: a typo like `Kube_System` is caught without the cluster."""
    import re

    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", name):
        raise InputError(
            f"'{name}' cannot be a namespace: a name is at most 63 lowercase letters, digits "
            "and '-', starting and ending with a letter or digit"
        )


def namespace(name: str | None, kubeconfig_path: str | None = None) -> Done | None:
    """`kcm ns`: set the current context's namespace, in the file that holds the context, without
    asking the cluster; `-` is the one before the last change (per context, as kubens keeps it).
    Without a name, the cluster's namespaces (kubectl): picked from on a terminal, else printed one
    a line (None: nothing was set)."""
    if name is None:
        return _choose_namespace(kubeconfig_path)
    if name != "-":
        _check_namespace(name)
    with _editing(kubeconfig_path, backup=False) as view:  # `kcm ns -` is its undo, as use's
        context, entry = _current_context(view)
        before = _namespace_of(entry)
        if name == "-":  # the namespace before the last change, or none set ("")
            recalled = _recalled(_previous_file(kubeconfig_path, context))
            if recalled is None:
                raise InputError(
                    f"no previous namespace to go back to in context '{context}': kcm remembers one "
                    "when `kcm ns` changes it"
                )
            name = recalled
            if name:
                _check_namespace(name)
        changed = (name or DEFAULT_NAMESPACE) != (before or DEFAULT_NAMESPACE)
        if changed:
            body = entry.get("context")
            if body is not None and not isinstance(body, dict):
                raise InputError(
                    f"context '{context}' in {view.path_of('contexts', context)} is not a mapping"
                )
            kept = {key: value for key, value in (body or {}).items() if key != "namespace"}
            _holder(view, "contexts", context).upsert(
                "contexts", {**entry, "context": {**(body or {}), "namespace": name} if name else kept}
            )
    done = Done()
    if changed:
        _remember(kubeconfig_path, before, context)
        done.messages.append(f'Context "{context}" modified.')
    done.messages.append(f'Active namespace is "{name or DEFAULT_NAMESPACE}".')
    done.warnings.extend(_unknown_namespace(name or DEFAULT_NAMESPACE, context, kubeconfig_path))
    return done


def _unknown_namespace(name: str, context: str, kubeconfig_path: str | None) -> list[str]:
    """A warning when kcm listed the cluster's namespaces lately and this one was not among them."""
    from kcm import namespaces

    known = namespaces.cached_namespaces(context, kubeconfig_path)
    if known is None or name in known:
        return []
    return [f"context '{context}' had no namespace '{name}' when kcm last listed them; set anyway"]


def _choose_namespace(kubeconfig_path: str | None) -> Done | None:
    import sys

    from kcm import namespaces, output, picker
    from kcm.errors import printable

    view = files.read(paths.kubeconfig_paths(kubeconfig_path))
    context, entry = _current_context(view)
    body = entry.get("context")
    cluster = view.find("clusters", str(body.get("cluster") or "")) if isinstance(body, dict) else None
    details = cluster.get("cluster") if cluster else None
    server = details.get("server") if isinstance(details, dict) else None
    found = namespaces.fetch(context, str(server or ""), kubeconfig_path)
    if not picker.interactive():  # as they are for a pipe; escaped for a terminal, as `kcm list`'s
        shown = [printable(name) if sys.stdout.isatty() else name for name in found]
        output.out("".join(f"{name}\n" for name in shown))
        return None
    current = _namespace_of(entry) or DEFAULT_NAMESPACE
    return namespace(picker.pick(found, current, "namespace"), kubeconfig_path)


def remove(names: list[str], kubeconfig_path: str | None = None) -> Done:
    """Each context, and its cluster and user unless a context that stays still uses them."""
    done = Done()
    with _editing(kubeconfig_path) as view:
        for name in names:
            view.context(name)
        going = set(names)
        staying = [c.get("context") or {} for c in view.data["contexts"] if name_of(c) not in going]
        for name in dict.fromkeys(names):
            context = view.context(name)
            body = context.get("context") or {}
            holder = _holder(view, "contexts", name)
            holder.remove("contexts", name)
            done.messages.append(f"deleted context {name}")
            record = reconcile.origin("contexts", context)
            if record is not None:  # kcm's: the next sync must not bring it back (reconcile.REMOVED)
                recorded = reconcile.removed(holder.data)
                holder.set("extensions", reconcile.with_removed(holder.data, [*recorded, record]))
                done.warnings.append(
                    f"kcm sync will not bring back context {name} (`kcm sync --include-removed` does)"
                )
            for section, key in (("clusters", "cluster"), ("users", "user")):
                entry_name = body.get(key) if isinstance(body, dict) else None
                if not isinstance(entry_name, str) or any(b.get(key) == entry_name for b in staying):
                    continue
                held = view.holder(section, entry_name)
                if held is not None and held.remove(section, entry_name):
                    done.messages.append(f"deleted {key} {entry_name}")
        if view.data["current-context"] in going:
            current = view.current_holder()
            assert current is not None
            current.set("current-context", "")
            done.warnings.append(
                f"current-context was '{view.data['current-context']}'; it is now unset "
                "(`kcm use CONTEXT` sets one)"
            )
    return done


def rename(old: str, new: str, kubeconfig_path: str | None = None) -> Done:
    if not new:
        raise InputError("the new context name is empty")
    with _editing(kubeconfig_path) as view:
        view.context(old)
        if view.find("contexts", new) is not None:
            raise InputError(f"context '{new}' already exists in {view.path_of('contexts', new)}")
        record = reconcile.origin("contexts", view.context(old))
        holder = _holder(view, "contexts", old)
        holder.rename("contexts", old, new)
        if record is not None:  # kcm's own: the next sync keeps the user's name (reconcile.ALIAS)
            entry = holder.find("contexts", new)
            assert entry is not None
            holder.upsert("contexts", reconcile.marked("contexts", entry, {**record, reconcile.ALIAS: new}))
        if view.data["current-context"] == old:
            current = view.current_holder()
            assert current is not None
            current.set("current-context", new)
    return Done([f'Context "{old}" renamed to "{new}".'])


def _holder(view: View, section: str, name: str) -> Document:
    held = view.holder(section, name)
    assert held is not None
    return held


# `kubectl config view -o json` prints a kubeconfig's keys in this order (its v1 Config type's).
_KUBECTL_KEYS = ("kind", "apiVersion", "preferences", "clusters", "users", "contexts", "current-context")


def _check_format(output_format: str) -> None:
    """`-o`: yaml or json; a file name there (what `-o` was before) is pointed at --output-file."""
    if output_format not in ("yaml", "json"):
        hint = " (--output-file FILE writes one)" if any(mark in output_format for mark in "./") else ""
        raise InputError(f"--output {output_format!r}: choose yaml or json{hint}")


def export(names: list[str], kubeconfig_path: str | None = None, output_format: str = "yaml") -> str:
    """A self-contained kubeconfig: those contexts (the first one current), their clusters and users,
    file references read into `*-data` fields, nothing else; as YAML or as kubectl's JSON."""
    _check_format(output_format)
    if not names:
        raise InputError("name at least one context to export")
    targets = paths.kubeconfig_paths(kubeconfig_path)
    view = files.read(targets)
    doc = kubeconfig.loads("", "<export>")
    wanted: list[tuple[str, dict[str, Any]]] = []
    for name in dict.fromkeys(names):
        context = view.context(name)
        wanted.append(("contexts", context))
        body = context.get("context") if isinstance(context.get("context"), dict) else {}
        assert isinstance(body, dict)
        for section, key in (("clusters", "cluster"), ("users", "user")):
            entry_name = str(body.get(key) or "")
            entry, path = view.find(section, entry_name), view.path_of(section, entry_name)
            if entry is None or path is None:
                raise InputError(f"context '{name}': no {key} named '{entry_name}' in the kubeconfig")
            wanted.append(
                (section, files.flattened(section, files.resolved(section, entry, path.parent), str(path)))
            )
    for section, entry in wanted:
        doc.upsert(section, entry)
    doc.set("current-context", names[0])
    text = doc.dump()
    return text if output_format == "yaml" else _as_json(text)


def _as_json(text: str) -> str:
    """The same kubeconfig laid out as `kubectl config view -o json` prints one: kubectl's key order,
    each entry's name first, four spaces, `<`, `>` and `&` escaped as Go's JSON escapes them. The data
    is the YAML's: kubectl's defaults are not added, nor its sorting by name."""
    import json

    data = kubeconfig.plain_data(text, "<export>")
    ordered = {key: data[key] for key in _KUBECTL_KEYS if key in data} | data
    for section in kubeconfig.SECTIONS:
        entries = ordered.get(section)
        if isinstance(entries, list):
            ordered[section] = [
                {"name": entry["name"], **entry} if isinstance(entry, dict) and "name" in entry else entry
                for entry in entries
            ]
    try:
        dumped = json.dumps(ordered, indent=4, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:  # an extension holding NaN, a key JSON cannot hold
        raise InputError(f"the exported contexts cannot be written as JSON: {exc}") from None
    for char in "<>&\u2028\u2029":  # they appear only inside strings: the escape keeps the value
        dumped = dumped.replace(char, f"\\u{ord(char):04x}")
    return dumped + "\n"


def export_to(
    names: list[str], output: str, kubeconfig_path: str | None = None, output_format: str = "yaml"
) -> Path:
    """`export` into a private file (0600), written atomically."""
    path = Path(output).expanduser().absolute()
    text = export(names, kubeconfig_path, output_format)
    if path.is_dir():
        raise InputError(f"{output}: is a directory")
    store.write_atomic(path, text, mode=0o600)  # makes the missing folders, 0700
    return path
