"""`kcm token`: the `ExecCredential` that `aws eks get-token` prints, from a private cache when it can.

kubectl keeps an exec plugin's credential only as long as its own process lives, so every `kubectl`
command starts the plugin again: with `aws eks get-token`, a whole AWS CLI start (0.5-1 s). `kcm token`
makes the same token and keeps it in the user's cache folder until a minute before it expires.

A cached token is reused only by a request that would make the same token: same cluster, region and
role, and the same inputs to botocore's credential chain (the AWS_* variables that choose or hold
credentials, the endpoint settings, and the contents of the AWS config and credentials files). They are
hashed together into the cache file's name; nothing of them is stored. The folder is 0700, the files
0600, written whole by rename, so concurrent kubectl calls read an old token or a new one, never half.

A cached call costs about what starting the interpreter costs: this module imports only os, sys and
time up front, writes its JSON by hand, reads kubectl's KUBERNETES_EXEC_INFO without the json module,
and finds its folder without platformdirs (tests hold each shortcut to the library it stands for).
Minting (botocore) is in `_mint`.
"""

from __future__ import annotations

import os
import sys
import time

from kcm.errors import InputError, KcmError

TYPE_CHECKING = False  # typing itself costs a cached call a tenth of its time (it imports re)
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

PREFIX = "k8s-aws-v1."  # eks.TOKEN_PREFIX (tests/commands/test_token.py holds them equal)
LIFETIME = 14 * 60  # seconds: what `aws eks get-token` says its token is good for
MARGIN = 60  # a cached token is handed out until a minute before that
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


class Request:
    """What `kcm token` was asked for, as `aws eks get-token` takes it."""

    __slots__ = ("cluster_id", "cluster_name", "region", "role_arn")

    def __init__(
        self,
        cluster_name: str | None = None,
        cluster_id: str | None = None,  # Outposts local clusters
        region: str | None = None,
        role_arn: str | None = None,
    ) -> None:
        self.cluster_name = cluster_name
        self.cluster_id = cluster_id
        self.region = region
        self.role_arn = role_arn

    @property
    def cluster(self) -> str:
        """The `x-k8s-aws-id` the token names: the id if given, else the name."""
        if self.cluster_name and self.cluster_id:
            raise InputError("--cluster-name and --cluster-id: give one, not both")
        if not (self.cluster_name or self.cluster_id):
            raise InputError("--cluster-name or --cluster-id is required (the cluster the token is for)")
        return str(self.cluster_id or self.cluster_name)


class Token:
    __slots__ = ("expires", "token")

    def __init__(self, token: str, expires: int) -> None:
        self.token = token
        self.expires = expires  # seconds since the epoch, UTC


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
        from kcm import eks

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
        if entry.name.endswith((".token", ".tmp")):
            try:
                os.unlink(entry.path)
            except FileNotFoundError:
                continue
            removed += entry.name.endswith(".token")
    print(f"removed {removed} cached token{'s' if removed != 1 else ''} from {folder}", file=sys.stderr)
    return 0


def api_version(exec_info: str) -> str:
    """The apiVersion to answer with, from KUBERNETES_EXEC_INFO, as `aws eks get-token` picks it (its
    notes to stderr included): v1 or v1beta1 as asked, v1alpha1 with a warning, else v1beta1."""
    if not exec_info:
        return V1BETA1
    asked = _top_api_version(exec_info)
    if asked is None:  # not the shape kubectl writes: read it as JSON
        import json

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


def _top_api_version(exec_info: str) -> str | None:
    """`apiVersion` of kubectl's `{"kind":"ExecCredential","apiVersion":"...",...}` without the json
    module (a tenth of a cached call): kubectl writes kind and apiVersion first, compact; None for
    anything else, which the caller then parses as JSON."""
    head = '{"kind":"ExecCredential","apiVersion":"'
    if not exec_info.startswith(head):
        return None
    end = exec_info.find('"', len(head))
    value = exec_info[len(head) : end]
    return value if end > 0 and value in (V1, V1BETA1, V1ALPHA1) else None


def exec_credential(found: Token, version: str) -> str:
    """The JSON `aws eks get-token` prints (same keys, same order, 4-space indent). Written by hand:
    every value is plain ASCII without quotes or backslashes (base64url, a timestamp, an apiVersion)."""
    expires = time.strftime(TIME_FORMAT, time.gmtime(found.expires))
    return (
        "{\n"
        '    "kind": "ExecCredential",\n'
        f'    "apiVersion": "{version}",\n'
        '    "spec": {},\n'
        '    "status": {\n'
        f'        "expirationTimestamp": "{expires}",\n'
        f'        "token": "{found.token}"\n'
        "    }\n"
        "}\n"
    )


# ---- the cache -------------------------------------------------------------------------------------
def tokens_folder() -> str:
    """`kcm.cache.folder()/tokens`, computed as platformdirs computes it on Linux and macOS (importing
    platformdirs costs a cached call a third of its time); tests hold the two equal."""
    explicit = os.environ.get("KCM_CACHE_DIR")
    if explicit:
        return os.path.join(explicit, "tokens")
    if sys.platform == "darwin":
        return os.path.expanduser("~/Library/Caches/kcm/tokens")
    if sys.platform.startswith("linux"):
        base = os.environ.get("XDG_CACHE_HOME", "")  # platformdirs takes it only when absolute
        return os.path.join(base if os.path.isabs(base) else os.path.expanduser("~/.cache"), "kcm", "tokens")
    from kcm import cache

    return str(cache.folder() / "tokens")


