"""A cluster's namespaces, as `kubectl get namespaces` lists them (the one thing in `kcm ns` that needs
the cluster), and kcm's short-lived copy of that list for shell completion.

`cached_namespaces` runs no kubectl and imports nothing heavy: completion calls it on every Tab.
"""

from __future__ import annotations

import hashlib
import os

from kcm import cache, paths
from kcm.errors import KcmError

CACHE_SECONDS = 300
TIMEOUT_SECONDS = 60


def _key(context_name: str, kubeconfig_path: str | os.PathLike[str] | None) -> tuple[str, str]:
    """The cache entry of one context of one kubeconfig (its first file, as `kcm use -` keys it)."""
    first = str(paths.kubeconfig_paths(os.fspath(kubeconfig_path) if kubeconfig_path else None)[0])
    digest = hashlib.sha256(f"{first}\0{context_name}".encode()).hexdigest()[:16]
    return f"{os.path.basename(first)}-{digest}", first


def cached_namespaces(
    context_name: str, kubeconfig_path: str | os.PathLike[str] | None = None
) -> list[str] | None:
    """The namespaces kcm last listed for this context, if that was less than 5 minutes ago; else None.
    `kubeconfig_path` is `--kubeconfig` (None: KUBECONFIG, else ~/.kube/config)."""
    key, first = _key(context_name, kubeconfig_path)
    entry = cache.get("namespaces", key, CACHE_SECONDS)
    if (
        not isinstance(entry, dict)
        or entry.get("context") != context_name
        or entry.get("kubeconfig") != first
    ):
        return None
    found = entry.get("namespaces")
    if not isinstance(found, list) or not all(isinstance(name, str) for name in found):
        return None
    return found


def fetch(context_name: str, server: str, kubeconfig_path: str | None = None) -> list[str]:
    """The context's namespaces from its cluster, by kubectl (with its exec plugin, proxy and CA);
    kept for `cached_namespaces`. A kubectl missing or failing is one line naming the context,
    its server and kubectl's own words."""
    import shutil
    import subprocess

    where = f"cannot list the namespaces of context '{context_name}' (server {server or 'not set'})"
    after = "; `kcm ns NAME` sets one without asking the cluster"
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise KcmError(f"{where}: kubectl is not on PATH{after}")
    command = [kubectl, "get", "namespaces", "-o", "name", "--context", context_name, "--request-timeout=20s"]
    if kubeconfig_path is not None:
        command += ["--kubeconfig", str(paths.kubeconfig_paths(kubeconfig_path)[0])]
    try:
        done = subprocess.run(
            command, stdin=subprocess.DEVNULL, capture_output=True, timeout=TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired:
        raise KcmError(f"{where}: kubectl did not answer in {TIMEOUT_SECONDS} s{after}") from None
    except OSError as exc:
        raise KcmError(f"{where}: cannot run {kubectl}: {exc.strerror}{after}") from None
    if done.returncode != 0:
        said = [line.strip() for line in done.stderr.decode("utf-8", "replace").splitlines() if line.strip()]
        reason = said[-1] if said else f"exit status {done.returncode}"  # its summary comes last
        raise KcmError(f"{where}: kubectl: {reason}{after}")
    lines = done.stdout.decode("utf-8", "replace").splitlines()
    found = [line.strip().removeprefix("namespace/") for line in lines if line.strip()]
    key, first = _key(context_name, kubeconfig_path)
    cache.put("namespaces", key, {"context": context_name, "kubeconfig": first, "namespaces": found})
    return found
