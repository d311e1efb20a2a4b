"""A stand-in for AWS Resource Explorer (resource-explorer-2), for tests: HTTP on loopback, the JSON REST
calls kcm makes (POST /ListIndexes, /ListIndexesForMembers, /Search, /GetView), paged, with Search
answered from the embedded AWS's clusters: EKS ListClusters in each account-region that has an index
the view sees, reached by sts:AssumeRole into the account, as kcm reaches it.

Point botocore at it with AWS_ENDPOINT_URL_RESOURCE_EXPLORER_2. Each call's region is the one its SigV4
signature names, as AWS's regional endpoints see it: Search and GetView answer only in the aggregator
index's region. As AWS, Search counts and returns at most `limit` matches (1,000), with
`Count.Complete` false beyond; `refuse` makes an operation answer an error.
"""

from __future__ import annotations

import datetime
import json
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.apiserver import running

WHEN = datetime.datetime(2024, 5, 1, 12, 0, tzinfo=datetime.UTC).isoformat()
_REGION = re.compile(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/resource-explorer-2/aws4_request")


@dataclass
class Explorer:
    url: str
    hub: str  # the account that holds the aggregator index and the default view
    region: str | None  # the aggregator index's region; None: only local indexes
    indexes: set[tuple[str, str]]  # (account, region) that have an index
    scope: str = "organization"  # what the default view sees: "account" (the hub's), "organization", "ou"
    ou: set[str] = field(default_factory=set)  # with scope "ou", the accounts in it
    view_filter: str = ""
    limit: int = 1000  # the most matches Search counts and returns
    page: int = 2  # the most items a page holds, whatever MaxResults asks: every listing takes several
    refuse: dict[str, tuple[int, str]] = field(default_factory=dict)  # operation -> (HTTP status, error)
    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # (operation, region, body)

    @property
    def view_arn(self) -> str:
        return f"arn:aws:resource-explorer-2:{self.region}:{self.hub}:view/all-resources/0f1e2d3c"

    def index_arn(self, account: str, region: str) -> str:
        return f"arn:aws:resource-explorer-2:{region}:{account}:index/{account}-{region}"

    def index_type(self, account: str, region: str) -> str:
        return "AGGREGATOR" if (account, region) == (self.hub, self.region) else "LOCAL"

    def sees(self, account: str) -> bool:
        """Whether the default view's scope includes `account`."""
        if self.scope == "account":
            return account == self.hub
        return self.scope == "organization" or account in self.ou

    def scope_arn(self) -> str:
        return {
            "account": f"arn:aws:iam::{self.hub}:root",
            "organization": f"arn:aws:organizations::{self.hub}:organization/o-standin",
            "ou": f"arn:aws:organizations::{self.hub}:ou/o-standin/ou-standin-team",
        }[self.scope]

    def of(self, operation: str) -> list[tuple[str, dict[str, Any]]]:
        """The calls of one operation: (region, request body)."""
        return [(region, body) for name, region, body in self.calls if name == operation]


class _Refusal(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


@contextmanager
def resource_explorer(
    in_account: Callable[[str, str, str], Any],
    hub: str,
    region: str | None,
    indexes: set[tuple[str, str]],
    everywhere: Callable[[], Iterable[tuple[str, str, str]]] | None = None,
) -> Iterator[Explorer]:
    """Serve Resource Explorer; `in_account(account, service, region)` is a boto3 client acting in that
    account on the embedded AWS (tests/conftest.py's `Aws.in_account`). `everywhere`, when given, tells
    each Search every cluster of the embedded AWS at once, (account, region, name), instead of a
    ListClusters per account-region (bench/scale_bench.py: 20,000 of them)."""
    state = Explorer("", hub, region, set(indexes))
    lock = threading.Lock()  # boto3's default session makes clients one thread at a time
    clients: dict[tuple[str, str], Any] = {}

    def clusters(account: str, region: str) -> list[str]:
        with lock:
            if (account, region) not in clients:
                clients[account, region] = in_account(account, "eks", region)
            names: list[str] = []
            token: dict[str, str] = {}
            while True:
                page = clients[account, region].list_clusters(**token)
                names += page["clusters"]
                if not page.get("nextToken"):
                    return sorted(names)
                token = {"nextToken": page["nextToken"]}

    def paged(items: list[dict[str, Any]], key: str, body: dict[str, Any], most: int) -> dict[str, Any]:
        asked = body.get("MaxResults", most)
        if not isinstance(asked, int) or not 1 <= asked <= most:
            raise _Refusal(400, "ValidationException", f"MaxResults must be between 1 and {most}")
        start = int(body.get("NextToken") or 0)
        size = min(asked, state.page)
        answer: dict[str, Any] = {key: items[start : start + size]}
        if start + size < len(items):
            answer["NextToken"] = str(start + size)
        return answer

    def list_indexes(body: dict[str, Any], _: str) -> dict[str, Any]:
        found = [
            {"Arn": state.index_arn(account, r), "Region": r, "Type": state.index_type(account, r)}
            for account, r in sorted(state.indexes)
            if account == state.hub
        ]
        found = [item for item in found if body.get("Type") in (None, item["Type"])]
        found = [item for item in found if not body.get("Regions") or item["Region"] in body["Regions"]]
        return paged(found, "Indexes", body, 100)

    def list_indexes_for_members(body: dict[str, Any], _: str) -> dict[str, Any]:
        accounts = body.get("AccountIdList")
        if not isinstance(accounts, list) or not 1 <= len(accounts) <= 10:
            raise _Refusal(400, "ValidationException", "AccountIdList must hold 1 to 10 account IDs")
        asked = set(accounts)
        found = [
            {
                "AccountId": account,
                "Region": r,
                "Arn": state.index_arn(account, r),
                "Type": state.index_type(account, r),
            }
            for account, r in sorted(
                pair for pair in state.indexes if pair[0] in asked
            )  # 20,000 in the bench
        ]
        return paged(found, "Indexes", body, 10)

    def in_aggregator(region: str, body: dict[str, Any]) -> None:
        if region != state.region:
            raise _Refusal(401, "UnauthorizedException", f"no view in {region} searches other Regions")
        if body.get("ViewArn") not in (None, state.view_arn):
            raise _Refusal(404, "ResourceNotFoundException", f"no view {body['ViewArn']}")

    def get_view(body: dict[str, Any], region: str) -> dict[str, Any]:
        in_aggregator(region, body)
        view = {
            "ViewArn": state.view_arn,
            "ViewName": "all-resources",
            "Owner": state.hub,
            "LastUpdatedAt": WHEN,
            "Scope": state.scope_arn(),
            "IncludedProperties": [],
            "Filters": {"FilterString": state.view_filter},
        }
        return {"View": view, "Tags": {}}

    def search(body: dict[str, Any], region: str) -> dict[str, Any]:
        in_aggregator(region, body)
        terms = str(body.get("QueryString", "")).split()
        known: dict[tuple[str, str], list[str]] = {}
        for account, r, name in everywhere() if everywhere else ():
            known.setdefault((account, r), []).append(name)
        regions = [term.removeprefix("region:") for term in terms if term.startswith("region:")]
        if "resourcetype:eks:cluster" not in terms or len(terms) != 1 + len(regions) or len(regions) > 1:
            raise _Refusal(
                400, "ValidationException", f"the stand-in knows no query {body.get('QueryString')!r}"
            )
        matches = [
            {
                "Arn": f"arn:aws:eks:{r}:{account}:cluster/{name}",
                "OwningAccountId": account,
                "Region": r,
                "ResourceType": "eks:cluster",
                "Service": "eks",
                "LastReportedAt": WHEN,
                "Properties": [],
            }
            for account, r in sorted(state.indexes)
            if state.sees(account) and (not regions or r == regions[0])
            for name in (sorted(known.get((account, r), [])) if everywhere else clusters(account, r))
        ]
        answer = paged(matches[: state.limit], "Resources", body, 1000)
        complete = len(matches) <= state.limit
        return {
            **answer,
            "ViewArn": state.view_arn,
            "Count": {"TotalResources": min(len(matches), state.limit), "Complete": complete},
        }

    operations = {
        "/ListIndexes": list_indexes,
        "/ListIndexesForMembers": list_indexes_for_members,
        "/GetView": get_view,
        "/Search": search,
    }

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

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            signed = _REGION.search(self.headers.get("Authorization", ""))
            operation = operations.get(self.path)
            name = self.path.lstrip("/")
            if signed is None:
                self._reply(
                    403,
                    {"Message": "the request is not signed for resource-explorer-2"},
                    "AccessDeniedException",
                )
                return
            state.calls.append((name, signed.group(1), body))
            if operation is None:
                self._reply(404, {"Message": f"no operation {self.path}"}, "ResourceNotFoundException")
                return
            try:
                if name in state.refuse:
                    status, code = state.refuse[name]
                    raise _Refusal(
                        status, code, f"User is not authorized to perform: resource-explorer-2:{name}"
                    )
                self._reply(200, operation(body, signed.group(1)))
            except _Refusal as refusal:
                self._reply(refusal.status, {"Message": str(refusal)}, refusal.code)

    with running(ThreadingHTTPServer(("127.0.0.1", 0), Handler)) as port:
        state.url = f"http://127.0.0.1:{port}"
        yield state
