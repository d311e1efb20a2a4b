"""`kcm doctor`: walk the layers of the seeds' troubleshooting tables for one context and name the
broken one, with its fix.

Their triage order: is the kubeconfig what kubectl reads; does the exec plugin run; am I who I think I
am (with exactly the exec's environment); do my credentials mint a token; does the cluster exist as the
file says; does the cluster know me (access entries, aws-auth); does the API server accept me. A layer
that fails ends the walk where the next ones could only fail for the same reason.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import json
import os
import re
import shutil
import ssl
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import botocore.exceptions as bx
import botocore.session

from kcm import aws, eks, files, paths  # botocore (through aws): doctor only
from kcm.errors import KcmError

OLD_EXEC = "client.authentication.k8s.io/v1alpha1"
REVIEW_PATH = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
_AWS_VERSION = re.compile(r"aws-cli/(\d+)\.(\d+)\.(\d+)")
_GET_TOKEN_SINCE = (1, 16, 156)  # the first AWS CLI v1 with `eks get-token`
_SKEW_WARN, _SKEW_FAIL = 60, 300  # seconds; SigV4 refuses a request more than 5 minutes off


@dataclass(frozen=True)
class Check:
    check: str
    status: str  # ok, warn, fail
    detail: str
    fix: str = ""


class _Stop(Exception):  # not an error: the walk ends at a broken layer
    pass


@dataclass
class _Walk:
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
        raise _Stop


@dataclass
class _Exec:
    """What the context's exec plugin will run: its command, args and environment, parsed."""

    command: str
    args: list[str]
    env: dict[str, str]
    api_version: str

    def arg(self, flag: str) -> str | None:
        return self.args[self.args.index(flag) + 1] if flag in self.args[:-1] else None

    @property
    def cluster_id(self) -> str | None:
        return self.arg("--cluster-name") or self.arg("--cluster-id")


def run(context: str | None = None, kubeconfig_path: str | None = None) -> list[Check]:
    walk = _Walk()
    state: dict[str, Any] = {}
    try:
        _kubeconfig(walk, state, context, kubeconfig_path)
        _plugin(walk, state)
        with _environment(state["exec"].env):  # the AWS layers see what the plugin will see
            _identity(walk, state)
            _token(walk, state)
            _cluster(walk, state)
            _access(walk, state)
        _reach(walk, state)
    except _Stop:
        pass
    return walk.checks


@contextlib.contextmanager
def _environment(overlay: dict[str, str]) -> Iterator[None]:
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


# ---- 1. the kubeconfig -----------------------------------------------------------------------------
def _kubeconfig(walk: _Walk, state: dict[str, Any], context: str | None, explicit: str | None) -> None:
    targets = paths.kubeconfig_paths(explicit)
    try:
        view = files.read(targets)
    except KcmError as exc:
        walk.fail(
            "kubeconfig", str(exc), "fix the file there: kubectl fails on every command while it is broken"
        )
    name = context or view.data["current-context"]
    if not name:
        walk.fail("kubeconfig", "no current-context is set", "`kcm use CONTEXT`, or pass --context")
    entry = view.find("contexts", name)
    if entry is None:  # ends the walk
        where = ", ".join(str(path) for path in targets)
        walk.fail(
            "kubeconfig", f"no context named '{name}' in {where}", "`kcm list` shows the contexts there are"
        )
    body = entry.get("context") if isinstance(entry.get("context"), dict) else {}
    assert isinstance(body, dict)
    cluster_name, user_name = str(body.get("cluster") or ""), str(body.get("user") or "")
    cluster, user = view.find("clusters", cluster_name), view.find("users", user_name)
    holder = view.path_of("contexts", name)
    for kind, wanted, found in (("cluster", cluster_name, cluster), ("user", user_name, user)):
        if found is None:
            walk.fail(
                "kubeconfig",
                f"context '{name}' ({holder}) names {kind} '{wanted}', which no file defines",
                f"re-add the cluster (`kcm add --name NAME --region REGION`) or `kcm rm {name}`",
            )
    walk.ok("kubeconfig", f"context '{name}' in {holder}: cluster {cluster_name}, user {user_name}")
    setting = [
        (path, doc.data["current-context"])
        for path, doc in view.docs
        if doc and doc.data.get("current-context")
    ]
    if context is None and len({value for _, value in setting}) > 1:
        (first, value), *_ = setting
        later = ", ".join(f"{path} ({other})" for path, other in setting[1:] if other != value)
        walk.warn(
            "kubeconfig",
            f"current-context '{value}' comes from {first}; it shadows the one set in {later}",
            f"`kcm use CONTEXT` writes to {first}, the file kubectl takes it from",
        )
    others = [str(path) for path, doc in view.docs if doc and path != holder and doc.find("contexts", name)]
    if others:
        walk.warn(
            "kubeconfig", f"context '{name}' is also defined in {', '.join(others)}, shadowed by {holder}"
        )
    for path, doc in view.docs:
        if doc is None:
            continue
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            walk.warn("kubeconfig", f"{path} is readable by others (mode {mode:o})", f"chmod 600 {path}")
        lock = Path(f"{path}.lock")
        if lock.exists():
            walk.broken(
                "kubeconfig",
                f"{lock} exists: kubectl refuses to change {path} while it does",
                f"delete {lock} if no kcm or kubectl is running",
            )
    state.update(name=name, cluster=cluster, user=user)


