"""The `scale` part of `make bench` (`.venv/bin/python bench/run.py scale` alone): kcm sync of an
organisation of 1,000 accounts x every enabled region, clusters in 50 account-regions (issue 20).

`.venv/bin/python bench/scale_bench.py [--quick]` runs it without touching results.md and prints the
section; `--quick` is a small organisation (100 accounts, 10 occupied account-regions) for development.

The organisation lives in the embedded AWS (moto_server): moto's default account is the management
account (its keys are the bench's), Organizations holds the member accounts, and sts:AssumeRole of
`arn:aws:iam::<id>:role/OrganizationAccountAccessRole` acts in any of them, as kcm's `--org-role` does.
Every run is `kcm sync --org-role ... --kubeconfig <a fresh file> -o json` (kcm's default concurrency)
with KCM_CACHE_DIR naming the cache folder the step says; `api_calls` of its JSON counts the calls.

1. first sync, an empty cache folder; 2. second sync, the same folder; 3. one new cluster in an occupied
account-region, then a sync (same folder); 4. `--discovery resource-explorer`, the stand-in of
tests/resource_explorer.py with an index in every account-region, first (a new empty folder) and second
sync. Then, for per-call costs, syncs of one and of four regions (`--region`) into empty folders, and
one of the management account alone.
"""

from __future__ import annotations

import json
import math
import os
import random
import statistics
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import yaml

sys.path[:0] = [str(Path(__file__).resolve().parent.parent / part) for part in ("", "tools")]
from common import (  # noqa: E402 (found through the sys.path entries above, when run alone)
    BenchError,
    clean_env,
    log,
    machine,
    moto_env,
    process_env,
    run_measured,
)
from embedded_aws import embedded_aws, every_eks_cluster  # noqa: E402
from org_bench import moto_cpu_seconds  # noqa: E402
from sync_bench import ENABLED, MotoLog, _para  # noqa: E402

from tests.resource_explorer import Explorer, resource_explorer  # noqa: E402 (the tests' stand-in)

ROLE = "OrganizationAccountAccessRole"
MANAGEMENT = "123456789012"  # moto's default account: the one the bench's own keys act in
HOME_REGION = "us-east-1"
KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}  # moto's fake credentials
SETUP_WORKERS = 8
SEED = 20
CLUSTERS_PER_PAIR = (1, 2, 3)  # the occupied account-regions hold 1, 2, 3, 1, 2, 3, ... clusters
CALIBRATION_REGIONS = 4
TARGET_ACCOUNTS = 10_000
AWS_ACCOUNTS_PAGE = 20  # organizations:ListAccounts' most accounts a page (moto's pages hold 100)
ASSUMED_LATENCY_MS = 50  # for the extrapolation only: a round trip to AWS, not measured here
GOAL_CALLS, GOAL_SPEEDUP = 0.05, 10.0
CONSTANT = ("sts:GetCallerIdentity", "resource-explorer-2:ListIndexes", "resource-explorer-2:GetView")


@dataclass(frozen=True)
class Size:
    accounts: int  # member accounts, besides the management account
    occupied: int  # account-regions that hold clusters


FULL, QUICK = Size(1000, 50), Size(100, 10)


@dataclass
class Org:
    url: str
    accounts: list[str]  # every account kcm enters: the management account and the members
    regions: list[str]  # enabled, with EKS
    listed_regions: int  # DescribeRegions' regions with EKS, enabled or not
    clusters: dict[tuple[str, str], list[str]]  # (account, region) -> names
    setup: dict[str, float]  # phase -> seconds

    def arns(self) -> set[str]:
        return {
            f"arn:aws:eks:{region}:{account}:cluster/{name}"
            for (account, region), names in self.clusters.items()
            for name in names
        }

    @property
    def pairs(self) -> int:
        return len(self.accounts) * len(self.regions)

    @property
    def count(self) -> int:
        return sum(len(names) for names in self.clusters.values())


