"""Ways into AWS accounts, and what each can see: profiles, identities, organisation accounts, regions,
clusters. With aws.py, the AWS boundary (botocore); every call returns plain values or raises a
one-line AwsError.

Thread-safe for sync's pool: clients are made under one lock (botocore sessions are not thread-safe)
and then used from any thread (clients are). All sessions share one model loader, so a service's
model is parsed once per run, not once per profile. EKS, the call made in every account and region,
goes through one client per region for all accounts with the same settings: the calling thread lends
it the account's credentials for the call (botocore asks a client's credentials for a frozen copy at
every signing).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import botocore.credentials
import botocore.exceptions as bx
import botocore.hooks
import botocore.loaders
import botocore.session
from botocore.config import Config

from kcm import aws, credentials
from kcm.eks import EksCluster
from kcm.errors import AwsError, InputError

# Throttling is expected when a pool scans many accounts: adaptive mode backs off client-side.
_CONFIG = Config(
    retries={"mode": "adaptive", "max_attempts": 5},
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
# Profile settings that only say where credentials come from. Every other setting (endpoints, FIPS,
# CA bundle, retries) shapes a client, so only profiles that agree on those share EKS clients.
_CREDENTIAL_SETTINGS = frozenset(
    {
        "aws_access_key_id", "aws_secret_access_key", "aws_session_token", "role_arn", "source_profile",
        "credential_source", "credential_process", "external_id", "mfa_serial", "role_session_name",
        "duration_seconds", "web_identity_token_file", "sso_session", "sso_start_url", "sso_region",
        "sso_account_id", "sso_role_name", "region", "output",
    }
)  # fmt: skip
# The services whose answers kcm.awscache keeps: their endpoints tell two AWS setups apart.
_REMEMBERED = ("sts", "organizations", "ec2", "eks")
_IGNORE_ENDPOINTS = "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"
_LOCK = threading.Lock()
_LOADER: _Loader | None = None
_HANDLERS: botocore.hooks.HierarchicalEmitter | None = None
# kcm's own EC2 model: DescribeRegions, the one EC2 call it makes, and only the fields it reads. Found
# before botocore's (same API version), it spares each first run of the day 0.15 s of loading EC2's whole
# model (5 MB of JSON) for one call. tests/test_discovery.py checks it against botocore's.
_MODELS = Path(__file__).parent / "models"


@dataclass(frozen=True)
class AwsProfile:
    """A profile of the AWS config or credentials file, and where its credentials come from."""

    name: str
    source: str  # role, sso, process, web-identity, keys; "" when it configures no credentials


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


def config_error(exc: Exception) -> InputError:
    """A botocore ConfigParseError in one line, with the likely cause when it is one we can see."""
    path = str(getattr(exc, "kwargs", {}).get("path") or "")
    hint = ""
    with contextlib.suppress(OSError):
        with open(path, "rb") as stream:
            head = stream.read(3)
        if head == b"\xef\xbb\xbf" or head[:2] in (b"\xff\xfe", b"\xfe\xff"):
            hint = " (it starts with a byte order mark, which the AWS CLI cannot read: save it without one)"
    return InputError(f"cannot read the AWS config: {exc}{hint}")


def profiles() -> list[AwsProfile]:
    """Every profile in the AWS config and credentials files, sorted by name."""
    try:
        found = botocore.session.Session().full_config.get("profiles", {})
    except bx.ConfigParseError as exc:
        raise config_error(exc) from None
    result = []
    for name, settings in sorted(found.items()):
        source = next((kind for key, kind in _SOURCES if settings.get(key)), "")
        if not source and settings.get("credential_source"):
            source = "role"
        result.append(AwsProfile(name, source))
    return result


def botocore_session(profile: str | None) -> botocore.session.Session:
    """A botocore session on kcm's shared model loader (each model file is read once per run), with a
    copy of botocore's built-in event handlers registered once per run: registering them checks each
    handler's signature, 14 ms of CPU a session and a sync opens dozens; a copy, as botocore gives
    each client one of its session's, is 1 ms."""
    global _LOADER, _HANDLERS
    with _LOCK:
        if _HANDLERS is None:
            _HANDLERS = botocore.hooks.HierarchicalEmitter()
            botocore.session.Session(event_hooks=_HANDLERS)  # registers the built-in handlers into it
        handlers = copy.copy(_HANDLERS)
    session = botocore.session.Session(profile=profile, event_hooks=handlers, include_builtin_handlers=False)
    with _LOCK:
        if _LOADER is None:
            try:
                data_path = session.get_config_variable("data_path")  # AWS_DATA_PATH, as botocore reads it
            except bx.ProfileNotFound:
                return session  # the caller's get_scoped_config says so, as for a plain botocore session
            extra = [
                os.path.expanduser(os.path.expandvars(p)) for p in (data_path or "").split(os.pathsep) if p
            ]
            _LOADER = _Loader(extra_search_paths=[str(_MODELS), *extra])
        session.register_component("data_loader", _LOADER)
    return session


