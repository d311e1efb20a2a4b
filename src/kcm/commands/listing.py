"""`kcm list`: the contexts kubectl would see, with the AWS account and region of EKS ones.

Read-only and fast: no AWS, no lock (kubectl reads without one), no boto3 import.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass
from typing import Any

from kcm import eks, files, paths, reconcile
from kcm.errors import InputError, printable
from kcm.schema import name_of


@dataclass(frozen=True)
class ContextRow:
    name: str
    current: bool
    cluster: str
    user: str
    namespace: str
    account: str
    region: str
    managed: bool  # written by kcm sync
    file: str


def rows(kubeconfig_path: str | None = None) -> list[ContextRow]:
    targets = paths.kubeconfig_paths(kubeconfig_path)
    view = files.read(targets)
    data = view.data
    result = []
    for entry in data["contexts"]:
        body = entry.get("context") if isinstance(entry.get("context"), dict) else {}
        assert isinstance(body, dict)
        cluster = str(body.get("cluster") or "")
        record = reconcile.origin("contexts", entry) or {}
        arn = eks.cluster_arn(cluster)
        result.append(
            ContextRow(
                name=name_of(entry),
                current=bool(name_of(entry)) and name_of(entry) == data["current-context"],
                cluster=cluster,
                user=str(body.get("user") or ""),
                namespace=str(body.get("namespace") or ""),
                account=arn[1] if arn else str(record.get("account") or ""),
                region=arn[0] if arn else str(record.get("region") or ""),
                managed=bool(record),
                file=str(view.path_of("contexts", name_of(entry))),
            )
        )
    return result


def as_json(found: list[ContextRow]) -> list[dict[str, Any]]:
    return [asdict(row) for row in found]


def show(kubeconfig_path: str | None, output_format: str) -> int:
    """`kcm list`: the table, JSON, or the names one a line (for fzf and scripts); its exit status."""
    import json

    from kcm import output

    if output_format not in ("text", "json", "name"):
        raise InputError(f"--output {output_format!r}: choose text, json or name")
    found = rows(kubeconfig_path)
    if output_format == "name":  # as they are for a pipe; escaped for a terminal, as every human line
        names = [row.name for row in found if row.name]
        output.out("".join(f"{name if not sys.stdout.isatty() else printable(name)}\n" for name in names))
    elif output_format == "json":
        output.out(json.dumps(as_json(found), indent=2))
    else:
        output.contexts_table(found)
    return 0
