"""Layer 1, the kubeconfig: the context, its cluster and user, the files that hold them, as kubectl
reads the KUBECONFIG list; what shadows what; a file others can read; a leftover lock."""

from __future__ import annotations

from pathlib import Path

from kcm import files, paths
from kcm.commands.doctor.findings import Config, Walk
from kcm.errors import KcmError


def check(walk: Walk, context: str | None, explicit: str | None) -> Config:
    targets = paths.kubeconfig_paths(explicit)
    try:
        view = files.read(targets)
    except KcmError as exc:
        walk.fail(
            "kubeconfig", str(exc), "fix the file there: kubectl fails on every command while it is broken"
        )
    name = context or view.data["current-context"]
    if not name:
        walk.fail("kubeconfig", "no current-context is set", "`kcm use CONTEXT`, or pass --context")
    entry = view.find("contexts", name)
    if entry is None:  # ends the walk
        where = ", ".join(str(path) for path in targets)
        walk.fail(
            "kubeconfig", f"no context named '{name}' in {where}", "`kcm list` shows the contexts there are"
        )
    body = entry.get("context") if isinstance(entry.get("context"), dict) else {}
    assert isinstance(body, dict)
    cluster_name, user_name = str(body.get("cluster") or ""), str(body.get("user") or "")
    cluster, user = view.find("clusters", cluster_name), view.find("users", user_name)
    holder = view.path_of("contexts", name)
    assert holder is not None  # the context was found, in a file
    for kind, wanted, found in (("cluster", cluster_name, cluster), ("user", user_name, user)):
        if found is None:
            walk.fail(
                "kubeconfig",
                f"context '{name}' ({holder}) names {kind} '{wanted}', which no file defines",
                f"re-add the cluster (`kcm add --name NAME --region REGION`) or `kcm rm {name}`",
            )
    assert cluster is not None and user is not None
    cluster_file, user_file = view.path_of("clusters", cluster_name), view.path_of("users", user_name)
    assert cluster_file is not None and user_file is not None
    walk.ok("kubeconfig", f"context '{name}' in {holder}: cluster {cluster_name}, user {user_name}")
    _shadows(walk, view, name, holder, context is None)
    _files(walk, view)
    return Config(
        targets, view, name, holder, cluster_name, cluster, cluster_file, user_name, user, user_file
    )


def _shadows(walk: Walk, view: files.View, name: str, holder: Path, current: bool) -> None:
    """An earlier file's current-context that hides a later one's; the context defined twice."""
    setting = [
        (path, doc.data["current-context"])
        for path, doc in view.docs
        if doc and doc.data.get("current-context")
    ]
    if current and len({value for _, value in setting}) > 1:
        (first, value), *_ = setting
        later = ", ".join(f"{path} ({other})" for path, other in setting[1:] if other != value)
        walk.warn(
            "kubeconfig",
            f"current-context '{value}' comes from {first}; it shadows the one set in {later}",
            f"`kcm use CONTEXT` writes to {first}, the file kubectl takes it from",
        )
    others = [str(path) for path, doc in view.docs if doc and path != holder and doc.find("contexts", name)]
    if others:
        walk.warn(
            "kubeconfig", f"context '{name}' is also defined in {', '.join(others)}, shadowed by {holder}"
        )


def _files(walk: Walk, view: files.View) -> None:
    """Each file: readable by others (warn); a lock kubectl would stop at."""
    for path, doc in view.docs:
        if doc is None:
            continue
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            walk.warn("kubeconfig", f"{path} is readable by others (mode {mode:o})", f"chmod 600 {path}")
        lock = Path(f"{path}.lock")
        if lock.exists():
            walk.broken(
                "kubeconfig",
                f"{lock} exists: kubectl refuses to change {path} while it does",
                f"delete {lock} if no kcm or kubectl is running",
            )
