"""Layer 4, the token: minted in-process as `aws eks get-token` mints it, and this machine's clock
against AWS's (SigV4 refuses a request more than 5 minutes off)."""

from __future__ import annotations

import base64
import datetime

from kcm import aws, eks
from kcm.commands.doctor.findings import Identity, Plugin, Walk

_SKEW_WARN, _SKEW_FAIL = 60, 300  # seconds


def check(walk: Walk, plugin: Plugin, identity: Identity) -> str:
    token = aws.mint_token(identity.session, identity.keys, str(plugin.cluster_id), identity.region)
    encoded = token[len(eks.TOKEN_PREFIX) :]
    url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    if "x-k8s-aws-id" not in url or "Action=GetCallerIdentity" not in url:
        walk.fail("token", "the token does not carry a signed x-k8s-aws-id header", "upgrade botocore")
    skew = _skew(identity.date)
    if skew is not None and abs(skew) > _SKEW_FAIL:
        walk.fail(
            "token",
            f"this machine's clock is {skew:+.0f} s off AWS's: every token is refused",
            "sync the clock (NTP)",
        )
    if skew is not None and abs(skew) > _SKEW_WARN:
        walk.warn("token", f"this machine's clock is {skew:+.0f} s off AWS's", "sync the clock (NTP)")
    walk.ok(
        "token",
        f"minted for cluster {plugin.cluster_id}, valid 60 s"
        + (f"; clock {skew:+.0f} s off AWS's" if skew is not None else ""),
    )
    return token


def _skew(date: str | None) -> float | None:
    if not date:
        return None
    from email.utils import parsedate_to_datetime

    try:
        theirs = parsedate_to_datetime(date)
    except (TypeError, ValueError):
        return None
    return (datetime.datetime.now(datetime.UTC) - theirs).total_seconds()
