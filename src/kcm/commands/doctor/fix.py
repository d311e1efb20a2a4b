"""`kcm doctor --fix`: what the walk found that kcm can put right, as one plan, written in one locked,
backed-up edit of the files that hold the entries.

Two kinds of fix: a cluster entry whose server or certificate-authority-data differ from what EKS
describes (the cluster layer) takes EKS's values; a user entry whose exec is stale (v1alpha1,
aws-iam-authenticator, get-token without `--output json` or `--region`) is upgraded as `aws eks
update-kubeconfig` writes it today (eks.upgraded_user). Nothing else in the files changes.

The plan is made from the files as the walk read them (without the lock: kubectl's readers), shown,
and made again from the text under the lock; if that differs, nothing is written.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kcm import eks, files, reconcile, store
from kcm.commands.doctor.findings import Described, Findings
from kcm.errors import KcmError

HELPERS = ("aws", "aws-iam-authenticator", "kcm")  # the exec commands of an EKS login


@dataclass(frozen=True)
class Fix:
    """One entry brought up to date, in the file that holds it, and why, in words."""

    path: Path
    change: reconcile.Change
    why: tuple[str, ...]


@dataclass(frozen=True)
class Fixes:
    fixes: tuple[Fix, ...]
    notes: tuple[str, ...] = ()  # what was not looked at, and why

    def plan(self, path: Path) -> reconcile.Plan:
        """The changes to one file."""
        return reconcile.Plan(tuple(fix.change for fix in self.fixes if fix.path == path), None, {}, {})

    @property
    def paths(self) -> list[Path]:
        return list(dict.fromkeys(fix.path for fix in self.fixes))


def region_of(cluster_name: str, described: Described | None) -> str | None:
    """The cluster's region: from its ARN, as EKS describes it or as the entry is named."""
    for arn in (described.arn if described else None, cluster_name):
        found = eks.cluster_arn(arn) if arn else None
        if found:
            return found[0]
    return None


def upgraded(user: dict[str, Any], region: str | None) -> tuple[dict[str, Any], list[str]]:
    """The user entry as --fix writes it and what that fixes, in words; an exec that is not an EKS
    login (aws, aws-iam-authenticator, kcm) is left as it is."""
    body = user.get("user")
    plugin = body.get("exec") if isinstance(body, dict) else None
    if not isinstance(plugin, dict) or Path(str(plugin.get("command") or "")).name not in HELPERS:
        return user, []
    env = {str(i.get("name")): str(i.get("value")) for i in plugin.get("env") or [] if isinstance(i, dict)}
    aws_cli = shutil.which("aws", path={**os.environ, **env}.get("PATH")) is not None  # kubectl's PATH
    return eks.upgraded_user(user, region, aws_cli=aws_cli)


def _cluster_fix(entry: dict[str, Any], described: Described) -> tuple[dict[str, Any], list[str]]:
    """The cluster entry with the server and CA EKS describes (a CA given as a file is left alone)."""
    body = entry.get("cluster")
    if not isinstance(body, dict) or described.endpoint is None:
        return entry, []
    facts: dict[str, Any] = {"server": described.endpoint}
    if "certificate-authority-data" in body and described.certificate_authority is not None:
        facts["certificate-authority-data"] = described.certificate_authority
    changed = [key for key, value in facts.items() if body.get(key) != value]
    if not changed:
        return entry, []
    return {**entry, "cluster": {**body, **facts}}, [
        f"{' and '.join(changed)} as EKS describes {described.name} now"
    ]


def fixes(view: files.View, found: Findings) -> Fixes:
    """The fixes for what `found` found, planned on the entries as `view` holds them."""
    config = found.config
    if config is None:
        return Fixes(())
    wanted: list[tuple[Path, str, dict[str, Any], list[str]]] = []
    user, user_file = view.find("users", config.user_name), view.path_of("users", config.user_name)
    user_why: list[str] = []
    if user is not None and user_file is not None:
        after, user_why = upgraded(user, region_of(config.cluster_name, found.cluster))
        if user_why:
            wanted.append((user_file, "users", after, user_why))
    cluster = view.find("clusters", config.cluster_name)
    cluster_file = view.path_of("clusters", config.cluster_name)
    notes = []
    if found.cluster is not None and cluster is not None and cluster_file is not None:
        after, why = _cluster_fix(cluster, found.cluster)
        if why:
            wanted.insert(0, (cluster_file, "clusters", after, why))
    elif user_why or (found.plugin is not None and found.plugin.reaches_aws):
        notes.append(
            f"cluster {config.cluster_name}: not compared with EKS (the walk ended before "
            "DescribeCluster): its server and CA stay as they are"
        )
    return Fixes(tuple(_planned(view, wanted)), tuple(notes))


def _planned(view: files.View, wanted: list[tuple[Path, str, dict[str, Any], list[str]]]) -> Iterable[Fix]:
    """One reconcile plan per file, of "update" changes, each with its reasons."""
    for path, doc in view.docs:
        here = [(section, entry, why) for file, section, entry, why in wanted if file == path]
        if doc is None or not here:
            continue
        plan = reconcile.upserts(doc.data, [(section, entry) for section, entry, _ in here])
        reasons = {(section, entry["name"]): why for section, entry, why in here}
        for change in plan.changes:
            yield Fix(path, change, tuple(reasons[(change.section, change.name)]))


def _what(planned: Fixes) -> list[tuple[Path, str, str, list[tuple[str, Any, Any]]]]:
    """What a plan does, as the user saw it: each entry's changed fields, old and new values (the rest
    of the entry may differ: kubectl spells out its exec defaults when it rewrites a file)."""
    return [
        (
            item.path,
            item.change.section,
            item.change.name,
            sorted(reconcile.field_changes(item.change.before, item.change.after), key=lambda f: f[0]),
        )
        for item in planned.fixes
    ]


def apply(found: Findings, shown: Fixes) -> list[Path]:
    """Lock every file of the list and plan again on the text under the lock: if that plan changes the
    same fields from and to the same values as `shown`, write it (whatever else changed in the files
    meanwhile stays); else write nothing. The files written, each backed up for `kcm undo`."""
    assert found.config is not None
    targets = found.config.targets
    with store.edit_all(targets) as edits:
        view = files.load(targets, [edit.text for edit in edits])
        again = fixes(view, found)
        if _what(again) != _what(shown):
            changed = ", ".join(str(path) for path in shown.paths)
            raise KcmError(
                f"{changed}: changed since kcm doctor planned its fixes; nothing was written: "
                "run `kcm doctor --fix` again"
            )
        written = []
        for edit, (path, doc) in zip(edits, view.docs, strict=True):
            if doc is None or path not in again.paths:
                continue
            reconcile.apply(again.plan(path), doc)
            if doc.changed:
                edit.new_text = doc.dump()
                written.append(path)
    return written
