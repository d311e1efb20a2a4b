"""The plan engine, pure: ownership, merging, pruning, and the laws a plan obeys."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kcm import eks, kubeconfig, reconcile
from kcm.eks import EksCluster, Entries
from kcm.errors import InputError


def cluster(name: str, account: str = "111111111111", region: str = "eu-west-1") -> EksCluster:
    arn = f"arn:aws:eks:{region}:{account}:cluster/{name}"
    return EksCluster(name, arn, f"https://{name}.example.com", ca(name), "ACTIVE")


def ca(name: str) -> str:
    """A certificate-authority-data value: base64, as kubectl requires (its bytes are no certificate)."""
    return base64.b64encode(f"CA-{name}".encode()).decode()


def wanted(found: EksCluster, profile: str = "team", context: str | None = None) -> Entries:
    plain = eks.entries(found, profile=profile, alias=context or found.name)
    record = {"account": found.arn.split(":")[4], "region": found.region, "cluster": found.name}
    return Entries(
        reconcile.marked("clusters", plain.cluster, record),
        reconcile.marked("users", plain.user, {**record, "profile": profile}),
        reconcile.marked("contexts", plain.context, {**record, "profile": profile}),
    )


def applied(data: dict[str, Any], planned: reconcile.Plan) -> dict[str, Any]:
    doc = kubeconfig.loads(kubeconfig_text(data))
    reconcile.apply(planned, doc)
    result: dict[str, Any] = kubeconfig.loads(doc.dump()).data
    return result


def kubeconfig_text(data: dict[str, Any]) -> str:
    from kcm import yamltext

    return "\n".join(yamltext.block(data, 0, yamltext.Style())) + "\n"


def test_marks_round_trip_and_only_marked_entries_are_kcms() -> None:
    entries = wanted(cluster("web"))
    assert reconcile.origin("contexts", entries.context) == {
        "account": "111111111111",
        "region": "eu-west-1",
        "cluster": "web",
        "profile": "team",
    }
    assert reconcile.origin("contexts", reconcile.unmarked("contexts", entries.context)) is None
    assert reconcile.unmarked("users", entries.user) == eks.entries(cluster("web"), profile="team").user


def test_a_managed_entry_keeps_what_the_user_added() -> None:
    entries = wanted(cluster("web"))
    mine = copy.deepcopy(entries.context)
    mine["context"]["namespace"] = "shop"
    mine["context"]["extensions"].append({"name": "theirs", "extension": {"x": 1}})
    current = {"clusters": [entries.cluster], "users": [entries.user], "contexts": [mine]}
    planned = reconcile.plan(current, [entries])
    assert planned.changes == ()


def test_an_unmarked_user_in_the_way_is_kept_and_sync_uses_another_name() -> None:
    entries = wanted(cluster("web"))
    theirs = {"name": entries.user["name"], "user": {"token": "theirs"}}
    planned = reconcile.plan({"users": [theirs]}, [entries])
    added = {(c.section, c.name) for c in planned.changes}
    renamed = f"{entries.user['name']}@web"
    assert ("users", renamed) in added and ("users", theirs["name"]) not in added
    assert planned.of("contexts", "web").after["context"]["user"] == renamed  # type: ignore[union-attr]


def test_an_unmarked_cluster_entry_gets_only_the_facts() -> None:
    entries = wanted(cluster("web"))
    theirs = {"name": entries.cluster["name"], "cluster": {"server": "https://old", "proxy-url": "http://p"}}
    planned = reconcile.plan({"clusters": [theirs]}, [entries])
    after = planned.of("clusters", theirs["name"]).after  # type: ignore[union-attr]
    assert after == {
        "name": theirs["name"],
        "cluster": {
            "server": "https://web.example.com",
            "proxy-url": "http://p",
            "certificate-authority-data": ca("web"),
        },
    }
    assert reconcile.origin("clusters", after) is None


def test_an_unmarked_context_in_the_way_is_a_conflict() -> None:
    entries = wanted(cluster("web"))
    theirs = {"name": "web", "context": {"cluster": "x", "user": "y"}}
    planned = reconcile.plan({"contexts": [theirs]}, [entries])
    assert planned.changes == ()
    assert "context 'web' exists and was not written by kcm" in planned.conflicts["web"]


def test_prune_keeps_what_a_remaining_context_uses() -> None:
    gone = wanted(cluster("gone"))
    shared = {"name": "mine", "context": {"cluster": gone.cluster["name"], "user": "me"}}
    current = {"clusters": [gone.cluster], "users": [gone.user], "contexts": [gone.context, shared]}
    planned = reconcile.plan(current, [], prunable=lambda section, entry: True)
    assert {(c.kind, c.section, c.name) for c in planned.changes} == {
        ("remove", "contexts", "gone"),
        ("remove", "users", gone.user["name"]),
    }


def test_set_current_must_name_a_context() -> None:
    entries = wanted(cluster("web"))
    assert reconcile.plan({}, [entries], set_current="web").current_context == "web"
    with pytest.raises(InputError, match="no such context"):
        reconcile.plan({}, [entries], set_current="nope")


names = st.lists(st.sampled_from(["a", "b", "c", "d", "e"]), unique=True, max_size=5)


@settings(max_examples=60, deadline=None)
@given(before=names, after=names, keep_foreign=st.booleans())
def test_plan_laws(before: list[str], after: list[str], keep_foreign: bool) -> None:
    """apply(plan(current, wanted)) holds exactly the wanted entries plus what kcm does not own,
    and planning again changes nothing (a second sync is a no-op)."""
    foreign = {"name": "on-prem", "context": {"cluster": "on-prem", "user": "me"}}
    current: dict[str, Any] = {"apiVersion": "v1", "kind": "Config", "current-context": ""}
    current["clusters"] = [wanted(cluster(n)).cluster for n in before]
    current["users"] = [wanted(cluster(n)).user for n in before]
    current["contexts"] = [wanted(cluster(n)).context for n in before] + ([foreign] if keep_foreign else [])
    targets = [wanted(cluster(n)) for n in after]
    result = applied(current, reconcile.plan(current, targets, prunable=lambda section, entry: True))
    assert sorted(c["name"] for c in result["contexts"]) == sorted(
        after + (["on-prem"] if keep_foreign else [])
    )
    assert sorted(c["name"] for c in result["clusters"]) == sorted(t.cluster["name"] for t in targets)
    again = reconcile.plan(result, targets, prunable=lambda section, entry: True)
    assert again.changes == () and again.current_context is None


# ---- merging other kubeconfigs -------------------------------------------------------------------------
def config(*names: str, server: str = "https://a", user_token: str = "t") -> dict[str, Any]:
    """A kubeconfig holding one context per name, each with its own cluster and user."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": n, "cluster": {"server": f"{server}/{n}"}} for n in names],
        "users": [{"name": n, "user": {"token": f"{user_token}-{n}"}} for n in names],
        "contexts": [{"name": n, "context": {"cluster": n, "user": n}} for n in names],
        "current-context": names[0] if names else "",
    }