# ---- 2. the exec plugin ------------------------------------------------------------------------------
def _plugin(walk: _Walk, state: dict[str, Any]) -> None:
    user = state["user"].get("user") or {}
    plugin = user.get("exec") if isinstance(user, dict) else None
    if not isinstance(plugin, dict):
        walk.warn("exec plugin", "the user has no exec plugin (a token or certificate): not an EKS login")
        raise _Stop
    env = {
        str(item.get("name")): str(item.get("value"))
        for item in plugin.get("env") or []
        if isinstance(item, dict)
    }
    found = _Exec(
        str(plugin.get("command") or ""),
        [str(a) for a in plugin.get("args") or []],
        env,
        str(plugin.get("apiVersion") or ""),
    )
    state["exec"] = found
    search = {**os.environ, **env}.get("PATH")
    program = shutil.which(found.command, path=search)
    readd = "re-add it: `kcm add --name CLUSTER --region REGION` (or `aws eks update-kubeconfig`)"
    if program is None:
        walk.fail(
            "exec plugin",
            f"'{found.command}' is not on PATH",
            "put kcm on kubectl's PATH, or re-add the cluster with `--token-helper aws`"
            if Path(found.command).name == "kcm"
            else "install the AWS CLI v2 (it provides `aws eks get-token`)",
        )
    if found.api_version == OLD_EXEC:
        walk.fail("exec plugin", f"apiVersion {OLD_EXEC}: kubectl 1.24 and later refuse it", readd)
    kcm_token = Path(found.command).name == "kcm" and found.args[:1] == ["token"]
    if kcm_token:
        walk.ok(
            "exec plugin", f"{program} (kcm token: aws eks get-token's token, cached), {found.api_version}"
        )
        if found.cluster_id is None:
            walk.fail("exec plugin", "the args do not run `kcm token --cluster-name NAME`", readd)
    if Path(found.command).name == "aws":
        version = _aws_version(str(program))
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
            walk.fail("exec plugin", "the args do not run `eks get-token --cluster-name NAME`", readd)
        if found.arg("--output") != "json":
            walk.warn(
                "exec plugin",
                "no `--output json` in the args: an AWS config with another output breaks kubectl",
                readd,
            )
        if found.arg("--region") is None and not (
            env.get("AWS_REGION") or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        ):
            walk.fail(
                "exec plugin",
                "no --region in the args: `aws eks get-token` says 'You must specify a region'",
                readd,
            )
    elif not kcm_token:
        walk.ok("exec plugin", f"{program}, {found.api_version}")
        raise _Stop  # neither the AWS CLI nor kcm token: the AWS layers below do not apply


