"""`kcm merge`: other kubeconfigs (kind, minikube, a colleague's) into the user's, nothing lost.

Each source is read as kubectl reads it (relative file references against its own directory), then
planned against the target file with reconcile.merge and applied in one locked, atomic write.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kcm import files, kubeconfig, paths, reconcile, store
from kcm.errors import InputError
from kcm.kubeconfig import SECTIONS


@dataclass(frozen=True)
class MergeOptions:
    sources: tuple[str, ...]
    on_conflict: str = "fail"
    flatten: bool = False
    kubeconfig: str | None = None
    dry_run: bool = False
    trust: bool = False  # write entries that make kubectl run a command or read a file


@dataclass(frozen=True)
class MergeResult:
    path: Path
    plan: reconcile.Plan
    before: str  # the target's text, and as it is (or would be) written
    after: str
    written: bool
    current: str  # its current-context before
    carried: tuple[str, ...] = ()  # what the new entries make kubectl run or read (reconcile.carried)


def source(name: str, flatten: bool = False) -> tuple[str, dict[str, Any]]:
    """A kubeconfig to bring in: its label and data, file references absolute (or inlined)."""
    path = Path(name).expanduser().absolute()
    text = store.read_text(path)
    if text is None:
        raise InputError(f"{name}: no such file")
    data = kubeconfig.loads(text, name).data
    result = dict(data)
    for section in SECTIONS:
        entries = []
        for entry in data.get(section) or []:
            entry = files.resolved(section, entry, path.parent)
            entries.append(files.flattened(section, entry, name) if flatten else entry)
        result[section] = entries
    return name, result


def plan(
    current: dict[str, Any], sources: list[tuple[str, dict[str, Any]]], on_conflict: str
) -> reconcile.Plan:
    """The merge's changes; conflicts not settled by `on_conflict` are an error that lists them all."""
    planned = reconcile.merge(current, sources, on_conflict)
    if planned.conflicts:
        listed = "; ".join(planned.conflicts.values())
        raise InputError(
            f"{len(planned.conflicts)} conflict(s): {listed}; choose --on-conflict keep, theirs or rename; "
            "nothing was written"
        )
    return planned


def run(options: MergeOptions, confirm: Callable[[list[str]], bool] | None = None) -> MergeResult:
    """Read the sources (before any lock), then lock, plan, apply and write the target once. Entries
    that make kubectl run a command or read a file are written only with `trust`, or when
    `confirm` (a question on a terminal) says yes; else nothing is written and the error names them."""
    if not options.sources:
        raise InputError("name at least one kubeconfig file to merge")
    sources = [source(name, options.flatten) for name in options.sources]
    path = paths.kubeconfig_paths(options.kubeconfig)[0]
    with store.edit(path, write=not options.dry_run) as current:
        doc = kubeconfig.loads(current.text or "", str(path))
        planned = plan(doc.data, sources, options.on_conflict)
        carried = reconcile.carried(planned)
        reconcile.apply(planned, doc)
        text = doc.dump()
        write = doc.changed and not options.dry_run
        if write and carried and not options.trust and not (confirm and confirm(carried)):
            raise InputError(
                f"the merge brings in what kubectl would run or read on every call: {'; '.join(carried)}; "
                "pass --trust if you trust them; nothing was written"
            )
        if write:
            current.new_text = text
    current_context = str(doc.original.get("current-context") or "")
    return MergeResult(path, planned, doc.bom + doc.text, text, write, current_context, tuple(carried))
