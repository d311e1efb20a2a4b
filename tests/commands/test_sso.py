"""`kcm sync --sso-session`: every account and role an IAM Identity Center session reaches, against the
embedded AWS and a stand-in portal; profiles kcm adds in its block of the AWS config."""

from __future__ import annotations

import datetime
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from kcm import sso, store
from kcm.cli import app_for
from tests.apiserver import caller
from tests.conftest import VENV_BIN, Aws
from tests.sso_portal import Portal, login, sso_portal

ACCOUNTS = {"111111111111": "alpha", "222222222222": "beta", "333333333333": "gamma"}
ROLES = {account: ["Admin", "ReadOnly"] for account in ACCOUNTS}
CLUSTERS = [
    ("web", "us-east-1", "111111111111"),
    ("api", "eu-west-1", "222222222222"),
    ("data", "us-east-1", "333333333333"),
]
START_URL = "https://corp.awsapps.com/start"
CONFIG = f"""# my AWS config -- kcm must keep every byte of this
[default]
region = us-east-1

[profile alpha-admin]   ; the one profile I made by hand
sso_session = corp
sso_account_id = 111111111111
sso_role_name = Admin
region = us-east-1

[profile legacy]
aws_access_key_id = legacy
aws_secret_access_key = legacy

[sso-session corp]
sso_start_url = {START_URL}
sso_region = us-east-1
sso_registration_scopes = sso:account:access
"""


