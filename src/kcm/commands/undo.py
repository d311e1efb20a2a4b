"""`kcm undo`: put back the file as it was before kcm's last change; `--list`: what each kept step
would put back. What a step changed is worked out here, from the kept copies and the file as it is
now, so that no write pays for it."""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kcm import kubeconfig, paths, store
from kcm.errors import InputError, KcmError
from kcm.kubeconfig import SECTIONS
from kcm.schema import name_of

KINDS = ("added", "changed", "removed")


@dataclass(frozen=True)
class Step:
    """One step back: the write it undoes, and what that write changed."""

    number: int  # 1: what the next `kcm undo` puts back
    when: datetime.datetime | None  # local time; None for a backup kcm did not name
    command: str | None  # None: not recorded (a backup kept by an older kcm)
    created: bool  # the write created the file: undoing it removes the file
    changes: dict[str, dict[str, int]] | None  # section -> kind -> count; None: cannot be told
    current_context: tuple[str, str] | None  # (restored, as after the write) when they differ
    damage: str | None  # why it cannot be restored


def run(kubeconfig_path: str | None, force: bool = False) -> str:
    """One step back; what was done."""
    path = paths.kubeconfig_paths(kubeconfig_path)[0]

    def check(text: str) -> None:
        try:
            kubeconfig.loads(text, f"the backup of {path}")
        except KcmError as exc:
            raise KcmError(f"{exc}; not restored") from None

    return store.undo(path, force=force, check=check)


def _parsed(text: str | None, source: str) -> dict[str, Any] | None:
    """The data of a kubeconfig text (no file: an empty one); None when kubectl could not read it."""
    if text is None:
        return kubeconfig.new_config()
    try:
        return kubeconfig.plain_data(text, source)
    except KcmError:
        return None


def _changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Entries added, changed and removed by name, section by section (the first of a name counts,
    as kubectl reads it)."""
    found = {}
    for section in SECTIONS:
        old: dict[str, Any] = {}
        new: dict[str, Any] = {}
        for entries, by_name in ((before.get(section), old), (after.get(section), new)):
            for entry in entries if isinstance(entries, list) else []:
                by_name.setdefault(name_of(entry), entry)
        found[section] = {
            "added": len(new.keys() - old.keys()),
            "changed": sum(old[name] != new[name] for name in old.keys() & new.keys()),
            "removed": len(old.keys() - new.keys()),
        }
    return found


def steps(kubeconfig_path: str | None) -> tuple[Path, list[Step], bool]:
    """The steps kept for the kubeconfig, newest first, and whether it changed since kcm's last
    write (so that `kcm undo` needs --force). Each step is compared with the state after it: the
    next newer copy, or for the newest the file as it is now."""
    path = paths.kubeconfig_paths(kubeconfig_path)[0]
    target, found = store.backups(path)
    now = store.read_text(target)
    after = _parsed(now, str(target))
    listed = []
    for index, backup in enumerate(found):  # each text is parsed once: after one step, before another
        damage, before = backup.damage, None
        if damage is None:
            try:
                before = _parsed(backup.text(), f"the backup {backup.copy}")
            except (OSError, ValueError, KcmError) as exc:  # a copy gone, unreadable, not text
                damage = str(exc)
            if before is None and damage is None:
                damage = "its copy is not a kubeconfig kubectl can read"
        seconds = backup.seconds
        listed.append(
            Step(
                number=index + 1,
                when=datetime.datetime.fromtimestamp(seconds).astimezone() if seconds is not None else None,
                command=backup.command,
                created=damage is None and not backup.existed,
                changes=_changes(before, after) if before is not None and after is not None else None,
                current_context=_current(before, after),
                damage=damage,
            )
        )
        after = before
    return target, listed, found[0].damage is None and not found[0].wrote(now)


def _current(before: dict[str, Any] | None, after: dict[str, Any] | None) -> tuple[str, str] | None:
    if before is None or after is None:
        return None
    old, new = str(before.get("current-context") or ""), str(after.get("current-context") or "")
    return (old, new) if old != new else None


def _summary(step: Step) -> str:
    if step.damage is not None:
        return f"damaged: {step.damage} (`kcm undo` refuses it)"
    if step.changes is None:
        return "unknown (the file after it cannot be read)"
    totals = {kind: sum(counts[kind] for counts in step.changes.values()) for kind in KINDS}
    parts = [f"{count} {kind}" for kind, count in totals.items() if count]
    text = ", ".join(parts) if parts else "no entry changed"
    if step.created:
        text = f"created the file: {text}"
    if step.current_context is not None:
        text += f"; current-context back to {step.current_context[0] or '(unset)'}"
    return text


def as_json(steps_found: list[Step]) -> list[dict[str, Any]]:
    return [
        {
            "step": step.number,
            "time": step.when.isoformat(timespec="seconds") if step.when else None,
            "command": step.command,
            "created_file": step.created,
            "changes": step.changes,
            "current_context": (
                {"before": step.current_context[0], "after": step.current_context[1]}
                if step.current_context
                else None
            ),
            "damaged": step.damage,
        }
        for step in steps_found
    ]


def show(kubeconfig_path: str | None, output_format: str) -> None:
    """`kcm undo --list`: one row per step, newest (the next undone) first; or JSON."""
    from kcm import output

    if output_format not in ("text", "json"):
        raise InputError(f"--output {output_format!r}: choose text or json")
    target, found, changed = steps(kubeconfig_path)
    if output_format == "json":
        output.out(json.dumps(as_json(found), indent=2))
    else:
        rows = [["STEP", "WHEN", "COMMAND", "CHANGES (undo takes them back)"]]
        for step in found:
            when = step.when.strftime("%Y-%m-%d %H:%M") if step.when else "?"
            rows.append([str(step.number), when, step.command or "(not recorded)", _summary(step)])
        output.out(output.table(rows))
    if changed:
        output.warn(f"{target} changed since kcm's last change to it: `kcm undo` needs --force")
