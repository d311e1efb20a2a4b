"""kcm.adoption through reconcile.plan: what is taken over, what is left alone, and what the plan says."""

from __future__ import annotations

from typing import Any

from kcm import eks, reconcile
from tests.test_reconcile import applied, cluster, wanted

SHOP = cluster("shop")
OTHER = cluster("other")


def aws_cli(
    found: eks.EksCluster, profile: str | None = "team", context: str | None = None
) -> dict[str, Any]:
    """What `aws eks update-kubeconfig [--profile P] [--alias C]` writes for `found`."""
    plain = eks.entries(found, profile=profile, alias=context)
    return {"clusters": [plain.cluster], "users": [plain.user], "contexts": [plain.context]}


def test_the_same_cluster_and_profile_is_adopted_under_its_name() -> None:
    data = aws_cli(SHOP, context="shop")
    data["contexts"][0]["context"]["namespace"] = "web"
    planned = reconcile.plan(data, [wanted(SHOP, context="shop.eu-west-1")], adopt=True)
    assert planned.adopted == {"shop": "aws eks update-kubeconfig"}
    assert [(c.kind, c.section, c.name) for c in planned.changes if c.section == "contexts"] == [
        ("adopt", "contexts", "shop")
    ]
    after = applied(data, planned)
    [context] = after["contexts"]
    assert context["name"] == "shop" and context["context"]["namespace"] == "web"
    assert reconcile.origin("contexts", context) is not None
    again = reconcile.plan(after, [wanted(SHOP, context="shop.eu-west-1")], adopt=True)
    assert again.changes == () and again.notes == ()


def test_the_default_profile_is_no_profile_and_another_identity_is_another_way_in() -> None:
    data = aws_cli(SHOP, profile=None, context="shop")
    assert reconcile.plan(data, [wanted(SHOP, profile="default", context="s")], adopt=True).adopted == {
        "shop": "aws eks update-kubeconfig"
    }
    planned = reconcile.plan(data, [wanted(SHOP, profile="admin", context="s")], adopt=True)
    assert planned.adopted == {}
    assert planned.notes == (
        f"context 'shop' reaches {SHOP.arn} as profile default, not as profile admin: another way in, "
        "left as it is",
    )
    token = {
        "clusters": data["clusters"],
        "users": [{"name": SHOP.arn, "user": {"token": "t"}}],
        "contexts": data["contexts"],
    }
    assert (
        "cannot tell the identity" in reconcile.plan(token, [wanted(SHOP, context="s")], adopt=True).notes[0]
    )


def test_a_user_another_clusters_context_uses_is_not_taken_over() -> None:
    data = aws_cli(SHOP, context="shop")
    shared = data["users"][0]["name"]
    other = aws_cli(OTHER, context="other")
    data["clusters"] += other["clusters"]
    data["contexts"].append({"name": "other", "context": {"cluster": OTHER.arn, "user": shared}})
    planned = reconcile.plan(data, [wanted(SHOP, context="s")], adopt=True)
    after = applied(data, planned)
    users = {user["name"]: user for user in after["users"]}
    assert reconcile.origin("users", users[shared]) is None  # left as it was
    contexts = {context["name"]: context for context in after["contexts"]}
    # kcm's user would be the same entry: it is used as the user's own (unmarked), as sync always does
    assert contexts["shop"]["context"]["user"] == shared and users[shared] == data["users"][0]
    assert contexts["other"] == data["contexts"][1]


def test_only_one_context_per_cluster_and_identity_is_adopted() -> None:
    data = aws_cli(SHOP, context="shop")
    data["contexts"].append(
        {
            **data["contexts"][0],
            "name": "shop-web",
            "context": {**data["contexts"][0]["context"], "namespace": "web"},
        }
    )
    planned = reconcile.plan(data, [wanted(SHOP, context="s")], adopt=True)
    assert planned.adopted == {"shop": "aws eks update-kubeconfig"}
    assert planned.notes == (
        f"context 'shop-web' also reaches {SHOP.arn} as profile team: left as it is (kcm takes over 'shop')",
    )


def test_an_entry_named_for_another_cluster_is_never_this_one() -> None:
    data = aws_cli(OTHER, context="other")
    data["clusters"][0]["cluster"]["server"] = SHOP.endpoint  # the same endpoint, another ARN's name
    planned = reconcile.plan(data, [wanted(SHOP, context="s")], adopt=True)
    assert planned.adopted == {} and planned.notes == ()


def test_without_adopt_nothing_is_taken_over() -> None:
    data = aws_cli(SHOP, context="shop")
    planned = reconcile.plan(data, [wanted(SHOP, context="s")])
    assert planned.adopted == {} and any(c.kind == "add" and c.name == "s" for c in planned.changes)
