"""IAM Identity Center: what one `[sso-session]` of the AWS config reaches, and kcm's profiles for it.

A person signs in once (`aws sso login --sso-session NAME`, which leaves an access token in the AWS
CLI's cache); the portal API then lists every account and role they were assigned, and hands out role
credentials. kcm reads that token (it never signs in itself), lists the assignments, and pins each
context it writes to a profile: the user's own for that account and role when there is one, else one
kcm writes into a marked block of the AWS config that it owns and rewrites, leaving every other byte
of the file as it was.
"""

from __future__ import annotations

import datetime
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.exceptions as bx
from botocore import UNSIGNED
from botocore.config import Config

from kcm import credentials, discovery, store
from kcm.errors import AwsError, InputError

BEGIN = "# >>> kcm: IAM Identity Center profiles; `kcm sync --sso-session` rewrites this block >>>"
END = "# <<< kcm <<<"
TEMPLATE = "{session}-{account_name}-{role}"
FIELDS = ("session", "account_id", "account_name", "role")
_UNSAFE = re.compile(r"[^A-Za-z0-9._+@-]+")
_CONFIG = Config(signature_version=UNSIGNED, retries={"mode": "standard", "max_attempts": 3})


@dataclass(frozen=True)
class Session:
    """An `[sso-session NAME]` of the AWS config."""

    name: str
    start_url: str
    region: str


@dataclass(frozen=True)
class Assignment:
    """One account and role a person can reach through a session."""

    session: str
    account: str
    account_name: str
    role: str


@dataclass(frozen=True)
class Profile:
    """A profile that signs in through a session as one account and role."""

    name: str
    session: str
    account: str
    role: str
    region: str

    def text(self) -> str:
        return (
            f"[profile {self.name}]\nsso_session = {self.session}\nsso_account_id = {self.account}\n"
            f"sso_role_name = {self.role}\nregion = {self.region}\n"
        )


def config_path() -> Path:
    return Path(os.path.expanduser(os.environ.get("AWS_CONFIG_FILE") or "~/.aws/config"))


def _full_config() -> dict[str, Any]:
    try:
        found: dict[str, Any] = discovery.botocore_session(None).full_config
    except bx.ConfigParseError as exc:
        raise discovery.config_error(exc) from None
    return found


def profile_settings() -> dict[str, dict[str, Any]]:
    """Every profile of the AWS config and credentials files, with its settings."""
    found: dict[str, dict[str, Any]] = _full_config().get("profiles", {})
    return found


def read_config() -> str:
    return store.read_text(config_path()) or ""


def sessions() -> list[Session]:
    """Every `[sso-session]` of the AWS config that names a start URL and a region, by name. Read
    from the config file alone (sessions live only there): `sync --all-accounts` asks every run."""
    from botocore.configloader import load_config

    path = config_path()
    try:
        config = load_config(str(path)) if path.is_file() else {}
    except bx.ConfigParseError as exc:
        raise discovery.config_error(exc) from None
    found = []
    for name, settings in sorted(config.get("sso_sessions", {}).items()):
        if settings.get("sso_start_url") and settings.get("sso_region"):
            found.append(Session(name, settings["sso_start_url"], settings["sso_region"]))
    return found


def session(name: str) -> Session:
    for known in sessions():
        if known.name == name:
            return known
    raise InputError(
        f"--sso-session {name!r}: no [sso-session {name}] with sso_start_url and sso_region in "
        f"{config_path()} (`aws configure sso-session` writes one)"
    )


