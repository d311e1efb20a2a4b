"""Which kubeconfig file: `--kubeconfig`, the `KUBECONFIG` list, or ~/.kube/config."""

from __future__ import annotations

import os
from pathlib import Path


def default_kubeconfig() -> Path:
    return Path(os.path.expanduser("~/.kube/config"))


def kubeconfig_paths(explicit: str | None = None) -> list[Path]:
    """The candidate files in order, as the AWS CLI and kubectl read them (absolute, `~` expanded)."""
    if explicit is not None:
        return [Path(os.path.abspath(os.path.expanduser(explicit)))]
    listed = [part for part in os.environ.get("KUBECONFIG", "").split(os.pathsep) if part.strip()]
    paths: list[Path] = []
    for part in listed or [str(default_kubeconfig())]:
        path = Path(os.path.abspath(os.path.expanduser(part)))
        if path not in paths:
            paths.append(path)
    return paths
