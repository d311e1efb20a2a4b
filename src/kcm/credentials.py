"""Where a profile's AWS credentials come from, and why they did not come: one sentence with the fix.

botocore reports a failing credential source in its own terms, and not always with words: a
credential_process that exits 1 silently leaves "Error when retrieving credentials from
custom-process: ", one that prints something other than JSON raises a JSONDecodeError, one not on
PATH a FileNotFoundError. Here each failure is put back on the profile it came from (or on the
source_profile its role is assumed with), with the command or setting that fixes it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import botocore.exceptions as bx
import botocore.session

ROLE_SOURCES = ("Environment", "Ec2InstanceMetadata", "EcsContainer")
_ON_NO_SOURCE = {
    "Environment": "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
    "Ec2InstanceMetadata": "it has credentials only on an EC2 instance with an instance profile",
    "EcsContainer": "it has credentials only in an ECS task or EKS pod given a role",
}
_PROCESS_OUTPUT = 'it must print one JSON object with "Version": 1, "AccessKeyId" and "SecretAccessKey"'
_CLOCK_CODES = ("RequestTimeTooSkewed", "RequestExpired", "RequestInTheFuture")
_SIGNATURE_CODES = ("SignatureDoesNotMatch", "InvalidSignatureException", "AuthFailure")
_EXPIRED_CODES = ("ExpiredToken", "ExpiredTokenException", "TokenRefreshRequired")
_UNKNOWN_KEY_CODES = ("InvalidClientTokenId", "UnrecognizedClientException", "InvalidAccessKeyId")
_DENIED_CODES = ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation")


class Unloadable(bx.BotoCoreError):  # type: ignore[misc]  # botocore ships no types
    """A credential source failed outside botocore's own errors (a credential_process not on PATH
    or printing no JSON, a token file missing); the original is `kwargs["cause"]`."""

    fmt = "{cause}"


class Refused(bx.BotoCoreError):  # type: ignore[misc]
    """AWS refused a call made to get credentials (AssumeRole for a role profile, IAM Identity
    Center's GetRoleCredentials); the ClientError is `kwargs["error"]`."""

    fmt = "{error}"


def effective_profile(profile: str | None) -> str | None:
    """The profile in force, as the AWS CLI sees it: the flag, else AWS_DEFAULT_PROFILE, else AWS_PROFILE."""
    return profile or os.environ.get("AWS_DEFAULT_PROFILE") or os.environ.get("AWS_PROFILE") or None


def load(session: botocore.session.Session, first: Callable[[], Any] | None = None) -> Any:
    """The session's credentials, fetched now (a role's AssumeRole, an SSO sign-in, a credential_process
    run), so that their failure is reported as theirs and not as the first call's. `first` makes the
    client they are for: botocore assumes a role in the region of the session's first client."""
    try:
        if first is not None:
            first()
        found = session.get_credentials()
        if found is None:
            raise bx.NoCredentialsError()
        found.get_frozen_credentials()
    except bx.ClientError as exc:
        raise Refused(error=exc) from exc
    except (OSError, ValueError, LookupError, AttributeError, TypeError) as exc:
        raise Unloadable(cause=exc) from exc
    return found


@dataclass(frozen=True)
class Link:
    """One profile of a credential chain: the profile asked for, then each source_profile."""

    name: str
    settings: Mapping[str, Any]
    kind: str  # role, web-identity, sso, keys, process, env; "" for none, "missing" for no such profile


def kind(settings: Mapping[str, Any]) -> str:
    """Where botocore takes a profile's credentials from, in its order."""
    if settings.get("role_arn"):
        return "web-identity" if settings.get("web_identity_token_file") else "role"
    if settings.get("sso_session") or settings.get("sso_start_url"):
        return "sso"
    if settings.get("aws_access_key_id") or settings.get("aws_secret_access_key"):
        return "keys"
    return "process" if settings.get("credential_process") is not None else ""


def chain(profile: str | None, config: Mapping[str, Any]) -> list[Link]:
    """`profile` and the source_profiles its role is assumed with, up to the one that holds the
    credentials (or a loop, or a profile that does not exist)."""
    if profile is None and os.environ.get("AWS_ACCESS_KEY_ID"):
        return [Link("", {}, "env")]
    profiles = config.get("profiles", {})
    name = effective_profile(profile) or "default"
    links: list[Link] = []
    while name not in [link.name for link in links]:
        if name not in profiles:
            links.append(Link(name, {}, "missing"))
            break
        settings = profiles[name]
        links.append(Link(name, settings, kind(settings)))
        source = settings.get("source_profile")
        if links[-1].kind != "role" or settings.get("credential_source") or not source or source == name:
            break
        name = source
    return links


def _subject(links: list[Link], index: int) -> str:
    if links[index].kind == "env":
        return "the credentials in the environment"
    if index == 0:
        return f"profile '{links[0].name}'"
    return f"source_profile '{links[index].name}' of profile '{links[index - 1].name}'"


def said(exc: bx.ClientError) -> str:
    """What AWS answered, never ending empty: `Code: Message`, or the code alone."""
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    code = error.get("Code") or (f"HTTP {status}" if status else "an error without a code")
    message = " ".join(str(error.get("Message") or "").split())
    return f"{code}: {message}" if message else str(code)


def _config() -> Mapping[str, Any]:
    try:
        found: Mapping[str, Any] = botocore.session.Session().full_config
    except bx.BotoCoreError:
        return {}
    return found


def failure(exc: BaseException, profile: str | None, config: Mapping[str, Any] | None = None) -> str | None:
    """`exc`, raised while getting the credentials of `profile`, as a sentence that names the profile
    at fault and what to do; None when `exc` is not about credentials."""
    known = _config() if config is None else config
    links = chain(profile, known)
    end = len(links) - 1
    if isinstance(exc, bx.NoCredentialsError):
        if links[end].kind != "":
            return None
        return (
            f"{_subject(links, end)} configures no credentials (give it aws_access_key_id and "
            "aws_secret_access_key, an sso_session, a credential_process, or role_arn and source_profile)"
        )
    if isinstance(exc, bx.PartialCredentialsError):
        return _partial(exc, links)
    if isinstance(exc, bx.InvalidConfigError | bx.InfiniteLoopConfigError):
        return _misconfigured(exc, links, known)
    if isinstance(exc, bx.CredentialRetrievalError):
        return _retrieval(exc, links)
    if isinstance(exc, Unloadable):
        return _unloadable(exc.kwargs["cause"], links)
    if isinstance(exc, bx.SSOError | bx.TokenRetrievalError):
        return _sso(exc, links)
    if isinstance(exc, Refused):
        return _refused(exc.kwargs["error"], links)
    return None


def _partial(exc: bx.PartialCredentialsError, links: list[Link]) -> str:
    provider, missing = exc.kwargs.get("provider"), exc.kwargs.get("cred_var")
    if provider == "assume-role":
        index = next((i for i, link in enumerate(links) if link.kind == "role"), 0)
        return (
            f"{_subject(links, index)} has role_arn {links[index].settings.get('role_arn')} but nothing to "
            "assume it with (add source_profile = PROFILE, a profile with credentials, or credential_source "
            "= Environment, Ec2InstanceMetadata or EcsContainer)"
        )
    if provider == "env":
        return (
            f"{missing} is not set, but other AWS credentials are in the environment (set it, or unset them)"
        )
    where = "the AWS credentials file" if provider == "shared-credentials-file" else "the AWS config file"
    return f"{_subject(links, len(links) - 1)} has no {missing} in {where} (add it beside the access key)"


def _misconfigured(exc: bx.BotoCoreError, links: list[Link], config: Mapping[str, Any]) -> str:
    for index, link in enumerate(links):
        source, credential_source = (
            link.settings.get("source_profile"),
            link.settings.get("credential_source"),
        )
        if link.kind == "missing" and index:
            return (
                f"{_subject(links, index - 1)} takes its credentials from source_profile '{link.name}', "
                "which is not in the AWS config or credentials file (fix source_profile, or add "
                f"[profile {link.name}]; `aws configure list-profiles` lists the profiles)"
            )
        if link.kind == "role" and source and credential_source:
            return f"{_subject(links, index)} has both source_profile and credential_source (keep one)"
        if link.kind == "role" and credential_source and credential_source not in ROLE_SOURCES:
            return (
                f"{_subject(links, index)} has credential_source {credential_source!r}, which is not one "
                f"of {', '.join(ROLE_SOURCES)}"
            )
        if link.kind == "" and index:
            return (
                f"{_subject(links, index - 1)} takes its credentials from source_profile '{link.name}', "
                "which configures none (give it keys, an sso_session, a credential_process or a role_arn)"
            )
        if link.kind == "sso":
            return _sso_settings(links, index, config) or _sso(exc, links)
    if isinstance(exc, bx.InfiniteLoopConfigError):
        names = [link.name for link in links] + [links[-1].settings.get("source_profile", "")]
        return (
            f"{_subject(links, 0)}: its source_profile chain goes round in a circle "
            f"({' -> '.join(names)}); end it at a profile with credentials"
        )
    return f"{_subject(links, 0)}: {str(exc).rstrip('.')} (fix the profile in the AWS config)"


def _sso_settings(links: list[Link], index: int, config: Mapping[str, Any]) -> str | None:
    settings, name = links[index].settings, links[index].name
    session = settings.get("sso_session")
    if session and session not in config.get("sso_sessions", {}):
        return (
            f"{_subject(links, index)} names sso_session '{session}', but the AWS config has no "
            f"[sso-session {session}] (`aws configure sso-session` writes one)"
        )
    wanted = ("sso_account_id", "sso_role_name") + (() if session else ("sso_start_url", "sso_region"))
    missing = [key for key in wanted if not settings.get(key)]
    if missing:
        return (
            f"{_subject(links, index)} signs in through IAM Identity Center but has no "
            f"{', '.join(missing)} (`aws configure sso --profile {name}` writes them)"
        )
    return None


def login_command(links: list[Link]) -> str:
    """How the AWS CLI signs the chain's SSO profile in: its sso-session, else (legacy) the profile."""
    link = next((link for link in links if link.kind == "sso"), links[-1])
    session = link.settings.get("sso_session")
    return f"aws sso login --sso-session {session}" if session else f"aws sso login --profile {link.name}"


def _sso(exc: BaseException, links: list[Link]) -> str:
    index = next((i for i, link in enumerate(links) if link.kind == "sso"), len(links) - 1)
    subject, session = _subject(links, index), links[index].settings.get("sso_session")
    login = f"run `{login_command(links)}`"
    if isinstance(exc, bx.SSOTokenLoadError):
        if session:
            return f"{subject} signs in through SSO session '{session}', which is not signed in ({login})"
        url = links[index].settings.get("sso_start_url")
        return f"{subject} is not signed in to IAM Identity Center at {url} ({login})"
    if isinstance(exc, bx.TokenRetrievalError) and session:
        return f"{subject}: the sign-in of SSO session '{session}' has expired ({login})"
    if isinstance(exc, bx.UnauthorizedSSOTokenError | bx.TokenRetrievalError):
        return f"{subject}: its IAM Identity Center sign-in has expired or was revoked ({login})"
    return f"{subject}: IAM Identity Center: {str(exc).rstrip('.')} ({login})"


def _program(settings: Mapping[str, Any]) -> str:
    """The credential_process's program, without its arguments (they may hold secrets)."""
    command = str(settings.get("credential_process") or "")
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    return (words[0] + (" ..." if len(words) > 1 else "")) if words else ""


def _retrieval(exc: bx.CredentialRetrievalError, links: list[Link]) -> str:
    provider, text = exc.kwargs.get("provider"), " ".join(str(exc.kwargs.get("error_msg") or "").split())
    end = len(links) - 1
    if provider == "custom-process":
        program = f"its credential_process `{_program(links[end].settings)}`"
        if not text:
            return (
                f"{_subject(links, end)} gets no credentials: {program} failed and printed no reason "
                "(run it in a shell to see why)"
            )
        shape = _shape(text)
        if shape:
            return (
                f"{_subject(links, end)} gets no credentials: {program} printed {shape} ({_PROCESS_OUTPUT})"
            )
        return f"{_subject(links, end)} gets no credentials: {program} failed: {text}"
    if provider in ROLE_SOURCES:
        index = next((i for i, link in enumerate(links) if link.settings.get("credential_source")), end)
        return (
            f"{_subject(links, index)} assumes its role with credentials from credential_source {provider}, "
            f"which has none here ({_ON_NO_SOURCE[str(provider)]})"
        )
    return f"{_subject(links, end)} gets no credentials from {provider}: {text or 'no reason given'}"


def _shape(text: str) -> str:
    """botocore's complaint about a credential_process's JSON, as what it printed; "" for another."""
    missing = re.match(r"Missing required key in response: (.+)", text)
    if missing:
        return f"JSON without {missing[1]}"
    version = re.match(r"Unsupported version '(.*?)'", text)
    return f'"Version": {version[1]}, not 1' if version else ""


def _unloadable(cause: BaseException, links: list[Link]) -> str:
    end = len(links) - 1
    subject, settings = _subject(links, end), links[end].settings
    if links[end].kind == "process":
        program = _program(settings)
        its = f"its credential_process `{program}`"
        if not program:
            return f"{subject} has an empty credential_process (give it the command that prints credentials)"
        if isinstance(cause, FileNotFoundError):
            where = "does not exist" if "/" in program else "is not on PATH"
            return f"{subject} gets no credentials: {its} {where} (install it, or give its full path)"
        if isinstance(cause, PermissionError):
            return f"{subject} gets no credentials: {its} cannot be run: permission denied (chmod +x it)"
        if isinstance(cause, OSError):
            return f"{subject} gets no credentials: {its} cannot be run: {cause.strerror or cause}"
        if isinstance(cause, json.JSONDecodeError):
            what = "nothing" if not cause.doc.strip() else "something that is not JSON"
            return f"{subject} gets no credentials: {its} printed {what} ({_PROCESS_OUTPUT})"
        if isinstance(cause, AttributeError | TypeError | LookupError):
            return (
                f"{subject} gets no credentials: {its} printed JSON that is not an object ({_PROCESS_OUTPUT})"
            )
        if _splits(settings):
            return f"{subject} gets no credentials: {its} printed what kcm cannot use: {cause}"
        return (
            f"{subject} has a credential_process that cannot be split into words: {cause} (check its quotes)"
        )
    if links[end].kind == "web-identity" and isinstance(cause, OSError):
        path = settings.get("web_identity_token_file")
        return f"{subject} gets no credentials: its web_identity_token_file {path}: {cause.strerror or cause}"
    text = str(cause).strip() or "no reason given (run with --debug to see where)"
    return f"{subject} gets no credentials: {type(cause).__name__}: {text}"


def _splits(settings: Mapping[str, Any]) -> bool:
    try:
        shlex.split(str(settings.get("credential_process") or ""))
    except ValueError:
        return False
    return True


def _refused(error: bx.ClientError, links: list[Link]) -> str:
    operation, code = error.operation_name, error.response.get("Error", {}).get("Code", "")
    roles = [i for i, link in enumerate(links) if link.kind in ("role", "web-identity")]
    if operation in ("AssumeRole", "AssumeRoleWithWebIdentity") and roles:
        message = str(error.response.get("Error", {}).get("Message") or "")
        index = next((i for i in roles if str(links[i].settings.get("role_arn")) in message), roles[-1])
        link = links[index]
        head = f"{_subject(links, index)} cannot assume {link.settings.get('role_arn')}: {said(error)}"
        if code in _DENIED_CODES and link.kind == "web-identity":
            return f"{head} (the role's trust policy must trust the token's identity provider and audience)"
        if code in _DENIED_CODES:
            source = link.settings.get("credential_source")
            by = (
                f"credential_source {source}"
                if source
                else f"source_profile '{link.settings.get('source_profile')}'"
            )
            return (
                f"{head} (check the role's trust policy allows the identity of {by}, and that identity's "
                "IAM policy allows sts:AssumeRole on the role)"
            )
        fix = _hint(code, error, links[index + 1 :] or links)
        return head + (f" ({fix})" if fix else "")
    if operation == "GetRoleCredentials":
        settings = links[-1].settings
        return (
            f"{_subject(links, len(links) - 1)}: IAM Identity Center gives no credentials for role "
            f"{settings.get('sso_role_name')} in account {settings.get('sso_account_id')}: {said(error)} "
            "(check sso_account_id and sso_role_name: is that role assigned to you there?)"
        )
    if operation == "CreateToken":
        return (
            f"{_subject(links, len(links) - 1)}: the SSO sign-in cannot be refreshed: {said(error)} "
            f"(run `{login_command(links)}`)"
        )
    fix = _hint(code, error, links)
    return f"{_subject(links, 0)} gets no credentials: {operation}: {said(error)}" + (
        f" ({fix})" if fix else ""
    )


def hint(exc: bx.ClientError, profile: str | None, config: Mapping[str, Any] | None = None) -> str:
    """What to do about AWS refusing a call made with `profile`'s credentials; "" when it is not
    about them (nor about the clock)."""
    code = exc.response.get("Error", {}).get("Code", "")
    return _hint(code, exc, chain(profile, _config() if config is None else config))


def _hint(code: str, exc: bx.ClientError, links: list[Link]) -> str:
    message = str(exc.response.get("Error", {}).get("Message") or "")
    end = len(links) - 1
    if code in _CLOCK_CODES or (code in _SIGNATURE_CODES and "Signature" in message and "expired" in message):
        return "this machine's clock is off: set it right, e.g. `timedatectl set-ntp true`"
    if code in _EXPIRED_CODES:
        return _expired(links)
    env = links[end].kind == "env"
    if code in _UNKNOWN_KEY_CODES:
        key = (
            "the AWS_ACCESS_KEY_ID in the environment" if env else f"the access key of {_subject(links, end)}"
        )
        return (
            f"AWS does not know {key}: it was deleted, deactivated or mistyped, or a temporary key lost "
            "its session token"
        )
    if code in _SIGNATURE_CODES and env:
        return "the AWS_SECRET_ACCESS_KEY in the environment does not match its AWS_ACCESS_KEY_ID"
    if code in _SIGNATURE_CODES:
        return f"the secret access key of {_subject(links, end)} does not match its access key"
    if code in _DENIED_CODES and exc.operation_name == "AssumeRole":
        return (
            "the role's trust policy must allow this identity, which `aws sts get-caller-identity` shows, "
            "and the identity's IAM policy sts:AssumeRole on the role"
        )
    if code in _DENIED_CODES:
        return "check the IAM policy of the identity that `aws sts get-caller-identity` shows"
    return ""


def _expired(links: list[Link]) -> str:
    end = len(links) - 1
    link = links[end]
    if link.kind == "env":
        return "the temporary credentials in AWS_SESSION_TOKEN have expired: export new ones, or unset them"
    if link.kind == "sso":
        return f"the SSO sign-in has expired: run `{login_command(links)}`"
    if link.kind == "keys":
        return (
            f"the temporary credentials of {_subject(links, end)} have expired: replace its "
            "aws_access_key_id, aws_secret_access_key and aws_session_token with new ones"
        )
    if link.kind == "process":
        return f"its credential_process `{_program(link.settings)}` handed out credentials that have expired"
    return "the session has expired: run kcm again"
