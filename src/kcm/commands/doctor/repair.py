"""`kcm doctor --fix`, as the user sees it: the checks, the plan, a question on a terminal, the one
edit, and the checks again after it."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kcm import output, paths, reconcile
from kcm.commands.doctor import fix
from kcm.commands.doctor.findings import Check
from kcm.commands.doctor.walk import as_json, examine

NOTHING = "nothing for `kcm doctor --fix` to fix (a stale cluster server or CA, a stale exec entry)"


def status(checks: list[Check]) -> int:
    """doctor's exit status: 1 when any check fails."""
    return 1 if any(check.status == "fail" for check in checks) else 0


def _undo_hint(path: Path, kubeconfig_path: str | None) -> str:
    default = kubeconfig_path is None and path == paths.kubeconfig_paths(None)[0]
    return "`kcm undo`" if default else f"`kcm undo --kubeconfig {shlex.quote(str(path))}`"


def _lines(planned: fix.Fixes) -> list[str]:
    """Per file: a heading, then each change as every --dry-run shows it, with why under it."""
    lines = []
    for path in planned.paths:
        here = [item for item in planned.fixes if item.path == path]
        lines.append(f"kcm doctor --fix: {len(here)} change{'s' if len(here) > 1 else ''} to {path}")
        for item in here:
            lines += output.plan_lines(reconcile.Plan((item.change,), None, {}, {}))
            lines += [f"    {why}" for why in item.why]
    return lines + [f"! {note}" for note in planned.notes]


def _as_json(planned: fix.Fixes) -> list[dict[str, Any]]:
    return [
        {
            "file": str(item.path),
            "section": item.change.section,
            "name": item.change.name,
            "before": reconcile.redacted(item.change.before),
            "after": reconcile.redacted(item.change.after),
            "why": list(item.why),
        }
        for item in planned.fixes
    ]


def run(
    context: str | None,
    kubeconfig_path: str | None,
    output_format: str,
    confirm: Callable[[list[Path]], bool],
) -> int:
    """Walk, plan the fixes, show them, write them once `confirm` says so, walk again; the exit status
    (of the walk after the fix, when one was written). With `output_format` json, one object:
    {checks, fixes, written, after}."""
    found = examine(context, kubeconfig_path)
    text = output_format == "text"
    planned = fix.fixes(found.config.view, found) if found.config else fix.Fixes(())
    result: dict[str, Any] = {"checks": as_json(found.checks), "fixes": _as_json(planned), "written": []}
    result["notes"] = list(planned.notes)
    if text:
        output.checks(found.checks)
        for line in _lines(planned) if planned.fixes else [f"! {note}" for note in planned.notes]:
            output.out(line)
    if not planned.fixes:
        if text:
            output.out(f"{NOTHING}; nothing written")
        else:
            output.out(json.dumps({**result, "after": None}, indent=2))
        return status(found.checks)
    if not confirm(planned.paths):
        if text:
            output.out("nothing written")
        else:
            output.out(json.dumps({**result, "after": None}, indent=2))
        return status(found.checks)
    written = fix.apply(found, planned)
    result["written"] = [str(path) for path in written]
    after = examine(context, kubeconfig_path)
    if not text:
        output.out(json.dumps({**result, "after": as_json(after.checks)}, indent=2))
        return status(after.checks)
    for path in written:
        output.out(f"wrote {path} ({_undo_hint(path, kubeconfig_path)} puts it back)")
    output.out("checked again after the fix:")
    output.checks(after.checks)
    return status(after.checks)
