"""Layer 7, the API server: `/version` with the kubeconfig's CA and proxy, as kubectl reaches it; then a
SelfSubjectReview with the token, what `kubectl auth whoami` shows (401: the cluster does not map you)."""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.request
from typing import Any

from kcm.commands.doctor.findings import Config, Walk

REVIEW_PATH = "/apis/authentication.k8s.io/v1/selfsubjectreviews"


def check(walk: Walk, config: Config, token: str, arn: str) -> None:
    body = config.cluster_body
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
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with opener.open(request, timeout=10) as answer:
            user = json.loads(answer.read()).get("status", {}).get("userInfo", {})
    except urllib.error.HTTPError as exc:
        if exc.code == 401:
            walk.fail(
                "api server",
                f"{server} ({version}) answers 401 Unauthorized: the token is valid for {arn}, "
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