def kcm(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app_for(list(args)), list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def read(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


@pytest.fixture
def portal(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Iterator[Portal]:
    aws.profiles(CONFIG)
    for account in ACCOUNTS:
        aws.known_regions(account, ["eu-west-1", "us-east-1"])
    for name, region, account in CLUSTERS:
        aws.cluster(name, region, account)
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=2)
    login(aws.home, "corp", START_URL, "portal-token", later)
    with sso_portal(ACCOUNTS, ROLES, aws.client) as running:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SSO", running.url)
        yield running


def config_text(aws: Aws) -> str:
    return (aws.home / ".aws" / "config").read_text()


def outside_block(text: str) -> str:
    return sso.with_block(text, [])


def users_by_cluster(config: Path) -> dict[str, dict[str, Any]]:
    data = read(config)
    users = {user["name"]: user["user"]["exec"] for user in data["users"]}
    return {
        context["context"]["cluster"].rsplit("/", 1)[1]: users[context["context"]["user"]]
        for context in data["contexts"]
    }


def test_a_session_reaches_every_account_and_pins_each_context_to_a_profile(
    aws: Aws, portal: Portal, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    code, out, err = kcm(
        "sync", "--sso-session", "corp", "--prefer-role", "Admin", "--kubeconfig", str(config)
    )
    assert code == 0, err
    assert "3 clusters in 3 accounts" in out and "3 added" in out
    assert "added 2 profiles to" in out and "corp-beta-Admin, corp-gamma-Admin" in out
    execs = users_by_cluster(config)
    assert {cluster: e["env"] for cluster, e in execs.items()} == {
        "web": [{"name": "AWS_PROFILE", "value": "alpha-admin"}],  # the user's own profile for that pair
        "api": [{"name": "AWS_PROFILE", "value": "corp-beta-Admin"}],
        "data": [{"name": "AWS_PROFILE", "value": "corp-gamma-Admin"}],
    }
    text = config_text(aws)
    assert outside_block(text) == CONFIG  # every byte of the user's config as it was
    assert text.startswith(CONFIG)
    assert sso.block_profiles(text) == ["corp-beta-Admin", "corp-gamma-Admin"]
    assert sso.Profile("corp-beta-Admin", "corp", "222222222222", "Admin", "us-east-1").text() in text

    # Every written context works with plain `aws eks get-token`, as kubectl runs it.
    aws_cli = shutil.which("aws", path=str(VENV_BIN))
    assert aws_cli
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    for cluster, exec_ in execs.items():
        run_env = {**env, **{item["name"]: item["value"] for item in exec_["env"]}}
        done = subprocess.run([aws_cli, *exec_["args"]], capture_output=True, text=True, env=run_env)
        assert done.returncode == 0, done.stderr
        token = json.loads(done.stdout)["status"]["token"]
        account = next(a for name, _, a in CLUSTERS if name == cluster)
        assert caller(token, cluster) == f"arn:aws:iam::{account}:role/Admin"

    # Again: nothing to do, nothing written anywhere.
    before = config.read_text()
    code, out, _ = kcm("sync", "--sso-session", "corp", "--prefer-role", "Admin", "--kubeconfig", str(config))
    assert code == 0 and "3 unchanged" in out and "added" not in out.split("unchanged")[0].split("\n")[-1]
    assert config.read_text() == before and config_text(aws) == text


def test_each_role_writes_a_context_and_a_profile_per_role(aws: Aws, portal: Portal, tmp_path: Path) -> None:
    config = tmp_path / "config"
    code, _, err = kcm("sync", "--sso-session", "corp", "--each-role", "--kubeconfig", str(config))
    assert code == 0, err
    contexts = sorted(c["name"] for c in read(config)["contexts"])
    assert contexts == sorted(
        f"{role}@{name}.{region}.{account}"
        for name, region, account in CLUSTERS
        for role in ("Admin", "ReadOnly")
    )
    assert sso.block_profiles(config_text(aws)) == [
        "corp-alpha-ReadOnly",
        "corp-beta-Admin",
        "corp-beta-ReadOnly",
        "corp-gamma-Admin",
        "corp-gamma-ReadOnly",
    ]


def test_no_write_profiles_lists_what_has_no_profile_and_writes_only_the_rest(
    aws: Aws, portal: Portal, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    code, _, err = kcm(
        "sync",
        "--sso-session",
        "corp",
        "--prefer-role",
        "Admin",
        "--no-write-profiles",
        "--kubeconfig",
        str(config),
    )
    assert code == 0, err
    assert list(users_by_cluster(config)) == ["web"]
    assert "Admin in 222222222222 (beta) has no profile; skipped" in err
    assert "kcm would write [profile corp-gamma-Admin]" in err
    assert config_text(aws) == CONFIG


def test_dry_run_says_which_profiles_it_would_add_and_writes_nothing(
    aws: Aws, portal: Portal, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    code, out, err = kcm(
        "sync", "--sso-session", "corp", "--prefer-role", "Admin", "--dry-run", "--kubeconfig", str(config)
    )
    assert code == 0, err
    assert "would add 2 profiles" in out and "dry run" in out
    assert not config.exists() and config_text(aws) == CONFIG


@pytest.mark.parametrize("state", ["expired", "missing", "refused"])
def test_a_token_that_cannot_be_used_fails_cleanly(
    aws: Aws, portal: Portal, tmp_path: Path, state: str
) -> None:
    cached = next((aws.home / ".aws" / "sso" / "cache").iterdir())
    if state == "expired":
        past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
        login(aws.home, "corp", START_URL, "portal-token", past)
    elif state == "missing":
        cached.unlink()
    else:
        portal.token = "another-token"
    config = tmp_path / "config"
    config.write_text("apiVersion: v1\nkind: Config\n")
    code, out, err = kcm("sync", "--sso-session", "corp", "--kubeconfig", str(config))
    assert code == 3 and out == ""
    assert err.count("\n") == 1 and "run `aws sso login --sso-session corp`" in err
    assert config.read_text() == "apiVersion: v1\nkind: Config\n" and config_text(aws) == CONFIG


def test_an_unknown_session_is_bad_input(aws: Aws, portal: Portal, tmp_path: Path) -> None:
    code, _, err = kcm("sync", "--sso-session", "nope", "--kubeconfig", str(tmp_path / "config"))
    assert code == 2 and "--sso-session 'nope': no [sso-session nope]" in err


def test_all_accounts_includes_every_session(aws: Aws, portal: Portal, tmp_path: Path) -> None:
    config = tmp_path / "config"
    code, _, err = kcm("sync", "--all-accounts", "--prefer-role", "Admin", "--kubeconfig", str(config))
    assert code == 0, err
    assert {cluster for cluster in users_by_cluster(config)} == {"web", "api", "data"}
    assert sso.block_profiles(config_text(aws)) == ["corp-beta-Admin", "corp-gamma-Admin"]


def test_the_block_keeps_other_sessions_and_drops_what_is_no_longer_assigned(
    aws: Aws, portal: Portal, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    assert kcm("sync", "--sso-session", "corp", "--prefer-role", "Admin", "--kubeconfig", str(config))[0] == 0
    other = sso.Profile("other-x", "other", "999999999999", "Dev", "eu-west-1").text()
    text = config_text(aws).replace(sso.END, other + sso.END)
    (aws.home / ".aws" / "config").write_text(text)
    del portal.accounts["333333333333"]  # gamma is no longer assigned
    assert kcm("sync", "--sso-session", "corp", "--prefer-role", "Admin", "--kubeconfig", str(config))[0] == 0
    assert sso.block_profiles(config_text(aws)) == ["corp-beta-Admin", "other-x"]
    assert outside_block(config_text(aws)) == CONFIG


BLOCK = f"{sso.BEGIN}\n" + sso.Profile("p", "s", "1", "r", "x").text() + f"{sso.END}\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", BLOCK),
        ("[default]", f"[default]\n\n{BLOCK}"),
        ("[default]\r\n", "[default]\r\n\r\n" + BLOCK.replace("\n", "\r\n")),
    ],
)
def test_the_block_follows_the_files_newlines(text: str, expected: str) -> None:
    assert sso.with_block(text, [sso.Profile("p", "s", "1", "r", "x")]) == expected
    assert sso.with_block(expected, []) == (text if text.endswith("\n") or not text else text + "\n")


def test_a_symlinked_aws_config_stays_a_link_and_the_target_gets_the_profiles(
    aws: Aws, portal: Portal, tmp_path: Path
) -> None:
    """Dotfiles repos link ~/.aws/config; kcm writes through the link, as it does for a kubeconfig."""
    link = aws.home / ".aws" / "config"
    dotfiles = tmp_path / "dotfiles"
    dotfiles.mkdir()
    real = dotfiles / "aws-config"
    real.write_text(link.read_text())
    link.unlink()
    link.symlink_to(real)
    code, _, err = kcm(
        "sync", "--sso-session", "corp", "--prefer-role", "Admin", "--kubeconfig", str(tmp_path / "k")
    )
    assert code == 0, err
    assert link.is_symlink() and link.resolve() == real
    assert "corp-beta-Admin" in sso.block_profiles(real.read_text())


def test_a_profile_written_meanwhile_without_a_lock_is_not_lost(
    aws: Aws, portal: Portal, tmp_path: Path
) -> None:
    """`aws configure set` takes no lock: kcm reads the file again just before its rename and starts
    over if it changed, so the other writer's profile stays."""
    path = aws.home / ".aws" / "config"
    real_write = store.write_atomic
    calls = {"n": 0}

    def meanwhile(target: Path, text: str, mode: int | None = None, expected: object = None) -> None:
        calls["n"] += 1
        if calls["n"] == 1:  # between kcm's read and its rename, another tool appends a profile
            with path.open("a") as stream:
                stream.write("\n[profile written-meanwhile]\nregion = eu-west-1\n")
        real_write(target, text, mode, expected)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(store, "write_atomic", meanwhile)
        code, _, err = kcm(
            "sync", "--sso-session", "corp", "--prefer-role", "Admin", "--kubeconfig", str(tmp_path / "k")
        )
    assert code == 0, err
    text = path.read_text()
    assert "[profile written-meanwhile]" in text
    assert "corp-beta-Admin" in sso.block_profiles(text)
    assert calls["n"] >= 2  # the first rename was given up, and the file read again
