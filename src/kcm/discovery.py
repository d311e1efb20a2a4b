"""Ways into AWS accounts, and what each can see: profiles, identities, organisation accounts, regions,
clusters. With aws.py, the AWS boundary (botocore); every call returns plain values or raises a
one-line AwsError.

Thread-safe for sync's pool: clients are made under one lock (botocore sessions are not thread-safe)
and then used from any thread (clients are). All sessions share one model loader, so a service's
model is parsed once per run, not once per profile.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

import botocore.exceptions as bx
import botocore.loaders
import botocore.session
from botocore.config import Config

from kcm import aws
from kcm.eks import EksCluster
from kcm.errors import AwsError, InputError

# Throttling is expected when a pool scans many accounts: adaptive mode backs off client-side.
_CONFIG = Config(
    retries={"mode": "adaptive", "max_attempts": 10},
    connect_timeout=10,
    read_timeout=30,
    user_agent_extra="kcm",
)
_HOME_REGION = {"aws": "us-east-1", "aws-cn": "cn-north-1", "aws-us-gov": "us-gov-west-1"}
_SOURCES = (
    ("role_arn", "role"),
    ("sso_session", "sso"),
    ("sso_start_url", "sso"),
    ("credential_process", "process"),
    ("web_identity_token_file", "web-identity"),
    ("aws_access_key_id", "keys"),
)
# DescribeRegions without AllRegions should list only these; the embedded AWS lists the rest too.
_ENABLED = ("opt-in-not-required", "opted-in", None)
_LOCK = threading.Lock()
_LOADER: botocore.loaders.Loader | None = None


@dataclass(frozen=True)
class AwsProfile:
    """A profile of the AWS config or credentials file, and where its credentials come from."""

    name: str
    source: str  # role, sso, process, web-identity, keys; "" when it configures no credentials
    role_arn: str | None = None
    region: str | None = None


@dataclass(frozen=True)
class Identity:
    """`sts:GetCallerIdentity`, with the role (or user) name the ARN carries."""

    account: str
    arn: str

    @property
    def partition(self) -> str:
        return self.arn.split(":")[1]

    @property
    def role(self) -> str:
        """`assumed-role/NAME/session` -> NAME; `user/path/NAME` -> NAME; `root` -> root."""
        resource = self.arn.split(":", 5)[-1]
        kind, _, rest = resource.partition("/")
        if kind == "assumed-role":
            return rest.split("/")[0]
        return rest.rsplit("/", 1)[-1] or kind


def profiles() -> list[AwsProfile]:
    """Every profile in the AWS config and credentials files, sorted by name."""
    try:
        found = botocore.session.Session().full_config.get("profiles", {})
    except bx.ConfigParseError as exc:
        raise InputError(f"cannot read the AWS config: {exc}") from None
    result = []
    for name, settings in sorted(found.items()):
        source = next((kind for key, kind in _SOURCES if settings.get(key)), "")
        if not source and settings.get("credential_source"):
            source = "role"
        result.append(AwsProfile(name, source, settings.get("role_arn"), settings.get("region")))
    return result


def _botocore_session(profile: str | None) -> botocore.session.Session:
    global _LOADER
    session = botocore.session.Session(profile=profile)
    with _LOCK:
        if _LOADER is None:
            _LOADER = session.get_component("data_loader")
        else:
            session.register_component("data_loader", _LOADER)
    return session


class Reach:
    """One way into one account: a profile, or a role assumed from one, and what kubeconfig entries
    reached this way write (`AWS_PROFILE`, `--role`)."""

    def __init__(
        self,
        label: str,
        *,
        profile: str | None,
        role_arn: str | None = None,
        credentials: dict[str, str] | None = None,
        base: Reach | None = None,
        calls: Counter[str] | None = None,
    ) -> None:
        self.label = label
        self.profile = profile  # written as AWS_PROFILE
        self.role_arn = role_arn  # written as --role
        self._credentials = credentials
        self._session: botocore.session.Session = base._session if base else self._open(profile)
        self._clients: dict[tuple[str, str], Any] = {}
        self._calls: Counter[str] | None = base._calls if base else calls

    def _open(self, profile: str | None) -> botocore.session.Session:
        session = _botocore_session(profile)
        try:
            session.get_scoped_config()
        except bx.ProfileNotFound:
            raise InputError(
                f"AWS profile '{profile}' not found in the AWS config or credentials file"
            ) from None
        return session

    @property
    def home_region(self) -> str:
        return aws.region_of(self._session) or "us-east-1"

    def client(self, service: str, region: str | None = None, *, keep: bool = True) -> Any:
        """A client for `service` in `region`; kept for reuse unless `keep` is False. A client holds
        about half a megabyte, and a sync of every region makes one per account and region."""
        key = (service, region or self.home_region)
        with _LOCK:
            if key in self._clients:
                return self._clients[key]
            extra: dict[str, Any] = {}
            if self._credentials:
                extra = {
                    "aws_access_key_id": self._credentials["AccessKeyId"],
                    "aws_secret_access_key": self._credentials["SecretAccessKey"],
                    "aws_session_token": self._credentials["SessionToken"],
                }
            client = self._session.create_client(service, region_name=key[1], config=_CONFIG, **extra)
            if self._calls is not None:
                client.meta.events.register("before-call", self._count)
            if keep:
                self._clients[key] = client
            return client

    def keep(self, service: str, region: str, client: Any) -> None:
        with _LOCK:
            self._clients.setdefault((service, region), client)

    def forget(self, service: str, region: str) -> None:
        with _LOCK:
            self._clients.pop((service, region), None)

    def _count(self, model: Any, **_: Any) -> None:
        """API calls made (retries not included): the benchmark compares them with the minimum."""
        assert self._calls is not None
        with _LOCK:
            self._calls[f"{model.service_model.service_name}:{model.name}"] += 1

    def fail(self, exc: Exception, action: str, region: str | None = None) -> AwsError:
        error = aws.explain(exc, action, self.profile, region)
        if self.role_arn:
            return AwsError(f"{error} (through {self.role_arn})")
        return error

    def identity(self) -> Identity:
        try:
            found = self.client("sts").get_caller_identity()
        except bx.ClientError as exc:
            error = exc.response.get("Error", {})
            role = self._session.get_scoped_config().get("role_arn") if self.profile else None
            if role and error.get("Code") in ("AccessDenied", "AccessDeniedException"):
                raise AwsError(
                    f"cannot assume {role}: AccessDenied: {error.get('Message', '')} "
                    "(the role's trust policy must allow the source profile's identity)"
                ) from None
            raise self.fail(exc, "cannot find its account") from None
        except bx.BotoCoreError as exc:
            raise self.fail(exc, "cannot find its account") from None
        return Identity(account=found["Account"], arn=found["Arn"])

    def assume(self, role_arn: str) -> Reach:
        """The same base identity, acting through `role_arn` (`--role` in the written entries)."""
        try:
            found = self.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="kcm-sync")
        except (bx.BotoCoreError, bx.ClientError) as exc:
            error = self.fail(exc, f"cannot assume {role_arn}")
            if isinstance(exc, bx.ClientError) and "AccessDenied" in str(exc):
                error = AwsError(f"{error} — the role's trust policy must allow this identity")
            raise error from None
        return Reach(
            f"role {role_arn}",
            profile=self.profile,
            role_arn=role_arn,
            credentials=found["Credentials"],
            base=self,
        )

    def organization_accounts(self) -> list[tuple[str, str]]:
        """(id, name) of every ACTIVE account of the organisation, all pages."""
        accounts: list[tuple[str, str]] = []
        try:
            for page in self.client("organizations").get_paginator("list_accounts").paginate():
                accounts += [
                    (item["Id"], item.get("Name", item["Id"]))
                    for item in page.get("Accounts", [])
                    if item.get("Status", "ACTIVE") == "ACTIVE"
                ]
        except (bx.BotoCoreError, bx.ClientError) as exc:
            raise self.fail(exc, "cannot list the organisation's accounts") from None
        if not accounts:  # an organisation lists at least its management account
            raise AwsError(
                f"{self.label}: organizations:ListAccounts lists no active account; use the credentials "
                "of the organisation's management account or of a delegated administrator"
            )
        return sorted(accounts)

    def account_alias(self) -> str | None:
        try:
            aliases = self.client("iam").list_account_aliases().get("AccountAliases", [])
        except (bx.BotoCoreError, bx.ClientError):
            return None  # a name is a nicety: the template falls back to the profile name
        return str(aliases[0]) if aliases else None

    def enabled_regions(self, partition: str) -> list[str]:
        """Regions enabled for the account (`ec2:DescribeRegions`) that have EKS."""
        region = aws.region_of(self._session) or _HOME_REGION.get(partition, "us-east-1")
        try:
            found = self.client("ec2", region, keep=False).describe_regions()["Regions"]
        except (bx.BotoCoreError, bx.ClientError) as exc:
            raise self.fail(exc, "cannot list the account's regions", region) from None
        with_eks = set(self._session.get_available_regions("eks", partition))
        return sorted(
            item["RegionName"]
            for item in found
            if item["RegionName"] in with_eks and item.get("OptInStatus") in _ENABLED
        )

    def cluster_names(self, region: str) -> list[str]:
        """The region's clusters, all pages; its client is kept only if there are clusters to describe."""
        names: list[str] = []
        client = self.client("eks", region, keep=False)
        try:
            for page in client.get_paginator("list_clusters").paginate():
                names += page.get("clusters", [])
        except (bx.BotoCoreError, bx.ClientError) as exc:
            raise self.fail(exc, "cannot list EKS clusters", region) from None
        if names:
            self.keep("eks", region, client)
        return sorted(names)

    def describe(self, name: str, region: str) -> EksCluster:
        try:
            found = self.client("eks", region).describe_cluster(name=name)["cluster"]
        except (bx.BotoCoreError, bx.ClientError) as exc:
            raise self.fail(exc, f"cannot describe cluster '{name}'", region) from None
        return aws.eks_cluster(found, name)
