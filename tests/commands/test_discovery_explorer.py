"""`kcm sync --discovery resource-explorer` against the embedded AWS and the Resource Explorer stand-in
(tests/resource_explorer.py): an organisation of three accounts in two regions, its clusters found by
one search from the management account instead of a ListClusters in each account-region."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from kcm import cache
from kcm.cli import app_for
from kcm.explorer import QUERY
from tests.conftest import Aws
from tests.resource_explorer import Explorer, resource_explorer

HUB = "123456789012"  # moto's management account, whose keys the tests hold
ROLE = "OrganizationAccountAccessRole"
REGIONS = ["eu-central-1", "us-east-1"]
SERVICE = "resource-explorer-2"


@dataclass
class Org:
    accounts: dict[str, str]  # name -> id; the management account is "master"
    clusters: dict[tuple[str, str], list[str]]  # (account, region) -> cluster names

    def contexts(self, pairs: set[tuple[str, str]] | None = None) -> list[str]:
        return sorted(
            f"{name}.{region}.{account}"
            for (account, region), names in self.clusters.items()
            if pairs is None or (account, region) in pairs
            for name in names
        )

    @property
    def count(self) -> int:
        return sum(len(names) for names in self.clusters.values())


@pytest.fixture
def org(aws: Aws) -> Org:
    """Three accounts x two regions, a cluster in each account-region and one more in payments' us-east-1."""
    orgs = aws.client("organizations")
    orgs.create_organization(FeatureSet="ALL")
    accounts = {"master": HUB}
    for name in ("payments", "search"):
        status = orgs.create_account(Email=f"{name}@example.com", AccountName=name)["CreateAccountStatus"]
        accounts[name] = status["AccountId"]
    clusters: dict[tuple[str, str], list[str]] = {}
    for name, account in accounts.items():
        aws.known_regions(account, REGIONS)  # as a previous run of the day left them
        for region in REGIONS:
            names = [f"{name}-{region}"] + (
                ["payments-extra"] if (name, region) == ("payments", "us-east-1") else []
            )
            for cluster in names:
                aws.cluster(cluster, region, account)
            clusters[account, region] = names
    return Org(accounts, clusters)


@pytest.fixture
def explorer(aws: Aws, org: Org, monkeypatch: pytest.MonkeyPatch) -> Iterator[Explorer]:
    """Resource Explorer set up as AWS's multi-account Quick Setup leaves it: an index in every account and
    region, the aggregator in the management account's us-east-1, a default view of the organisation."""
    with resource_explorer(aws.in_account, HUB, "us-east-1", set(org.clusters)) as state:
        monkeypatch.setenv("AWS_ENDPOINT_URL_RESOURCE_EXPLORER_2", state.url)
        yield state


def invoke(argv: list[str]) -> Result:
    return CliRunner().invoke(app_for(argv), argv)


