"""EKS cluster description -> the kubeconfig entries `aws eks update-kubeconfig` writes. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from kcm.errors import AwsError, InputError

EXEC_API_VERSION = "client.authentication.k8s.io/v1beta1"  # v1alpha1 breaks kubectl >= 1.24
TOKEN_PREFIX = "k8s-aws-v1."  # noqa: S105  # an EKS token's prefix, not a secret
_CLUSTER_ARN = re.compile(
    r"^arn:aws[a-z-]*:eks:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):cluster/(?P<name>.+)$"
)
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
TOKEN_HELPERS = ("aws", "kcm")  # what the user entry's exec runs: `aws eks get-token`, or `kcm token`


@dataclass(frozen=True)
class EksCluster:
    """What kcm needs from `DescribeCluster`."""

    name: str
    arn: str
    endpoint: str
    certificate_authority: str
    status: str
    id: str | None = None
    outpost: bool = False  # an Outposts local cluster: get-token names it by `id`
    created: str = ""  # createdAt, ISO 8601: a cluster deleted and made again under its name differs

    @property
    def region(self) -> str:
        return self.arn.split(":")[3]

    @property
    def ready(self) -> bool:
        """update-kubeconfig's test: an endpoint and CA exist only once the cluster is up."""
        return self.status in ("ACTIVE", "UPDATING")


@dataclass(frozen=True)
class Entries:
    """One cluster's three kubeconfig entries."""

    cluster: dict[str, Any]
    user: dict[str, Any]
    context: dict[str, Any]


def cluster_arn(value: str) -> tuple[str, str, str] | None:
    """(region, account, name) of an EKS cluster ARN; None for anything else."""
    found = _CLUSTER_ARN.match(value)
    return (found["region"], found["account"], found["name"]) if found else None


def check_exec_plugin(value: str) -> str:
    if value not in TOKEN_HELPERS:
        raise InputError(f"--token-helper {value!r}: choose aws (aws eks get-token) or kcm (kcm token)")
    return value


def check_role_arn(value: str, flag: str) -> str:
    """An IAM role ARN, or a one-line error naming the flag."""
    if not _ROLE_ARN.match(value):
        raise InputError(
            f"{flag} {value!r} is not an IAM role ARN (arn:aws:iam::<12-digit account>:role/<name>)"
        )
    return value


def entries(
    cluster: EksCluster,
    *,
    requested_name: str | None = None,
    profile: str | None = None,
    role_arn: str | None = None,
    proxy_url: str | None = None,
    alias: str | None = None,
    user_alias: str | None = None,
    exec_plugin: str = "aws",
) -> Entries:
    """The entries for `cluster`, shaped and ordered exactly as the AWS CLI writes them; with
    `exec_plugin="kcm"`, the user's exec runs `kcm token` (same arguments, cached) instead."""
    body: dict[str, Any] = {
        "certificate-authority-data": cluster.certificate_authority,
        "server": cluster.endpoint,
    }
    if proxy_url is not None:
        body["proxy-url"] = proxy_url
    if cluster.outpost:
        if not cluster.id:  # the AWS CLI would write `--cluster-id null`: no token could come of it
            raise AwsError(
                f"cluster {cluster.arn}: an Outposts local cluster whose description has no id; "
                "nothing was written"
            )
        identify = ["--cluster-id", cluster.id]
    else:  # the AWS CLI passes on the name as the user typed it
        identify = ["--cluster-name", requested_name or cluster.name]
    if exec_plugin == "kcm":
        args = ["token", "--region", cluster.region, *identify]
        if role_arn is not None:
            args += ["--role-arn", role_arn]
    else:
        args = ["--region", cluster.region, "eks", "get-token", *identify, "--output", "json"]
        if role_arn is not None:
            args += ["--role", role_arn]
    exec_: dict[str, Any] = {"apiVersion": EXEC_API_VERSION, "args": args, "command": exec_plugin}
    if profile:
        exec_["env"] = [{"name": "AWS_PROFILE", "value": profile}]
    user_name = user_alias or cluster.arn
    return Entries(
        cluster={"cluster": body, "name": cluster.arn},
        user={"name": user_name, "user": {"exec": exec_}},
        context={
            "context": {"cluster": cluster.arn, "user": user_name},
            "name": alias or user_name,
        },
    )


def keep_user_settings(existing: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """A re-added context keeps the user's namespace and extensions while it names the same cluster."""
    if not existing or not isinstance(existing.get("context"), dict):
        return new
    if existing["context"].get("cluster") != new["context"]["cluster"]:
        return new
    return {**existing, "context": {**existing["context"], **new["context"]}, "name": new["name"]}


OLD_EXEC_API_VERSION = "client.authentication.k8s.io/v1alpha1"


def upgraded_user(
    entry: dict[str, Any], region: str | None = None, aws_cli: bool = True
) -> tuple[dict[str, Any], list[str]]:
    """A user entry's exec brought up to what `aws eks update-kubeconfig` writes today, and what was
    fixed, in words: the removed v1alpha1 API (kubectl 1.24 and later refuse it), `aws-iam-authenticator
    token -i NAME` as `aws eks get-token` when the AWS CLI is there (`aws_cli`), and `--output json`
    and `--region` (when `region` is known) missing from get-token's arguments. Anything else in the
    entry stays as it is."""
    body = entry.get("user")
    exec_ = body.get("exec") if isinstance(body, dict) else None
    if not isinstance(body, dict) or not isinstance(exec_, dict):
        return entry, []
    fixed: list[str] = []
    new = dict(exec_)
    if new.get("apiVersion") == OLD_EXEC_API_VERSION:
        new["apiVersion"] = EXEC_API_VERSION
        fixed.append(f"exec apiVersion {OLD_EXEC_API_VERSION} (removed in Kubernetes 1.24) -> v1beta1")
    args = [str(arg) for arg in new.get("args") or []] if isinstance(new.get("args"), list) else None
    command = str(new.get("command") or "")
    if args is not None and command.rsplit("/", 1)[-1] == "aws-iam-authenticator" and aws_cli:
        converted = _from_authenticator(args)
        if converted is not None:
            new["command"], args = "aws", converted
            fixed.append("aws-iam-authenticator token -> aws eks get-token")
    was_authenticator = bool(fixed) and fixed[-1].startswith("aws-iam-authenticator")
    if args is not None and new.get("command") == "aws" and "get-token" in args:
        if "--output" not in args:
            args += ["--output", "json"]
            if not was_authenticator:
                fixed.append("aws eks get-token without --output json -> with it")
        if region and "--region" not in args:
            args = ["--region", region, *args]
            if not was_authenticator:
                fixed.append(f"aws eks get-token without --region -> --region {region}")
    if fixed:
        new["args"] = args
        return {**entry, "user": {**body, "exec": new}}, fixed
    return entry, []


def _from_authenticator(args: list[str]) -> list[str] | None:
    """`aws-iam-authenticator token -i NAME [-r ROLE]` as get-token's arguments; None for other forms."""
    if not args or args[0] != "token":
        return None
    options = {"-i": "--cluster-name", "--cluster-id": "--cluster-name", "-r": "--role", "--role": "--role"}
    converted = ["eks", "get-token"]
    words = iter(args[1:])
    for word in words:
        flag = options.get(word)
        value = next(words, None)
        if flag is None or value is None:
            return None
        converted += [flag, value]
    return converted if "--cluster-name" in converted else None
