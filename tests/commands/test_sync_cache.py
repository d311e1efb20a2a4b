"""What `kcm sync` remembers of AWS between runs (kcm.awscache), against the embedded AWS: an
organisation of three accounts reached with --org-role, its clock moved by the test (no sleeps)."""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import botocore.exceptions as bx
import pytest
import yaml
from embedded_aws import embedded_aws
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from kcm import aws as aws_boundary
from kcm import awscache, cache, discovery
from kcm.cli import app_for
from tests.apiserver import running
from tests.conftest import Aws

ROLE = "OrganizationAccountAccessRole"
HUB = "123456789012"
REGIONS = ["eu-west-1", "us-east-1", "us-west-2"]
DAY = awscache.DAY


@dataclass
class Clock:
    now: float


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The time kcm.awscache reads: still unless a test moves it, so no run crosses a moment by chance."""
    found = Clock(time.time())
    monkeypatch.setattr(cache, "now", lambda: found.now)
    return found


@dataclass
class Org:
    accounts: dict[str, str]  # name -> id

    @property
    def payments(self) -> str:
        return self.accounts["payments"]

    @property
    def search(self) -> str:
        return self.accounts["search"]


@pytest.fixture
def org(aws: Aws) -> Org:
    """The hub (billing in us-east-1), payments (pay-a and pay-b in eu-west-1), search (no cluster)."""
    orgs = aws.client("organizations")
    orgs.create_organization(FeatureSet="ALL")
    accounts = {"master": HUB}
    for name in ("payments", "search"):
        status = orgs.create_account(Email=f"{name}@example.com", AccountName=name)["CreateAccountStatus"]
        accounts[name] = status["AccountId"]
    aws.cluster("billing", "us-east-1")
    for name in ("pay-a", "pay-b"):
        aws.cluster(name, "eu-west-1", accounts["payments"])
    return Org(accounts)


@pytest.fixture
def known(aws: Aws, org: Org) -> Org:
    """`org`, with each account's enabled regions remembered as three: a first sync lists nine."""
    for account in org.accounts.values():
        aws.known_regions(account, REGIONS)
    return org


def kcm(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app_for(list(args)), list(args))
    return result.exit_code, result.stdout, result.stderr