@dataclass(frozen=True)
class Run:
    """One kcm sync: the process's wall clock and CPU, what its JSON says, what it wrote."""

    key: str
    label: str
    seconds: float
    cpu: float
    moto_cpu: float | None
    bench_cpu: float  # this process's CPU meanwhile: the Resource Explorer stand-in's answers
    rss_kb: int | None
    requests: int  # HTTP requests moto_server answered meanwhile
    calls: dict[str, int]
    expected: int  # clusters in the organisation at the time
    found: int  # of those, contexts written
    others: int  # contexts for clusters not in the organisation
    notes: tuple[str, ...]
    config: Path
    scanned: int  # account-regions seen in full (listed, or covered by the index)
    skipped: int | None  # account-regions skipped as known empty (None: a kcm that reports none)

    def eks(self) -> int:
        return sum(n for name, n in self.calls.items() if name.startswith("eks:"))

    def call(self, name: str) -> int:
        return self.calls.get(name, 0)


# ---- the organisation ----------------------------------------------------------------------------------


_THREAD = threading.local()


def _client(url: str, service: str, region: str = HOME_REGION, keys: Mapping[str, str] = KEYS) -> Any:
    """A client of this thread's session (a session is not thread-safe, and costs ~0.1 s to make)."""
    if not hasattr(_THREAD, "session"):
        _THREAD.session = boto3.session.Session()
    return _THREAD.session.client(service, endpoint_url=url, region_name=region, **keys)


def role_keys(url: str, account: str) -> dict[str, str]:
    """Credentials acting in `account`, as kcm reaches it: sts:AssumeRole from the management keys."""
    role = f"arn:aws:iam::{account}:role/{ROLE}"
    found = _client(url, "sts").assume_role(RoleArn=role, RoleSessionName="bench")["Credentials"]
    return {
        "aws_access_key_id": found["AccessKeyId"],
        "aws_secret_access_key": found["SecretAccessKey"],
        "aws_session_token": found["SessionToken"],
    }


def in_account(url: str, account: str, service: str, region: str) -> Any:
    return _client(url, service, region, role_keys(url, account))


def _accounts(url: str, members: int) -> list[str]:
    _client(url, "organizations").create_organization(FeatureSet="ALL")

    def create(worker: int) -> list[str]:
        client = _client(url, "organizations")
        return [
            client.create_account(Email=f"acct-{index:04d}@example.com", AccountName=f"acct-{index:04d}")[
                "CreateAccountStatus"
            ]["AccountId"]
            for index in range(worker, members, SETUP_WORKERS)
        ]

    with ThreadPoolExecutor(SETUP_WORKERS) as pool:
        return sorted(account for made in pool.map(create, range(SETUP_WORKERS)) for account in made)


def _regions(url: str) -> tuple[list[str], int]:
    """The regions of moto's DescribeRegions that have EKS and are enabled (as sync_bench.Setup.regions);
    and how many have EKS at all."""
    with_eks = set(boto3.session.Session().get_available_regions("eks"))
    found = [
        item for item in _client(url, "ec2").describe_regions()["Regions"] if item["RegionName"] in with_eks
    ]
    return sorted(item["RegionName"] for item in found if item.get("OptInStatus") in ENABLED), len(found)


def create_clusters(url: str, account: str, clusters: Mapping[str, list[str]]) -> None:
    """Clusters in one account: region -> names."""
    keys = role_keys(url, account)
    for region, names in clusters.items():
        eks = _client(url, "eks", region, keys)
        for name in names:
            made = eks.create_cluster(
                name=name, roleArn=f"arn:aws:iam::{MANAGEMENT}:role/eks", resourcesVpcConfig={"subnetIds": []}
            )
            if made["cluster"]["arn"] != f"arn:aws:eks:{region}:{account}:cluster/{name}":
                raise BenchError(f"moto made {made['cluster']['arn']}")