class _Loader(botocore.loaders.Loader):  # type: ignore[misc]  # botocore ships no types
    """botocore's model loader, minus its check that a service exists by listing every service's
    directory (400 and more) once per kind of model: 40 ms of a sync. This one asks only about the
    service wanted; for a service it cannot find, botocore's own method runs and raises its error."""

    @botocore.loaders.instance_cache  # type: ignore[untyped-decorator]
    def load_service_model(self, service_name: str, type_name: str, api_version: str | None = None) -> Any:
        try:
            self.list_api_versions(service_name, type_name)
        except bx.DataNotFoundError:
            return super().load_service_model(service_name, type_name, api_version)
        version = api_version or self.determine_latest_version(service_name, type_name)
        model = self.load_data(os.path.join(service_name, version, type_name))
        self._extras_processor.process(model, self._find_extras(service_name, type_name, version))
        return model


class _Lent(botocore.credentials.Credentials):  # type: ignore[misc]  # botocore ships no types
    """In each thread, the credentials of the account that thread is working for."""

    def __init__(self) -> None:
        super().__init__("", "")
        self._local = threading.local()

    @contextlib.contextmanager
    def lend(self, credentials: botocore.credentials.Credentials) -> Iterator[None]:
        self._local.current = credentials
        try:
            yield
        finally:
            self._local.current = None

    def get_frozen_credentials(self) -> botocore.credentials.ReadOnlyCredentials:
        current = getattr(self._local, "current", None)
        if current is None:
            raise bx.NoCredentialsError()
        frozen: botocore.credentials.ReadOnlyCredentials = current.get_frozen_credentials()
        return frozen


class _LentProvider:
    """A botocore credential provider that always answers with the lent credentials."""

    def __init__(self, lent: _Lent) -> None:
        self.lent = lent

    def load_credentials(self) -> _Lent:
        return self.lent


