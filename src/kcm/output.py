"""The one printer: results to stdout, messages and warnings to stderr."""

from __future__ import annotations

import contextlib
import json
import sys
from typing import TYPE_CHECKING, Any

from kcm import eks, yamltext
from kcm.errors import InputError, printable

if TYPE_CHECKING:
    from kcm.commands.doctor import Check
    from kcm.commands.listing import ContextRow
    from kcm.commands.split import SplitResult
    from kcm.commands.sync import SyncResult
    from kcm.reconcile import Plan


def check_format(value: str) -> None:
    """`--output`: text or json."""
    if value not in ("text", "json"):
        raise InputError(f"--output {value!r}: choose text or json")


def out(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")


def warn(message: str) -> None:
    print(f"kcm: warning: {printable(message)}", file=sys.stderr)


def error(message: str) -> None:
    print(f"kcm: {printable(message)}", file=sys.stderr)


def entry_yaml(entry: dict[str, Any]) -> str:
    return "\n".join(yamltext.block(entry, 0, yamltext.Style())) + "\n"


def table(rows: list[list[str]]) -> str:
    """Columns padded to their widest cell; the first row is the header."""
    rows = [[printable(cell) for cell in row] for row in rows]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def contexts_table(rows: list[ContextRow]) -> None:
    """`kcm list`: kubectl's get-contexts columns, EKS ARNs shortened to the cluster name, and AWS's."""

    def short(name: str) -> str:
        arn = eks.cluster_arn(name)
        return arn[2] if arn else name

    table_rows = [["CURRENT", "NAME", "CLUSTER", "USER", "NAMESPACE", "ACCOUNT", "REGION", "KCM"]]
    for row in rows:
        user = short(row.user) if row.user.startswith(row.cluster) else row.user
        managed = "yes" if row.managed else ""
        current = "*" if row.current else ""
        table_rows.append(
            [current, row.name, short(row.cluster), user, row.namespace, row.account, row.region, managed]
        )
    out(table(table_rows))


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _sync_rows(results: list[SyncResult]) -> None:
    """One row per context of every file, and one per pruned context."""
    rows = [["CONTEXT", "CLUSTER", "ACCOUNT", "REGION", "VIA", "STATUS"]]
    for result in results:
        for row in result.rows:
            found = row.found
            account = (
                found.account
                if found.account_name in (found.account, found.profile)
                else f"{found.account} ({found.account_name})"
            )
            rows.append(
                [row.context, found.cluster.name, account, found.cluster.region, found.via, row.status]
            )
        rows += [[name, "", "", "", "", "pruned"] for name in result.pruned]
    if len(rows) > 1:
        out(table(rows))


def _sync_messages(scan: Any, results: list[SyncResult], notes: list[str], warnings: list[str]) -> None:
    """Notes, then failures (the scan's, then each file's), then warnings, on stderr."""
    for note in [*scan.notes, *notes, *(note for result in results for note in result.notes)]:
        print(f"kcm: note: {printable(note)}", file=sys.stderr)
    for failure in scan.failures:
        error(f"failed: {failure.scope}: {failure.message}")
    for result in results:
        for conflict in result.plan.conflicts.values():
            error(f"failed: {conflict}")
        if result.error is not None:
            error(f"failed: {result.error}")
    every = [*scan.warnings, *warnings, *(message for result in results for message in result.warnings)]
    for message in every:
        warn(message)


def _sync_total(results: list[SyncResult], scan: Any) -> str:
    """`6 clusters in 3 accounts, 5 account-regions scanned: 6 added, ..., 0 pruned, 0 failed`."""
    every = [row for result in results for row in result.rows]
    counts = {
        status: sum(row.status == status for row in every)
        for status in ("added", "adopted", "updated", "unchanged")
    }
    if not counts["adopted"]:
        del counts["adopted"]
    failed = len(scan.failures) + sum(
        len(result.plan.conflicts) + (result.error is not None) for result in results
    )
    pruned = sum(len(result.pruned) for result in results)
    return (
        f"{_count(len(every), 'cluster')} in {_count(scan.accounts, 'account')}, "
        f"{_count(len(scan.scanned), 'account-region')} scanned"
        + (f", {len(scan.skipped)} skipped as known empty" if scan.skipped else "")
        + ": "
        + ", ".join(f"{count} {status}" for status, count in counts.items())
        + f", {pruned} pruned, {failed} failed"
    )


def _profiles_added(scan: Any, dry_run: bool) -> None:
    if scan.new_profiles:
        from kcm import sso

        names = ", ".join(profile.name for profile in scan.new_profiles)
        added = _count(len(scan.new_profiles), "profile")
        verb = "would add" if dry_run else "added"
        out(f"{verb} {added} to {sso.config_path()} (kcm's block): {names}")


def sync_summary(result: SyncResult) -> None:
    """The plan or what was done: one row per context, then what was pruned, what failed, a total."""
    _sync_rows([result])
    _sync_messages(result.scan, [result], [], [])
    _profiles_added(result.scan, result.dry_run)
    if result.dry_run:
        verdict = f"dry run: {result.path} not written"
    elif result.written:
        verdict = f"wrote {result.path}"
    else:
        verdict = f"{result.path} unchanged"
    out(f"{_sync_total([result], result.scan)}; {verdict}")


def split_summary(result: SplitResult) -> None:
    """A split sync: with --dry-run each file's plan under its name; the rows of every file; a line per
    file written (or failed); the total; then the line that points KUBECONFIG at the files."""
    import os
    import shlex

    from kcm.commands import split

    files = [*result.files, *result.earlier]
    if result.dry_run:
        for file in files:
            lines = plan_lines(file.plan)
            if lines:
                out(printable(f"# {file.path}"))
                for line in lines:
                    out(line)
    _sync_rows(files)
    _sync_messages(result.scan, files, result.notes, result.warnings)
    _profiles_added(result.scan, result.dry_run)
    for file, earlier in [(file, False) for file in result.files] + [(file, True) for file in result.earlier]:
        verb = {"written": "wrote", "would write": "dry run: would write"}.get(split.status(file))
        if verb and earlier:
            out(
                printable(
                    f"{verb} {file.path}: an earlier run's file, no cluster now (kcm never deletes one)"
                )
            )
        elif verb:
            out(printable(f"{verb} {file.path}"))
    states = [split.status(file) for file in files]
    verdicts = ", ".join(
        f"{states.count(state)} {state}"
        for state in ("written", "would write", "unchanged", "failed")
        if states.count(state) or state in ("unchanged", "failed")
    )
    out(f"{_sync_total(files, result.scan)}; {_count(len(files), 'file')}: {verdicts}")
    if result.kubeconfig:
        out("export KUBECONFIG=" + shlex.quote(os.pathsep.join(map(str, result.kubeconfig))))


# ---- plans: kcm diff and every --dry-run ---------------------------------------------------------------
_MARKS = {"add": "+", "update": "~", "remove": "-", "adopt": "="}
_SHOWN = 60  # characters of a value before it is cut


def _value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(", ", ": "))
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def _as_is(value: Any) -> Any:
    return value