def organise(url: str, size: Size) -> Org:
    """The organisation made real in moto, each phase in a thread pool where it can be; timed."""
    setup: dict[str, float] = {}
    start = time.perf_counter()
    members = _accounts(url, size.accounts)
    setup["accounts"] = time.perf_counter() - start
    start = time.perf_counter()
    regions, listed = _regions(url)
    pairs = [(account, region) for account in members for region in regions]
    occupied = sorted(random.Random(SEED).sample(pairs, size.occupied))  # noqa: S311 (not a secret)
    clusters = {
        pair: [f"team-{index:02d}-{k}" for k in range(CLUSTERS_PER_PAIR[index % len(CLUSTERS_PER_PAIR)])]
        for index, pair in enumerate(occupied)
    }
    by_account: dict[str, dict[str, list[str]]] = {}
    for (account, region), names in clusters.items():
        by_account.setdefault(account, {})[region] = names
    with ThreadPoolExecutor(SETUP_WORKERS) as pool:
        list(pool.map(lambda item: create_clusters(url, *item), by_account.items()))
    setup["clusters"] = time.perf_counter() - start
    org = Org(url, [MANAGEMENT, *members], regions, listed, clusters, setup)
    log(
        f"scale: {len(members)} accounts in {setup['accounts']:.1f} s, {org.count} clusters in "
        f"{len(clusters)} of {org.pairs} account-regions in {setup['clusters']:.1f} s"
    )
    return org


# ---- running kcm sync ----------------------------------------------------------------------------------


@dataclass
class Bench:
    kcm: str
    org: Org
    env: dict[str, str]
    work: Path
    moto: MotoLog
    runs: dict[str, Run] = field(default_factory=dict)

    def sync(self, key: str, label: str, cache: str, *extra: str, org_role: bool = True) -> Run:
        """`kcm sync` into a fresh file, with the cache folder `cache` (kept between runs that name it)."""
        config = self.work / f"{key}.yaml"
        argv = [self.kcm, "sync", "--kubeconfig", str(config), "-o", "json", *extra]
        if org_role:
            argv[2:2] = ["--org-role", ROLE]
        env = {**self.env, "KCM_CACHE_DIR": str(self.work / "cache" / cache)}
        before, cpu_before, own = self.moto.count(), moto_cpu_seconds(self.org.url), time.process_time()
        finished = run_measured(argv, env, self.work)
        own, cpu_after = time.process_time() - own, moto_cpu_seconds(self.org.url)
        try:
            data = json.loads(finished.stdout)
        except ValueError as exc:
            raise BenchError(f"{label}: -o json printed no JSON ({exc})") from None
        if data["failures"]:
            raise BenchError(f"{label}: failures {data['failures'][:3]}")
        arns = {item["cluster_arn"] for item in data["contexts"]}
        expected = self.org.arns() if org_role else set()
        run = Run(
            key=key,
            label=label,
            seconds=finished.seconds,
            cpu=finished.cpu_seconds,
            moto_cpu=cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None,
            bench_cpu=own,
            rss_kb=finished.max_rss_kb,
            requests=self.moto.count() - before,
            calls=dict(data["api_calls"]),
            expected=len(expected),
            found=len(arns & expected),
            others=len(arns - expected),
            notes=tuple(data["notes"]),
            config=config,
            scanned=int(data["regions_scanned"]),
            skipped=int(data["regions_skipped"]) if "regions_skipped" in data else None,
        )
        log(f"scale: {label}: {run.seconds:.1f} s, {sum(run.calls.values())} calls {run.calls}")
        self.runs[key] = run
        return run


@contextmanager
def explorer_for(org: Org) -> Iterator[Explorer]:
    """The stand-in, set up as AWS's multi-account Quick Setup leaves Resource Explorer: an index in every
    account and enabled region, the aggregator in the management account's home region, a default view
    of the organisation. Its Search reads every cluster of moto in one request."""
    indexes = {(account, region) for account in org.accounts for region in org.regions}
    with resource_explorer(
        lambda account, service, region: in_account(org.url, account, service, region),
        MANAGEMENT,
        HOME_REGION,
        indexes,
        everywhere=lambda: every_eks_cluster(org.url),
    ) as state:
        state.page = 1000  # AWS's own page sizes, not the stand-in's test default of 2
        yield state