def _aws_version(program: str) -> tuple[int, int, int] | None:
    try:
        done = subprocess.run([program, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = _AWS_VERSION.search(done.stdout + done.stderr)
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


# ---- 3. who the exec plugin is on AWS ----------------------------------------------------------------
def _identity(walk: _Walk, state: dict[str, Any]) -> None:
    plugin: _Exec = state["exec"]
    profile = os.environ.get("AWS_PROFILE") or None  # the plugin's own, when it sets one
    region = plugin.arg("--region") or None
    source = "the kubeconfig's AWS_PROFILE" if "AWS_PROFILE" in plugin.env else "AWS_PROFILE in this shell"
    session = botocore.session.Session(profile=profile)
    try:
        session.get_scoped_config()
    except bx.ProfileNotFound:
        walk.fail(
            "identity",
            f"profile '{profile}' ({source}) does not exist in the AWS config or credentials file",
            f"add [profile {profile}] to ~/.aws/config, or pin an existing one: `kcm add ... --profile NAME`",
        )
    if region:
        session.set_config_variable("region", region)
    who = f"profile {profile}" if profile else "the default credentials"
    sts = session.create_client("sts")
    try:
        response = sts.get_caller_identity()
    except (bx.BotoCoreError, bx.ClientError) as exc:
        walk.fail(
            "identity",
            str(aws.explain(exc, "sts:GetCallerIdentity", profile, region)),
            _fix_for(exc, profile),
        )
    arn = str(response["Arn"])
    date = response["ResponseMetadata"]["HTTPHeaders"].get("date")
    resolved = session.get_credentials()
    method = str(getattr(resolved, "method", "") or "unknown")  # env, shared-credentials-file, sso, ...
    credentials = resolved.get_frozen_credentials()
    keys = {
        "aws_access_key_id": credentials.access_key,
        "aws_secret_access_key": credentials.secret_key,
        "aws_session_token": credentials.token,
    }
    role = plugin.arg("--role") or plugin.arg("--role-arn")  # aws eks get-token's, kcm token's
    if role:
        try:
            assumed = aws.assume_role(sts, role, session_name="kcm-doctor", profile=profile, region=region)
        except KcmError as exc:
            walk.fail(
                "identity",
                f"{who} is {arn}; {exc}",
                f"add {arn_of_role(arn)} to the trust policy of {role} (its trust relationship)",
            )
        keys = aws.credential_args(assumed)
        token_sts = session.create_client("sts", **keys)
        arn = str(token_sts.get_caller_identity()["Arn"])
    sees = arn_of_role(arn)
    path_note = ""
    if ":role/" in sees:
        iam = session.create_client("iam", **keys)
        try:
            sees = str(iam.get_role(RoleName=sees.rsplit("/", 1)[1])["Role"]["Arn"])
        except (bx.BotoCoreError, bx.ClientError):
            path_note = " (iam:GetRole denied: if the role has a path, the cluster sees it with the path)"
    origin = f" ({source})" if profile else ""
    walk.ok(
        "identity",
        f"{who}{origin} is {arn} (credentials: {method}); the cluster sees {sees}{path_note}",
    )
    state.update(
        session=session,
        keys=keys,
        arn=sees,
        region=region or session.get_config_variable("region"),
        date=date,
        profile=profile,
    )


def arn_of_role(arn: str) -> str:
    """The ARN an access entry maps: the role's, not the assumed-role session's."""
    if ":assumed-role/" not in arn:
        return arn
    head, rest = arn.split(":assumed-role/", 1)
    return f"{head.replace(':sts:', ':iam:')}:role/{rest.split('/')[0]}"


def _fix_for(exc: Exception, profile: str | None) -> str:
    login = f"aws sso login --profile {profile}" if profile else "aws sso login"
    if isinstance(exc, bx.NoCredentialsError):
        return (
            "give the exec plugin credentials: pin a profile into the kubeconfig (`kcm add --profile NAME`)"
        )
    if isinstance(exc, bx.SSOTokenLoadError | bx.UnauthorizedSSOTokenError | bx.TokenRetrievalError):
        return login
    code = exc.response.get("Error", {}).get("Code", "") if isinstance(exc, bx.ClientError) else ""
    if code.startswith("ExpiredToken"):
        return f"the session has expired: assume the role again, or {login}"
    if code in ("InvalidClientTokenId", "UnrecognizedClientException", "SignatureDoesNotMatch"):
        return "the access key is not valid: check the profile's credentials"
    return "check the credentials with `aws sts get-caller-identity`"


# ---- 4. the token -------------------------------------------------------------------------------------
def _token(walk: _Walk, state: dict[str, Any]) -> None:
    plugin: _Exec = state["exec"]
    token = aws.mint_token(state["session"], state["keys"], str(plugin.cluster_id), state["region"])
    encoded = token[len(eks.TOKEN_PREFIX) :]
    url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    if "x-k8s-aws-id" not in url or "Action=GetCallerIdentity" not in url:
        walk.fail("token", "the token does not carry a signed x-k8s-aws-id header", "upgrade botocore")
    state["token"] = token
    skew = _skew(state.get("date"))
    if skew is not None and abs(skew) > _SKEW_FAIL:
        walk.fail(
            "token",
            f"this machine's clock is {skew:+.0f} s off AWS's: every token is refused",
            "sync the clock (NTP)",
        )
    if skew is not None and abs(skew) > _SKEW_WARN:
        walk.warn("token", f"this machine's clock is {skew:+.0f} s off AWS's", "sync the clock (NTP)")
    walk.ok(
        "token",
        f"minted for cluster {plugin.cluster_id}, valid 60 s"
        + (f"; clock {skew:+.0f} s off AWS's" if skew is not None else ""),
    )


def _skew(date: str | None) -> float | None:
    if not date:
        return None
    from email.utils import parsedate_to_datetime

    try:
        theirs = parsedate_to_datetime(date)
    except (TypeError, ValueError):
        return None
    return (datetime.datetime.now(datetime.UTC) - theirs).total_seconds()


# ---- 5. the cluster on AWS ------------------------------------------------------------------------------
def _cluster(walk: _Walk, state: dict[str, Any]) -> None:
    plugin: _Exec = state["exec"]
    name = str(plugin.arg("--cluster-name") or plugin.cluster_id)
    eks = state["session"].create_client("eks", region_name=state["region"])
    try:
        found = eks.describe_cluster(name=name)["cluster"]
    except bx.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            walk.fail(
                "cluster",
                f"no cluster '{name}' in {state['region']} (account of {state['arn']})",
                f"`kcm rm {state['name']}`, or `kcm sync --prune` for kcm's entries",
            )
        walk.fail(
            "cluster",
            str(aws.explain(exc, f"eks:DescribeCluster {name}", state["profile"], state["region"])),
            "check the identity's IAM policy for eks:DescribeCluster",
        )
    except bx.BotoCoreError as exc:
        walk.fail(
            "cluster",
            str(aws.explain(exc, f"eks:DescribeCluster {name}", state["profile"], state["region"])),
            "check the network",
        )
    mode = str((found.get("accessConfig") or {}).get("authenticationMode") or "CONFIG_MAP")
    state.update(cluster_name=name, described=found, mode=mode)
    body = state["cluster"].get("cluster") or {}
    readd = f"`kcm add --name {name} --region {state['region']}` (or `kcm sync`) writes what EKS says now"
    if found.get("status") != "ACTIVE":
        walk.fail(
            "cluster",
            f"{name} is {found.get('status')}, not ACTIVE",
            "wait for it, or check it in the EKS console",
        )
    stale = []
    if body.get("server") != found.get("endpoint"):
        stale.append(f"server {body.get('server')} (EKS: {found.get('endpoint')})")
    ca = (found.get("certificateAuthority") or {}).get("data")
    if "certificate-authority-data" in body and body["certificate-authority-data"] != ca:
        stale.append("certificate-authority-data differs from EKS's")
    access = found.get("resourcesVpcConfig") or {}
    if access.get("endpointPublicAccess") is False:
        walk.warn("cluster", f"{name}: the endpoint is private; it answers only inside its VPC (or over VPN)")
    if stale:  # the walk goes on: what the old entry still reaches is worth knowing
        walk.broken("cluster", f"stale entry: {'; '.join(stale)}", readd)
        return
    walk.ok(
        "cluster",
        f"{name} ACTIVE, version {found.get('version')}, server and CA as the kubeconfig says, "
        f"authenticationMode {mode}",
    )


# ---- 6. does the cluster know this identity ------------------------------------------------------------
def _access(walk: _Walk, state: dict[str, Any]) -> None:
    arn, name, mode = state["arn"], state["cluster_name"], state["mode"]
    create = (
        f"aws eks create-access-entry --cluster-name {name} --principal-arn {arn} && "
        f"aws eks associate-access-policy --cluster-name {name} --principal-arn {arn} "
        "--policy-arn arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy "
        "--access-scope type=cluster"
    )
    aws_auth = (
        f"aws-auth must map {arn} (the role, not its session); "
        "check: kubectl -n kube-system get configmap aws-auth -o yaml"
    )
    if mode == "CONFIG_MAP":
        walk.warn("access", f"authenticationMode CONFIG_MAP: {aws_auth}")
        return
    eks = state["session"].create_client("eks", region_name=state["region"])
    try:
        entries = eks.list_access_entries(clusterName=name).get("accessEntries", [])
    except (bx.BotoCoreError, bx.ClientError) as exc:
        walk.warn("access", f"cannot list access entries: {exc}", "needs eks:ListAccessEntries")
        return
    if arn not in entries:
        if mode == "API_AND_CONFIG_MAP":
            walk.warn("access", f"no access entry for {arn}; then {aws_auth}", create)
        else:
            walk.broken("access", f"no access entry for {arn} (authenticationMode API)", create)
        return
    try:
        policies = eks.list_associated_access_policies(clusterName=name, principalArn=arn).get(
            "associatedAccessPolicies", []
        )
    except (bx.BotoCoreError, bx.ClientError) as exc:
        walk.warn("access", f"access entry for {arn}; cannot list its policies: {exc}")
        return
    names = ", ".join(str(p.get("policyArn", "")).rsplit("/", 1)[-1] for p in policies)
    if not policies:
        walk.warn(
            "access", f"access entry for {arn} with no access policy: RBAC must grant it through its groups"
        )
    else:
        walk.ok("access", f"access entry for {arn}: {names}")


# ---- 7. the API server ------------------------------------------------------------------------------------
def _reach(walk: _Walk, state: dict[str, Any]) -> None:
    body = state["cluster"].get("cluster") or {}
    server = str(body.get("server") or "").rstrip("/")
    if not server.startswith("https://"):
        walk.fail(
            "api server", f"server {server!r} is not an https:// URL", "re-add the cluster with `kcm add`"
        )
    try:
        context = _tls(body)
    except (ValueError, ssl.SSLError, OSError) as exc:
        walk.fail(
            "api server",
            f"the cluster's certificate authority does not load: {exc}",
            "re-add the cluster with `kcm add`",
        )
    # As kubectl: the cluster's proxy-url, else HTTPS_PROXY / NO_PROXY from the environment.
    proxy = body.get("proxy-url")
    handler = urllib.request.ProxyHandler({"https": str(proxy)}) if proxy else urllib.request.ProxyHandler()
    opener = urllib.request.build_opener(handler, urllib.request.HTTPSHandler(context=context))
    try:
        with opener.open(f"{server}/version", timeout=10) as answer:
            version = json.loads(answer.read()).get("gitVersion", "?")
    except urllib.error.HTTPError as exc:
        version = f"HTTP {exc.code}"
    except (OSError, ValueError) as exc:
        walk.fail(
            "api server",
            f"cannot reach {server}: {getattr(exc, 'reason', exc)}",
            "a private endpoint needs the VPC (VPN, bastion); else check proxies and security groups",
        )
    review = json.dumps({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}).encode()
    request = urllib.request.Request(  # noqa: S310  # https, checked above
        f"{server}{REVIEW_PATH}",
        data=review,
        headers={"Authorization": f"Bearer {state['token']}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with opener.open(request, timeout=10) as answer:
            user = json.loads(answer.read()).get("status", {}).get("userInfo", {})
    except urllib.error.HTTPError as exc:
        if exc.code == 401:
            walk.fail(
                "api server",
                f"{server} ({version}) answers 401 Unauthorized: the token is valid for {state['arn']}, "
                "but the cluster does not map it",
                "map that exact role ARN: an access entry (see the access check) or aws-auth",
            )
        if exc.code == 403:
            walk.warn(
                "api server",
                f"{server} ({version}): authenticated, but RBAC forbids SelfSubjectReview (403)",
                "kubectl auth can-i --list",
            )
            return
        walk.warn(
            "api server",
            f"{server} ({version}): SelfSubjectReview answered HTTP {exc.code} (Kubernetes before 1.27?)",
        )
        return
    except (OSError, ValueError) as exc:
        walk.fail("api server", f"{server}: {exc}", "check the network")
    groups = ", ".join(user.get("groups") or [])
    walk.ok("api server", f"{server} ({version}) knows you as {user.get('username')} (groups: {groups})")


def _tls(body: dict[str, Any]) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if body.get("insecure-skip-tls-verify"):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif body.get("certificate-authority-data"):
        context.load_verify_locations(
            cadata=base64.b64decode(str(body["certificate-authority-data"])).decode()
        )
    elif body.get("certificate-authority"):
        context.load_verify_locations(cafile=str(body["certificate-authority"]))
    return context
