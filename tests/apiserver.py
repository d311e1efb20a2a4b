"""A stand-in for an EKS cluster's API server, for tests: HTTPS on loopback, bearer tokens checked as
the EKS authenticator (aws-iam-authenticator) checks them, identities resolved on the embedded AWS.

A token is `k8s-aws-v1.` + base64url(a presigned sts:GetCallerIdentity URL). The server checks the
prefix, that the URL asks GetCallerIdentity, expires in at most 60 s, was signed at most 15 minutes ago
(the authenticator's window), and signs the `x-k8s-aws-id` header naming this cluster; then calls the
URL (moto picks the account from an
Authorization header, so the presigned credential scope is copied into one) and maps the caller's role
ARN (assumed-role/NAME/session -> role/NAME) through `access`, the cluster's access entries.
"""

from __future__ import annotations

import base64
import datetime
import json
import socketserver
import ssl
import threading
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

PREFIX = "k8s-aws-v1."
# The authenticator takes a token up to 15 minutes after it was signed, whatever its X-Amz-Expires (at
# most 60): kubectl reuses one until its expirationTimestamp, 14 minutes on.
_WINDOW = datetime.timedelta(minutes=15)
REVIEW = "/apis/authentication.k8s.io/v1/selfsubjectreviews"


@dataclass
class ApiServer:
    url: str
    ca_data: str  # base64 PEM, as certificate-authority-data holds it
    cluster: str
    access: dict[str, str] = field(default_factory=dict)  # role or user ARN -> Kubernetes username
    seen: list[str] = field(default_factory=list)  # the identities that presented a valid token
    namespaces: list[str] = field(default_factory=lambda: ["default", "kube-system"])  # `kubectl get ns`


@contextmanager
def running(server: socketserver.BaseServer) -> Iterator[int]:
    """`server` answering in a thread of its own; its port. Stopped and closed on the way out."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def _certificates(folder: Path) -> tuple[bytes, Path, Path]:
    """A CA, and a certificate for 127.0.0.1 signed by it: the CA's PEM, the server's cert and key files."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kcm test cluster CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert_file, key_file = folder / "server.crt", folder / "server.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return ca.public_bytes(serialization.Encoding.PEM), cert_file, key_file


def caller(token: str, cluster: str) -> str | None:
    """The ARN a token proves, as the EKS authenticator would see it; None for a token it refuses."""
    if not token.startswith(PREFIX):
        return None
    try:
        encoded = token[len(PREFIX) :]
        url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except ValueError:
        return None
    parts = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parts.query))
    signed = query.get("X-Amz-SignedHeaders", "").split(";")
    if query.get("Action") != "GetCallerIdentity" or "x-k8s-aws-id" not in signed:
        return None
    try:
        expires = int(query["X-Amz-Expires"])
        signed_at = datetime.datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(
            tzinfo=datetime.UTC
        )
    except (KeyError, ValueError):
        return None
    if expires > 60 or datetime.datetime.now(datetime.UTC) > signed_at + _WINDOW:
        return None
    credential = query.get("X-Amz-Credential", "")
    request = urllib.request.Request(  # noqa: S310  # the embedded AWS
        url,
        headers={
            "x-k8s-aws-id": cluster,
            "Authorization": f"AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders=host, Signature=0",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - the embedded AWS
            body = answer.read()
    except OSError:
        return None
    found = ET.fromstring(body).find(".//{*}Arn")  # noqa: S314  # the embedded AWS's own answer
    if found is None or not found.text:
        return None
    arn = found.text
    if ":assumed-role/" in arn:  # the role, not the session: what access entries map
        account, role = arn.split(":")[4], arn.split(":assumed-role/")[1].split("/")[0]
        partition = arn.split(":")[1]
        return f"arn:{partition}:iam::{account}:role/{role}"
    return arn


_DISCOVERY: dict[str, dict[str, Any]] = {
    "/api": {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []},
    "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": []},
    "/api/v1": {
        "kind": "APIResourceList",
        "groupVersion": "v1",
        "resources": [
            {
                "name": "namespaces",
                "singularName": "namespace",
                "namespaced": False,
                "kind": "Namespace",
                "verbs": ["get", "list"],
                "shortNames": ["ns"],
            }
        ],
    },
}


@contextmanager
def api_server(folder: Path, cluster: str) -> Iterator[ApiServer]:
    ca, cert_file, key_file = _certificates(folder)
    state = ApiServer("", base64.b64encode(ca).decode(), cluster)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:
            pass

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _status(self, code: int, reason: str) -> None:
            self._reply(
                code,
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "status": "Failure",
                    "message": reason,
                    "reason": reason,
                    "code": code,
                },
            )

        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            if path == "/version":
                self._reply(200, {"major": "1", "minor": "31", "gitVersion": "v1.31.0-eks-test"})
            elif path in _DISCOVERY:  # the legacy discovery documents kubectl reads before a `get`
                self._reply(200, _DISCOVERY[path])
            elif path == "/api/v1/namespaces":
                items = [
                    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
                    for name in state.namespaces
                ]
                self._reply(
                    200, {"apiVersion": "v1", "kind": "NamespaceList", "metadata": {}, "items": items}
                )
            else:
                self._status(404, "NotFound")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            if self.path.split("?")[0] != REVIEW:
                self._status(404, "NotFound")
                return
            header = self.headers.get("Authorization", "")
            arn = caller(header.removeprefix("Bearer "), cluster) if header.startswith("Bearer ") else None
            if arn is None:
                self._status(401, "Unauthorized")
                return
            state.seen.append(arn)
            username = state.access.get(arn)
            if username is None:
                self._status(401, "Unauthorized")  # EKS: a valid token for an unmapped identity
                return
            self._reply(
                201,
                {
                    "apiVersion": "authentication.k8s.io/v1",
                    "kind": "SelfSubjectReview",
                    "status": {
                        "userInfo": {
                            "username": username,
                            "groups": ["system:authenticated"],
                            "extra": {"arn": [arn]},
                        }
                    },
                },
            )

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    with running(server) as port:
        state.url = f"https://127.0.0.1:{port}"
        yield state


@contextmanager
def connect_proxy() -> Iterator[tuple[str, list[str]]]:
    """An HTTP CONNECT proxy on loopback, as a cluster's `proxy-url` names one; and the targets asked."""
    import select
    import socket

    asked: list[str] = []

    class Tunnel(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = self.request.recv(4096)
                if not chunk:
                    return
                head += chunk
            target = head.split(b" ")[1].decode()
            asked.append(target)
            host, port = target.rsplit(":", 1)
            with socket.create_connection((host, int(port))) as upstream:
                self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                ends = [self.request, upstream]
                while True:
                    ready, _, _ = select.select(ends, [], [], 10)
                    if not ready:
                        return
                    for end in ready:
                        data = end.recv(65536)
                        if not data:
                            return
                        (upstream if end is self.request else self.request).sendall(data)

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Tunnel)
    server.daemon_threads = True
    with running(server) as port:
        yield f"http://127.0.0.1:{port}", asked