def sync(config: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    """`kcm sync --org-role ROLE -o json` into `config`."""
    code, out, err = kcm("sync", "--kubeconfig", str(config), "--org-role", ROLE, "-o", "json", *args)
    assert out, err
    return code, json.loads(out), err


def contexts(report: dict[str, Any]) -> list[str]:
    return sorted(context["name"] for context in report["contexts"])


def cluster_entry(config: Path, arn: str) -> dict[str, Any]:
    data = yaml.safe_load(config.read_text())
    found: dict[str, Any] = next(e["cluster"] for e in data["clusters"] if e["name"] == arn)
    return found


def account_file(account: str) -> Path:
    (path,) = (cache.folder() / "aws").glob(f"*/{account}.json")
    return path


EVERY = [
    f"billing.us-east-1.{HUB}",
    "pay-a.eu-west-1.{payments}",
    "pay-b.eu-west-1.{payments}",
]


def every(org: Org) -> list[str]:
    return sorted(name.format(payments=org.payments) for name in EVERY)


# ---- what a second sync asks --------------------------------------------------------------------------
def test_a_second_sync_lists_only_occupied_regions_and_describes_nothing_unchanged(
    org: Org, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    code, first, err = sync(config)
    assert code == 0, err
    assert contexts(first) == every(org)
    regions = first["regions_scanned"] // 3  # as many as the embedded AWS enables in each account
    assert first["regions_scanned"] == 3 * regions and regions >= 3
    assert first["api_calls"] == {
        "sts:GetCallerIdentity": 1,
        "organizations:ListAccounts": 1,
        "sts:AssumeRole": 2,  # payments and search; the hub is where the keys are
        "ec2:DescribeRegions": 3,
        "eks:ListClusters": 3 * regions,
        "eks:DescribeCluster": 3,
    }
    assert first["regions_skipped"] == 0
    code, second, err = sync(config)
    assert code == 0, err
    assert contexts(second) == every(org)
    assert {c["status"] for c in second["contexts"]} == {"unchanged"} and not second["written"]
    assert second["api_calls"] == {
        "sts:GetCallerIdentity": 1,
        "sts:AssumeRole": 1,  # payments, to list eu-west-1; search has nothing to ask
        "eks:ListClusters": 2,  # the hub's us-east-1 and payments' eu-west-1
    }
    assert (second["regions_scanned"], second["regions_skipped"]) == (2, 3 * regions - 2)
    code, out, err = kcm("sync", "--kubeconfig", str(config), "--org-role", ROLE)
    assert code == 0, err
    assert (
        f"3 clusters in 3 accounts, 2 account-regions scanned, {3 * regions - 2} skipped as known empty"
        in out
    )


def test_a_new_cluster_in_an_occupied_region_appears_on_the_next_sync(
    aws: Aws, known: Org, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    assert sync(config)[0] == 0
    aws.cluster("pay-c", "eu-west-1", known.payments)
    code, report, err = sync(config)
    assert code == 0, err
    assert f"pay-c.eu-west-1.{known.payments}" in contexts(report)
    assert report["api_calls"]["eks:DescribeCluster"] == 1, "only the new one"
    assert report["api_calls"]["eks:ListClusters"] == 2


def test_a_new_cluster_in_a_known_empty_region_appears_once_its_listing_is_a_day_old(
    aws: Aws, known: Org, tmp_path: Path, clock: Clock
) -> None:
    config = tmp_path / "config"
    assert sync(config)[0] == 0
    aws.cluster("lookup", "us-west-2", known.search)
    code, report, err = sync(config)
    assert code == 0, err
    assert contexts(report) == every(known), "search's us-west-2 was empty a moment ago: not listed"
    assert "sts:AssumeRole" in report["api_calls"] and report["api_calls"]["sts:AssumeRole"] == 1
    clock.now += DAY
    code, report, err = sync(config)
    assert code == 0, err
    assert f"lookup.us-west-2.{known.search}" in contexts(report)
    assert report["api_calls"] == {  # everything remembered is a day old
        "sts:GetCallerIdentity": 1,
        "organizations:ListAccounts": 1,
        "sts:AssumeRole": 2,
        "ec2:DescribeRegions": 3,
        "eks:ListClusters": report["regions_scanned"],
        "eks:DescribeCluster": 4,
    }
    assert report["regions_skipped"] == 0


def test_full_lists_and_describes_everything_at_once(aws: Aws, known: Org, tmp_path: Path) -> None:
    config = tmp_path / "config"
    assert sync(config)[0] == 0
    aws.cluster("lookup", "us-west-2", known.search)
    code, report, err = sync(config, "--full")
    assert code == 0, err
    assert f"lookup.us-west-2.{known.search}" in contexts(report)
    calls = report["api_calls"]
    assert (
        calls["eks:DescribeCluster"],
        calls["ec2:DescribeRegions"],
        calls["organizations:ListAccounts"],
    ) == (4, 3, 1)
    assert calls["eks:ListClusters"] == report["regions_scanned"] and report["regions_skipped"] == 0
    code, report, err = sync(config)
    assert code == 0, err
    assert report["api_calls"]["eks:ListClusters"] == 3, "--full remembered what it found"
    assert "eks:DescribeCluster" not in report["api_calls"]


def test_diff_reads_what_sync_remembers_and_takes_full(aws: Aws, known: Org, tmp_path: Path) -> None:
    config = tmp_path / "config"
    assert sync(config)[0] == 0
    new = aws.cluster("lookup", "us-west-2", known.search)
    preview = ["diff", "--org-role", ROLE, "--kubeconfig", str(config)]
    assert kcm(*preview) == (0, "", ""), "the sync it previews would not list that region yet"
    code, out, err = kcm(*preview, "--full")
    assert code == 1, err
    assert f"+ context lookup.us-west-2.{known.search} (cluster {new['arn']}, user {new['arn']})" in out
    code, _, err = kcm(*preview, "--clear-cache")
    assert code == 2 and "No such option" in err, "removing caches is sync's"


def test_a_cluster_made_again_under_its_name_is_described_again_once_its_entry_is_a_day_old(
    aws: Aws, known: Org, tmp_path: Path, clock: Clock
) -> None:
    config = tmp_path / "config"
    assert sync(config)[0] == 0
    arn = f"arn:aws:eks:eu-west-1:{known.payments}:cluster/pay-a"
    before = cluster_entry(config, arn)["certificate-authority-data"]
    aws.in_account(known.payments, "eks", "eu-west-1").delete_cluster(name="pay-a")
    again = aws.cluster("pay-a", "eu-west-1", known.payments)
    assert again["certificateAuthority"]["data"] != before  # the embedded AWS makes a new CA
    code, report, err = sync(config)
    assert code == 0 and "eks:DescribeCluster" not in report["api_calls"], err
    assert cluster_entry(config, arn)["certificate-authority-data"] == before, "a listing shows names only"
    clock.now += DAY
    code, report, err = sync(config)
    assert code == 0, err
    assert cluster_entry(config, arn)["certificate-authority-data"] == again["certificateAuthority"]["data"]
    status = {c["name"]: c["status"] for c in report["contexts"]}
    assert status[f"pay-a.eu-west-1.{known.payments}"] == "updated"
    remembered = json.loads(account_file(known.payments).read_text())["clusters"]["eu-west-1"]["pay-a"]
    assert remembered["created"] == again["createdAt"].isoformat()


def test_a_deleted_cluster_is_forgotten_and_pruned_where_its_region_is_listed(
    aws: Aws, known: Org, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    assert sync(config)[0] == 0
    aws.in_account(known.payments, "eks", "eu-west-1").delete_cluster(name="pay-b")
    code, report, err = sync(config, "--prune")
    assert code == 0, err
    assert report["pruned"] == [f"pay-b.eu-west-1.{known.payments}"]
    remembered = json.loads(account_file(known.payments).read_text())
    assert remembered["listings"]["eu-west-1"]["names"] == ["pay-a"]
    assert list(remembered["clusters"]["eu-west-1"]) == ["pay-a"]


def test_prune_lists_a_region_remembered_as_empty_where_the_file_holds_kcms_entries(
    aws: Aws, known: Org, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: Clock
) -> None:
    """A region kcm remembers as empty while the kubeconfig holds kcm's entries for a cluster in it
    (written by a sync with another cache, or the cluster gone since): a sync without --prune skips
    it; with --prune, which acts only where the run listed, kcm lists it, and the stale entries go
    at once rather than a day later."""
    config = tmp_path / "config"
    assert sync(config)[0] == 0  # search's us-west-2: remembered as empty
    aws.cluster("lookup", "us-west-2", known.search)
    monkeypatch.setenv("KCM_CACHE_DIR", str(tmp_path / "another-cache"))
    assert sync(config)[0] == 0
    monkeypatch.delenv("KCM_CACHE_DIR")
    context = f"lookup.us-west-2.{known.search}"
    aws.in_account(known.search, "eks", "us-west-2").delete_cluster(name="lookup")
    code, report, err = sync(config)
    assert code == 0, err
    assert report["pruned"] == [] and report["regions_skipped"] > 0
    assert context in {e["name"] for e in yaml.safe_load(config.read_text())["contexts"]}
    skipped = report["regions_skipped"]
    code, report, err = sync(config, "--prune")
    assert code == 0, err
    assert report["pruned"] == [context] and report["regions_skipped"] == skipped - 1
    assert context not in {e["name"] for e in yaml.safe_load(config.read_text())["contexts"] or []}


# ---- with --org-role, a role is assumed only where a call is made -------------------------------------
def test_an_account_whose_role_cannot_be_assumed_is_one_failure(
    known: Org, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused = f"arn:aws:iam::{known.search}:role/{ROLE}"
    assume = aws_boundary.assume_role

    class Refusing:
        def assume_role(self, **_: Any) -> None:
            error = {
                "Error": {"Code": "AccessDenied", "Message": "not authorized to perform: sts:AssumeRole"}
            }
            raise bx.ClientError(error, "AssumeRole")

    def assume_role(sts: Any, role_arn: str, **options: Any) -> dict[str, str]:
        return assume(Refusing() if role_arn == refused else sts, role_arn, **options)

    monkeypatch.setattr(aws_boundary, "assume_role", assume_role)
    code, report, _ = sync(tmp_path / "config")
    assert code == 1
    assert [f["scope"] for f in report["failures"]] == [f"account {known.search} (search)"]
    assert (
        f"cannot assume {refused} as the default credential chain: AccessDenied"
        in report["failures"][0]["message"]
    )
    assert contexts(report) == every(known) and report["accounts"] == 2


# ---- the files ---------------------------------------------------------------------------------------
CORRUPT = {
    "garbage": lambda path: path.write_bytes(b"\x00\xffnot json{"),
    "a list": lambda path: path.write_text("[1, 2]"),
    "a bad time": lambda path: path.write_text(
        json.dumps({"format": 1, "regions": None, "listings": {"eu-west-1": {"saved": "now", "names": []}}})
    ),
    "another format": lambda path: path.write_text(json.dumps({"format": 99})),
    "a directory": lambda path: path.mkdir(),
    "a FIFO": lambda path: os.mkfifo(path),
}


@pytest.mark.parametrize("kind", CORRUPT)
def test_a_corrupt_cache_file_is_one_warning_and_the_sync_is_right(
    kind: str, known: Org, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    assert sync(config)[0] == 0
    path = account_file(known.payments)
    path.unlink()
    CORRUPT[kind](path)
    code, out, err = kcm("sync", "--kubeconfig", str(config), "--org-role", ROLE)
    assert code == 0, err
    warnings = [line for line in err.splitlines() if line.startswith("kcm: warning:")]
    assert len(warnings) == 1 and f"cache {path}: " in warnings[0] and "ignored" in warnings[0], err
    assert "Traceback" not in err and "3 unchanged" in out
    assert stat.S_ISREG(path.lstat().st_mode) and json.loads(path.read_text())["format"] == 1, "written again"
    code, report, err = sync(config)
    assert code == 0 and report["warnings"] == [] and "eks:DescribeCluster" not in report["api_calls"], err


def test_a_corrupt_organisation_list_is_a_warning_and_listed_again(known: Org, tmp_path: Path) -> None:
    config = tmp_path / "config"
    assert sync(config)[0] == 0
    (path,) = (cache.folder() / "aws").glob(f"*/organization-{HUB}.json")
    path.write_text(json.dumps({"format": 1, "saved": time.time(), "accounts": [["x"]]}))
    code, report, err = sync(config)
    assert code == 0, err
    assert report["warnings"] == [
        f"cache {path}: holds a bad account, not what kcm writes; ignored, and written again by this sync"
    ]
    assert report["api_calls"]["organizations:ListAccounts"] == 1 and contexts(report) == every(known)


def test_clear_cache_removes_what_sync_remembers_first(known: Org, tmp_path: Path) -> None:
    config = tmp_path / "config"
    assert sync(config)[0] == 0
    legacy = cache.folder() / "regions"  # where kcm 0.1 kept regions, by account alone
    legacy.mkdir()
    (legacy / f"{known.payments}.json").write_text("{}")
    code, report, err = sync(config, "--clear-cache")
    assert code == 0, err
    assert f"removed kcm's AWS caches ({cache.folder() / 'aws'}, {legacy})" in report["notes"]
    calls = report["api_calls"]
    assert (
        calls["eks:DescribeCluster"],
        calls["ec2:DescribeRegions"],
        calls["organizations:ListAccounts"],
    ) == (3, 3, 1)
    assert calls["eks:ListClusters"] == report["regions_scanned"] and report["regions_skipped"] == 0
    assert not legacy.exists() and account_file(known.payments).exists()  # and remembered anew


def test_cache_files_are_private_whatever_the_umask(org: Org, tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        assert sync(tmp_path / "config")[0] == 0
    finally:
        os.umask(old)
    root = cache.folder()
    folders = [root, *(path for path in root.rglob("*") if path.is_dir())]
    files = [path for path in root.rglob("*") if path.is_file()]
    assert len(files) == 4  # three accounts and the organisation, in one setup's folder
    assert {oct(stat.S_IMODE(path.stat().st_mode)) for path in folders} == {"0o700"}
    assert {oct(stat.S_IMODE(path.stat().st_mode)) for path in files} == {"0o600"}


def test_two_endpoints_never_share_what_kcm_remembers(
    aws: Aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same account, region and cluster name behind two AWS_ENDPOINT_URLs: each sync is right."""
    regions = ("--region", "us-east-1", "--region", "eu-west-1")
    mine = aws.cluster("web", "us-east-1")
    assert kcm("sync", "--kubeconfig", str(tmp_path / "a"), *regions)[0] == 0  # eu-west-1: empty
    with embedded_aws(tmp_path / "moto.log", quick_eks=True) as url:
        other = Aws(url, aws.home)
        theirs = other.cluster("web", "us-east-1")
        other.cluster("api", "eu-west-1")
        monkeypatch.setenv("AWS_ENDPOINT_URL", url)
        code, out, err = kcm("sync", "--kubeconfig", str(tmp_path / "b"), *regions, "-o", "json")
    assert code == 0, err
    report = json.loads(out)
    assert contexts(report) == [f"api.eu-west-1.{HUB}", f"web.us-east-1.{HUB}"]
    assert report["api_calls"]["eks:DescribeCluster"] == 2 and report["regions_skipped"] == 0
    ca = cluster_entry(tmp_path / "b", theirs["arn"])["certificate-authority-data"]
    assert ca == theirs["certificateAuthority"]["data"] != mine["certificateAuthority"]["data"]
    assert len(list((cache.folder() / "aws").iterdir())) == 2


def test_the_setup_key_follows_the_endpoints_of_the_services_kcm_remembers(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    def key(partition: str = "aws") -> str:
        return discovery.Reach("test", profile=None).setup(partition)

    base = key()
    assert key("aws-cn") != base
    monkeypatch.setenv("AWS_ENDPOINT_URL_RESOURCE_EXPLORER_2", "http://127.0.0.1:1")
    assert key() == base, "another service's endpoint: the same answers"
    monkeypatch.setenv("AWS_ENDPOINT_URL_EKS", "http://127.0.0.1:1")
    assert key() != base
    monkeypatch.delenv("AWS_ENDPOINT_URL_EKS")
    aws.profiles(
        "[default]\nservices = local\n[services local]\nec2 =\n  endpoint_url = http://127.0.0.1:2\n"
    )
    assert key() != base


# ---- clusters that are not ACTIVE ---------------------------------------------------------------------
class _Eks(BaseHTTPRequestHandler):
    """EKS's ListClusters and DescribeCluster with a status per cluster: the embedded AWS makes every
    cluster ACTIVE at once."""

    statuses: ClassVar[dict[str, str]] = {}
    described: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        path = self.path.split("?")[0].rstrip("/")
        if path == "/clusters":
            answer: dict[str, Any] = {"clusters": sorted(self.statuses)}
        else:
            name = path.rsplit("/", 1)[-1]
            self.described.append(name)
            answer = {
                "cluster": {
                    "name": name,
                    "arn": f"arn:aws:eks:us-east-1:{HUB}:cluster/{name}",
                    "endpoint": f"https://{name}.example.com",
                    "certificateAuthority": {"data": "Q0E="},
                    "status": self.statuses[name],
                }
            }
        body = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def eks(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Iterator[type[_Eks]]:
    handler = type("Eks", (_Eks,), {"statuses": {}, "described": []})
    with running(ThreadingHTTPServer(("127.0.0.1", 0), handler)) as port:
        monkeypatch.setenv("AWS_ENDPOINT_URL_EKS", f"http://127.0.0.1:{port}")
        yield handler


def test_a_cluster_that_is_not_active_is_described_every_time(eks: type[_Eks], tmp_path: Path) -> None:
    eks.statuses.update({"steady": "ACTIVE", "rolling": "UPDATING", "coming": "CREATING"})
    config = tmp_path / "config"
    argv = ["sync", "--kubeconfig", str(config), "--region", "us-east-1", "-o", "json"]
    for expected in (["coming", "rolling", "steady"], ["coming", "rolling"]):
        eks.described.clear()
        code, out, err = kcm(*argv)
        assert code == 0, err
        assert sorted(eks.described) == expected
        report = json.loads(out)
        assert contexts(report) == [f"rolling.us-east-1.{HUB}", f"steady.us-east-1.{HUB}"]
        assert any("cluster coming" in note and "not ready; skipped" in note for note in report["notes"])
    eks.statuses.update({"rolling": "ACTIVE", "coming": "ACTIVE"})
    eks.described.clear()
    assert kcm(*argv)[0] == 0
    assert sorted(eks.described) == ["coming", "rolling"]
    eks.described.clear()
    assert kcm(*argv)[0] == 0
    assert eks.described == []


# ---- when a fact is due again -------------------------------------------------------------------------
def test_the_accounts_daily_moments_spread_over_the_day() -> None:
    moments = [awscache.moment("aws-0123", f"{index:012d}") for index in range(2400)]
    per_hour = [sum(1 for m in moments if hour * 3600 <= m < (hour + 1) * 3600) for hour in range(24)]
    assert min(per_hour) > 50 and max(per_hour) < 150  # 100 an hour on average


def test_hourly_syncs_ask_again_once_a_day_and_never_use_a_fact_older_than_a_day() -> None:
    start = 1_800_000_000.0
    for index in range(200):
        at = awscache.moment("aws-0123", f"{index:012d}")
        saved, asked, oldest = start, 0, 0.0
        for hour in range(1, 24 * 7 + 1):
            now = start + hour * 3600
            if awscache.due(saved, at, now):
                saved, asked = now, asked + 1
            oldest = max(oldest, now - saved)
        assert asked == 7 and oldest < DAY


@given(st.floats(0, 4e9), st.floats(0, DAY), st.floats(0, 4e9))
def test_a_fact_a_day_old_or_from_the_future_is_due(saved: float, at: float, now: float) -> None:
    if now - saved >= DAY or saved - now > 60:
        assert awscache.due(saved, at, now)
    elif saved <= now and awscache.due(saved, at, now):  # the moment came round in between
        assert (now - at) // DAY > (saved - at) // DAY
