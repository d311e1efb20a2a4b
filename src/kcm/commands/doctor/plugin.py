"""Layer 2, the exec plugin: the command is there and new enough, its apiVersion is one kubectl takes,
and its args are what `aws eks get-token` (or `kcm token`) needs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

from kcm.commands.doctor import fix
from kcm.commands.doctor.findings import Config, Plugin, Walk

OLD_EXEC = "client.authentication.k8s.io/v1alpha1"
_AWS_VERSION = re.compile(r"aws-cli/(\d+)\.(\d+)\.(\d+)")
_GET_TOKEN_SINCE = (1, 16, 156)  # the first AWS CLI v1 with `eks get-token`
READD = "re-add it: `kcm add --name CLUSTER --region REGION` (or `aws eks update-kubeconfig`)"


def parse(config: Config) -> Plugin | None:
    """The user's exec plugin; None for a user without one (a token, a certificate)."""
    user = config.user.get("user") or {}
    plugin = user.get("exec") if isinstance(user, dict) else None
    if not isinstance(plugin, dict):
        return None
    env = {
        str(item.get("name")): str(item.get("value"))
        for item in plugin.get("env") or []
        if isinstance(item, dict)
    }
    return Plugin(
        str(plugin.get("command") or ""),
        [str(a) for a in plugin.get("args") or []],
        env,
        str(plugin.get("apiVersion") or ""),
    )


def check(walk: Walk, config: Config, found: Plugin) -> None:
    """The plugin's checks; a stale entry `kcm doctor --fix` can upgrade says so in its fix, and does
    not end the walk (doctor's own AWS layers do not go through kubectl's exec)."""
    search = {**os.environ, **found.env}.get("PATH")
    _, fixable = fix.upgraded(config.user, fix.region_of(config.cluster_name, None))
    readd = f"`kcm doctor --fix` upgrades the entry in place; or {READD}" if fixable else READD
    program = shutil.which(found.command, path=search)
    if program is None:
        walk.fail(
            "exec plugin",
            f"'{found.command}' is not on PATH",
            "put kcm on kubectl's PATH, or re-add the cluster with `--token-helper aws`"
            if found.program == "kcm"
            else "`kcm doctor --fix` converts the entry to `aws eks get-token` (the AWS CLI is here)"
            if any(words.startswith("aws-iam-authenticator") for words in fixable)
            else "install the AWS CLI v2 (it provides `aws eks get-token`)",
        )
    if found.api_version == OLD_EXEC:
        detail = f"apiVersion {OLD_EXEC}: kubectl 1.24 and later refuse it"
        if fixable:
            walk.broken("exec plugin", detail, readd)
        else:
            walk.fail("exec plugin", detail, READD)
    if found.kcm_token:
        walk.ok(
            "exec plugin", f"{program} (kcm token: aws eks get-token's token, cached), {found.api_version}"
        )
        if found.cluster_id is None:
            walk.fail("exec plugin", "the args do not run `kcm token --cluster-name NAME`", READD)
    if found.program == "aws":
        region_fix = any("--region" in words for words in fixable)
        _aws_cli(walk, found, program, readd, readd if region_fix else READD)
    elif any(words.startswith("aws-iam-authenticator") for words in fixable):
        walk.warn(
            "exec plugin",
            f"{program}: the AWS CLI here makes the same token (`aws eks get-token`), and is what "
            "update-kubeconfig writes today",
            "`kcm doctor --fix` converts the entry",
        )
    elif not found.kcm_token:
        walk.ok("exec plugin", f"{program}, {found.api_version}")


def _aws_cli(walk: Walk, found: Plugin, program: str, readd: str, region_readd: str) -> None:
    version = _aws_version(program)
    if version is None:
        walk.warn("exec plugin", f"cannot tell the version of {program}")
    elif version[0] == 1 and version < _GET_TOKEN_SINCE:
        walk.fail(
            "exec plugin",
            f"AWS CLI {'.'.join(map(str, version))} has no `eks get-token`",
            "upgrade to the AWS CLI v2",
        )
    else:
        walk.ok("exec plugin", f"{program} (AWS CLI {'.'.join(map(str, version))}), {found.api_version}")
    if "get-token" not in found.args or found.cluster_id is None:
        walk.fail("exec plugin", "the args do not run `eks get-token --cluster-name NAME`", READD)
    if found.arg("--output") != "json":
        walk.warn(
            "exec plugin",
            "no `--output json` in the args: an AWS config with another output breaks kubectl",
            readd,
        )
    if found.arg("--region") is None and not (
        found.env.get("AWS_REGION") or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    ):
        walk.fail(
            "exec plugin",
            "no --region in the args: `aws eks get-token` says 'You must specify a region'",
            region_readd,
        )


def _aws_version(program: str) -> tuple[int, int, int] | None:
    try:
        done = subprocess.run([program, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = _AWS_VERSION.search(done.stdout + done.stderr)
    return (int(match[1]), int(match[2]), int(match[3])) if match else None
