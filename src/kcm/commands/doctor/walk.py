"""The walk: the layers in the seeds' triage order, each handing what it found to the next."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import asdict

from kcm.commands.doctor import access, apiserver, cluster, config, identity, plugin, token
from kcm.commands.doctor.findings import Check, Findings, Stop


def examine(context: str | None = None, kubeconfig_path: str | None = None) -> Findings:
    """Every layer up to the first one that ends the walk; what each found, and its checks."""
    found = Findings()
    checks = found.walk
    try:
        found.config = config.check(checks, context, kubeconfig_path)
        found.plugin = plugin.parse(found.config)
        if found.plugin is None:
            checks.warn(
                "exec plugin", "the user has no exec plugin (a token or certificate): not an EKS login"
            )
            return found
        plugin.check(checks, found.config, found.plugin)
        if not found.plugin.reaches_aws:  # neither the AWS CLI nor kcm token: the AWS layers do not apply
            return found
        with environment(found.plugin.env):  # the AWS layers see what the plugin will see
            found.identity = identity.check(checks, found.plugin)
            found.token = token.check(checks, found.plugin, found.identity)
            found.cluster = cluster.check(checks, found.config, found.plugin, found.identity)
            access.check(checks, found.identity, found.cluster)
        apiserver.check(checks, found.config, found.token, found.identity.arn)
    except Stop:
        pass
    return found


def run(context: str | None = None, kubeconfig_path: str | None = None) -> list[Check]:
    return examine(context, kubeconfig_path).checks


@contextlib.contextmanager
def environment(overlay: dict[str, str]) -> Iterator[None]:
    """This process's environment with the exec plugin's `env` on top, as kubectl runs the plugin."""
    saved = {name: os.environ.get(name) for name in overlay}
    os.environ.update(overlay)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def as_json(checks: list[Check]) -> list[dict[str, str]]:
    return [asdict(check) for check in checks]
