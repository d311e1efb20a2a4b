"""`kcm sync` against the embedded AWS: several accounts reached through role profiles, several regions."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import botocore.exceptions as bx
import pytest
import yaml
from typer.testing import CliRunner

from kcm import aws as aws_boundary
from kcm import cache, eks, prefetch, store
from kcm.cli import app_for
from tests import aws_cli
from tests.apiserver import running
from tests.conftest import VENV_BIN, Aws

ACCOUNTS = {"team-a": "111111111111", "team-b": "222222222222", "team-c": "333333333333"}
LAYOUT = {  # account -> region -> clusters
    "111111111111": {"us-east-1": ["web", "api"], "eu-west-1": ["web"]},
    "222222222222": {"us-west-2": ["batch"]},
    "333333333333": {"eu-west-1": ["data"], "ap-southeast-2": ["edge"]},
}
BASE = "[default]\nregion = us-east-1\n"
CREDENTIALS = "[base]\naws_access_key_id = base\naws_secret_access_key = base\n"
HAND_WRITTEN = """# Team kubeconfig -- comments must survive kcm sync
apiVersion: v1
kind: Config
clusters:
- name: on-prem   # our own datacenter
  cluster:
    server: https://k8s.example.internal:6443
contexts:
- name: on-prem
  context: {cluster: on-prem, user: me, namespace: ops}
users:
- name: me
  user: {token: not-a-real-token}
current-context: on-prem
# end
"""


def kcm(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app_for(list(args)), list(args))
    return result.exit_code, result.stdout, result.stderr


def role_profiles(roles: dict[str, str] | None = None, extra: str = "") -> str:
    """One profile per account, each assuming `Admin` there from the `base` keys (source_profile)."""
    text = BASE
    for profile, account in ACCOUNTS.items():
        role = (roles or {}).get(profile, "Admin")
        text += f"[profile {profile}]\nrole_arn = arn:aws:iam::{account}:role/{role}\nsource_profile = base\n"
    return text + extra


# The regions each account has enabled, as a previous run cached them: most tests need not ask
# ec2:DescribeRegions and list all 30-odd regions; those that test that path empty the cache.
ENABLED = ["ap-southeast-2", "eu-central-1", "eu-west-1", "us-east-1", "us-west-2"]


def forget_regions() -> None:
    shutil.rmtree(cache.folder() / "aws", ignore_errors=True)


@pytest.fixture
def org(aws: Aws) -> dict[str, dict[str, Any]]:
    """The clusters of LAYOUT, created in their accounts; by ARN."""
    aws.profiles(role_profiles(), CREDENTIALS)
    for account in [*LAYOUT, "123456789012"]:
        aws.known_regions(account, ENABLED)
    clusters = {}
    for account, regions in LAYOUT.items():
        for region, names in regions.items():
            for name in names:
                cluster = aws.cluster(name, region, account)
                clusters[cluster["arn"]] = cluster
    return clusters


def read(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


def by_name(data: dict[str, Any], section: str) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in data.get(section) or []}


def without_mark(body: dict[str, Any]) -> dict[str, Any]:
    rest = [item for item in body.get("extensions", []) if item.get("name") != "kcm"]
    return {k: v for k, v in body.items() if k != "extensions"} | ({"extensions": rest} if rest else {})


def sync(config: Path, *args: str) -> tuple[int, str, str]:
    return kcm("sync", "--kubeconfig", str(config), *args)


@pytest.fixture(params=["parsed here", "parsed early"])
def parsing(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Both ways a sync reads the file: parsed under the lock, or (a big file) by a forked child while
    AWS is asked; "parsed early" makes every file big enough and checks the child's data was used."""
    if request.param == "parsed here":
        yield
        return
    monkeypatch.setattr(prefetch, "MIN_BYTES", 0)
    used: list[bool] = []
    data = prefetch.Prefetch.data

    def spy(self: prefetch.Prefetch, text: str | None) -> dict[str, Any] | None:
        found = data(self, text)
        used.append(found is not None)
        return found

    monkeypatch.setattr(prefetch.Prefetch, "data", spy)
    yield
    assert any(used), "no sync used the child's parse"


