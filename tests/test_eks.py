"""eks.upgraded_user: stale exec entries brought up to what `aws eks update-kubeconfig` writes today."""

from __future__ import annotations

from typing import Any

from kcm import eks

ROLE = "arn:aws:iam::111122223333:role/admin"
TODAY = {
    "apiVersion": eks.EXEC_API_VERSION,
    "args": ["--region", "eu-west-1", "eks", "get-token", "--cluster-name", "shop", "--output", "json"],
    "command": "aws",
    "env": [{"name": "AWS_PROFILE", "value": "prod"}],
}


def user(**exec_: Any) -> dict[str, Any]:
    return {"name": "u", "user": {"exec": {**TODAY, **exec_}}}


def test_todays_entry_and_other_kinds_of_user_are_left_alone() -> None:
    for entry in (user(), {"name": "t", "user": {"token": "x"}}, {"name": "n", "user": None}, {"name": "e"}):
        assert eks.upgraded_user(entry, "eu-west-1") == (entry, [])


def test_v1alpha1_missing_output_and_region_are_fixed_and_said() -> None:
    old = user(apiVersion=eks.OLD_EXEC_API_VERSION, args=["eks", "get-token", "--cluster-name", "shop"])
    new, fixed = eks.upgraded_user(old, "eu-west-1")
    assert new == user()
    assert (
        len(fixed) == 3 and "v1alpha1" in fixed[0] and "--output json" in fixed[1] and "eu-west-1" in fixed[2]
    )
    assert eks.upgraded_user(old)[0]["user"]["exec"]["args"][0] == "eks"  # no region known: none made up


def test_aws_iam_authenticator_becomes_get_token_only_where_the_aws_cli_is() -> None:
    old = user(command="aws-iam-authenticator", args=["token", "-i", "shop", "-r", ROLE])
    new, fixed = eks.upgraded_user(old, "eu-west-1")
    expected = ["--region", "eu-west-1", "eks", "get-token", "--cluster-name", "shop", "--role", ROLE]
    assert new["user"]["exec"]["args"] == [*expected, "--output", "json"]
    assert new["user"]["exec"]["env"] == TODAY["env"]
    assert fixed == ["aws-iam-authenticator token -> aws eks get-token"]
    assert eks.upgraded_user(old, "eu-west-1", aws_cli=False) == (old, [])
    odd = user(
        command="/usr/local/bin/aws-iam-authenticator", args=["token", "-i", "shop", "--forward-session-name"]
    )
    assert eks.upgraded_user(odd, "eu-west-1") == (odd, [])  # a form kcm does not know: left as it is