def _sha256(data: bytes) -> str:
    try:  # CPython's own SHA-256, without loading OpenSSL as hashlib does (a tenth of a cached call)
        from _sha256 import sha256  # type: ignore[import-not-found]
    except ImportError:  # Python 3.12 named it _sha2; else OpenSSL's, through hashlib
        try:
            from _sha2 import sha256  # type: ignore[import-not-found]
        except ImportError:
            from hashlib import sha256
    digest: str = sha256(data).hexdigest()
    return digest


def cache_key(request: Request, cluster: str, environ: Mapping[str, str] | None = None) -> str:
    """The hash of everything that decides which token a request makes (see the module's docstring)."""
    env = os.environ if environ is None else environ
    parts = [
        "kcm-token-2",
        cluster,
        "id" if request.cluster_id is not None else "name",
        request.region or "",
        request.role_arn or "",
    ]
    parts += [f"{name}={env[name]}" for name in _CHAIN_ENV if name in env]
    for name in (
        env.get("AWS_CONFIG_FILE") or "~/.aws/config",
        env.get("AWS_SHARED_CREDENTIALS_FILE") or "~/.aws/credentials",
    ):
        try:
            with open(os.path.expanduser(name), "rb") as stream:
                parts.append(_sha256(stream.read()))
        except OSError:
            parts.append("")
    return _sha256("\0".join(parts).encode("utf-8", "surrogatepass"))


def cache_path(request: Request, cluster: str) -> str:
    return os.path.join(tokens_folder(), f"{cache_key(request, cluster)}.token")


def read_cached(path: str, now: float | None = None) -> Token | None:
    """The token cached at `path`, unless it expires within a minute (or the file is not kcm's)."""
    try:  # never through a link, never waiting (a FIFO), only this user's regular file, in a folder
        folder = os.lstat(os.path.dirname(path))  # that only this user can write (folders.check's rule)
        if folder.st_mode & _FILE_TYPE != _FOLDER or folder.st_uid != os.geteuid() or folder.st_mode & 0o022:
            return None
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if info.st_mode & _FILE_TYPE != _REGULAR or info.st_uid != os.geteuid():
            return None
        token, expires = os.read(fd, 8192).decode("ascii").split("\n")[:2]
        found = Token(token, int(expires))
    except (OSError, ValueError):
        return None
    finally:
        os.close(fd)
    moment = time.time() if now is None else now
    if not found.token.startswith(PREFIX) or found.expires - MARGIN <= moment or '"' in found.token:
        return None
    if found.expires - moment > LIFETIME + MARGIN:  # no token lives that long: the clock jumped back
        return None
    return found


_FILE_TYPE, _REGULAR, _FOLDER = 0o170000, 0o100000, 0o040000  # S_IFMT's mask, S_IFREG, S_IFDIR


def write_cached(path: str, found: Token) -> None:
    """Keep `found` for the next call; a cache that cannot be written is no reason to fail this one."""
    from pathlib import Path

    from kcm import folders, store

    target = Path(path)
    try:
        folders.private(target.parent, parents=2)
        store.write_atomic(target, f"{found.token}\n{found.expires}\n", mode=0o600)
    except (OSError, KcmError):  # a full disk, a folder of another user, a FIFO in the way
        pass


# ---- minting (the cold path) -------------------------------------------------------------------------
def _mint(request: Request, cluster: str) -> Token:
    """A new token, as `aws eks get-token` makes it, from botocore's credential chain."""
    import botocore.exceptions as bx

    from kcm import aws, credentials, discovery

    profile = aws.effective_profile(None)
    region = request.region
    now = int(time.time())
    try:
        session = discovery.botocore_session(None)  # AWS_PROFILE and the rest of the chain, as the CLI
        session.get_scoped_config()  # a missing profile fails here, as in the AWS CLI
        region = region or session.get_config_variable("region")
        if not region:
            raise InputError("You must specify a region: --region, AWS_REGION, or `region =` in the profile")
        keys: dict[str, str] = {}
        ends: Any = None  # when the signing credentials end, if they do
        session.set_config_variable("region", region)  # where a role profile's AssumeRole goes, too
        credentials.load(session)  # a failing source is reported as the profile's, not as STS's
        if request.role_arn:
            sts = session.create_client("sts", region_name=region)
            assumed: dict[str, Any] = aws.assume_role(
                sts, request.role_arn, session_name=ROLE_SESSION, profile=profile, region=region
            )
            keys, ends = aws.credential_args(assumed), assumed.get("Expiration")
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
    end = _epoch(ends)
    return Token(value, min(now + LIFETIME, end) if end is not None else now + LIFETIME)


def _epoch(value: object) -> int | None:
    """A botocore expiry (an aware or naive-UTC datetime) in seconds since the epoch."""
    import datetime

    if not isinstance(value, datetime.datetime):
        return None
    return int((value if value.tzinfo else value.replace(tzinfo=datetime.UTC)).timestamp())
