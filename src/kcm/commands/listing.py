"""`kcm list`: the contexts kubectl would see, with the AWS account and region of EKS ones.

Read-only and fast: no AWS, no lock (kubectl reads without one), no boto3 import.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kcm import eks, kubeconfig, paths, reconcile, store


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


def merged(files: list[Path]) -> tuple[dict[str, Any], dict[str, str]]:
    """kubectl's merge of a KUBECONFIG list: the first file to name an entry wins, and the first
    non-empty current-context. Returns the merged data and the file each context came from."""
    data: dict[str, Any] = {"current-context": "", "clusters": [], "contexts": [], "users": []}
    source: dict[str, str] = {}
    seen: dict[str, set[str]] = {section: set() for section in kubeconfig.SECTIONS}
    for path in files:
        text = store.read_text(path)
        if text is None:
            continue
        doc = kubeconfig.loads(text, str(path))
        if not data["current-context"]:
            data["current-context"] = doc.data.get("current-context") or ""
        for section in kubeconfig.SECTIONS:
            for entry in doc.entries(section):
                if entry["name"] not in seen[section]:
                    seen[section].add(entry["name"])
                    data[section].append(entry)
                    if section == "contexts":
                        source[entry["name"]] = str(path)
    return data, source


def rows(kubeconfig_path: str | None = None) -> list[ContextRow]:
    data, source = merged(paths.kubeconfig_paths(kubeconfig_path))
    result = []
    for entry in data["contexts"]:
        body = entry.get("context") if isinstance(entry.get("context"), dict) else {}
        assert isinstance(body, dict)
        cluster = str(body.get("cluster") or "")
        record = reconcile.origin("contexts", entry) or {}
        arn = eks.cluster_arn(cluster)
        result.append(
            ContextRow(
                name=entry["name"],
                current=entry["name"] == data["current-context"],
                cluster=cluster,
                user=str(body.get("user") or ""),
                namespace=str(body.get("namespace") or ""),
                account=arn[1] if arn else str(record.get("account") or ""),
                region=arn[0] if arn else str(record.get("region") or ""),
                managed=bool(record),
                file=source[entry["name"]],
            )
        )
    return result


def as_json(found: list[ContextRow]) -> list[dict[str, Any]]:
    return [asdict(row) for row in found]
