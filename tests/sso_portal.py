"""A stand-in for the IAM Identity Center portal API, for tests: HTTP on loopback, the three calls the AWS
CLI and kcm make (`/assignment/accounts`, `/assignment/roles`, `/federation/credentials`), the bearer
token checked, role credentials obtained from the embedded AWS by sts:AssumeRole into the account.

Point botocore at it with AWS_ENDPOINT_URL_SSO; write the token where `aws sso login` writes it with
`login()`.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.apiserver import running

PAGE = 2  # small pages: every listing takes several


@dataclass
class Portal:
    url: str
    token: str
    accounts: dict[str, str]  # id -> name
    roles: dict[str, list[str]]  # account id -> role names
    calls: list[str] = field(default_factory=list)


def login(home: Path, session: str, start_url: str, token: str, expires: datetime.datetime) -> Path:
    """The AWS CLI's token cache entry for an sso-session, as `aws sso login --sso-session` leaves it."""
    folder = home / ".aws" / "sso" / "cache"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{hashlib.sha1(session.encode()).hexdigest()}.json"  # noqa: S324  # the CLI's cache key
    path.write_text(
        json.dumps(
            {
                "startUrl": start_url,
                "region": "us-east-1",
                "accessToken": token,
                "expiresAt": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        )
    )
    return path


@contextmanager
def sso_portal(
    accounts: dict[str, str], roles: dict[str, list[str]], aws_client: Any, token: str = "portal-token"
) -> Iterator[Portal]:
    """Serve the portal; `aws_client(service)` makes a boto3 client on the embedded AWS."""
    state = Portal("", token, accounts, roles)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:
            pass

        def _reply(self, status: int, body: dict[str, Any], error: str | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            if error:
                self.send_header("x-amzn-ErrorType", error)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _page(self, items: list[dict[str, Any]], key: str, query: dict[str, str]) -> None:
            start = int(query.get("next_token") or 0)
            body: dict[str, Any] = {key: items[start : start + PAGE]}
            if start + PAGE < len(items):
                body["nextToken"] = str(start + PAGE)
            self._reply(200, body)

        def do_GET(self) -> None:
            parts = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(parts.query))
            state.calls.append(parts.path)
            if self.headers.get("x-amz-sso_bearer_token") != state.token:
                self._reply(401, {"message": "Session token not found or invalid"}, "UnauthorizedException")
                return
            if parts.path == "/assignment/accounts":
                listed = [
                    {"accountId": account, "accountName": name, "emailAddress": f"{name}@example.com"}
                    for account, name in sorted(state.accounts.items())
                ]
                self._page(listed, "accountList", query)
            elif parts.path == "/assignment/roles":
                account = query.get("account_id", "")
                listed = [{"roleName": role, "accountId": account} for role in state.roles.get(account, [])]
                self._page(listed, "roleList", query)
            elif parts.path == "/federation/credentials":
                account, role = query.get("account_id", ""), query.get("role_name", "")
                if role not in state.roles.get(account, []):
                    self._reply(403, {"message": "No access"}, "ForbiddenException")
                    return
                creds = aws_client("sts").assume_role(
                    RoleArn=f"arn:aws:iam::{account}:role/{role}", RoleSessionName="sso-user"
                )["Credentials"]
                expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)
                self._reply(
                    200,
                    {
                        "roleCredentials": {
                            "accessKeyId": creds["AccessKeyId"],
                            "secretAccessKey": creds["SecretAccessKey"],
                            "sessionToken": creds["SessionToken"],
                            "expiration": int(expires.timestamp() * 1000),
                        }
                    },
                )
            else:
                self._reply(404, {"message": "no such path"}, "ResourceNotFoundException")

    with running(ThreadingHTTPServer(("127.0.0.1", 0), Handler)) as port:
        state.url = f"http://127.0.0.1:{port}"
        yield state
