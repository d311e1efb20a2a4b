"""kcm's own EC2 model (DescribeRegions only) says what botocore's full model says, and is the one used."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import botocore.exceptions as bx
import botocore.session
import pytest

from kcm import discovery

OURS = Path(discovery.__file__).parent / "models" / "ec2" / "2016-11-15" / "service-2.json"


def _theirs() -> dict[str, Any]:
    loader = botocore.session.Session().get_component("data_loader")
    model: dict[str, Any] = loader.load_service_model("ec2", "service-2", "2016-11-15")
    return model


def test_every_field_of_our_model_is_botocores() -> None:
    ours, theirs = json.loads(OURS.read_text()), _theirs()
    assert ours["metadata"] == theirs["metadata"]
    operation = {k: v for k, v in theirs["operations"]["DescribeRegions"].items() if k != "documentation"}
    assert ours["operations"] == {"DescribeRegions": operation}
    for name, shape in ours["shapes"].items():
        real = theirs["shapes"][name]
        assert shape["type"] == real["type"], name
        for member, spec in shape.get("members", {}).items():
            assert {k: v for k, v in real["members"][member].items() if k != "documentation"} == spec
        if "member" in shape:
            assert shape["member"] == real["member"]


def test_kcm_sessions_load_ours(aws: Any) -> None:
    reach = discovery.Reach("default", profile=None)
    client = reach.client("ec2", "us-east-1", keep=False)
    assert client.meta.service_model.operation_names == ["DescribeRegions"]
    regions = client.describe_regions()["Regions"]
    assert {"RegionName": "eu-west-1", "OptInStatus": "opt-in-not-required"} in regions


def test_the_loader_finds_any_service_and_names_unknown_ones_as_botocore_does(aws: Any) -> None:
    session = discovery.botocore_session(None)
    sso = session.create_client("sso", region_name="us-east-1")  # SSO profiles' credential provider
    assert sso.meta.service_model.service_name == "sso"
    with pytest.raises(bx.UnknownServiceError, match="Unknown service: 'no-such-service'"):
        session.create_client("no-such-service", region_name="us-east-1")


def _handlers(session: botocore.session.Session, event: str) -> list[Any]:
    """The handlers `session` calls for `event`, in order, as botocore's emitter looks them up."""
    aliaser = session.get_component("event_emitter")
    return list(aliaser._emitter._handlers.prefix_search(event))


EVENTS = [
    "before-parameter-build.eks.DescribeCluster",
    "before-call.sts.AssumeRole",
    "needs-retry.eks.ListClusters",
    "choose-signer.sts.GetCallerIdentity",
    "creating-client-class.eks",
    "service-data-loaded.sso",
    "before-send.eks.DescribeCluster",
    "after-call.sts.AssumeRole",
    "request-created.organizations.ListAccounts",
]


def test_kcm_sessions_call_the_handlers_a_new_botocore_session_calls(aws: Any) -> None:
    plain, ours = botocore.session.Session(), discovery.botocore_session(None)
    for event in EVENTS:
        assert _handlers(ours, event) == _handlers(plain, event), event
    assert len(_handlers(ours, "before-parameter-build.eks.DescribeCluster")) > 0


def test_a_handler_one_kcm_session_registers_is_not_another_ones(aws: Any) -> None:
    first, second = discovery.botocore_session(None), discovery.botocore_session(None)
    before = _handlers(second, "before-call.eks.ListClusters")

    def counted(**_: Any) -> None:
        return None

    first.register("before-call.eks.ListClusters", counted)
    assert counted in _handlers(first, "before-call.eks.ListClusters")
    assert _handlers(second, "before-call.eks.ListClusters") == before
    assert _handlers(discovery.botocore_session(None), "before-call.eks.ListClusters") == before


def test_a_profile_that_does_not_exist_is_said_where_botocore_says_it(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first session of a run reads AWS_DATA_PATH for the shared loader: for a profile that does not
    exist, the session is still made, and get_scoped_config raises ProfileNotFound (as botocore's own)."""
    monkeypatch.setattr(discovery, "_LOADER", None)
    session = discovery.botocore_session("nosuch")
    with pytest.raises(bx.ProfileNotFound):
        session.get_scoped_config()
    assert discovery._LOADER is None
    discovery.botocore_session(None).get_scoped_config()
    assert discovery._LOADER is not None
