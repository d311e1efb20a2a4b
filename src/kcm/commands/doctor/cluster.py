"""Layer 5, the cluster on AWS: DescribeCluster with the plugin's credentials; it is ACTIVE, and the
kubeconfig's server and CA are what EKS says (else the entry is stale)."""

from __future__ import annotations

from typing import Any

import botocore.exceptions as bx

from kcm import aws
from kcm.commands.doctor.findings import Config, Described, Identity, Plugin, Walk


def check(walk: Walk, config: Config, plugin: Plugin, identity: Identity) -> Described:
    name = str(plugin.arg("--cluster-name") or plugin.cluster_id)
    where = f"eks:DescribeCluster {name}"
    client = identity.session.create_client("eks", region_name=identity.region)
    try:
        found: dict[str, Any] = client.describe_cluster(name=name)["cluster"]
    except bx.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            walk.fail(
                "cluster",
                f"no cluster '{name}' in {identity.region} (account of {identity.arn})",
                f"`kcm rm {config.context}`, or `kcm sync --prune` for kcm's entries",
            )
        walk.fail(
            "cluster",
            str(aws.explain(exc, where, identity.profile, identity.region)),
            "check the identity's IAM policy for eks:DescribeCluster",
        )
    except bx.BotoCoreError as exc:
        walk.fail(
            "cluster", str(aws.explain(exc, where, identity.profile, identity.region)), "check the network"
        )
    described = Described(
        name, found, str((found.get("accessConfig") or {}).get("authenticationMode") or "CONFIG_MAP")
    )
    if found.get("status") != "ACTIVE":
        walk.fail(
            "cluster",
            f"{name} is {found.get('status')}, not ACTIVE",
            "wait for it, or check it in the EKS console",
        )
    access = found.get("resourcesVpcConfig") or {}
    if access.get("endpointPublicAccess") is False:
        walk.warn("cluster", f"{name}: the endpoint is private; it answers only inside its VPC (or over VPN)")
    stale = _stale(config.cluster_body, described)
    if stale:  # the walk goes on: what the old entry still reaches is worth knowing
        readd = (
            f"`kcm add --name {name} --region {identity.region}` (or `kcm sync`) writes what EKS says "
            "now; `kcm doctor --fix`, just the server and CA"
        )
        walk.broken("cluster", f"stale entry: {'; '.join(stale)}", readd)
        return described
    walk.ok(
        "cluster",
        f"{name} ACTIVE, version {found.get('version')}, server and CA as the kubeconfig says, "
        f"authenticationMode {described.mode}",
    )
    return described


def _stale(body: dict[str, Any], described: Described) -> list[str]:
    """How the kubeconfig's cluster entry differs from what EKS says, in words."""
    stale = []
    if body.get("server") != described.endpoint:
        stale.append(f"server {body.get('server')} (EKS: {described.endpoint})")
    if "certificate-authority-data" in body and body["certificate-authority-data"] != (
        described.certificate_authority
    ):
        stale.append("certificate-authority-data differs from EKS's")
    return stale
