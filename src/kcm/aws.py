"""The AWS boundary: sessions, EKS look-ups, and AWS errors turned into one-line advice.

Through botocore, boto3's core: boto3's own import (its resource layer, s3transfer) costs a tenth of a
second kcm has no use for. Imported only by commands that talk to AWS, so that `kcm list` and friends
start without either.
"""

from __future__ import annotations

import base64
import os
from typing import Any

import botocore.exceptions as bx
import botocore.session
from botocore.config import Config

from kcm import credentials, eks
from kcm.credentials import effective_profile as effective_profile
from kcm.eks import EksCluster
from kcm.errors import AwsError, InputError

_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3},
    connect_timeout=10,
    read_timeout=30,
    user_agent_extra="kcm",
)


def _where(profile: str | None, region: str | None) -> str:
    source = f"profile '{profile}'" if profile else "the default credential chain"
    return f"{source}, region {region}" if region else source


def session(profile: str | None, region: str | None) -> botocore.session.Session:
    """A session for `profile` with a known region and its credentials, or an error that says what to set."""
    from kcm.discovery import botocore_session  # sync's sessions, on its model loader (kcm.discovery)

    result = botocore_session(profile)
    if region:
        result.set_config_variable("region", region)
    try:
        result.get_scoped_config()  # a profile that does not exist fails here, not in a later call
    except bx.ProfileNotFound:
        raise InputError(
            f"AWS profile '{profile}' not found in the AWS config or credentials file "
            "(see `aws configure list-profiles`)"
        ) from None
    chosen = result.get_config_variable("region")
    if not chosen:
        raise InputError(
            "You must specify a region: --region, AWS_DEFAULT_REGION, or `region =` in the profile"
        )
    known = eks_regions(result)
    if known and chosen not in known:
        raise InputError(
            f"unknown AWS region '{chosen}' (from {_region_source(region, profile)}): EKS has no such region"
        )
    try:
        credentials.load(result)  # a failing source is reported as the profile's, not as a call's
    except (bx.BotoCoreError, bx.ClientError) as exc:
        raise explain(exc, None, profile, str(chosen)) from None
    return result


def eks_regions(sess: botocore.session.Session) -> set[str]:
    """Every region of every partition that botocore knows EKS in."""
    return {
        name
        for partition in sess.get_available_partitions()
        for name in sess.get_available_regions("eks", partition)
    }


def region_of(sess: botocore.session.Session) -> str | None:
    found = sess.get_config_variable("region")
    return str(found) if found else None


def _region_source(region: str | None, profile: str | None) -> str:
    """Where botocore took the region from, in its order: flag, environment, profile."""
    if region:
        return "--region"
    if os.environ.get("AWS_DEFAULT_REGION"):
        return "AWS_DEFAULT_REGION"
    return f"profile '{profile or 'default'}'"


def credential_args(assumed: dict[str, str] | None) -> dict[str, str]:
    """An AssumeRole response's `Credentials` as `create_client` keywords; none for the session's own."""
    if not assumed:
        return {}
    return {
        "aws_access_key_id": assumed["AccessKeyId"],
        "aws_secret_access_key": assumed["SecretAccessKey"],
        "aws_session_token": assumed["SessionToken"],
    }


def _client(sess: botocore.session.Session, service: str, assumed: dict[str, str] | None = None) -> Any:
    return sess.create_client(service, config=_CONFIG, **credential_args(assumed))


def explain(exc: Exception, action: str | None, profile: str | None, region: str | None) -> AwsError:
    """An AWS failure as one line: what was tried, as whom, what AWS said, and the seeds' fix. A failure
    to get the credentials is said of the profile it came from (`action` None: that sentence alone)."""
    who = _where(profile, region)
    sentence = credentials.failure(exc, profile)
    if sentence:
        return AwsError(f"{action}: {sentence}" if action else sentence)
    action = action or "cannot get AWS credentials"
    if isinstance(exc, bx.NoCredentialsError):
        return AwsError(
            f"{action}: no AWS credentials found ({who}); set AWS_PROFILE, pass --profile, "
            "or run `aws configure` or `aws sso login`"
        )
    if isinstance(exc, bx.EndpointConnectionError | bx.ConnectTimeoutError):
        return AwsError(f"{action}: cannot reach AWS ({exc}); check the network, proxy or AWS_ENDPOINT_URL")
    if isinstance(exc, bx.ClientError):
        hint = credentials.hint(exc, profile)
        return AwsError(f"{action} as {who}: {credentials.said(exc)}" + (f" ({hint})" if hint else ""))
    text = str(exc).strip() or f"{type(exc).__name__}, without a message (run with --debug to see where)"
    return AwsError(f"{action} as {who}: {text}")