def access_token(known: Session, now: datetime.datetime | None = None) -> str:
    """The session's access token from the AWS CLI's cache, while it is valid; else how to get one."""
    from botocore.utils import JSONFileCache, SSOTokenLoader

    login = f"run `aws sso login --sso-session {known.name}`"
    folder = os.path.expanduser(os.path.join("~", ".aws", "sso", "cache"))
    try:
        token = SSOTokenLoader(cache=JSONFileCache(folder))(known.start_url, session_name=known.name)
        expires = datetime.datetime.fromisoformat(str(token["expiresAt"]))  # `...Z` or `...+00:00`
    except bx.SSOTokenLoadError:
        raise AwsError(f"SSO session '{known.name}': not signed in (no cached token); {login}") from None
    except (KeyError, ValueError, OverflowError):
        raise AwsError(f"SSO session '{known.name}': the cached token is unreadable; {login}") from None
    moment = now or datetime.datetime.now(datetime.UTC)
    if (expires if expires.tzinfo else expires.replace(tzinfo=datetime.UTC)) <= moment:
        raise AwsError(f"SSO session '{known.name}': the token expired at {token['expiresAt']}; {login}")
    return str(token["accessToken"])


class Portal:
    """The IAM Identity Center portal API for one session, with its access token."""

    def __init__(self, known: Session, token: str, count: Any = None) -> None:
        self.session = known
        self._token = token
        self._client = discovery.botocore_session(None).create_client(
            "sso", region_name=known.region, config=_CONFIG
        )
        if count is not None:
            self._client.meta.events.register("before-call", count)

    def _fail(self, exc: Exception, action: str) -> AwsError:
        login = f"run `aws sso login --sso-session {self.session.name}`"
        if isinstance(exc, bx.ClientError):
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "UnauthorizedException":
                return AwsError(
                    f"SSO session '{self.session.name}': {action}: the token was refused; {login}"
                )
            fix = " (is that role still assigned to you?)" if code == "ForbiddenException" else ""
            return AwsError(f"SSO session '{self.session.name}': {action}: {credentials.said(exc)}{fix}")
        return AwsError(f"SSO session '{self.session.name}': {action}: {exc}")

    def accounts(self) -> list[tuple[str, str]]:
        """(id, name) of every account assigned, all pages."""
        found: list[tuple[str, str]] = []
        try:
            for page in self._client.get_paginator("list_accounts").paginate(accessToken=self._token):
                found += [
                    (item["accountId"], item.get("accountName") or item["accountId"])
                    for item in page.get("accountList", [])
                ]
        except (bx.BotoCoreError, bx.ClientError) as exc:
            raise self._fail(exc, "cannot list its accounts") from None
        return sorted(set(found))

    def roles(self, account: tuple[str, str]) -> list[Assignment]:
        found: list[Assignment] = []
        try:
            pages = self._client.get_paginator("list_account_roles").paginate(
                accessToken=self._token, accountId=account[0]
            )
            for page in pages:
                found += [
                    Assignment(self.session.name, account[0], account[1], item["roleName"])
                    for item in page.get("roleList", [])
                ]
        except (bx.BotoCoreError, bx.ClientError) as exc:
            raise self._fail(exc, f"cannot list the roles of account {account[0]}") from None
        return sorted(found, key=lambda item: item.role)

    def credentials(self, assignment: Assignment) -> dict[str, Any]:
        """Role credentials, as an AssumeRole response's `Credentials`."""
        try:
            found = self._client.get_role_credentials(
                accessToken=self._token, accountId=assignment.account, roleName=assignment.role
            )["roleCredentials"]
        except (bx.BotoCoreError, bx.ClientError) as exc:
            raise self._fail(
                exc, f"cannot get credentials for {assignment.role} in {assignment.account}"
            ) from None
        return {
            "AccessKeyId": found["accessKeyId"],
            "SecretAccessKey": found["secretAccessKey"],
            "SessionToken": found["sessionToken"],
            "Expiration": datetime.datetime.fromtimestamp(found["expiration"] / 1000, datetime.UTC),
        }


# ---- profiles ------------------------------------------------------------------------------------------
def pinned(
    sessions_: Iterable[Session], profiles: dict[str, dict[str, Any]] | None = None
) -> dict[tuple[str, str, str], str]:
    """(session, account, role) -> the first profile (by name) that signs in as exactly that;
    `profiles` as `profile_settings()` gives them, when the caller has read them already."""
    by_url = {known.start_url: known.name for known in sessions_}
    found: dict[tuple[str, str, str], str] = {}
    for name, settings in sorted((profile_settings() if profiles is None else profiles).items()):
        account, role = settings.get("sso_account_id"), settings.get("sso_role_name")
        via = settings.get("sso_session") or by_url.get(settings.get("sso_start_url", ""))
        if account and role and via:
            found.setdefault((via, str(account), str(role)), name)
    return found


