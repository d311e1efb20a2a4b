"""The one printer: results to stdout, messages and warnings to stderr."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from kcm import eks, yamltext

if TYPE_CHECKING:
    from kcm.commands.listing import ContextRow
    from kcm.commands.sync import SyncResult


def out(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")


def warn(message: str) -> None:
    print(f"kcm: warning: {message}", file=sys.stderr)


def error(message: str) -> None:
    print(f"kcm: {message}", file=sys.stderr)


def entry_yaml(entry: dict[str, Any]) -> str:
    return "\n".join(yamltext.block(entry, 0, yamltext.Style())) + "\n"


def table(rows: list[list[str]]) -> str:
    """Columns padded to their widest cell; the first row is the header."""
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


def sync_summary(result: SyncResult) -> None:
    """The plan or what was done: one row per context, then what was pruned, what failed, a total."""
    rows = [["CONTEXT", "CLUSTER", "ACCOUNT", "REGION", "VIA", "STATUS"]]
    for row in result.rows:
        found = row.found
        account = (
            found.account
            if found.account_name in (found.account, found.profile)
            else f"{found.account} ({found.account_name})"
        )
        rows.append([row.context, found.cluster.name, account, found.cluster.region, found.via, row.status])
    rows += [[name, "", "", "", "", "pruned"] for name in result.pruned]
    if len(rows) > 1:
        out(table(rows))
    for note in result.scan.notes:
        print(f"kcm: note: {note}", file=sys.stderr)
    for failure in result.scan.failures:
        error(f"failed: {failure.scope}: {failure.message}")
    for conflict in result.plan.conflicts.values():
        error(f"failed: {conflict}")
    for message in result.warnings:
        warn(message)
    counts = {
        status: sum(row.status == status for row in result.rows)
        for status in ("added", "updated", "unchanged")
    }
    failed = len(result.scan.failures) + len(result.plan.conflicts)
    summary = (
        f"{_count(len(result.rows), 'cluster')} in {_count(result.scan.accounts, 'account')}, "
        f"{_count(len(result.scan.scanned), 'account-region')} scanned: "
        + ", ".join(f"{count} {status}" for status, count in counts.items())
        + f", {len(result.pruned)} pruned, {failed} failed"
    )
    if result.dry_run:
        verdict = f"dry run: {result.path} not written"
    elif result.written:
        verdict = f"wrote {result.path}"
    else:
        verdict = f"{result.path} unchanged"
    out(f"{summary}; {verdict}")