def same_kubeconfig(one: Path, other: Path) -> tuple[bool, bool]:
    """Whether the two files hold the same context names, and the same data (PyYAML)."""
    first, second = (yaml.safe_load(path.read_text(encoding="utf-8")) or {} for path in (one, other))

    def names(data: dict[str, Any]) -> set[str]:
        return {context["name"] for context in data.get("contexts") or []}

    return names(first) == names(second), first == second


def run_steps(bench: Bench) -> tuple[Explorer, str, tuple[bool, bool], tuple[bool, bool]]:
    """Steps 1-4 and the calibration runs; the stand-in's state, the new cluster's ARN, and how the
    resource-explorer kubeconfigs compare with step 3's."""
    org = bench.org
    bench.sync("first", "1. first sync (empty cache)", "list")
    bench.sync("second", "2. second sync (warm cache)", "list")
    account, region = min(org.clusters)  # an occupied account-region
    create_clusters(org.url, account, {region: ["new-0"]})
    org.clusters[account, region].append("new-0")
    new_arn = f"arn:aws:eks:{region}:{account}:cluster/new-0"
    bench.sync("new", "3. after one new cluster in an occupied account-region", "list")
    with explorer_for(org) as explorer:
        bench.env["AWS_ENDPOINT_URL_RESOURCE_EXPLORER_2"] = explorer.url
        try:
            bench.sync("re-first", "4a. `--discovery resource-explorer`, first sync", "explorer", *_RE)
            bench.sync("re-second", "4b. `--discovery resource-explorer`, second sync", "explorer", *_RE)
        finally:
            del bench.env["AWS_ENDPOINT_URL_RESOURCE_EXPLORER_2"]
    first = same_kubeconfig(bench.runs["new"].config, bench.runs["re-first"].config)
    second = same_kubeconfig(bench.runs["new"].config, bench.runs["re-second"].config)
    few = sorted(
        org.regions, key=lambda r: (sum(len(n) for (_, r2), n in org.clusters.items() if r2 == r), r)
    )
    one = ["--region", few[0]]
    four = [arg for r in few[:CALIBRATION_REGIONS] for arg in ("--region", r)]
    bench.sync("k-own", f"management account alone, `--region {few[0]}`", "k-own", *one, org_role=False)
    bench.sync("k-one", f"`--region {few[0]}`", "k-one", *one)
    bench.sync("k-four", f"`--region` x{CALIBRATION_REGIONS}", "k-four", *four)
    return explorer, new_arn, first, second


_RE = ("--discovery", "resource-explorer")


# ---- per-call costs and the extrapolation --------------------------------------------------------------


@dataclass(frozen=True)
class Costs:
    """Milliseconds of kcm's wall clock (and CPU) per call, at kcm's default concurrency, from the
    calibration runs; ListAccounts' pages (sequential) timed by the bench's own client."""

    fixed_s: float  # a sync of the management account alone: start, one identity, one listing, the write
    fixed_cpu_s: float
    eks_ms: float
    eks_cpu_ms: float
    assume_ms: float
    assume_cpu_ms: float
    page_ms: float  # one ListAccounts page, one after the other
    pages: int


def list_accounts_ms(url: str) -> tuple[float, int]:
    """Median ms of one ListAccounts page (each waits for the previous token), and the pages."""
    client, seconds, token = _client(url, "organizations"), [], ""
    while True:
        start = time.perf_counter()
        page = client.list_accounts(**({"NextToken": token} if token else {}))
        seconds.append(time.perf_counter() - start)
        token = page.get("NextToken", "")
        if not token:
            return statistics.median(seconds) * 1000, len(seconds)