def merged(current: dict[str, Any], *sources: dict[str, Any], on_conflict: str = "fail") -> dict[str, Any]:
    planned = reconcile.merge(current, [(f"s{i}", s) for i, s in enumerate(sources)], on_conflict)
    assert not planned.conflicts
    return applied(current, planned)


def test_merge_adds_the_new_and_leaves_the_identical() -> None:
    mine, theirs = config("a", "b"), config("b", "c")
    result = merged(mine, theirs)
    assert [c["name"] for c in result["contexts"]] == ["a", "b", "c"]
    assert result["current-context"] == "a"  # ours stays


def test_merge_takes_their_current_context_only_when_we_have_none() -> None:
    mine = {**config("a"), "current-context": ""}
    assert merged(mine, config("c"))["current-context"] == "c"


def test_conflicts_are_all_listed_and_each_policy_settles_them() -> None:
    mine, theirs = config("a"), config("a", server="https://other")
    planned = reconcile.merge(mine, [("other.yaml", theirs)], "fail")
    assert planned.conflicts == {
        "cluster a": "other.yaml: cluster 'a' differs from the one in the kubeconfig"
    }
    assert merged(mine, theirs, on_conflict="keep") == applied(mine, reconcile.merge(mine, [], "fail"))
    assert merged(mine, theirs, on_conflict="theirs")["clusters"] == theirs["clusters"]
    renamed = merged(mine, theirs, on_conflict="rename")
    assert [c["name"] for c in renamed["clusters"]] == ["a", "a-2"]
    assert renamed["clusters"][1]["cluster"] == theirs["clusters"][0]["cluster"]
    # their context `a` is identical in content but for the cluster it names: renamed too, and pointed
    assert {c["name"]: c["context"] for c in renamed["contexts"]} == {
        "a": {"cluster": "a", "user": "a"},
        "a-2": {"cluster": "a-2", "user": "a"},
    }


def test_an_unknown_policy_is_bad_input() -> None:
    with pytest.raises(InputError, match="--on-conflict 'mine'"):
        reconcile.merge(config("a"), [], "mine")


def test_redacted_hides_secrets_and_data_as_kubectl_does() -> None:
    user = {"name": "u", "user": {"token": "s3cret", "client-key-data": "KEY", "exec": {"command": "aws"}}}
    cluster = {"name": "c", "cluster": {"server": "https://x", "certificate-authority-data": "CA"}}
    assert reconcile.redacted(user)["user"] == {
        "token": "REDACTED",
        "client-key-data": "REDACTED",
        "exec": {"command": "aws"},
    }
    assert reconcile.redacted(cluster)["cluster"]["certificate-authority-data"] == "DATA+OMITTED"


def test_field_changes_name_the_dotted_paths() -> None:
    before = {"name": "c", "cluster": {"server": "https://a", "proxy-url": "http://p"}}
    after = {"name": "c", "cluster": {"server": "https://b", "tls-server-name": "x"}}
    assert reconcile.field_changes(before, after) == [
        ("cluster.server", "https://a", "https://b"),
        ("cluster.proxy-url", "http://p", None),
        ("cluster.tls-server-name", None, "x"),
    ]


policies = st.sampled_from(["keep", "theirs", "rename"])
servers = st.sampled_from(["https://a", "https://b"])


@settings(max_examples=60, deadline=None)
@given(mine=names, theirs=names, other=names, policy=policies, s1=servers, s2=servers, s3=servers)
def test_merge_laws(
    mine: list[str], theirs: list[str], other: list[str], policy: str, s1: str, s2: str, s3: str
) -> None:
    """Merging the same files again changes nothing; a plan applied leaves nothing to plan."""
    current = config(*mine, server=s1)
    sources = [("theirs", config(*theirs, server=s2)), ("other", config(*other, server=s3, user_token="o"))]
    once = applied(current, reconcile.merge(current, sources, policy))
    again = reconcile.merge(once, sources, policy)
    assert again.changes == () and again.current_context is None
    # everything of theirs is reachable under some name, and nothing of ours was lost
    assert {c["name"] for c in current["contexts"]} <= {c["name"] for c in once["contexts"]}
    if policy != "theirs":
        for section in ("clusters", "users"):
            assert [e for e in once[section] if e["name"] in mine] == current[section]
