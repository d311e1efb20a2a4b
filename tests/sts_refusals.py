"""A stand-in for STS that refuses, for tests: HTTP on loopback, each refusal under a path of its own,
answered as STS answers it (the query protocol's XML error body, its status code).

The embedded AWS accepts every key, token, clock and AssumeRole; real STS does not. A profile sends its
STS calls here with a `services` section (`sts = endpoint_url = URL/expired`); botocore parses the
answer into the ClientError it would raise against AWS.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from xml.sax.saxutils import escape

from tests.apiserver import running

# path -> (HTTP status, error code, message), as STS words them
REFUSALS = {
    "expired": (400, "ExpiredToken", "The security token included in the request is expired"),
    "unknown-key": (403, "InvalidClientTokenId", "The security token included in the request is invalid."),
    "skewed": (
        403,
        "SignatureDoesNotMatch",
        "Signature expired: 20240101T000000Z is now earlier than 20240101T001000Z "
        "(20240101T001500Z - 5 min.)",
    ),
    "denied": (
        403,
        "AccessDenied",
        "User: arn:aws:iam::123456789012:user/base is not authorized to perform: sts:AssumeRole on "
        "resource: arn:aws:iam::555555555555:role/Admin",
    ),
    "wordless": (403, "AccessDenied", ""),
}


def body(code: str, message: str) -> bytes:
    """STS's error document."""
    return (
        '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
        f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
        "<RequestId>4c7a5c8e-0000-4000-8000-000000000000</RequestId></ErrorResponse>"
    ).encode()


class _Refuse(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        status, code, message = REFUSALS[self.path.strip("/").split("/")[0]]
        data = body(code, message)
        self.send_response(status)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_: Any) -> None:
        pass


@contextmanager
def refusing_sts() -> Iterator[str]:
    """The stand-in's URL; `URL/<one of REFUSALS>` is an STS endpoint that refuses that way."""
    with running(ThreadingHTTPServer(("127.0.0.1", 0), _Refuse)) as port:
        yield f"http://127.0.0.1:{port}"