def costs(runs: Mapping[str, Run], url: str) -> Costs:
    own, one, four = runs["k-own"], runs["k-one"], runs["k-four"]
    page_ms, pages = list_accounts_ms(url)
    more = four.eks() - one.eks()
    eks_ms, eks_cpu_ms = (four.seconds - one.seconds) / more * 1000, (four.cpu - one.cpu) / more * 1000
    assumed = one.call("sts:AssumeRole")
    rest = one.eks() - own.eks()
    seconds = one.seconds - own.seconds - rest * eks_ms / 1000 - pages * page_ms / 1000
    cpu = one.cpu - own.cpu - rest * eks_cpu_ms / 1000
    return Costs(
        fixed_s=own.seconds,
        fixed_cpu_s=own.cpu,
        eks_ms=eks_ms,
        eks_cpu_ms=eks_cpu_ms,
        assume_ms=seconds / assumed * 1000,
        assume_cpu_ms=cpu / assumed * 1000,
        page_ms=page_ms,
        pages=one.call("organizations:ListAccounts"),
    )


def scaled_calls(run: Run, accounts: int, target: int) -> dict[str, int]:
    """The run's calls for `target` accounts instead of `accounts`, with as many regions and the same
    share of account-regions occupied: every call grows with the accounts except the one identity and
    the index's ListIndexes and GetView; Search pages grow with the clusters (1,000 a page), and
    ListAccounts' pages are AWS's (20 accounts a page; moto's hold 100)."""
    calls, factor = {}, target / accounts
    for name, n in run.calls.items():
        if name in CONSTANT:
            calls[name] = n
        elif name == "resource-explorer-2:Search":
            calls[name] = max(n, math.ceil(run.expected * factor / 1000))
        elif name == "organizations:ListAccounts":
            calls[name] = math.ceil(target / AWS_ACCOUNTS_PAGE)
        else:
            calls[name] = math.ceil(n * factor)
    return calls


def priced(calls: Mapping[str, int], cost: Costs) -> tuple[float, float]:
    """Seconds of kcm's wall clock and of its CPU for these calls at the measured per-call costs (calls
    other than AssumeRole and ListAccounts at an EKS call's); the fixed cost not included."""
    pages = calls.get("organizations:ListAccounts", 0)
    assumed = calls.get("sts:AssumeRole", 0)
    other = sum(calls.values()) - pages - assumed
    wall = (pages * cost.page_ms + assumed * cost.assume_ms + other * cost.eks_ms) / 1000
    cpu = (assumed * cost.assume_cpu_ms + (other + pages) * cost.eks_cpu_ms) / 1000
    return wall, cpu


def waiting(calls: Mapping[str, int], concurrency: int = 16) -> float:
    """Seconds spent waiting for a round trip of ASSUMED_LATENCY_MS: `concurrency` calls in flight,
    ListAccounts' pages one after the other."""
    pages = calls.get("organizations:ListAccounts", 0)
    return (pages + (sum(calls.values()) - pages) / concurrency) * ASSUMED_LATENCY_MS / 1000


# ---- the report ----------------------------------------------------------------------------------------


