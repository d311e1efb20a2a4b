"""Layer 6, does the cluster know this identity: an access entry for the role ARN and its policies
(authenticationMode API, API_AND_CONFIG_MAP), or what aws-auth must map (CONFIG_MAP)."""

from __future__ import annotations

import botocore.exceptions as bx

from kcm.commands.doctor.findings import Described, Identity, Walk


def check(walk: Walk, identity: Identity, cluster: Described) -> None:
    arn, name, mode = identity.arn, cluster.name, cluster.mode
    create = (
        f"aws eks create-access-entry --cluster-name {name} --principal-arn {arn} && "
        f"aws eks associate-access-policy --cluster-name {name} --principal-arn {arn} "
        "--policy-arn arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy "
        "--access-scope type=cluster"
    )
    aws_auth = (
        f"aws-auth must map {arn} (the role, not its session); "
        "check: kubectl -n kube-system get configmap aws-auth -o yaml"
    )
    if mode == "CONFIG_MAP":
        walk.warn("access", f"authenticationMode CONFIG_MAP: {aws_auth}")
        return
    eks = identity.session.create_client("eks", region_name=identity.region)
    try:
        entries = eks.list_access_entries(clusterName=name).get("accessEntries", [])
    except (bx.BotoCoreError, bx.ClientError) as exc:
        walk.warn("access", f"cannot list access entries: {exc}", "needs eks:ListAccessEntries")
        return
    if arn not in entries:
        if mode == "API_AND_CONFIG_MAP":
            walk.warn("access", f"no access entry for {arn}; then {aws_auth}", create)
        else:
            walk.broken("access", f"no access entry for {arn} (authenticationMode API)", create)
        return
    try:
        policies = eks.list_associated_access_policies(clusterName=name, principalArn=arn).get(
            "associatedAccessPolicies", []
        )
    except (bx.BotoCoreError, bx.ClientError) as exc:
        walk.warn("access", f"access entry for {arn}; cannot list its policies: {exc}")
        return
    names = ", ".join(str(p.get("policyArn", "")).rsplit("/", 1)[-1] for p in policies)
    if not policies:
        walk.warn(
            "access", f"access entry for {arn} with no access policy: RBAC must grant it through its groups"
        )
    else:
        walk.ok("access", f"access entry for {arn}: {names}")
