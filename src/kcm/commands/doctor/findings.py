"""What the walk records: its checks, and what each layer found, as data for the next layers and for
`kcm doctor --fix`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from kcm.files import View


@dataclass(frozen=True)
class Check:
    check: str
    status: str  # ok, warn, fail
    detail: str
    fix: str = ""


class Stop(Exception):  # not an error: the walk ends at a broken layer
    pass


@dataclass
class Walk:
    """The checks so far, in the order they were made."""

    checks: list[Check] = field(default_factory=list)

    def ok(self, check: str, detail: str) -> None:
        self.checks.append(Check(check, "ok", detail))

    def warn(self, check: str, detail: str, fix: str = "") -> None:
        self.checks.append(Check(check, "warn", detail, fix))

    def broken(self, check: str, detail: str, fix: str) -> None:
        """A failed check the walk goes on after."""
        self.checks.append(Check(check, "fail", detail, fix))

    def fail(self, check: str, detail: str, fix: str) -> NoReturn:
        """A failed check that ends the walk."""
        self.broken(check, detail, fix)
        raise Stop


@dataclass(frozen=True)
class Config:
    """The kubeconfig layer: the context, the cluster and user entries it names, and the file holding
    each (kubectl's first-file-wins view of the KUBECONFIG list)."""

    targets: list[Path]
    view: View
    context: str
    context_file: Path
    cluster_name: str
    cluster: dict[str, Any]
    cluster_file: Path
    user_name: str
    user: dict[str, Any]
    user_file: Path

    @property
    def cluster_body(self) -> dict[str, Any]:
        body = self.cluster.get("cluster")
        return body if isinstance(body, dict) else {}


@dataclass(frozen=True)
class Plugin:
    """What the context's exec plugin will run: its command, args and environment, parsed."""

    command: str
    args: list[str]
    env: dict[str, str]
    api_version: str

    def arg(self, flag: str) -> str | None:
        return self.args[self.args.index(flag) + 1] if flag in self.args[:-1] else None

    @property
    def program(self) -> str:
        """The command's file name: `aws`, `kcm`, `aws-iam-authenticator`."""
        return Path(self.command).name

    @property
    def cluster_id(self) -> str | None:
        return self.arg("--cluster-name") or self.arg("--cluster-id")

    @property
    def kcm_token(self) -> bool:
        return self.program == "kcm" and self.args[:1] == ["token"]

    @property
    def reaches_aws(self) -> bool:
        """`aws eks get-token` or `kcm token`: the AWS layers of the walk apply."""
        return self.program == "aws" or self.kcm_token


@dataclass(frozen=True)
class Identity:
    """Who the exec plugin is on AWS, with exactly its environment."""

    session: Any  # botocore.session.Session
    keys: dict[str, str]  # the credentials the token is minted with (the assumed role's, for --role)
    arn: str  # the ARN the cluster sees: the role's, with its path
    region: str | None
    date: str | None  # the Date of STS's answer: AWS's clock
    profile: str | None


@dataclass(frozen=True)
class Described:
    """The cluster as EKS describes it (DescribeCluster), and how the kubeconfig's entry differs."""

    name: str
    cluster: dict[str, Any]
    mode: str  # accessConfig.authenticationMode

    @property
    def endpoint(self) -> str | None:
        value = self.cluster.get("endpoint")
        return str(value) if value else None

    @property
    def certificate_authority(self) -> str | None:
        value = (self.cluster.get("certificateAuthority") or {}).get("data")
        return str(value) if value else None

    @property
    def arn(self) -> str | None:
        value = self.cluster.get("arn")
        return str(value) if value else None


@dataclass
class Findings:
    """One walk: its checks, and what each layer it reached found (None: not reached, or it failed)."""

    walk: Walk = field(default_factory=Walk)
    config: Config | None = None
    plugin: Plugin | None = None
    identity: Identity | None = None
    token: str | None = None
    cluster: Described | None = None

    @property
    def checks(self) -> list[Check]:
        return self.walk.checks