def assume_role(
    sts: Any, role_arn: str, *, session_name: str, profile: str | None, region: str | None
) -> dict[str, str]:
    """Credentials for `role_arn` from the STS client `sts`, or the trust-policy advice."""
    try:
        response = sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name)
    except (bx.BotoCoreError, bx.ClientError) as exc:
        raise explain(exc, f"cannot assume {role_arn}", profile, region) from None
    found: dict[str, str] = response["Credentials"]
    return found


def describe_cluster(
    name: str,
    *,
    profile: str | None,
    region: str | None,
    assume_role_arn: str | None = None,
) -> EksCluster:
    """`DescribeCluster`, with update-kubeconfig's checks: it must exist and be ACTIVE or UPDATING."""
    sess = session(profile, region)
    assumed = None
    if assume_role_arn:
        assumed = assume_role(
            _client(sess, "sts"),
            assume_role_arn,
            session_name="EKSDescribeClusterSession",  # the AWS CLI's
            profile=profile,
            region=region_of(sess),
        )
    try:
        found = _client(sess, "eks", assumed).describe_cluster(name=name).get("cluster") or {}
    except bx.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            raise AwsError(
                f"cluster '{name}' not found for {_where(profile, region_of(sess))} "
                "(check --region and --profile; `aws eks list-clusters` lists what is there)"
            ) from None
        raise explain(exc, f"cannot describe cluster '{name}'", profile, region_of(sess)) from None
    except bx.BotoCoreError as exc:
        raise explain(exc, f"cannot describe cluster '{name}'", profile, region_of(sess)) from None
    if "status" not in found:
        raise AwsError(f"cluster '{name}' not found for {_where(profile, region_of(sess))}")
    cluster = eks_cluster(found, name)
    if not cluster.ready:
        raise AwsError(f"Cluster status is {found['status']}: cluster '{name}' is not ready yet")
    return cluster


def eks_cluster(found: dict[str, Any], name: str) -> EksCluster:
    """A `DescribeCluster` response's `cluster`, as kcm needs it."""
    return EksCluster(
        name=found.get("name", name),
        arn=found["arn"],
        endpoint=found.get("endpoint", ""),
        certificate_authority=found.get("certificateAuthority", {}).get("data", ""),
        status=found["status"],
        id=found.get("id"),
        outpost=_identified_by_id(found),
        created=_iso(found.get("createdAt")),
    )


def _iso(value: Any) -> str:
    """botocore's datetime (or the string a stub gave) as ISO 8601 text; "" when absent."""
    return value.isoformat() if hasattr(value, "isoformat") else str(value or "")


def _identified_by_id(found: dict[str, Any]) -> bool:
    """The AWS CLI's rule: an Outposts local cluster (an `outpostConfig` without `etcdInstanceType`;
    an extended cluster has one) is named to get-token by its id; every other cluster by its name."""
    config = found.get("outpostConfig")
    return config is not None and config.get("etcdInstanceType") is None


def cluster_names(client: Any) -> list[str]:
    """Every page of ListClusters through an EKS client, unsorted. By hand, not with a paginator:
    a client's first get_paginator() loads the paginator model, which lists every service's data
    directory; many threads doing so at once spent a tenth of a second of a small sync."""
    names: list[str] = []
    tokens: set[str] = set()
    token = None
    while True:
        page = client.list_clusters(**({"nextToken": token} if token else {}))
        names += page.get("clusters", [])
        token = page.get("nextToken")
        if not token:
            return names
        if token in tokens:  # as botocore's paginators do: never loop forever
            raise bx.PaginationError(message=f"the same nextToken was received twice: {token}")
        tokens.add(token)


def list_clusters(*, profile: str | None, region: str | None) -> tuple[str, list[str]]:
    """The region used and the names of its clusters, all pages."""
    sess = session(profile, region)
    names: list[str] = []
    try:
        names = cluster_names(_client(sess, "eks"))
    except (bx.BotoCoreError, bx.ClientError) as exc:
        raise explain(exc, "cannot list EKS clusters", profile, region_of(sess)) from None
    return region_of(sess) or "", sorted(names)


def mint_token(session: Any, keys: dict[str, str], cluster_id: str, region: str | None) -> str:
    """A token as `aws eks get-token` makes it: a GetCallerIdentity URL presigned for 60 s that signs
    the `x-k8s-aws-id` header naming the cluster."""
    sts = session.create_client("sts", region_name=region, **keys)

    def add_header(request: Any, **_: Any) -> None:
        request.headers["x-k8s-aws-id"] = cluster_id

    sts.meta.events.register("before-sign.sts.GetCallerIdentity", add_header)
    url = sts.generate_presigned_url("get_caller_identity", Params={}, ExpiresIn=60, HttpMethod="GET")
    return eks.TOKEN_PREFIX + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")
