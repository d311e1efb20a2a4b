"""The everyday verbs on contexts: use, rm, rename, export. kubectl's rules for a KUBECONFIG list
(files.py); every write through the same locks, atomic writes and backups as add and sync."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kcm import files, kubeconfig, paths, reconcile, store
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
def _editing(kubeconfig_path: str | None) -> Iterator[View]:
    """Lock every file of the list, load them, hand over kubectl's view; write the files that changed."""
    targets = paths.kubeconfig_paths(kubeconfig_path)
    with store.edit_all(targets) as edits:
        view = files.load(targets, [edit.text for edit in edits])
        yield view
        texts = [
            (edit, doc.dump()) for edit, (_, doc) in zip(edits, view.docs, strict=True) if doc and doc.changed
        ]
        for edit, text in texts:  # every file dumped (and checked) before any is written
            edit.new_text = text


def _previous_file(kubeconfig_path: str | None) -> Path:
    """Where `kcm use -` finds the context before the last switch: one small file per kubeconfig
    (per KUBECONFIG list), in kcm's state folder."""
    import hashlib

    first = Path(paths.kubeconfig_paths(kubeconfig_path)[0]).absolute()
    digest = hashlib.sha256(str(first).encode()).hexdigest()[:12]
    return store.backups_dir().parent / "previous" / f"{first.name}-{digest}"


def _previous(kubeconfig_path: str | None) -> str:
    from kcm import folders

    data = folders.read_private(_previous_file(kubeconfig_path), limit=4096)
    name = data.decode("utf-8", "replace").rstrip("\n") if data else ""
    if not name:
        raise InputError("no previous context to go back to: kcm remembers one when `kcm use` switches")
    return name


def _remember(kubeconfig_path: str | None, name: str) -> None:
    """Keep the context we are leaving for `kcm use -`; a state folder that cannot hold it costs only that."""
    from kcm import folders

    path = _previous_file(kubeconfig_path)
    with contextlib.suppress(OSError, KcmError):
        folders.private(path.parent, parents=3)
        store.write_atomic(path, name + "\n", mode=0o600)


def use(name: str, kubeconfig_path: str | None = None, *, exact: bool = False) -> Done:
    """Make the context current: named exactly, or by a part of its name that only it holds; `-` is
    the one before the last switch, as in kubectx. `exact`: the name only (one picked from a list)."""
    wanted = _previous(kubeconfig_path) if name == "-" and not exact else name
    with _editing(kubeconfig_path) as view:
        full = wanted if exact else view.match(wanted)
        view.context(full)
        holder = view.current_holder()
        assert holder is not None  # the context exists, so a file does
        leaving = str(view.data.get("current-context") or "")
        holder.set("current-context", full)
    if leaving and leaving != full:
        _remember(kubeconfig_path, leaving)
    matched = f' (the one context whose name holds "{wanted}")' if full != wanted else ""
    return Done([f'Switched to context "{full}".{matched}'])


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


def remove(names: list[str], kubeconfig_path: str | None = None) -> Done:
    """Each context, and its cluster and user unless a context that stays still uses them."""
    done = Done()
    with _editing(kubeconfig_path) as view:
        for name in names:
            view.context(name)
        going = set(names)
        staying = [c.get("context") or {} for c in view.data["contexts"] if name_of(c) not in going]
        for name in dict.fromkeys(names):
            body = view.context(name).get("context") or {}
            _holder(view, "contexts", name).remove("contexts", name)
            done.messages.append(f"deleted context {name}")
            for section, key in (("clusters", "cluster"), ("users", "user")):
                entry_name = body.get(key) if isinstance(body, dict) else None
                if not isinstance(entry_name, str) or any(b.get(key) == entry_name for b in staying):
                    continue
                held = view.holder(section, entry_name)
                if held is not None and held.remove(section, entry_name):
                    done.messages.append(f"deleted {key} {entry_name}")
        if view.data["current-context"] in going:
            holder = view.current_holder()
            assert holder is not None
            holder.set("current-context", "")
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


def export(names: list[str], kubeconfig_path: str | None = None) -> str:
    """A self-contained kubeconfig: those contexts (the first one current), their clusters and users,
    file references read into `*-data` fields, nothing else."""
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
    return doc.dump()


def export_to(names: list[str], output: str, kubeconfig_path: str | None = None) -> Path:
    """`export` into a private file (0600), written atomically."""
    path = Path(output).expanduser().absolute()
    text = export(names, kubeconfig_path)
    if path.is_dir():
        raise InputError(f"{output}: is a directory")
    store.write_atomic(path, text, mode=0o600)  # makes the missing folders, 0700
    return path