def check_template(template: str) -> str:
    import string

    try:
        used = {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}
    except ValueError as exc:
        raise InputError(f"--profile-template {template!r}: {exc}") from None
    unknown = sorted(used - set(FIELDS))
    if unknown:
        raise InputError(
            f"--profile-template {template!r}: unknown field {{{unknown[0]}}} "
            f"(fields: {', '.join('{' + name + '}' for name in FIELDS)})"
        )
    if not {"account_id", "account_name"} & used or "role" not in used:
        raise InputError(
            f"--profile-template {template!r}: it must use {{role}} and {{account_id}} or {{account_name}}"
        )
    return template


def profile_name(template: str, assignment: Assignment) -> str:
    name = template.format(
        session=assignment.session,
        account_id=assignment.account,
        account_name=assignment.account_name,
        role=assignment.role,
    )
    return _UNSAFE.sub("-", name).strip("-") or assignment.account


def block_profiles(text: str) -> list[str]:
    """The profile names in kcm's block of the AWS config text."""
    body = _block(text)
    return re.findall(r"^\[profile ([^\]]+)\]", body[2], re.MULTILINE) if body else []


def _block(text: str) -> tuple[int, int, str] | None:
    """(start, end, body) of kcm's block: its marker lines, and the blank line before it, in start..end."""
    start = text.find(BEGIN)
    if start < 0 or (start and text[start - 1] != "\n"):
        return None
    end = text.find(END, start)
    if end < 0:
        raise InputError(f"{config_path()}: kcm's profile block has no end line ({END!r}); fix it by hand")
    stop = text.find("\n", end)
    stop = len(text) if stop < 0 else stop + 1
    body = text[start + len(BEGIN) : end]
    for blank in ("\r\n", "\n"):  # the blank line kcm put before the block is the block's
        if text[:start].endswith(blank * 2):
            start -= len(blank)
            break
    return start, stop, body


def with_block(text: str, profiles: list[Profile]) -> str:
    """`text` with kcm's block holding exactly `profiles` (no block when there are none); every byte
    outside the block as it was (a final newline is added to a file without one, for the block)."""
    newline = "\r\n" if "\r\n" in text else "\n"
    found = _block(text)
    if not found and not profiles:
        return text
    head, tail = (text[: found[0]], text[found[1] :]) if found else (text, "")
    if not profiles:
        return head + tail
    if head and not head.endswith("\n"):
        head += newline
    body = "".join(profile.text() for profile in sorted(profiles, key=lambda p: p.name))
    block = (BEGIN + "\n" + body + END + "\n").replace("\n", newline)
    return head + (newline if head else "") + block + tail


def write_profiles(session_name: str, wanted: list[Profile]) -> list[Profile]:
    """Rewrite kcm's block: the session's profiles become `wanted`, other sessions' stay; the ones
    that are new (not in the block before)."""
    path = config_path()
    for attempt in range(5):  # the AWS CLI writes this file without a lock: read again if it did
        try:
            with store.edit(path, backup=False) as current:  # through a symlink, locked against kcm
                text = current.text or ""
                before = set(block_profiles(text))
                config = profile_settings()
                kept = [
                    Profile(
                        name,
                        str(config[name].get("sso_session")),
                        str(config[name].get("sso_account_id")),
                        str(config[name].get("sso_role_name")),
                        str(config[name].get("region") or ""),
                    )
                    for name in sorted(before)
                    if name in config and config[name].get("sso_session") != session_name
                ]
                current.new_text = with_block(text, [*kept, *wanted])
            break
        except store.ChangedMeanwhile:
            if attempt == 4:
                raise
    return [profile for profile in wanted if profile.name not in before]
