"""Which kubeconfig file: `--kubeconfig`, the `KUBECONFIG` list, or ~/.kube/config."""

from __future__ import annotations

import os
from pathlib import Path


def default_kubeconfig() -> Path:
    return Path(os.path.expanduser("~/.kube/config"))


def kubeconfig_files(explicit: str | None = None) -> list[str]:
    """The candidate files in order, as the AWS CLI and kubectl read them (absolute, `~` expanded)."""
    if explicit is not None:
        return [os.path.abspath(os.path.expanduser(explicit))]
    listed = [part for part in os.environ.get("KUBECONFIG", "").split(os.pathsep) if part.strip()]
    found: list[str] = []
    for part in listed or ["~/.kube/config"]:
        path = os.path.abspath(os.path.expanduser(part))
        if path not in found:
            found.append(path)
    return found


def kubeconfig_paths(explicit: str | None = None) -> list[Path]:
    """`kubeconfig_files`, as paths."""
    return [Path(path) for path in kubeconfig_files(explicit)]