def sync(config: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    """`kcm sync --org-role ... -o json`: exit code, the JSON report, stderr."""
    done = invoke(["sync", "--kubeconfig", str(config), "--org-role", ROLE, "-o", "json", *args])
    return done.exit_code, json.loads(done.stdout) if done.stdout.strip() else {}, done.stderr


def names(report: dict[str, Any]) -> list[str]:
    return sorted(row["name"] for row in report["contexts"])


def explorer_calls(report: dict[str, Any]) -> dict[str, int]:
    prefix = f"{SERVICE}:"
    return {key.removeprefix(prefix): n for key, n in report["api_calls"].items() if key.startswith(prefix)}


def note(report: dict[str, Any]) -> str:
    (found,) = [line for line in report["notes"] if line.startswith("--discovery resource-explorer")]
    assert "\n" not in found
    return str(found)


RE = ("--discovery", "resource-explorer")


# ---- found through Search ------------------------------------------------------------------------------
def test_one_search_finds_every_cluster_and_no_covered_region_is_listed(
    aws: Aws, org: Org, explorer: Explorer, tmp_path: Path
) -> None:
    listed, searched = tmp_path / "listed", tmp_path / "searched"
    code, by_list, err = sync(listed)
    assert code == 0, err
    shutil.rmtree(cache.folder() / "aws")  # the clusters described by the listing sync: forgotten
    for account in org.accounts.values():
        aws.known_regions(account, REGIONS)
    code, by_search, err = sync(searched, *RE)
    assert code == 0, err
    assert searched.read_text() == listed.read_text(), "the same entries, however they were found"
    assert names(by_search) == org.contexts()
    assert by_list["api_calls"]["eks:ListClusters"] == 6
    assert "eks:ListClusters" not in by_search["api_calls"]
    assert by_search["api_calls"]["eks:DescribeCluster"] == by_list["api_calls"]["eks:DescribeCluster"] == 7
    code, again, err = sync(searched, *RE)
    assert code == 0 and names(again) == org.contexts(), err
    assert not {"eks:ListClusters", "eks:DescribeCluster"} & set(again["api_calls"]), "all remembered"
    assert explorer_calls(by_search) == {
        "ListIndexes": 1,
        "Search": math.ceil(org.count / explorer.page),
        "GetView": 1,
        "ListIndexesForMembers": math.ceil(4 / explorer.page),  # two members x two regions, two a page
    }
    assert by_search["regions_scanned"] == by_list["regions_scanned"] == 6
    assert "6 of 6 account-region(s)" in note(by_search) and f"{org.count} cluster(s)" in note(by_search)
    assert {region for _, region, _ in explorer.calls} == {"us-east-1"}
    assert next(body for _, body in explorer.of("ListIndexesForMembers"))["AccountIdList"] == sorted(
        [org.accounts["payments"], org.accounts["search"]]
    )


@pytest.mark.parametrize("page", [1, 3, 1000])
def test_every_search_page_is_read(org: Org, explorer: Explorer, tmp_path: Path, page: int) -> None:
    explorer.page = page
    code, report, err = sync(tmp_path / "config", *RE)
    assert code == 0, err
    assert names(report) == org.contexts()
    searches = explorer.of("Search")
    assert len(searches) == math.ceil(org.count / page)
    assert all(body["MaxResults"] == 1000 and body["QueryString"] == QUERY for _, body in searches)
    assert [body.get("NextToken") for _, body in searches][1:] == [
        str(n * page) for n in range(1, len(searches))
    ]


def test_search_is_sent_to_the_aggregator_region(org: Org, explorer: Explorer, tmp_path: Path) -> None:
    """The profile's region (us-east-1) asks ListIndexes where the aggregator is; the rest goes there."""
    explorer.region = "eu-central-1"
    code, report, err = sync(tmp_path / "config", *RE)
    assert code == 0, err
    assert names(report) == org.contexts() and "eks:ListClusters" not in report["api_calls"]
    regions = {name: {region for region, _ in explorer.of(name)} for name in explorer_calls(report)}
    assert regions == {
        "ListIndexes": {"us-east-1"},
        "Search": {"eu-central-1"},
        "GetView": {"eu-central-1"},
        "ListIndexesForMembers": {"eu-central-1"},
    }
    assert explorer.view_arn in note(report)


# ---- coverage --------------------------------------------------------------------------------------------
def test_account_regions_without_an_index_are_listed(org: Org, explorer: Explorer, tmp_path: Path) -> None:
    search, payments = org.accounts["search"], org.accounts["payments"]
    uncovered = {(search, "eu-central-1"), (search, "us-east-1"), (payments, "eu-central-1")}
    explorer.indexes -= uncovered
    code, report, err = sync(tmp_path / "config", *RE)
    assert code == 0, err
    assert names(report) == org.contexts(), "clusters outside the index are found by listing"
    assert report["api_calls"]["eks:ListClusters"] == len(uncovered)
    assert report["regions_scanned"] == 6
    assert "3 of 6 account-region(s)" in note(report) and "3 listed with ListClusters" in note(report)


def test_a_view_of_the_hub_account_covers_only_that_account(
    org: Org, explorer: Explorer, tmp_path: Path
) -> None:
    explorer.scope = "account"
    code, report, err = sync(tmp_path / "config", *RE)
    assert code == 0, err
    assert names(report) == org.contexts()
    assert report["api_calls"]["eks:ListClusters"] == 4, "the two members' regions are listed"
    assert "ListIndexesForMembers" not in explorer_calls(report)


def test_a_view_of_an_ou_covers_the_accounts_it_shows(org: Org, explorer: Explorer, tmp_path: Path) -> None:
    """kcm cannot list an OU's accounts: an account whose clusters the search returned is in it; any
    other (outside the OU, or in it with no cluster) is listed."""
    explorer.scope, explorer.ou = "ou", {HUB, org.accounts["payments"]}
    code, report, err = sync(tmp_path / "config", *RE)
    assert code == 0, err
    assert names(report) == org.contexts()
    assert report["api_calls"]["eks:ListClusters"] == 2, "search's two regions"


# ---- prune stays exact -----------------------------------------------------------------------------------
def test_prune_removes_a_deleted_cluster_seen_through_a_complete_search(
    aws: Aws, org: Org, explorer: Explorer, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    assert sync(config, *RE)[0] == 0
    search = org.accounts["search"]
    aws.in_account(search, "eks", "us-east-1").delete_cluster(name="search-us-east-1")
    code, report, err = sync(config, *RE, "--prune")
    assert code == 0, err
    assert report["pruned"] == [f"search-us-east-1.us-east-1.{search}"]
    assert "eks:ListClusters" not in report["api_calls"]


def test_an_incomplete_search_is_refined_by_region_and_prunes_nothing_it_did_not_see(
    org: Org, explorer: Explorer, tmp_path: Path
) -> None:
    """Search counts at most `limit` matches: 7 clusters over a limit of 3 is incomplete. By region,
    eu-central-1 (3) is complete and taken from Search; us-east-1 (4) is not, and is listed."""
    config = tmp_path / "config"
    assert sync(config)[0] == 0
    before = config.read_text()
    explorer.limit = 3
    code, report, err = sync(config, *RE, "--prune")
    assert code == 0, err
    assert report["pruned"] == [] and config.read_text() == before
    assert names(report) == org.contexts()
    assert report["api_calls"]["eks:ListClusters"] == 3, "us-east-1's three accounts"
    queries = [body["QueryString"] for _, body in explorer.of("Search")]
    assert list(dict.fromkeys(queries)) == [
        QUERY,
        f"{QUERY} region:eu-central-1",
        f"{QUERY} region:us-east-1",
    ]
    assert "3 of 6 account-region(s)" in note(report)


def test_a_search_incomplete_in_every_region_lists_everything_and_prunes_nothing(
    org: Org, explorer: Explorer, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    assert sync(config)[0] == 0
    before = config.read_text()
    explorer.limit = 2
    code, report, err = sync(config, *RE, "--prune")
    assert code == 0, err
    assert report["pruned"] == [] and config.read_text() == before
    assert report["api_calls"]["eks:ListClusters"] == 6
    assert "0 of 6 account-region(s)" in note(report)


# ---- Resource Explorer not set up, or refusing -----------------------------------------------------------
NOT_SET_UP = {
    "no aggregator index": (
        lambda e: setattr(e, "region", None),
        "has no Resource Explorer aggregator index",
    ),
    "ListIndexes refused": (
        lambda e: e.refuse.update(ListIndexes=(403, "AccessDeniedException")),
        "resource-explorer-2:ListIndexes",
    ),
    "Search unauthorized": (
        lambda e: e.refuse.update(Search=(401, "UnauthorizedException")),
        "resource-explorer-2:Search",
    ),
    "GetView refused": (
        lambda e: e.refuse.update(GetView=(403, "AccessDeniedException")),
        "resource-explorer-2:GetView",
    ),
    "not the organisation's administrator": (
        lambda e: e.refuse.update(ListIndexesForMembers=(403, "AccessDeniedException")),
        "resource-explorer-2:ListIndexesForMembers",
    ),
    "a filtered default view": (
        lambda e: setattr(e, "view_filter", "tag:team=payments"),
        "filters what it shows ('tag:team=payments')",
    ),
}


@pytest.mark.parametrize("case", NOT_SET_UP, ids=str)
def test_resource_explorer_not_set_up_is_a_note_and_every_region_is_listed(
    org: Org, explorer: Explorer, tmp_path: Path, case: str
) -> None:
    breaking, said = NOT_SET_UP[case]
    breaking(explorer)
    code, report, err = sync(tmp_path / "config", *RE, "--prune")
    assert code == 0, err  # a note, not a failure: the sync is complete
    assert report["failures"] == []
    assert names(report) == org.contexts()
    assert report["api_calls"]["eks:ListClusters"] == 6 and report["regions_scanned"] == 6
    assert said in note(report) and "every account-region is listed with ListClusters instead" in note(report)


def test_text_output_says_it_on_one_line(org: Org, explorer: Explorer, tmp_path: Path) -> None:
    explorer.refuse["Search"] = (401, "UnauthorizedException")
    done = invoke(["sync", "--kubeconfig", str(tmp_path / "c"), "--org-role", ROLE, *RE])
    assert done.exit_code == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if "--discovery resource-explorer" in line]
    assert len(lines) == 1 and lines[0].startswith("kcm: note: --discovery resource-explorer: cannot search")
    assert "Traceback" not in done.stderr


# ---- the hub and the options -----------------------------------------------------------------------------
def test_with_profiles_the_hub_is_the_default_credentials(
    aws: Aws, org: Org, explorer: Explorer, tmp_path: Path
) -> None:
    config = "[default]\nregion = us-east-1\n" + "".join(
        f"[profile {name}]\nrole_arn = arn:aws:iam::{account}:role/Admin\nsource_profile = base\n"
        for name, account in org.accounts.items()
        if name != "master"
    )
    aws.profiles(
        config + "[profile base]\nregion = us-east-1\n",
        "[base]\naws_access_key_id = base\naws_secret_access_key = base\n",
    )
    done = invoke(["sync", "--kubeconfig", str(tmp_path / "c"), "--all-accounts", "-o", "json", *RE])
    assert done.exit_code == 0, done.stderr
    report = json.loads(done.stdout)
    assert names(report) == org.contexts()
    assert "eks:ListClusters" not in report["api_calls"]


def test_the_config_file_chooses_discovery_and_a_flag_overrides_it(
    org: Org, explorer: Explorer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = tmp_path / "kcm.toml"
    settings.write_text('[sync]\ndiscovery = "resource-explorer"\n')
    monkeypatch.setenv("KCM_CONFIG", str(settings))
    code, report, err = sync(tmp_path / "config")
    assert code == 0, err
    assert "eks:ListClusters" not in report["api_calls"] and explorer_calls(report)["Search"] >= 1
    calls = len(explorer.calls)
    code, report, err = sync(tmp_path / "config", "--discovery", "list")
    assert code == 0, err
    assert report["api_calls"]["eks:ListClusters"] == 6 and len(explorer.calls) == calls


def test_an_unknown_discovery_is_one_line_and_exit_2(aws: Aws, tmp_path: Path) -> None:
    done = invoke(["sync", "--kubeconfig", str(tmp_path / "c"), "--discovery", "config"])
    assert done.exit_code == 2
    assert done.stderr == "kcm: --discovery 'config': choose list or resource-explorer\n"
    assert not (tmp_path / "c").exists()
