"""`kcm token`: the `ExecCredential` that `aws eks get-token` prints, from a private cache when it can.

kubectl keeps an exec plugin's credential only as long as its own process lives, so every `kubectl`
command starts the plugin again: with `aws eks get-token`, a whole AWS CLI start (0.5-1 s). `kcm token`
makes the same token and keeps it in the user's cache folder until a minute before it expires.

A cached token is reused only by a request that would make the same token: same cluster, region and
role, and the same inputs to botocore's credential chain (the AWS_* variables that choose or hold
credentials, the endpoint settings, and the contents of the AWS config and credentials files). They are
hashed together into the cache file's name; nothing of them is stored. The folder is 0700, the files
0600, written whole by rename, so concurrent kubectl calls read an old token or a new one, never half.

This module is the warm path and imports only the standard library; minting (botocore) is in `_mint`.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kcm import eks
from kcm.errors import InputError

LIFETIME = datetime.timedelta(minutes=14)  # what `aws eks get-token` says its token is good for
MARGIN = datetime.timedelta(minutes=1)  # a cached token is handed out until a minute before that
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
V1, V1BETA1, V1ALPHA1 = (f"client.authentication.k8s.io/{v}" for v in ("v1", "v1beta1", "v1alpha1"))
ROLE_SESSION = "EKSGetTokenAuth"  # the session name `aws eks get-token --role-arn` uses

# What botocore's credential chain, region and STS endpoint are chosen by, besides the files below.
_CHAIN_ENV = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_EC2_METADATA_DISABLED",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_STS",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "AWS_STS_REGIONAL_ENDPOINTS",
    "AWS_USE_FIPS_ENDPOINT",
    "AWS_USE_DUALSTACK_ENDPOINT",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
)


@dataclass(frozen=True)
class Request:
    """What `kcm token` was asked for, as `aws eks get-token` takes it."""

    cluster_name: str | None = None
    cluster_id: str | None = None  # Outposts local clusters
    region: str | None = None
    role_arn: str | None = None

    @property
    def cluster(self) -> str:
        """The `x-k8s-aws-id` the token names: the id if given, else the name."""
        if self.cluster_name and self.cluster_id:
            raise InputError("--cluster-name and --cluster-id: give one, not both")
        if not (self.cluster_name or self.cluster_id):
            raise InputError("--cluster-name or --cluster-id is required (the cluster the token is for)")
        return str(self.cluster_id or self.cluster_name)


@dataclass(frozen=True)
class Token:
    token: str
    expires: datetime.datetime  # aware, UTC


def command(flags: Mapping[str, object]) -> int:
    """`kcm token` with its options by name (kcm.main's door and the typer app alike)."""
    output = flags.get("output")
    if output is not None and output != "json":
        raise InputError(f"--output {output!r}: kcm token prints JSON only (an ExecCredential)")
    if flags.get("clear-cache"):
        return clear()

    def text(key: str) -> str | None:
        value = flags.get(key)
        return str(value) if value is not None else None

    request = Request(text("cluster-name"), text("cluster-id"), text("region"), text("role-arn"))
    return run(request, use_cache=not flags.get("no-cache"))


def run(request: Request, *, use_cache: bool = True) -> int:
    """Print the ExecCredential for `request`; its exit status."""
    cluster = request.cluster
    if request.role_arn is not None:
        eks.check_role_arn(request.role_arn, "--role-arn")
    version = api_version(os.environ.get("KUBERNETES_EXEC_INFO", ""))
    path = cache_path(request, cluster) if use_cache else None
    found = read_cached(path) if path else None
    if found is None:
        found = _mint(request, cluster)
        if path:
            write_cached(path, found)
    sys.stdout.write(exec_credential(found, version))
    return 0


def clear() -> int:
    """`kcm token --clear-cache`: remove every cached token; says how many."""
    folder = tokens_folder()
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        entries = []
    for entry in entries:
        if entry.name.endswith((".json", ".tmp")):
            try:
                os.unlink(entry.path)
            except FileNotFoundError:
                continue
            removed += entry.name.endswith(".json")
    print(f"removed {removed} cached token{'s' if removed != 1 else ''} from {folder}", file=sys.stderr)
    return 0


def api_version(exec_info: str) -> str:
    """The apiVersion to answer with, from KUBERNETES_EXEC_INFO, as `aws eks get-token` picks it (its
    notes to stderr included): v1 or v1beta1 as asked, v1alpha1 with a warning, else v1beta1."""
    if not exec_info:
        return V1BETA1
    try:
        asked = json.loads(exec_info).get("apiVersion")
    except (ValueError, AttributeError):
        print("kcm: cannot parse KUBERNETES_EXEC_INFO; answering with " + V1BETA1, file=sys.stderr)
        return V1BETA1
    if asked in (V1, V1BETA1):
        return str(asked)
    if asked == V1ALPHA1:
        print(f"kcm: the kubeconfig's exec apiVersion {V1ALPHA1} is deprecated: re-add it", file=sys.stderr)
        return V1ALPHA1
    print(
        f"kcm: unknown apiVersion {asked!r} in KUBERNETES_EXEC_INFO; answering with {V1BETA1}",
        file=sys.stderr,
    )
    return V1BETA1


def exec_credential(found: Token, version: str) -> str:
    """The JSON `aws eks get-token` prints (same keys, same order, 4-space indent)."""
    body = {
        "kind": "ExecCredential",
        "apiVersion": version,
        "spec": {},
        "status": {"expirationTimestamp": found.expires.strftime(TIME_FORMAT), "token": found.token},
    }
    return json.dumps(body, indent=4) + "\n"


# ---- the cache -------------------------------------------------------------------------------------
def tokens_folder() -> Path:
    from kcm import cache

    return cache.folder() / "tokens"


def cache_key(request: Request, cluster: str, environ: dict[str, str] | None = None) -> str:
    """The hash of everything that decides which token a request makes (see the module's docstring)."""
    env = os.environ if environ is None else environ
    home = Path(os.path.expanduser("~"))
    files = {
        "config": env.get("AWS_CONFIG_FILE") or str(home / ".aws" / "config"),
        "credentials": env.get("AWS_SHARED_CREDENTIALS_FILE") or str(home / ".aws" / "credentials"),
    }
    digests = {}
    for kind, name in files.items():
        try:
            digests[kind] = hashlib.sha256(Path(os.path.expanduser(name)).read_bytes()).hexdigest()
        except OSError:
            digests[kind] = ""
    material = {
        "kcm-token": 1,
        "cluster": cluster,
        "by-id": request.cluster_id is not None,
        "region": request.region,
        "role": request.role_arn,
        "env": {name: env[name] for name in _CHAIN_ENV if name in env},
        "files": digests,
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def cache_path(request: Request, cluster: str) -> Path:
    return tokens_folder() / f"{cache_key(request, cluster)}.json"


def read_cached(path: Path, now: datetime.datetime | None = None) -> Token | None:
    """The token cached at `path`, unless it expires within a minute (or the file is not kcm's)."""
    try:
        entry = json.loads(path.read_text())
        expires = datetime.datetime.strptime(entry["expirationTimestamp"], TIME_FORMAT)
        found = Token(str(entry["token"]), expires.replace(tzinfo=datetime.UTC))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    moment = now or datetime.datetime.now(datetime.UTC)
    if not found.token.startswith(eks.TOKEN_PREFIX) or found.expires - MARGIN <= moment:
        return None
    return found


def write_cached(path: Path, found: Token) -> None:
    """Keep `found` for the next call; a cache that cannot be written is no reason to fail this one."""
    from kcm import store

    text = json.dumps({"token": found.token, "expirationTimestamp": found.expires.strftime(TIME_FORMAT)})
    try:
        for folder in (path.parent.parent, path.parent):
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(folder, 0o700)
        store.write_atomic(path, text, mode=0o600)
    except OSError:
        pass


# ---- minting (the cold path) -------------------------------------------------------------------------
def _mint(request: Request, cluster: str) -> Token:
    """A new token, as `aws eks get-token` makes it, from botocore's credential chain."""
    import botocore.exceptions as bx

    from kcm import aws, discovery

    profile = aws.effective_profile(None)
    region = request.region
    now = datetime.datetime.now(datetime.UTC)
    try:
        session = discovery.botocore_session(None)  # AWS_PROFILE and the rest of the chain, as the CLI
        session.get_scoped_config()  # a missing profile fails here, as in the AWS CLI
        region = region or session.get_config_variable("region")
        if not region:
            raise InputError("You must specify a region: --region, AWS_REGION, or `region =` in the profile")
        keys: dict[str, str] = {}
        ends: Any = None  # when the signing credentials end, if they do
        if request.role_arn:
            sts = session.create_client("sts", region_name=region)
            assumed: dict[str, Any] = aws.assume_role(
                sts, request.role_arn, session_name=ROLE_SESSION, profile=profile, region=region
            )
            keys, ends = aws.credential_args(assumed), assumed.get("Expiration")
        elif session.get_credentials() is None:
            raise bx.NoCredentialsError()
        value = aws.mint_token(session, keys, cluster, region)
        if not request.role_arn:  # temporary credentials (SSO, a role profile) know their end once used
            ends = getattr(session.get_credentials(), "_expiry_time", None)
    except bx.ProfileNotFound:
        raise InputError(
            f"AWS profile '{profile}' not found in the AWS config or credentials file "
            "(see `aws configure list-profiles`)"
        ) from None
    except (bx.BotoCoreError, bx.ClientError) as exc:
        raise aws.explain(exc, f"cannot make a token for cluster {cluster}", profile, region) from None
    return Token(value, min(now + LIFETIME, _aware(ends) or now + LIFETIME))


def _aware(value: Any) -> datetime.datetime | None:
    if not isinstance(value, datetime.datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)