# ---- what is written ---------------------------------------------------------------------------------
def test_all_accounts_writes_every_cluster_as_update_kubeconfig_would(
    org: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    forget_regions()
    config = tmp_path / "config"
    code, out, err = sync(config, "--all-accounts")
    assert code == 0, err
    data = read(config)
    clusters, users, contexts = (by_name(data, s) for s in ("clusters", "users", "contexts"))
    assert len(contexts) == len(org) == 6
    profile_of = {account: profile for profile, account in ACCOUNTS.items()}
    for arn, described in org.items():
        account, region, name = arn.split(":")[4], arn.split(":")[3], described["name"]
        context = contexts[f"{name}.{region}.{account}"]
        assert context["context"]["cluster"] == arn
        cluster = without_mark(clusters[arn]["cluster"])
        assert cluster == {
            "certificate-authority-data": described["certificateAuthority"]["data"],
            "server": described["endpoint"],
        }
        expected = eks.entries(
            eks.EksCluster(name, arn, described["endpoint"], "", "ACTIVE"), profile=profile_of[account]
        )
        assert without_mark(users[context["context"]["user"]]["user"]) == expected.user["user"]
        mark = context["context"]["extensions"][0]
        assert mark == {
            "name": "kcm",
            "extension": {
                "account": account,
                "region": region,
                "cluster": name,
                "profile": profile_of[account],
            },
        }
    assert "6 added" in out and f"wrote {config}" in out
    assert data["current-context"] == ""  # a sync does not pick a current context for you


@pytest.mark.skipif(shutil.which("aws", path=str(VENV_BIN)) is None, reason="the AWS CLI is not installed")
def test_entries_match_the_aws_cli_for_the_same_profile(
    org: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    """The oracle: `aws eks update-kubeconfig --profile team-b` for the cluster sync found through team-b."""
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    assert sync(ours, "--profile", "team-b")[0] == 0
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"}
    (tmp_path / "cli.cfg").write_text(
        role_profiles().replace("[default]\n", "[default]\ncli_follow_urlparam = false\n")
    )
    env["AWS_CONFIG_FILE"] = str(tmp_path / "cli.cfg")
    batch = ["--name", "batch", "--region", "us-west-2", "--profile", "team-b", "--kubeconfig", str(theirs)]
    done = aws_cli.run(["eks", "update-kubeconfig", *batch], env)
    assert done.returncode == 0, done.stderr
    mine, cli = read(ours), read(theirs)
    arn = "arn:aws:eks:us-west-2:222222222222:cluster/batch"
    assert without_mark(by_name(mine, "clusters")[arn]["cluster"]) == by_name(cli, "clusters")[arn]["cluster"]
    assert without_mark(by_name(mine, "users")[arn]["user"]) == by_name(cli, "users")[arn]["user"]


@pytest.mark.usefixtures("parsing")
def test_hand_written_file_keeps_every_line_and_a_second_run_changes_no_byte(
    org: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    config = tmp_path / "config"
    config.write_text(HAND_WRITTEN)
    assert sync(config, "--all-accounts")[0] == 0
    text = config.read_text()
    lines = iter(text.splitlines())
    for line in HAND_WRITTEN.splitlines():
        assert any(line == candidate for candidate in lines), f"lost: {line!r}"
    assert read(config)["current-context"] == "on-prem"
    before = config.stat()
    code, out, _ = sync(config, "--all-accounts")
    assert code == 0
    after = config.stat()
    assert config.read_text() == text
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert "6 unchanged" in out and f"{config} unchanged" in out


def test_dry_run_prints_the_plan_and_writes_nothing(org: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(HAND_WRITTEN)
    code, out, _ = sync(config, "--all-accounts", "--dry-run")
    assert code == 0
    assert config.read_text() == HAND_WRITTEN
    assert out.count(" added\n") == 6 and "dry run" in out
    assert out.startswith("+ context ") and out.count("+ context ") == 6  # the plan, as kcm diff shows it
    assert not list(tmp_path.glob("config.lock"))


@pytest.mark.usefixtures("parsing")
def test_a_sync_with_nothing_to_do_takes_no_lock(
    org: dict[str, dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As kubectl's reads: it neither waits on a writer's lock nor holds one up; a change waits."""
    config = tmp_path / "config"
    config.write_text(HAND_WRITTEN)
    assert sync(config, "--all-accounts")[0] == 0
    text = config.read_text()
    lock = tmp_path / "config.lock"
    lock.write_text("")  # a writer (kubectl, another kcm) is at work
    monkeypatch.setattr(store, "edit", functools.partial(store.edit, timeout=0.3))
    code, out, err = sync(config, "--all-accounts")
    assert code == 0 and "6 unchanged" in out and f"{config} unchanged" in out, err
    code, out, err = sync(config, "--all-accounts", "--alias-template", "{cluster}-{account_id}-{region}")
    assert code != 0 and "locked" in err, out
    assert config.read_text() == text and lock.exists()


@pytest.mark.usefixtures("parsing")
def test_a_file_changed_before_the_lock_is_planned_again(
    org: dict[str, dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between the read without the lock and the lock, another writer changed the file: what is
    written is planned on what the lock found, so that writer's change is kept."""
    config = tmp_path / "config"
    config.write_text(HAND_WRITTEN)
    edit = store.edit

    @contextlib.contextmanager
    def edit_after_a_writer(path: Path, **options: Any) -> Iterator[store.Edit]:
        with config.open("a") as stream:
            stream.write("# added by another writer\n")
        with edit(path, **options) as current:
            yield current

    monkeypatch.setattr(store, "edit", edit_after_a_writer)
    code, out, err = sync(config, "--all-accounts")
    assert code == 0 and out.count(" added\n") == 6, err
    text = config.read_text()
    assert text.endswith("# added by another writer\n") and "# end" in text
    assert len(read(config)["contexts"]) == 7


@pytest.mark.usefixtures("parsing")
def test_diff_previews_a_sync_and_exits_as_git_diff(
    aws: Aws, org: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    config = tmp_path / "config"
    assert sync(config, "--all-accounts")[0] == 0
    before = config.read_text()
    assert kcm("diff", "--dry-run", "--all-accounts", "--kubeconfig", str(config)) == (0, "", "")
    new = aws.cluster("fresh", "us-west-2", "222222222222")  # where batch is: listed by every sync
    code, out, err = kcm("diff", "--dry-run", "--all-accounts", "--kubeconfig", str(config))
    assert code == 1, err
    context = "fresh.us-west-2.222222222222"
    assert out.splitlines() == [
        f"+ context {context} (cluster {new['arn']}, user {new['arn']})",
        f"+ cluster {new['arn']}",
        f"+ user {new['arn']}",
    ]
    assert config.read_text() == before
    code, out, _ = kcm("diff", "--all-accounts", "--kubeconfig", str(config), "-o", "json")
    changes = json.loads(out)
    assert code == 1
    added = next(c for c in changes if c["section"] == "clusters")
    assert (added["kind"], added["name"], added["before"]) == ("add", new["arn"], None)
    assert added["after"]["cluster"]["server"] == new["endpoint"]
    assert added["after"]["cluster"]["certificate-authority-data"] == "DATA+OMITTED"
    code, out, _ = kcm("diff", "--all-accounts", "--kubeconfig", str(config), "--text")
    assert code == 1 and f"+  name: {context}\n" in out
    assert sync(config, "--all-accounts")[0] == 0
    assert kcm("diff", "--dry-run", "--all-accounts", "--kubeconfig", str(config))[0] == 0


@pytest.mark.usefixtures("parsing")
def test_resync_updates_what_aws_changed_and_keeps_what_the_user_set(
    org: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    config = tmp_path / "config"
    assert sync(config, "--profile", "team-b")[0] == 0
    arn = "arn:aws:eks:us-west-2:222222222222:cluster/batch"
    name = "batch.us-west-2.222222222222"
    data = read(config)
    real_server = by_name(data, "clusters")[arn]["cluster"]["server"]
    data["clusters"][0]["cluster"]["server"] = "https://stale.example.com"
    data["clusters"][0]["cluster"]["proxy-url"] = "http://proxy.example.com:3128"
    data["contexts"][0]["context"]["namespace"] = "jobs"
    data["contexts"][0]["context"]["extensions"].insert(0, {"name": "mine", "extension": {"team": "x"}})
    data["current-context"] = name
    config.write_text(yaml.safe_dump(data))
    code, out, err = sync(config, "--profile", "team-b")
    assert code == 0, err
    assert "1 updated" in out
    data = read(config)
    cluster = by_name(data, "clusters")[arn]["cluster"]
    assert cluster["server"] == real_server
    assert cluster["proxy-url"] == "http://proxy.example.com:3128"
    context = by_name(data, "contexts")[name]["context"]
    assert context["namespace"] == "jobs"
    assert [item["name"] for item in context["extensions"]] == ["mine", "kcm"]
    assert data["current-context"] == name


@pytest.mark.usefixtures("parsing")
def test_set_current(org: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    config = tmp_path / "config"
    code, _, err = sync(config, "--profile", "team-b", "--set-current", "batch.us-west-2.222222222222")
    assert code == 0, err
    assert read(config)["current-context"] == "batch.us-west-2.222222222222"
    code, _, err = sync(config, "--profile", "team-b", "--set-current", "nope")
    assert code == 2 and "--set-current 'nope': no such context" in err


# ---- pruning -------------------------------------------------------------------------------------------
@pytest.mark.usefixtures("parsing")
def test_prune_removes_exactly_the_deleted_clusters_entries(
    aws: Aws, org: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    config = tmp_path / "config"
    config.write_text(HAND_WRITTEN)
    assert sync(config, "--all-accounts")[0] == 0
    before = read(config)
    aws.in_account("111111111111", "eks", "us-east-1").delete_cluster(name="api")
    code, out, _ = sync(config, "--all-accounts")
    assert code == 0 and read(config) == before, "without --prune nothing is removed"
    code, out, err = sync(config, "--all-accounts", "--prune")
    assert code == 0, err
    after = read(config)
    arn = "arn:aws:eks:us-east-1:111111111111:cluster/api"
    for section in ("clusters", "users", "contexts"):
        gone = {e["name"] for e in before[section]} - {e["name"] for e in after[section]}
        assert gone == ({"api.us-east-1.111111111111"} if section == "contexts" else {arn}), section
    assert "api.us-east-1.111111111111" in out and "pruned" in out
    assert "# end" in config.read_text() and "on-prem" in by_name(after, "contexts")


def test_prune_only_where_this_run_looked(aws: Aws, org: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    config = tmp_path / "config"
    assert sync(config, "--all-accounts")[0] == 0
    aws.in_account("333333333333", "eks", "eu-west-1").delete_cluster(name="data")
    code, _, _ = sync(config, "--all-accounts", "--region", "us-east-1", "--prune")
    assert code == 0
    assert "data.eu-west-1.333333333333" in by_name(read(config), "contexts")
    code, _, _ = sync(config, "--profile", "team-a", "--prune")
    assert "data.eu-west-1.333333333333" in by_name(read(config), "contexts")
    code, _, _ = sync(config, "--profile", "team-c", "--prune")
    assert "data.eu-west-1.333333333333" not in by_name(read(config), "contexts")


@pytest.mark.usefixtures("parsing")
def test_prune_unsets_a_pruned_current_context(
    aws: Aws, org: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    config = tmp_path / "config"
    assert sync(config, "--profile", "team-b", "--set-current", "batch.us-west-2.222222222222")[0] == 0
    aws.in_account("222222222222", "eks", "us-west-2").delete_cluster(name="batch")
    code, _, err = sync(config, "--profile", "team-b", "--prune")
    assert code == 0
    assert read(config)["current-context"] == ""
    assert "current-context pointed at a pruned context" in err


def test_prune_never_touches_entries_kcm_did_not_write(
    aws: Aws, org: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    """An update-kubeconfig entry for a cluster that is gone stays: kcm did not write it."""
    arn = "arn:aws:eks:us-west-2:222222222222:cluster/gone"
    config = tmp_path / "config"
    config.write_text(
        HAND_WRITTEN.replace(
            "- name: on-prem   #", f"- name: {arn}\n  cluster: {{server: 'https://x'}}\n- name: on-prem   #"
        )
    )
    assert sync(config, "--profile", "team-b", "--prune")[0] == 0
    assert arn in by_name(read(config), "clusters")


# ---- which accounts, which roles -----------------------------------------------------------------------
@pytest.fixture
def two_roles(aws: Aws, org: dict[str, dict[str, Any]]) -> None:
    """Each account reachable twice: `<team>` as Admin, `<team>-ro` as ReadOnly."""
    extra = "".join(
        f"[profile {profile}-ro]\nrole_arn = arn:aws:iam::{account}:role/ReadOnly\nsource_profile = base\n"
        for profile, account in ACCOUNTS.items()
    )
    aws.profiles(role_profiles(extra=extra), CREDENTIALS)


def test_one_profile_per_account_by_name_then_by_prefer_role(two_roles: None, tmp_path: Path) -> None:
    config = tmp_path / "config"
    code, _, err = sync(config, "--all-accounts")
    assert code == 0, err
    assert "profile team-a-ro (ReadOnly in 111111111111): not used" in err
    profiles = {u["user"]["exec"]["env"][0]["value"] for u in read(config)["users"]}
    assert profiles == {"team-a", "team-b", "team-c"}  # by name: team-a sorts before team-a-ro
    code, _, err = sync(config, "--all-accounts", "--prefer-role", "read*", "--prefer-role", "Admin")
    assert code == 0, err
    profiles = {u["user"]["exec"]["env"][0]["value"] for u in read(config)["users"]}
    assert profiles == {"team-a-ro", "team-b-ro", "team-c-ro"}


def test_each_role_writes_a_context_per_cluster_and_role_without_user_collisions(
    two_roles: None, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    code, _, err = sync(config, "--all-accounts", "--each-role", "--region", "us-west-2")
    assert code == 0, err
    data = read(config)
    arn = "arn:aws:eks:us-west-2:222222222222:cluster/batch"
    assert sorted(by_name(data, "contexts")) == [
        "Admin@batch.us-west-2.222222222222",
        "ReadOnly@batch.us-west-2.222222222222",
    ]
    users = by_name(data, "users")
    assert sorted(users) == [f"{arn}@Admin", f"{arn}@ReadOnly"]
    assert users[f"{arn}@ReadOnly"]["user"]["exec"]["env"] == [{"name": "AWS_PROFILE", "value": "team-b-ro"}]
    assert list(by_name(data, "clusters")) == [arn]


def test_profile_globs(two_roles: None, tmp_path: Path) -> None:
    config = tmp_path / "config"
    code, _, err = sync(config, "--profile", "*-ro", "--region", "us-west-2", "--region", "eu-west-1")
    assert code == 0, err
    assert {u["user"]["exec"]["env"][0]["value"] for u in read(config)["users"]} == {
        "team-a-ro",
        "team-b-ro",
        "team-c-ro",
    }
    code, _, err = sync(config, "--profile", "nothing-*")
    assert code == 2 and "--profile 'nothing-*': no such AWS profile" in err


def test_org_role_reaches_every_account_of_the_organization(aws: Aws, tmp_path: Path) -> None:
    orgs = aws.client("organizations")
    orgs.create_organization(FeatureSet="ALL")
    accounts = {}
    for name in ("payments", "search"):
        status = orgs.create_account(Email=f"{name}@example.com", AccountName=name)["CreateAccountStatus"]
        accounts[name] = status["AccountId"]
        aws.cluster(f"{name}-prod", "eu-central-1", status["AccountId"])
    aws.cluster("billing", "eu-central-1")  # in the management account, whose keys we hold
    config = tmp_path / "config"
    code, _out, err = sync(
        config,
        "--org-role",
        "OrganizationAccountAccessRole",
        "--region",
        "eu-central-1",
        "--alias-template",
        "{account_name}-{cluster}",
    )
    assert code == 0, err
    data = read(config)
    contexts = by_name(data, "contexts")
    assert sorted(contexts) == ["master-billing", "payments-payments-prod", "search-search-prod"]
    users = by_name(data, "users")
    billing = users[contexts["master-billing"]["context"]["user"]]["user"]["exec"]
    assert "--role" not in billing["args"], "the account we are in needs no role"
    for name, account in accounts.items():
        user = users[contexts[f"{name}-{name}-prod"]["context"]["user"]]["user"]["exec"]
        assert user["args"][-2:] == ["--role", f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole"]
        assert "env" not in user  # the ambient credentials, as update-kubeconfig writes without --profile


def test_org_role_must_be_a_role_name(aws: Aws, tmp_path: Path) -> None:
    code, _, err = sync(tmp_path / "config", "--org-role", "Admin Role")
    assert code == 2 and "--org-role 'Admin Role': not an IAM role name" in err


# ---- names ---------------------------------------------------------------------------------------------
def test_alias_template_and_collisions(org: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    config = tmp_path / "config"
    code, _, err = sync(config, "--all-accounts", "--alias-template", "{profile}/{cluster}@{region}")
    assert code == 0, err
    assert "team-a/web@eu-west-1" in by_name(read(config), "contexts")
    before = config.read_text()
    code, _, err = sync(config, "--all-accounts", "--alias-template", "{cluster}")
    assert code == 2
    assert (
        "1 context name(s) would hold several clusters: 'web': arn:aws:eks:eu-west-1:111111111111:cluster/web"
        in err
    )
    assert "'batch'" not in err and "nothing was written" in err
    assert config.read_text() == before
    code, _, err = sync(config, "--all-accounts", "--alias-template", "{cluster}-{zone}")
    assert code == 2 and "unknown field {zone}" in err


def test_defaults_from_the_config_file_and_flags_over_them(
    org: dict[str, dict[str, Any]], tmp_path: Path, isolated: Path
) -> None:
    settings = isolated / ".config" / "kcm" / "config.toml"
    settings.parent.mkdir(parents=True)
    settings.write_text('[sync]\nprofile = "team-b"\nalias-template = "{account_name}:{cluster}"\n')
    config = tmp_path / "config"
    assert sync(config)[0] == 0
    assert list(by_name(read(config), "contexts")) == ["team-b:batch"]
    assert sync(config, "--alias-template", "b-{cluster}")[0] == 0
    assert "b-batch" in by_name(read(config), "contexts")
    settings.write_text("[sync]\nprofiles = 'x'\n")
    code, _, err = sync(config)
    assert code == 2 and f"{settings}: [sync] unknown setting 'profiles'" in err


# ---- failures ------------------------------------------------------------------------------------------
class _Deny(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = (
            b'<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
            b"<Code>AccessDenied</Code><Message>User: arn:aws:iam::123456789012:user/base is not "
            b"authorized to perform: sts:AssumeRole</Message></Error><RequestId>1</RequestId></ErrorResponse>"
        )
        self.send_response(403)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        """The REST-JSON services (EKS): the same refusal in their dialect."""
        body = b'{"message": "User: arn:aws:iam::222222222222:user/x is not authorized to perform: eks:*"}'
        self.send_response(403)
        self.send_header("Content-Type", "application/json")
        self.send_header("x-amzn-ErrorType", "AccessDeniedException")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def denying_sts() -> Iterator[str]:
    """An STS endpoint that refuses everything, as a role's trust policy refuses a stranger."""
    with running(ThreadingHTTPServer(("127.0.0.1", 0), _Deny)) as port:
        yield f"http://127.0.0.1:{port}"


def endpoints_in_config(text: str, aws: Aws, monkeypatch: pytest.MonkeyPatch) -> str:
    """`text` with the embedded AWS named in every profile instead of in AWS_ENDPOINT_URL, which would
    override a profile's own `services` endpoints."""
    lines = []
    for line in text.splitlines():
        lines.append(line)
        if line.startswith(("[profile ", "[default]")):
            lines.append(f"endpoint_url = {aws.url}")
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    return "\n".join(lines) + f"\n[profile base]\nendpoint_url = {aws.url}\n"


def test_one_failing_profile_never_stops_the_others(
    aws: Aws,
    org: dict[str, dict[str, Any]],
    tmp_path: Path,
    denying_sts: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An SSO session never signed in (--all-accounts reaches its profile expired-sso through it) and a
    role whose trust policy refuses us: both listed with their fix; the refusing STS is a profile's
    `services` endpoint."""
    broken = (
        "[profile expired-sso]\nsso_session = corp\nsso_account_id = 444444444444\nsso_role_name = Admin\n"
        "[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = us-east-1\n"
        "[profile denied]\nrole_arn = arn:aws:iam::555555555555:role/Admin\nsource_profile = base\n"
        "services = deny\n[services deny]\nsts =\n  endpoint_url = " + denying_sts + "\n"
    )
    aws.profiles(endpoints_in_config(role_profiles(extra=broken), aws, monkeypatch), CREDENTIALS)
    config = tmp_path / "config"
    code, out, err = sync(config, "--all-accounts")
    assert code == 1, err
    assert len(by_name(read(config), "contexts")) == 6
    assert "failed: SSO session corp:" in err and "aws sso login --sso-session corp" in err  # expired-sso's
    assert "failed: profile denied:" in err and "AccessDenied" in err and "trust policy" in err
    assert "2 failed" in out


def test_regions_that_failed_are_listed_and_not_pruned(
    aws: Aws,
    org: dict[str, dict[str, Any]],
    tmp_path: Path,
    denying_sts: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """team-b's EKS calls are refused in every region: its entries stay, even with --prune."""
    config = tmp_path / "config"
    assert sync(config, "--all-accounts")[0] == 0
    text = role_profiles().replace("[profile team-b]\n", "[profile team-b]\nservices = deny\n")
    text += f"[services deny]\neks =\n  endpoint_url = {denying_sts}\n"
    aws.profiles(endpoints_in_config(text, aws, monkeypatch), CREDENTIALS)
    aws.in_account("111111111111", "eks", "eu-west-1").delete_cluster(name="web")
    code, out, err = sync(
        config, "--all-accounts", "--prune", "--region", "us-west-2", "--region", "eu-west-1"
    )
    assert code == 1
    assert "failed: account 222222222222 region us-west-2: cannot list EKS clusters" in err
    assert "AccessDenied" in err
    contexts = by_name(read(config), "contexts")
    assert "batch.us-west-2.222222222222" in contexts, "a region that failed is not pruned"
    assert "web.eu-west-1.111111111111" not in contexts, "a region that was scanned is"
    assert "2 failed" in out


def test_a_region_with_more_clusters_than_one_page(aws: Aws, tmp_path: Path) -> None:
    """ListClusters returns at most 100 names a page (in EKS and in the embedded AWS): all pages count."""
    aws.profiles(BASE)
    aws.known_regions("123456789012", ["eu-west-1"])
    eks_client = aws.client("eks", "eu-west-1")
    names = [f"c{index:03d}" for index in range(101)]
    for name in names:
        eks_client.create_cluster(
            name=name, roleArn="arn:aws:iam::123456789012:role/eks", resourcesVpcConfig={"subnetIds": []}
        )
    assert "nextToken" in eks_client.list_clusters()  # really more than one page
    code, out, err = sync(tmp_path / "config", "-o", "json")
    assert code == 0, err
    assert json.loads(out)["api_calls"]["eks:ListClusters"] == 2
    contexts = by_name(read(tmp_path / "config"), "contexts")
    assert sorted(contexts) == [f"{name}.eu-west-1.123456789012" for name in names]


def test_a_repeated_page_token_is_an_error_not_a_loop() -> None:
    class Looping:
        def list_clusters(self, **_: str) -> dict[str, Any]:
            return {"clusters": ["a"], "nextToken": "same"}

    with pytest.raises(bx.PaginationError, match="nextToken was received twice"):
        aws_boundary.cluster_names(Looping())


def test_concurrency_must_be_positive(org: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    code, _, err = sync(tmp_path / "config", "--concurrency", "0")
    assert code == 2 and "--concurrency 0: must be at least 1" in err
    assert not (tmp_path / "config").exists()


@pytest.mark.usefixtures("parsing")
def test_a_foreign_context_in_the_way_is_a_conflict(org: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(HAND_WRITTEN)
    code, _out, err = sync(config, "--profile", "team-b", "--alias-template", "on-prem")
    assert code == 1
    assert "context 'on-prem' exists and was not written by kcm" in err
    assert by_name(read(config), "contexts")["on-prem"]["context"]["cluster"] == "on-prem"


def test_output_json_and_the_region_cache(org: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    forget_regions()
    config = tmp_path / "config"
    code, out, err = sync(config, "--profile", "team-c", "-o", "json")
    assert code == 0, err
    first = json.loads(out)
    assert first["written"] is True
    assert sorted(c["name"] for c in first["contexts"]) == [
        "data.eu-west-1.333333333333",
        "edge.ap-southeast-2.333333333333",
    ]
    assert first["api_calls"]["ec2:DescribeRegions"] == 1
    assert first["api_calls"]["eks:DescribeCluster"] == 2
    assert first["api_calls"]["eks:ListClusters"] == first["regions_scanned"]
    second = json.loads(sync(config, "--profile", "team-c", "-o", "json")[1])
    assert "ec2:DescribeRegions" not in second["api_calls"], "regions come from the day-old cache"
    assert {c["status"] for c in second["contexts"]} == {"unchanged"} and second["written"] is False


def test_the_kcm_command_syncs_a_big_file_through_its_front_door(
    org: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    """The installed command, as users run it: kcm.main parses sync's options itself and starts the
    file's parse in a child before botocore loads; the second run finds nothing to do."""
    config = tmp_path / "config"
    padding = "".join(f"# {n:06d} {'x' * 70}\n" for n in range(4000))
    config.write_text(HAND_WRITTEN + padding)
    assert config.stat().st_size >= prefetch.MIN_BYTES

    def run() -> subprocess.CompletedProcess[str]:
        argv = [str(VENV_BIN / "kcm"), "sync", "--all-accounts", "--kubeconfig", str(config), "-o", "json"]
        return subprocess.run(argv, capture_output=True, text=True)

    first = run()
    assert first.returncode == 0, first.stderr
    assert {c["status"] for c in json.loads(first.stdout)["contexts"]} == {"added"}
    text, before = config.read_text(), config.stat()
    assert text.endswith(padding) and "# Team kubeconfig" in text
    second = run()
    assert second.returncode == 0, second.stderr
    result = json.loads(second.stdout)
    assert {c["status"] for c in result["contexts"]} == {"unchanged"} and result["written"] is False
    after = config.stat()
    assert config.read_text() == text and (after.st_ino, after.st_mtime_ns) == (
        before.st_ino,
        before.st_mtime_ns,
    )


# ---- kubectl -------------------------------------------------------------------------------------------
@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not on PATH")
def test_kubectl_keeps_kcms_marks_when_it_rewrites_the_file(
    org: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    config = tmp_path / "config"
    assert sync(config, "--profile", "team-c")[0] == 0
    subprocess.run(
        [
            "kubectl",
            "config",
            "set-context",
            "data.eu-west-1.333333333333",
            "--namespace",
            "etl",
            "--kubeconfig",
            str(config),
        ],
        check=True,
        capture_output=True,
        env={"HOME": str(tmp_path), "PATH": os.environ["PATH"]},
    )
    assert "namespace: etl" in config.read_text()
    code, out, _ = sync(config, "--profile", "team-c")
    assert code == 0 and "2 unchanged" in out, "kubectl dropped kcm's extensions"
    context = by_name(read(config), "contexts")["data.eu-west-1.333333333333"]["context"]
    assert context["namespace"] == "etl"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[sync\nprune = true\n", "invalid TOML"),
        ("[sync]\nprune = 'yes'\n", "[sync] 'prune' must be true or false"),
        ("[sync]\nconcurrency = true\n", "[sync] 'concurrency' must be a whole number"),
        ("[sync]\nregion = ['eu-west-1', 3]\n", "[sync] 'region' must be a list of strings"),
        ("[synk]\n", "unknown table [synk]"),
    ],
)
def test_a_bad_config_file_is_one_line_naming_it(
    text: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = tmp_path / "kcm.toml"
    settings.write_text(text)
    monkeypatch.setenv("KCM_CONFIG", str(settings))
    config = tmp_path / "config"
    code, _, err = sync(config, "--dry-run")
    assert code == 2
    assert err.startswith(f"kcm: {settings}: ") and message in err and len(err.splitlines()) == 1
    assert not config.exists()


def test_each_role_keeps_the_entries_of_a_role_that_failed(aws: Aws, two_roles: None, tmp_path: Path) -> None:
    """team-b-ro's SSO session was never signed in: its contexts stay, though team-b scanned the same
    account (--all-accounts reaches team-b-ro through its session, which fails)."""
    config = tmp_path / "config"
    assert sync(config, "--all-accounts", "--each-role", "--region", "us-west-2")[0] == 0
    expired = (
        "[profile team-b-ro]\nsso_session = corp\nsso_account_id = 222222222222\nsso_role_name = ReadOnly\n"
        "[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = us-east-1\n"
    )
    text = role_profiles(
        extra="".join(
            f"[profile {p}-ro]\nrole_arn = arn:aws:iam::{a}:role/ReadOnly\nsource_profile = base\n"
            for p, a in ACCOUNTS.items()
            if p != "team-b"
        )
        + expired
    )
    aws.profiles(text, CREDENTIALS)
    code, _, err = sync(config, "--all-accounts", "--each-role", "--region", "us-west-2", "--prune")
    assert code == 1 and "failed: SSO session corp" in err
    assert "ReadOnly@batch.us-west-2.222222222222" in by_name(read(config), "contexts")


def test_org_role_outside_an_organization_says_so(aws: Aws, tmp_path: Path) -> None:
    code, _, err = sync(tmp_path / "config", "--org-role", "Admin", "--region", "us-east-1")
    assert code == 3 and "lists no active account" in err
    assert not (tmp_path / "config").exists()


def test_bad_output_format_is_bad_input(aws: Aws, tmp_path: Path) -> None:
    code, _, err = sync(tmp_path / "config", "-o", "yaml")
    assert code == 2 and err == "kcm: --output 'yaml': choose text or json\n"


@pytest.mark.usefixtures("parsing")
def test_a_context_renamed_with_kcm_keeps_its_name_through_sync_and_prune(
    org: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    config = tmp_path / "config"
    assert sync(config, "--all-accounts")[0] == 0
    assert kcm("rename", "web.us-east-1.111111111111", "prod-web", "--kubeconfig", str(config))[0] == 0
    renamed = by_name(read(config), "contexts")["prod-web"]
    code, out, err = sync(config, "--all-accounts", "--prune")
    assert code == 0, err
    contexts = by_name(read(config), "contexts")
    assert "web.us-east-1.111111111111" not in contexts and contexts["prod-web"] == renamed
    assert "prod-web " in out and "unchanged" in out
    # a new template renames the others, never the one the user named
    code, _, err = sync(config, "--all-accounts", "--prune", "--alias-template", "{cluster}@{region}")
    assert code == 0, err
    assert sorted(by_name(read(config), "contexts")) == [
        "api@us-east-1",
        "batch@us-west-2",
        "data@eu-west-1",
        "edge@ap-southeast-2",
        "prod-web",
        "web@eu-west-1",
    ]


def test_token_helper_kcm_writes_users_that_run_kcm_token(
    org: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    config = tmp_path / "config"
    code, out, err = sync(config, "--profile", "team-c", "--token-helper", "kcm")
    assert code == 0, err
    users = by_name(read(config), "users")
    for arn in (
        "arn:aws:eks:eu-west-1:333333333333:cluster/data",
        "arn:aws:eks:ap-southeast-2:333333333333:cluster/edge",
    ):
        exec_ = users[arn]["user"]["exec"]
        region, name = arn.split(":")[3], arn.rsplit("/", 1)[1]
        assert exec_["command"] == "kcm"
        assert exec_["args"] == ["token", "--region", region, "--cluster-name", name]
        assert exec_["env"] == [{"name": "AWS_PROFILE", "value": "team-c"}]
    code, out, _ = sync(config, "--profile", "team-c")  # the default helper again: aws eks get-token
    assert code == 0 and "2 updated" in out
    assert {u["user"]["exec"]["command"] for u in read(config)["users"]} == {"aws"}
    code, _, err = sync(config, "--profile", "team-c", "--token-helper", "kubectl")
    assert code == 2 and "--token-helper 'kubectl': choose aws" in err
