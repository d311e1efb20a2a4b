"""Layer 3, who the exec plugin is on AWS, with exactly its environment: the profile exists, the
credentials work, the `--role` in its args can be assumed, and the ARN the cluster will see."""

from __future__ import annotations

import os
from typing import Any

import botocore.exceptions as bx
import botocore.session

from kcm import aws, credentials
from kcm.commands.doctor.findings import Identity, Plugin, Walk
from kcm.errors import KcmError


def check(walk: Walk, plugin: Plugin) -> Identity:
    profile = os.environ.get("AWS_PROFILE") or None  # the plugin's own, when it sets one
    region = plugin.arg("--region") or None
    source = "the kubeconfig's AWS_PROFILE" if "AWS_PROFILE" in plugin.env else "AWS_PROFILE in this shell"
    session = botocore.session.Session(profile=profile)
    try:
        session.get_scoped_config()
    except bx.ProfileNotFound:
        walk.fail(
            "identity",
            f"profile '{profile}' ({source}) does not exist in the AWS config or credentials file",
            f"add [profile {profile}] to ~/.aws/config, or pin an existing one: `kcm add ... --profile NAME`",
        )
    if region:
        session.set_config_variable("region", region)
    who = f"profile {profile}" if profile else "the default credentials"
    try:
        # the credentials first: a failing source (a credential_process, an SSO sign-in, a role) is
        # said as itself, not as GetCallerIdentity's failure, and never as a traceback
        made: list[Any] = []
        credentials.load(session, lambda: made.append(session.create_client("sts")))
        sts = made[0]
        response = sts.get_caller_identity()
    except (bx.BotoCoreError, bx.ClientError) as exc:
        walk.fail(
            "identity",
            str(
                aws.explain(
                    exc,
                    None if credentials.failure(exc, profile) else "sts:GetCallerIdentity",
                    profile,
                    region,
                )
            ),
            _fix_for(exc, profile),
        )
    arn = str(response["Arn"])
    date = response["ResponseMetadata"]["HTTPHeaders"].get("date")
    resolved = session.get_credentials()
    method = str(getattr(resolved, "method", "") or "unknown")  # env, shared-credentials-file, sso, ...
    frozen = resolved.get_frozen_credentials()
    keys = {
        "aws_access_key_id": frozen.access_key,
        "aws_secret_access_key": frozen.secret_key,
        "aws_session_token": frozen.token,
    }
    role = plugin.arg("--role") or plugin.arg("--role-arn")  # aws eks get-token's, kcm token's
    if role:
        try:
            assumed = aws.assume_role(sts, role, session_name="kcm-doctor", profile=profile, region=region)
        except KcmError as exc:
            walk.fail(
                "identity",
                f"{who} is {arn}; {exc}",
                f"add {arn_of_role(arn)} to the trust policy of {role} (its trust relationship)",
            )
        keys = aws.credential_args(assumed)
        token_sts = session.create_client("sts", **keys)
        arn = str(token_sts.get_caller_identity()["Arn"])
    sees = arn_of_role(arn)
    path_note = ""
    if ":role/" in sees:
        iam = session.create_client("iam", **keys)
        try:
            sees = str(iam.get_role(RoleName=sees.rsplit("/", 1)[1])["Role"]["Arn"])
        except (bx.BotoCoreError, bx.ClientError):
            path_note = " (iam:GetRole denied: if the role has a path, the cluster sees it with the path)"
    origin = f" ({source})" if profile else ""
    walk.ok(
        "identity",
        f"{who}{origin} is {arn} (credentials: {method}); the cluster sees {sees}{path_note}",
    )
    return Identity(session, keys, sees, region or session.get_config_variable("region"), date, profile)


def _config() -> dict[str, object]:
    try:
        return dict(botocore.session.Session().full_config)
    except bx.BotoCoreError:
        return {}


def arn_of_role(arn: str) -> str:
    """The ARN an access entry maps: the role's, not the assumed-role session's."""
    if ":assumed-role/" not in arn:
        return arn
    head, rest = arn.split(":assumed-role/", 1)
    return f"{head.replace(':sts:', ':iam:')}:role/{rest.split('/')[0]}"


def _fix_for(exc: Exception, profile: str | None) -> str:
    login = credentials.login_command(credentials.chain(credentials.effective_profile(profile), _config()))
    if isinstance(exc, bx.NoCredentialsError):
        return (
            "give the exec plugin credentials: pin a profile into the kubeconfig (`kcm add --profile NAME`)"
        )
    if isinstance(exc, bx.SSOTokenLoadError | bx.UnauthorizedSSOTokenError | bx.TokenRetrievalError):
        return login
    code = exc.response.get("Error", {}).get("Code", "") if isinstance(exc, bx.ClientError) else ""
    if code.startswith("ExpiredToken"):
        return f"the session has expired: assume the role again, or {login}"
    if code in ("InvalidClientTokenId", "UnrecognizedClientException", "SignatureDoesNotMatch"):
        return "the access key is not valid: check the profile's credentials"
    return "check the credentials with `aws sts get-caller-identity`"