def _leaf(path: str, value: Any, shown: Any) -> Any:
    """A changed field's value as shown: redacted by its own key when it is a secret."""
    if value is None:
        return None
    hidden: Any = shown({path.rsplit(".", 1)[-1]: value})
    return next(iter(hidden.values()))


def plan_lines(plan: Plan, raw: bool = False) -> list[str]:
    """One line per change (`+` added, `~` changed with the fields that change, `-` removed), contexts
    first; secrets shown as kubectl config view shows them unless `raw`."""
    from kcm import reconcile  # pure, but not needed by the commands that never show a plan

    shown = _as_is if raw else reconcile.redacted
    lines = []
    order = {"contexts": 0, "clusters": 1, "users": 2}
    for change in sorted(plan.changes, key=lambda c: order.get(c.section, 3)):
        head = f"{_MARKS[change.kind]} {change.section[:-1]} {change.name}"
        if change.kind == "adopt":
            head = f"= adopt {change.name} (written by {plan.adopted.get(change.name, 'another tool')})"
        if change.kind == "add" and change.section == "contexts" and change.after:
            body = change.after.get("context") or {}
            head += f" (cluster {body.get('cluster')}, user {body.get('user')})"
        if change.kind == "update":
            fields = [
                (path, _leaf(path, old, shown), _leaf(path, new, shown))
                for path, old, new in reconcile.field_changes(change.before, change.after)
            ]
            head += ": " + "; ".join(
                f"{path} {_value(old)} -> {_value(new)}"
                if old is not None and new is not None
                else f"{path} {_value(new)} added"
                if old is None
                else f"{path} removed"
                for path, old, new in fields
            )
        lines.append(printable(head))
    if plan.current_context is not None:
        lines.append(printable(f"~ current-context -> {plan.current_context or '(unset)'}"))
    lines += [printable(f"! {note}") for note in plan.notes]
    return lines


def changes_json(plan: Plan, current: str, raw: bool = False) -> list[dict[str, Any]]:
    """The plan for scripts: kind, section, name, before, after; current-context as a change too."""
    from kcm import reconcile

    shown = _as_is if raw else reconcile.redacted
    found = [
        {
            "kind": change.kind,
            "section": change.section,
            "name": change.name,
            "before": shown(change.before),
            "after": shown(change.after),
        }
        for change in plan.changes
    ]
    if plan.current_context is not None:
        found.append(
            {
                "kind": "update",
                "section": "current-context",
                "name": "current-context",
                "before": current,
                "after": plan.current_context,
            }
        )
    return found


def unified(before: str, after: str, path: str) -> str:
    """The file as it would be written, as a unified diff against what it holds."""
    import difflib

    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True), after.splitlines(keepends=True), f"a{path}", f"b{path}"
        )
    )


def checks(found: list[Check]) -> None:
    """`kcm doctor`: one line per check, its fix after an arrow."""
    width = max((len(check.check) for check in found), default=0)
    for check in found:
        fix = f"  -> {check.fix}" if check.fix else ""
        out(printable(f"{check.status:<4}  {check.check:<{width}}  {check.detail}{fix}"))


def progress() -> tuple[Any, Any]:
    """A progress bar on stderr when it is a terminal; nothing otherwise."""
    if not sys.stderr.isatty():
        return None, contextlib.nullcontext()
    from rich.console import Console
    from rich.progress import Progress

    bar = Progress(console=Console(stderr=True), transient=True)
    tasks: dict[str, Any] = {}

    def advance(phase: str, done: int, total: int) -> None:
        if phase not in tasks:
            tasks[phase] = bar.add_task(phase, total=total)
        bar.update(tasks[phase], completed=done)

    return advance, bar
