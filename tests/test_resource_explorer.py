"""The Resource Explorer stand-in (tests/resource_explorer.py) answers as AWS does, in botocore's terms:
botocore parses every answer, and each is what botocore's model of the service describes, key by key."""

from __future__ import annotations

import json
from typing import Any

import botocore.exceptions as bx
import botocore.session
import pytest
from embedded_aws import every_eks_cluster

from tests.conftest import Aws
from tests.resource_explorer import Explorer, resource_explorer

HUB, MEMBER = "123456789012", "111111111111"
QUERY = "resourcetype:eks:cluster"
SERVICE = "resource-explorer-2"


def _problems(value: Any, shape: Any, where: str = "") -> list[str]:
    """Where `value` (parsed JSON) is not what botocore's `shape` describes: an unknown or missing key,
    a value of the wrong type. botocore's parser ignores unknown keys; this does not."""
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{where}: not an object"]
        found = [f"{where}.{key}: not in {shape.name}" for key in value if key not in shape.members]
        found += [f"{where}.{key}: missing" for key in shape.required_members if key not in value]
        for key, item in value.items():
            if key in shape.members:
                found += _problems(item, shape.members[key], f"{where}.{key}")
        return found
    if kind == "list":
        if not isinstance(value, list):
            return [f"{where}: not a list"]
        return [
            problem
            for n, item in enumerate(value)
            for problem in _problems(item, shape.member, f"{where}[{n}]")
        ]
    if kind == "map":
        if not isinstance(value, dict):
            return [f"{where}: not an object"]
        return [
            problem
            for key, item in value.items()
            for problem in _problems(item, shape.value, f"{where}.{key}")
        ]
    expected = {
        "string": str,
        "integer": int,
        "long": int,
        "boolean": bool,
        "timestamp": (str, int, float),
    }.get(kind, object)
    wrong = not isinstance(value, expected) or (kind in ("integer", "long") and isinstance(value, bool))
    if kind == "string" and shape.enum and value not in shape.enum:
        return [f"{where}: {value!r} not one of {shape.enum}"]
    return [f"{where}: {value!r} is not a {kind}"] if wrong else []


def test_the_stand_in_answers_as_botocore_expects(aws: Aws) -> None:
    clusters = {
        (HUB, "us-east-1"): ["hub-a", "hub-b"],
        (MEMBER, "us-east-1"): ["m-a"],
        (MEMBER, "eu-west-1"): ["m-b"],
    }
    for (account, region), names in clusters.items():
        for name in names:
            aws.cluster(name, region, account)
    indexes = {*clusters, (HUB, "eu-west-1")}
    with resource_explorer(aws.in_account, HUB, "us-east-1", indexes) as explorer:
        _botocore_reads(explorer, clusters)


def test_searching_every_cluster_at_once_answers_the_same(aws: Aws) -> None:
    """`everywhere` (as bench/scale_bench.py searches 20,000 account-regions): one request to the
    embedded AWS for every cluster instead of a ListClusters per account-region; the same answers."""
    clusters = {
        (HUB, "us-east-1"): ["hub-a", "hub-b"],
        (MEMBER, "eu-west-1"): ["m-b"],
        (MEMBER, "us-east-1"): ["m-a"],
    }
    for (account, region), names in clusters.items():
        for name in names:
            aws.cluster(name, region, account)
    assert every_eks_cluster(aws.url) == [
        (account, region, name) for (account, region), names in sorted(clusters.items()) for name in names
    ]
    indexes = {*clusters, (HUB, "eu-west-1")}

    def no_listing(*_: str) -> Any:
        pytest.fail("the stand-in listed an account-region")

    with resource_explorer(
        no_listing, HUB, "us-east-1", indexes, everywhere=lambda: every_eks_cluster(aws.url)
    ) as explorer:
        _botocore_reads(explorer, clusters)


def _botocore_reads(explorer: Explorer, clusters: dict[tuple[str, str], list[str]]) -> None:
    """Every answer botocore parses, each also checked key by key against botocore's model."""
    session = botocore.session.get_session()
    session.set_credentials("testing", "testing")
    client = session.create_client(SERVICE, region_name="us-east-1", endpoint_url=explorer.url)
    problems: list[str] = []
    answered: list[str] = []

    def check(operation_model: Any, response_dict: dict[str, Any], **_: Any) -> None:
        if response_dict["status_code"] == 200:
            answered.append(operation_model.name)
            body = json.loads(response_dict["body"])
            problems.extend(_problems(body, operation_model.output_shape, operation_model.name))

    client.meta.events.register(f"before-parse.{SERVICE}", check)

    indexes = client.list_indexes(Type="AGGREGATOR")["Indexes"]
    assert [(i["Region"], i["Type"]) for i in indexes] == [("us-east-1", "AGGREGATOR")]
    members = [MEMBER]
    listed = [
        (index["AccountId"], index["Region"])
        for page in client.get_paginator("list_indexes_for_members").paginate(AccountIdList=members)
        for index in page["Indexes"]
    ]
    assert sorted(listed) == [(MEMBER, "eu-west-1"), (MEMBER, "us-east-1")]
    pages = list(client.get_paginator("search").paginate(QueryString=QUERY))  # botocore's own paging
    resources = [item for page in pages for item in page["Resources"]]
    assert sorted(item["Arn"].rsplit("/", 1)[1] for item in resources) == sorted(
        name for found in clusters.values() for name in found
    )
    assert len(pages) == 2, "two a page"
    assert all(page["Count"] == {"TotalResources": 4, "Complete": True} for page in pages)
    explorer.limit = 3
    counted = client.search(QueryString=QUERY, MaxResults=1000)
    assert counted["Count"] == {"TotalResources": 3, "Complete": False}
    explorer.limit = 1000
    assert resources[0]["LastReportedAt"].year == 2024  # a timestamp, parsed
    view = client.get_view(ViewArn=pages[0]["ViewArn"])["View"]
    assert view["Scope"].startswith("arn:aws:organizations::") and view["Filters"] == {"FilterString": ""}
    explorer.refuse["Search"] = (401, "UnauthorizedException")
    with pytest.raises(bx.ClientError) as refused:
        client.search(QueryString=QUERY)
    assert isinstance(refused.value, client.exceptions.UnauthorizedException)
    assert "not authorized" in refused.value.response["Error"]["Message"]
    assert set(answered) == {"ListIndexes", "ListIndexesForMembers", "Search", "GetView"}
    assert problems == []
    output = client.meta.service_model.operation_model("Search").output_shape
    assert _problems({"Resources": [{"Arn": 1}], "Total": 4}, output, "Search") == [
        "Search.Total: not in SearchOutput",
        "Search.Resources[0].Arn: 1 is not a string",
    ], "the check itself sees a wrong answer"