def _met(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def _same(result: tuple[bool, bool]) -> str:
    names, data = result
    if data:
        return "the same contexts, and the same data (PyYAML)"
    return "the same contexts, other data" if names else "**other contexts**"


def _row(run: Run) -> str:
    moto_cpu = f"{run.moto_cpu:.1f}" if run.moto_cpu is not None else "-"
    rss = f"{run.rss_kb / 1024:.0f} MiB" if run.rss_kb else "-"
    extra = f" (+{run.others} others)" if run.others else ""
    skipped = f"{run.skipped:,}" if run.skipped is not None else "-"
    return (
        f"| {run.label} | {run.seconds:.1f} | {run.cpu:.1f} | {moto_cpu} | {run.bench_cpu:.1f} | {rss} "
        f"| {run.scanned:,} | {skipped} "
        f"| {run.requests:,} | {sum(run.calls.values()):,} | {run.eks():,} "
        f"| {run.found} of {run.expected}{extra} |"
    )


def goals(runs: Mapping[str, Run], new_arn: str, compared: tuple[tuple[bool, bool], ...]) -> list[str]:
    first, second, new = runs["first"], runs["second"], runs["new"]
    data = yaml.safe_load(new.config.read_text(encoding="utf-8")) or {}
    new_found = new_arn in {context["context"]["cluster"] for context in data.get("contexts") or []}
    share = second.eks() / first.eks() if first.eks() else 1.0
    speedup = first.seconds / second.seconds
    unchanged = second.call("eks:DescribeCluster")
    return [
        "Goals (issue 20), from rows 1-3:",
        "",
        f"- second sync's EKS calls <= {GOAL_CALLS:.0%} of the first's: {_met(share <= GOAL_CALLS)} "
        f"(measured {second.eks():,} of {first.eks():,}, {share:.1%}).",
        f"- no DescribeCluster for unchanged clusters: {_met(unchanged == 0)} (the second sync made "
        f"{unchanged} for {second.expected} clusters none of which changed).",
        f"- second sync >= {GOAL_SPEEDUP:.0f}x faster than the first: {_met(speedup >= GOAL_SPEEDUP)} "
        f"(measured {speedup:.1f}x: {second.seconds:.1f} s vs {first.seconds:.1f} s).",
        f"- the new cluster appears: {_met(new_found)} (`{new_arn}` {'is' if new_found else 'is not'} "
        f"in row 3's kubeconfig; row 3 made {new.call('eks:DescribeCluster')} DescribeCluster).",
        f"- `--discovery resource-explorer` writes what the listing writes (against row 3's kubeconfig): "
        f"first sync {_same(compared[0])}; second sync {_same(compared[1])}.",
    ]


def section(
    bench: Bench,
    explorer: Explorer,
    new_arn: str,
    compared: tuple[tuple[bool, bool], ...],
    cost: Costs,
    size: Size,
    minutes: float,
    about: list[str],
) -> str:
    org, runs = bench.org, bench.runs
    steps = [runs[key] for key in ("first", "second", "new", "re-first", "re-second")]
    calibration = [runs[key] for key in ("k-own", "k-one", "k-four")]
    kinds = sorted({name for run in steps for name in run.calls})
    first = runs["first"]
    first_moto = f"{first.moto_cpu / first.seconds:.0%}" if first.moto_cpu is not None else "(not measured)"
    notes = [note for run in steps[3:] for note in run.notes if note.startswith("--discovery")]
    lines = [
        f"## kcm sync of {size.accounts:,} accounts x every enabled region (issue 20)",
        "",
        *about,
        "",
        *_para(
            f"An organisation in moto: the management account ({MANAGEMENT}, the bench's keys) and",
            f"{size.accounts:,} member accounts (Organizations CreateAccount, {SETUP_WORKERS} threads:",
            f"{org.setup['accounts']:.1f} s). moto's DescribeRegions lists {org.listed_regions} regions with",
            f"EKS, {len(org.regions)} of them enabled, so kcm scans {org.pairs:,} account-regions.",
            f"Clusters in {size.occupied} account-regions chosen at random (seed {SEED}) among the members',",
            f"{'/'.join(map(str, CLUSTERS_PER_PAIR))} each: {first.expected} clusters (created through",
            f"AssumeRole, {SETUP_WORKERS} threads: {org.setup['clusters']:.1f} s); row 3 adds one more",
            "(`new-0`) to an account-region that has some. Every run is",
            f"`kcm sync --org-role {ROLE} --kubeconfig <a fresh file> -o json`, kcm's default",
            "concurrency (16), one run per row; the cache folder (KCM_CACHE_DIR) is empty for rows 1 and",
            "4a and kept from the row before for the others. Resource Explorer is the stand-in of",
            "tests/resource_explorer.py, in the bench's process (its CPU is the bench CPU column), with",
            "an index in every account-region and a default view of the organisation; its Search reads",
            "moto's clusters in one request.",
            f"Reproduce: `.venv/bin/python bench/run.py scale` (it took {minutes:.0f} minutes here).",
        ),
        "",
        "| step | wall s | kcm CPU s | moto CPU s | bench CPU s | peak RSS | account-regions scanned "
        "| skipped as known empty | HTTP requests to moto | API calls | EKS calls | clusters written |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *(_row(run) for run in steps),
        "",
        "API calls of each kind (`api_calls`; retries not included), per row:",
        "",
        "| operation | " + " | ".join(run.label.split(".")[0] for run in steps) + " |",
        "|---|" + "---:|" * len(steps),
        *(f"| {name} | " + " | ".join(f"{run.call(name):,}" for run in steps) + " |" for name in kinds),
        "",
        *goals(runs, new_arn, compared),
        "",
        *_para(
            f"In row 1, moto_server's CPU is {first_moto} of the wall clock and kcm's",
            f"{first.cpu / first.seconds:.0%}: the embedded AWS, one Python process, sets the pace of a",
            "long run here. The stand-in answered",
            f"{len(explorer.calls):,} requests over rows 4a and 4b.",
            f'kcm\'s note in row 4a: "{notes[0]}".' if notes else "",
        ),
        "",
        "### Per-call costs",
        "",
        *_para(
            "From three more runs, each into an empty cache folder (everything listed, nothing cached):",
            "the management account alone (no `--org-role`) with one `--region`, the organisation with",
            f"that `--region`, and with {CALIBRATION_REGIONS} (the regions with the fewest clusters).",
            "Per EKS call: the wall clock (and kcm CPU) the four-region run adds, over the EKS calls it",
            "adds. Per AssumeRole: what the one-region run adds to the management account's, less its",
            "EKS calls at that cost and ListAccounts' pages at what one takes, one after the other, from",
            "the bench's own client.",
        ),
        "",
        "| run | wall s | kcm CPU s | calls |",
        "|---|---:|---:|---|",
        *(
            f"| {run.label} | {run.seconds:.2f} | {run.cpu:.2f} | "
            + ", ".join(f"{name} {n:,}" for name, n in sorted(run.calls.items()))
            + " |"
            for run in calibration
        ),
        "",
        "| cost | ms of kcm wall clock | ms of kcm CPU |",
        "|---|---:|---:|",
        f"| one EKS call (ListClusters, DescribeCluster), 16 in flight | {cost.eks_ms:.2f} "
        f"| {cost.eks_cpu_ms:.2f} |",
        f"| one sts:AssumeRole, 16 in flight | {cost.assume_ms:.2f} | {cost.assume_cpu_ms:.2f} |",
        f"| one organizations:ListAccounts page, one after the other ({cost.pages} pages of moto's for "
        f"{len(org.accounts):,} accounts) | {cost.page_ms:.2f} | - |",
        "| a sync's fixed cost (start, identity, write): the management account alone "
        f"| {cost.fixed_s * 1000:.0f} | {cost.fixed_cpu_s * 1000:.0f} |",
        "",
        *extrapolation(steps, cost, len(org.accounts), len(org.regions)),
    ]
    return "\n".join(lines) + "\n"


def extrapolation(steps: list[Run], cost: Costs, accounts: int, regions: int) -> list[str]:
    factor = TARGET_ACCOUNTS / accounts
    lines = [
        f"### Extrapolated to {TARGET_ACCOUNTS:,} accounts",
        "",
        *_para(
            f"Each row's calls for {TARGET_ACCOUNTS:,} accounts instead of {accounts:,} (the same {regions}",
            "regions, the same share of account-regions occupied): every kind x",
            f"{factor:.2f} but the one identity, ListIndexes and GetView (one each), Search (a page per",
            f"1,000 clusters) and ListAccounts (AWS's pages of {AWS_ACCOUNTS_PAGE} accounts, one after the",
            "other). Priced at the per-call costs above, plus the fixed cost, plus the rest of the",
            f"measured row x {factor:.2f} (what its calls at those costs do not explain: reading and",
            "writing what sync remembers, one file per account, planning and writing the kubeconfig;",
            "the `rest` columns). Wall clock at this machine's costs (the embedded AWS on 2 cores);",
            "kcm's CPU, a floor wherever AWS is, since kcm is one process whose threads share one",
            "core's worth of Python; and the waiting alone for a round trip of",
            f"{ASSUMED_LATENCY_MS} ms, 16 calls in flight (an assumed latency, not a measurement: real",
            "AWS's is tens of ms, the embedded AWS's a fraction of one). Not modelled at all: throttling",
            "(STS and Organizations quotas; botocore's adaptive retry slows kcm down instead of",
            "failing).",
        ),
        "",
        "| step | calls | of them EKS | AssumeRole | ListAccounts pages | rest s (measured) "
        "| s at this machine's costs | rest CPU s | kcm CPU floor, s "
        f"| waiting at {ASSUMED_LATENCY_MS} ms, s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in steps:
        wall, cpu = priced(run.calls, cost)
        rest, rest_cpu = run.seconds - cost.fixed_s - wall, run.cpu - cost.fixed_cpu_s - cpu
        calls = scaled_calls(run, accounts, TARGET_ACCOUNTS)
        wall, cpu = priced(calls, cost)
        here = cost.fixed_s + wall + max(rest, 0.0) * factor
        floor = cost.fixed_cpu_s + cpu + max(rest_cpu, 0.0) * factor
        eks = sum(n for name, n in calls.items() if name.startswith("eks:"))
        lines.append(
            f"| {run.label} | {sum(calls.values()):,} | {eks:,} | {calls.get('sts:AssumeRole', 0):,} "
            f"| {calls.get('organizations:ListAccounts', 0):,} | {rest:.1f} | {here:.0f} | {rest_cpu:.1f} "
            f"| {floor:.0f} | {waiting(calls):.0f} |"
        )
    return lines


def run(work: Path, kcm: str, aws: str, size: Size = FULL) -> str:
    started, load = time.perf_counter(), os.getloadavg()[0]
    work.mkdir(parents=True, exist_ok=True)
    log_path = work / "moto.log"
    # moto loads ~1,300 default AMIs into every account's EC2 (0.15 s of its CPU each, at kcm's first
    # DescribeRegions there); kcm never reads them, AWS has no such cost
    with embedded_aws(log=log_path, quick_eks=True, settings={"MOTO_EC2_LOAD_DEFAULT_AMIS": "false"}) as url:
        home = work / "home"
        env = moto_env(home, url, HOME_REGION)
        about = machine(None, aws, kcm, {**clean_env(work / "about"), "AWS_ENDPOINT_URL": url}, work)
        with process_env(env):
            org = organise(url, size)
            bench = Bench(kcm, org, env, work, MotoLog(log_path))
            explorer, new_arn, first, second = run_steps(bench)
            cost = costs(bench.runs, url)
    minutes = (time.perf_counter() - started) / 60
    about.append(f"- Load average (1 min) at the start and at the end: {load:.1f}, {os.getloadavg()[0]:.1f}")
    return section(bench, explorer, new_arn, (first, second), cost, size, minutes, about)


if __name__ == "__main__":
    import tempfile

    from common import executable

    chosen = QUICK if "--quick" in sys.argv[1:] else FULL
    bin_ = Path(sys.executable).parent
    with tempfile.TemporaryDirectory(prefix="kcm-scale-") as temp:
        try:
            print(run(Path(temp) / "scale", executable("kcm", bin_), executable("aws", bin_), chosen))
        except BenchError as exc:
            log(str(exc))
            sys.exit(1)