@dataclass
class Shared:
    """What one sync run shares between its reaches: the API call count, and an EKS client per region
    for all accounts reached with the same settings. A botocore client costs ~3 ms of CPU and its
    first call ~2 ms more: made per account and region, that was most of a sync's time."""

    calls: Counter[str] = field(default_factory=Counter)
    eks: dict[tuple[tuple[str, str], ...], tuple[botocore.session.Session, _Lent, dict[str, Any]]] = field(
        default_factory=dict
    )
    setups: dict[tuple[int, str], str] = field(default_factory=dict)  # Reach.setup, per session

    def count(self, model: Any, **_: Any) -> None:
        """A botocore before-call handler: one more call of that operation."""
        with _LOCK:
            self.calls[f"{model.service_model.service_name}:{model.name}"] += 1


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
        shared: Shared | None = None,
    ) -> None:
        self.label = label
        self.profile = profile  # written as AWS_PROFILE
        self.role_arn = role_arn  # written as --role
        self._credentials = credentials
        # The profile whose settings (not credentials) the clients take: an SSO reach writes a profile
        # that may not exist yet, and acts with role credentials through its base's settings.
        self._settings_profile: str | None = base._settings_profile if base else profile
        self._session: botocore.session.Session = base._session if base else self._open(profile)
        self._clients: dict[tuple[str, str], Any] = {}
        self._shared: Shared = base._shared if base else (shared or Shared())
        self._resolved: botocore.credentials.Credentials | None = None
        self._base = base
        self._waiting = False  # a role not assumed yet: `enter` assumes it
        self._entering = threading.Lock()
        # What shapes a client (endpoints, FIPS, CA bundle...): reaches that agree share EKS clients.
        scoped = self._session.get_scoped_config()
        self._settings = tuple(
            sorted((k, str(v)) for k, v in scoped.items() if k not in _CREDENTIAL_SETTINGS)
        )

    def _open(self, profile: str | None) -> botocore.session.Session:
        session = botocore_session(profile)
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
        """A client for `service` in `region`; kept for reuse unless `keep` is False (a client holds
        about half a megabyte)."""
        key = (service, region or self.home_region)
        self._check_entered()
        with _LOCK:
            if key in self._clients:
                return self._clients[key]
            extra = aws.credential_args(self._credentials)
            client = self._session.create_client(service, region_name=key[1], config=_CONFIG, **extra)
            client.meta.events.register("before-call", self._count)
            if keep:
                self._clients[key] = client
            return client

    def _eks(self, region: str) -> tuple[Any, _Lent]:
        """The run's EKS client for `region` and these settings, and what lends it credentials."""
        with _LOCK:
            known = self._shared.eks.get(self._settings)
        if known is None:
            opened = botocore_session(self._settings_profile)  # takes the lock itself
            lent = _Lent()
            opened.register_component("credential_provider", _LentProvider(lent))
            with _LOCK:
                known = self._shared.eks.setdefault(self._settings, (opened, lent, {}))
        with _LOCK:
            session, lent, clients = known
            if region not in clients:
                clients[region] = session.create_client("eks", region_name=region, config=_CONFIG)
                clients[region].meta.events.register("before-call", self._count)
            return clients[region], lent

    def _check_entered(self) -> None:
        if self._waiting:  # its session's own credentials are the base's: never act with them here
            raise AssertionError(f"{self.label}: used before enter()")

    def _own_credentials(self) -> botocore.credentials.Credentials:
        self._check_entered()
        if self._resolved is None:
            if self._credentials:
                self._resolved = botocore.credentials.Credentials(
                    self._credentials["AccessKeyId"],
                    self._credentials["SecretAccessKey"],
                    self._credentials["SessionToken"],
                )
            else:
                self._resolved = self._session.get_credentials()
            if self._resolved is None:
                raise bx.NoCredentialsError()
        return self._resolved

    def _count(self, model: Any, **_: Any) -> None:
        """API calls made (retries not included): the benchmark compares them with the minimum."""
        self._shared.count(model)

    def fail(self, exc: Exception, action: str | None, region: str | None = None) -> AwsError:
        error = aws.explain(exc, action, self.profile, region)
        if self.role_arn:
            return AwsError(f"{error} (through {self.role_arn})")
        return error

    def identity(self) -> Identity:
        if self._credentials is None:  # fetched first: a failing source is the profile's, not the call's
            try:
                self._resolved = credentials.load(self._session, lambda: self.client("sts"))
            except (bx.BotoCoreError, bx.ClientError) as exc:
                raise self.fail(exc, None) from None
        try:
            found = self.client("sts").get_caller_identity()
        except (bx.BotoCoreError, bx.ClientError) as exc:
            raise self.fail(exc, "cannot find its account") from None
        return Identity(account=found["Account"], arn=found["Arn"])

    def assume(self, role_arn: str, *, later: bool = False) -> Reach:
        """The same base identity, acting through `role_arn` (`--role` in the written entries). With
        `later`, the role is assumed by `enter`, when the run first needs a call in that account."""
        reach = Reach(f"role {role_arn}", profile=self.profile, role_arn=role_arn, base=self)
        reach._waiting = True
        if not later:
            reach.enter()
        return reach

    @property
    def waiting(self) -> bool:
        """A role made with `assume(later=True)` and not entered yet: no call made through it."""
        return self._waiting

    def enter(self) -> None:
        """Assume the role of a reach made with `assume(later=True)`, once; nothing for any other."""
        with self._entering:
            if self._waiting and self._base is not None and self.role_arn is not None:
                self._credentials = aws.assume_role(
                    self._base.client("sts"),
                    self.role_arn,
                    session_name="kcm-sync",
                    profile=self.profile,
                    region=None,
                )
                self._waiting = False

    def setup(self, partition: str) -> str:
        """Which AWS this reach talks to, as a short key: the partition, and every setting that may
        give STS, Organizations, EC2 or EKS (the services whose answers kcm remembers) an endpoint
        of its own (AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>, the profile's endpoint_url and
        its services section). Two setups never share what kcm remembers of AWS (kcm.awscache)."""
        known = (id(self._session), partition)
        if known in self._shared.setups:  # the reaches of --org-role share their base's session
            return self._shared.setups[known]
        scoped = self._session.get_scoped_config()
        section = self._session.full_config.get("services", {}).get(scoped.get("services"), {})
        variables = ["AWS_ENDPOINT_URL", *(f"AWS_ENDPOINT_URL_{name.upper()}" for name in _REMEMBERED)]
        facts = {
            "partition": partition,
            "profile": {key: scoped.get(key) for key in ("endpoint_url", "ignore_configured_endpoint_urls")},
            "services": {name: section.get(name) for name in _REMEMBERED if name in section},
            "environment": {name: os.environ.get(name) for name in [*variables, _IGNORE_ENDPOINTS]},
        }
        digest = hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()
        self._shared.setups[known] = key = f"{partition}-{digest[:16]}"
        return key

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
        """The region's clusters, all pages."""
        names: list[str] = []
        try:
            client, lent = self._eks(region)
            with lent.lend(self._own_credentials()):
                names = aws.cluster_names(client)
        except (bx.BotoCoreError, bx.ClientError) as exc:
            raise self.fail(exc, "cannot list EKS clusters", region) from None
        return sorted(names)

    def describe(self, name: str, region: str) -> EksCluster:
        try:
            client, lent = self._eks(region)
            with lent.lend(self._own_credentials()):
                found = client.describe_cluster(name=name)["cluster"]
        except (bx.BotoCoreError, bx.ClientError) as exc:
            raise self.fail(exc, f"cannot describe cluster '{name}'", region) from None
        return aws.eks_cluster(found, name)
