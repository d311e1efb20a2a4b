"""Every credential source failing, each in its own words: through the real `kcm sync` process, against
the embedded AWS, real AWS config files, real credential_process programs, the loopback SSO portal, and
(for what the embedded AWS always accepts: expired tokens, unknown keys, a skewed clock, a trust policy
that refuses) a loopback STS that answers as STS does."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import botocore.exceptions as bx
import botocore.parsers
import botocore.session
import pytest

from kcm import aws as aws_boundary
from kcm import credentials
from kcm.errors import AwsError
from tests import forkserver
from tests.commands.test_sync import by_name, read
from tests.conftest import VENV_BIN, Aws
from tests.sso_portal import login, sso_portal
from tests.sts_refusals import REFUSALS, refusing_sts

BASE = "[default]\nregion = us-east-1\n"
KEYS = "[base]\naws_access_key_id = base\naws_secret_access_key = base\n"
PROCESS_OUTPUT = 'it must print one JSON object with "Version": 1, "AccessKeyId" and "SecretAccessKey"'
GOOD_PROCESS = '#!/bin/sh\necho \'{"Version": 1, "AccessKeyId": "vault", "SecretAccessKey": "vault"}\'\n'


def kcm(*args: str) -> subprocess.CompletedProcess[str]:
    """The installed `kcm`, as a user runs it (the environment is the test's isolated one)."""
    return forkserver.run("kcm", list(args), timeout=120)


def program(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(text)
    path.chmod(0o755)
    return path


def failures(stderr: str) -> list[str]:
    lines = stderr.splitlines()
    assert not [line for line in lines if not line.startswith("kcm: ")], stderr  # no traceback, no noise
    found = [line for line in lines if line.startswith("kcm: failed: ")]
    for line in found:
        assert not line.rstrip().endswith(":"), f"an empty reason: {line}"
        assert "Error when retrieving" not in line and "Error:" not in line, line
    return found


def in_config(text: str, url: str) -> str:
    """`text` with the embedded AWS as every profile's endpoint: AWS_ENDPOINT_URL would override a
    profile's own `services` endpoints."""
    lines = []
    for line in text.splitlines():
        lines.append(line)
        if line.startswith(("[profile ", "[default]")):
            lines.append(f"endpoint_url = {url}")
    return "\n".join(lines) + f"\n[profile base]\nendpoint_url = {url}\n"


def services(name: str, url: str) -> str:
    """A `services` section sending a profile's STS calls to `url`."""
    return f"[services {name}]\nsts =\n  endpoint_url = {url}\n"


# ---- every way a profile's credentials fail, in one sync ------------------------------------------------
def test_each_failing_credential_source_is_one_line_with_its_fix_and_the_rest_is_synced(
    aws: Aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """team-a (a role from keys) and team-b (a role from a credential_process) sync; then team-b's
    process fails silently, and ten other profiles fail each in its own way: each is one line naming
    the profile and the fix, team-a is synced again, team-b's entries stay (even with --prune)."""
    for account in ("111111111111", "222222222222"):
        aws.cluster("web", "us-east-1", account)
    bin_ = tmp_path / "bin"
    vault = program(bin_, "vault", GOOD_PROCESS)
    good = (
        BASE + "[profile team-a]\nrole_arn = arn:aws:iam::111111111111:role/Admin\nsource_profile = base\n"
        "[profile team-b]\nrole_arn = arn:aws:iam::222222222222:role/Admin\nsource_profile = vault\n"
        f"[profile vault]\ncredential_process = {vault}\n"
    )
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    aws.profiles(in_config(good, aws.url), KEYS)
    config = tmp_path / "kubeconfig"
    first = kcm("sync", "--all-accounts", "--region", "us-east-1", "--kubeconfig", str(config))
    assert first.returncode == 0, first.stderr
    before = by_name(read(config), "contexts")
    assert {"web.us-east-1.111111111111", "web.us-east-1.222222222222"} <= set(before)

    program(bin_, "vault", "#!/bin/sh\nexit 1\n")
    silent = program(bin_, "silent", "#!/bin/sh\nexit 1\n")
    garbage = program(bin_, "garbage", "#!/bin/sh\necho 'export AWS_SECRET_ACCESS_KEY=not-json'\n")
    wrong = program(bin_, "wrong", "#!/bin/sh\necho '{\"Version\": 1}'\n")
    with refusing_sts() as sts:
        broken = (
            f"[profile cp-silent]\ncredential_process = {silent}\n"
            f"[profile cp-garbage]\ncredential_process = {garbage} --format env\n"
            f"[profile cp-wrong]\ncredential_process = {wrong}\n"
            "[profile cp-missing]\ncredential_process = kcm-no-such-helper --role prod\n"
            "[profile src-missing]\nrole_arn = arn:aws:iam::111111111111:role/Admin\n"
            "source_profile = nowhere\n"
            "[profile role-alone]\nrole_arn = arn:aws:iam::111111111111:role/Admin\n"
            "[profile loop-a]\nrole_arn = arn:aws:iam::111111111111:role/A\nsource_profile = loop-b\n"
            "[profile loop-b]\nrole_arn = arn:aws:iam::111111111111:role/B\nsource_profile = loop-a\n"
            "[profile from-env]\nrole_arn = arn:aws:iam::111111111111:role/Admin\n"
            "credential_source = Environment\n"
            "[profile denied]\nrole_arn = arn:aws:iam::555555555555:role/Admin\nsource_profile = base\n"
            "services = denied\n"
            "[profile stale]\nservices = expired\n"
            "[profile unknown-key]\nservices = unknown-key\n"
            "[profile skewed]\nservices = skewed\n"
            "[profile wordless]\nservices = wordless\n"
            + "".join(services(name, f"{sts}/{name}") for name in REFUSALS)
        )
        keys = "".join(
            f"[{name}]\naws_access_key_id = AKIA{name.upper()}\naws_secret_access_key = secret\n"
            for name in ("unknown-key", "skewed", "wordless")
        )
        keys += "[stale]\naws_access_key_id = ASIASTALE\naws_secret_access_key = s\naws_session_token = t\n"
        aws.profiles(in_config(good + broken, aws.url), KEYS + keys)
        monkeypatch.delenv("AWS_ACCESS_KEY_ID")  # credential_source = Environment finds nothing
        monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
        done = kcm("sync", "--all-accounts", "--region", "us-east-1", "--prune", "--kubeconfig", str(config))

    assert done.returncode == 1, done.stderr
    lines = failures(done.stderr)
    no_reason = "failed and printed no reason (run it in a shell to see why)"
    trust = (
        "(check the role's trust policy allows the identity of source_profile 'base', and that identity's "
        "IAM policy allows sts:AssumeRole on the role)"
    )
    assert lines == [
        f"kcm: failed: profile cp-garbage: profile 'cp-garbage' gets no credentials: its credential_process "
        f"`{garbage} ...` printed something that is not JSON ({PROCESS_OUTPUT})",
        "kcm: failed: profile cp-missing: profile 'cp-missing' gets no credentials: its credential_process "
        "`kcm-no-such-helper ...` is not on PATH (install it, or give its full path)",
        f"kcm: failed: profile cp-silent: profile 'cp-silent' gets no credentials: its credential_process "
        f"`{silent}` {no_reason}",
        f"kcm: failed: profile cp-wrong: profile 'cp-wrong' gets no credentials: its credential_process "
        f"`{wrong}` printed JSON without 'AccessKeyId' ({PROCESS_OUTPUT})",
        "kcm: failed: profile denied: profile 'denied' cannot assume arn:aws:iam::555555555555:role/Admin: "
        f"AccessDenied: {REFUSALS['denied'][2]} {trust}",
        "kcm: failed: profile from-env: profile 'from-env' assumes its role with credentials from "
        "credential_source Environment, which has none here "
        "(set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)",
        "kcm: failed: profile loop-a: profile 'loop-a': its source_profile chain goes round in a circle "
        "(loop-a -> loop-b -> loop-a); end it at a profile with credentials",
        "kcm: failed: profile loop-b: profile 'loop-b': its source_profile chain goes round in a circle "
        "(loop-b -> loop-a -> loop-b); end it at a profile with credentials",
        "kcm: failed: profile role-alone: profile 'role-alone' has role_arn "
        "arn:aws:iam::111111111111:role/Admin but nothing to assume it with (add source_profile = "
        "PROFILE, a profile with credentials, or "
        "credential_source = Environment, Ec2InstanceMetadata or EcsContainer)",
        "kcm: failed: profile skewed: cannot find its account as profile 'skewed': SignatureDoesNotMatch: "
        f"{REFUSALS['skewed'][2]} (this machine's clock is off: set it right, "
        "e.g. `timedatectl set-ntp true`)",
        "kcm: failed: profile src-missing: profile 'src-missing' takes its credentials from source_profile "
        "'nowhere', which is not in the AWS config or credentials file (fix source_profile, or add "
        "[profile nowhere]; `aws configure list-profiles` lists the profiles)",
        "kcm: failed: profile stale: cannot find its account as profile 'stale': ExpiredToken: "
        "The security token included in the request is expired (the temporary credentials of "
        "profile 'stale' have expired: replace its aws_access_key_id, aws_secret_access_key and "
        "aws_session_token with new ones)",
        f"kcm: failed: profile team-b: source_profile 'vault' of profile 'team-b' gets no credentials: its "
        f"credential_process `{vault}` {no_reason}",
        "kcm: failed: profile unknown-key: cannot find its account as profile 'unknown-key': "
        "InvalidClientTokenId: The security token included in the request is invalid. (AWS does not "
        "know the access key of profile 'unknown-key': it was deleted, deactivated or mistyped, or a "
        "temporary key lost its session token)",
        f"kcm: failed: profile vault: profile 'vault' gets no credentials: its credential_process `{vault}` "
        f"{no_reason}",
        "kcm: failed: profile wordless: cannot find its account as profile 'wordless': AccessDenied "
        "(check the IAM policy of the identity that `aws sts get-caller-identity` shows)",
    ]
    assert "not-json" not in done.stderr, "what a credential_process prints may be a secret"
    assert f"{len(lines)} failed" in done.stdout
    after = by_name(read(config), "contexts")
    assert after["web.us-east-1.222222222222"] == before["web.us-east-1.222222222222"], (
        "a failed profile's entry"
    )
    assert after["web.us-east-1.111111111111"] == before["web.us-east-1.111111111111"]
    assert "web.us-east-1.111111111111" in done.stdout, "the rest of the scan happened"


# ---- SSO ----------------------------------------------------------------------------------------------
SSO = """[profile sso-new]
sso_session = new
sso_account_id = 444444444444
sso_role_name = Admin
[profile sso-stale]
sso_session = stale
sso_account_id = 444444444444
sso_role_name = Admin
[profile sso-revoked]
sso_session = revoked
sso_account_id = 444444444444
sso_role_name = Admin
[profile sso-unassigned]
sso_session = corp
sso_account_id = 444444444444
sso_role_name = ReadOnly
[profile sso-ok]
sso_session = corp
sso_account_id = 444444444444
sso_role_name = Admin
[profile sso-legacy]
sso_start_url = https://legacy.awsapps.com/start
sso_region = us-east-1
sso_account_id = 444444444444
sso_role_name = Admin
[profile sso-legacy-stale]
sso_start_url = https://legacy-stale.awsapps.com/start
sso_region = us-east-1
sso_account_id = 444444444444
sso_role_name = Admin
"""


def sso_session(name: str) -> str:
    return f"[sso-session {name}]\nsso_start_url = https://{name}.awsapps.com/start\nsso_region = us-east-1\n"


def test_sso_profiles_say_which_sign_in_to_renew(
    aws: Aws, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Never signed in, signed in long ago, signed out by the portal, a role not assigned: each with the
    `aws sso login` that fixes it (--sso-session for a session's profiles, --profile for legacy ones);
    sso-ok, signed in, is synced beside them."""
    aws.cluster("shop", "us-east-1", "444444444444")
    aws.profiles(BASE + SSO + "".join(sso_session(n) for n in ("new", "stale", "revoked", "corp")))
    now = datetime.datetime.now(datetime.UTC)
    hour = datetime.timedelta(hours=1)
    login(aws.home, "corp", "https://corp.awsapps.com/start", "portal-token", now + hour)
    login(aws.home, "revoked", "https://revoked.awsapps.com/start", "signed-out", now + hour)
    login(aws.home, "stale", "https://stale.awsapps.com/start", "portal-token", now - hour)
    stale_url = "https://legacy-stale.awsapps.com/start"
    login(aws.home, stale_url, stale_url, "portal-token", now - hour)  # legacy: keyed by the start URL
    config = tmp_path / "kubeconfig"
    with sso_portal({"444444444444": "shop"}, {"444444444444": ["Admin"]}, aws.client) as portal:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SSO", portal.url)
        done = kcm("sync", "--profile", "sso-*", "--region", "us-east-1", "--kubeconfig", str(config))
    assert done.returncode == 1, done.stderr
    assert failures(done.stderr) == [
        "kcm: failed: profile sso-legacy: profile 'sso-legacy' is not signed in to IAM Identity Center at "
        "https://legacy.awsapps.com/start (run `aws sso login --profile sso-legacy`)",
        "kcm: failed: profile sso-legacy-stale: profile 'sso-legacy-stale': its IAM Identity Center "
        "sign-in has expired or was revoked (run `aws sso login --profile sso-legacy-stale`)",
        "kcm: failed: profile sso-new: profile 'sso-new' signs in through SSO session 'new', which is not "
        "signed in (run `aws sso login --sso-session new`)",
        "kcm: failed: profile sso-revoked: profile 'sso-revoked': its IAM Identity Center sign-in "
        "has expired or was revoked (run `aws sso login --sso-session revoked`)",
        "kcm: failed: profile sso-stale: profile 'sso-stale': the sign-in of SSO session 'stale' has expired "
        "(run `aws sso login --sso-session stale`)",
        "kcm: failed: profile sso-unassigned: profile 'sso-unassigned': IAM Identity Center gives no "
        "credentials for role ReadOnly in account 444444444444: ForbiddenException: No access (check "
        "sso_account_id and sso_role_name: is that role assigned to you there?)",
    ]
    assert list(by_name(read(config), "contexts")) == ["shop.us-east-1.444444444444"]


# ---- outside sync: add and token say the same -----------------------------------------------------------
def without_keys() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}


def test_add_and_token_say_it_in_one_line(aws: Aws, tmp_path: Path) -> None:
    aws.cluster("web")
    silent = program(tmp_path / "bin", "silent", "#!/bin/sh\nexit 3\n")
    aws.profiles(BASE + f"[profile broken]\ncredential_process = {silent}\n")
    reason = f"profile 'broken' gets no credentials: its credential_process `{silent}` failed"
    config = tmp_path / "kubeconfig"
    added = kcm("add", "web", "--profile", "broken", "--kubeconfig", str(config))
    assert (
        added.returncode == 3 and added.stderr.startswith(f"kcm: {reason}") and added.stderr.count("\n") == 1
    )
    assert not config.exists()
    token = subprocess.run(
        [str(VENV_BIN / "kcm"), "token", "--cluster-name", "web", "--region", "us-east-1"],
        capture_output=True,
        text=True,
        env={**without_keys(), "AWS_PROFILE": "broken"},  # keys in the environment would win
        check=False,
    )
    assert token.returncode == 3 and token.stdout == ""
    assert token.stderr.startswith(f"kcm: cannot make a token for cluster web: {reason}"), token.stderr
    assert token.stderr.count("\n") == 1


def test_no_credentials_anywhere(aws: Aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    done = kcm("sync", "--region", "us-east-1", "--kubeconfig", str(tmp_path / "kubeconfig"))
    assert done.returncode == 1
    assert failures(done.stderr) == [
        "kcm: failed: profile default: cannot get AWS credentials: no AWS credentials found (the default "
        "credential chain); set AWS_PROFILE, pass --profile, or run `aws configure` or `aws sso login`"
    ]


# ---- kcm's own AssumeRole (--org-role, add --role-arn, token --role-arn) ---------------------------------
def test_kcms_own_assume_role_refused_by_the_trust_policy(aws: Aws) -> None:
    """Through botocore's STS client and parser, against the refusing STS."""
    with refusing_sts() as sts:
        client = botocore.session.Session().create_client(
            "sts", region_name="us-east-1", endpoint_url=f"{sts}/denied"
        )
        with pytest.raises(
            AwsError, match=r"^cannot assume arn:aws:iam::555555555555:role/Admin as"
        ) as raised:
            aws_boundary.assume_role(
                client,
                "arn:aws:iam::555555555555:role/Admin",
                session_name="kcm-sync",
                profile="base",
                region="us-east-1",
            )
    assert str(raised.value) == (
        "cannot assume arn:aws:iam::555555555555:role/Admin as profile 'base', region us-east-1: "
        f"AccessDenied: {REFUSALS['denied'][2]} (the role's trust policy must allow this identity, which "
        "`aws sts get-caller-identity` shows, and the identity's IAM policy sts:AssumeRole on the role)"
    )


# ---- the shapes no real run gives -----------------------------------------------------------------------
def client_error(status: int, code: str, message: str, operation: str) -> bx.ClientError:
    """The ClientError botocore raises for STS's error document, parsed by botocore's own parser."""
    from tests.sts_refusals import body

    parsed = botocore.parsers.QueryParser().parse(
        {"body": body(code, message), "headers": {}, "status_code": status}, None
    )
    return bx.ClientError(parsed, operation)


@pytest.mark.parametrize(
    ("exc", "profile", "config", "expected"),
    [
        (
            client_error(403, "RequestTimeTooSkewed", "The difference is too large.", "ListClusters"),
            "p",
            {"profiles": {"p": {"aws_access_key_id": "k"}}},
            "this machine's clock is off: set it right, e.g. `timedatectl set-ntp true`",
        ),
        (
            bx.PartialCredentialsError(provider="env", cred_var="AWS_SECRET_ACCESS_KEY"),
            None,
            {},
            "AWS_SECRET_ACCESS_KEY is not set, but other AWS credentials are in the environment",
        ),
        (
            bx.PartialCredentialsError(provider="shared-credentials-file", cred_var="aws_secret_access_key"),
            "half",
            {"profiles": {"half": {"aws_access_key_id": "k"}}},
            "profile 'half' has no aws_secret_access_key in the AWS credentials file",
        ),
        (
            credentials.Refused(
                error=client_error(400, "InvalidGrantException", "", "CreateToken"),
            ),
            "s",
            {"profiles": {"s": {"sso_session": "corp"}}, "sso_sessions": {"corp": {}}},
            "profile 's': the SSO sign-in cannot be refreshed: InvalidGrantException "
            "(run `aws sso login --sso-session corp`)",
        ),
        (
            bx.InvalidConfigError(error_msg='The specified sso-session does not exist: "ghost"'),
            "s",
            {"profiles": {"s": {"sso_session": "ghost"}}},
            "profile 's' names sso_session 'ghost', but the AWS config has no [sso-session ghost]",
        ),
        (
            credentials.Unloadable(cause=FileNotFoundError(2, "No such file or directory")),
            "ci",
            {"profiles": {"ci": {"role_arn": "arn:aws:iam::1:role/ci", "web_identity_token_file": "/run/t"}}},
            "profile 'ci' gets no credentials: its web_identity_token_file /run/t: No such file or directory",
        ),
        (
            credentials.Unloadable(cause=json.JSONDecodeError("Expecting value", "", 0)),
            "p",
            {"profiles": {"p": {"credential_process": "helper"}}},
            f"profile 'p' gets no credentials: its credential_process `helper` printed nothing "
            f"({PROCESS_OUTPUT})",
        ),
        (
            credentials.Unloadable(cause=ValueError("No closing quotation")),
            "p",
            {"profiles": {"p": {"credential_process": 'helper "unclosed'}}},
            "profile 'p' has a credential_process that cannot be split into words: No closing quotation",
        ),
        (
            bx.CredentialRetrievalError(provider="custom-process", error_msg="\n"),
            "p",
            {"profiles": {"p": {"credential_process": "/opt/helper --secret s3cr3t"}}},
            "profile 'p' gets no credentials: its credential_process `/opt/helper ...` failed and "
            "printed no reason",
        ),
    ],
    ids=[
        "skew",
        "env-half",
        "file-half",
        "sso-refresh",
        "sso-session-missing",
        "web-identity",
        "empty-output",
        "quotes",
        "no-args-shown",
    ],
)
def test_the_message_of_each_shape(
    exc: Any, profile: str | None, config: dict[str, Any], expected: str
) -> None:
    if isinstance(exc, bx.ClientError):
        message = credentials.hint(exc, profile, config)
    else:
        message = credentials.failure(exc, profile, config) or ""
    assert message.startswith(expected), message
    assert "s3cr3t" not in message


def test_an_aws_answer_without_a_message_and_an_error_without_words_never_end_empty() -> None:
    wordless = bx.ClientError({"Error": {"Code": "AccessDenied", "Message": ""}}, "ListClusters")
    assert credentials.said(wordless) == "AccessDenied"
    bare = bx.ClientError({"ResponseMetadata": {"HTTPStatusCode": 503}}, "ListClusters")
    assert credentials.said(bare) == "HTTP 503"
    error = str(aws_boundary.explain(RuntimeError(), "cannot list EKS clusters", "p", "us-east-1"))
    assert error == (
        "cannot list EKS clusters as profile 'p', region us-east-1: RuntimeError, without a message "
        "(run with --debug to see where)"
    )


def test_keys_in_the_environment_are_named_as_such(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    unknown = client_error(
        403,
        "InvalidClientTokenId",
        "The security token included in the request is invalid.",
        "GetCallerIdentity",
    )
    assert credentials.hint(unknown, None, {}).startswith(
        "AWS does not know the AWS_ACCESS_KEY_ID in the environment:"
    )
    expired = client_error(
        400, "ExpiredToken", "The security token included in the request is expired", "ListClusters"
    )
    assert credentials.hint(expired, None, {}).startswith(
        "the temporary credentials in AWS_SESSION_TOKEN have expired"
    )


def test_a_role_profile_without_a_region_is_assumed_where_the_command_works(
    aws: Aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Credentials are fetched before the first call: a role profile that names no region (and none in
    the environment) still assumes its role, in the region the command was given, for sync, add and token."""
    aws.cluster("web", "us-east-1", "111111111111")
    aws.profiles(
        "[profile team-a]\nrole_arn = arn:aws:iam::111111111111:role/Admin\nsource_profile = base\n", KEYS
    )
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    env = {**without_keys(), "AWS_PROFILE": "team-a"}
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    config = tmp_path / "kubeconfig"
    synced = kcm("sync", "--profile", "team-a", "--region", "us-east-1", "--kubeconfig", str(config))
    assert synced.returncode == 0, synced.stderr
    added = kcm("add", "web", "--profile", "team-a", "--region", "us-east-1", "--kubeconfig", str(config))
    assert added.returncode == 0, added.stderr
    token = subprocess.run(
        [str(VENV_BIN / "kcm"), "token", "--cluster-name", "web", "--region", "us-east-1"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert token.returncode == 0, token.stderr
