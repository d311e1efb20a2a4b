"""The `sync` part of `make bench` (`.venv/bin/python bench/run.py sync` alone): kcm sync, timed.

1. sync vs the aws loop: 24 clusters in 2 accounts and 3 regions. The reference is the loop users run
   today, `aws eks update-kubeconfig --name N --region R --profile P` once per cluster; against it one
   `kcm sync --all-accounts`, with its regions cache cold (first run) and warm (every day after), and
   with `--region` naming the 3 regions. The two kubeconfigs are compared cluster by cluster. Two
   setups, each measured in its own rounds with its own loop: the one described below (3 accounts
   reached: the two profiles' and `base`'s), and the issue's literal one, exactly 2 accounts: `team-a`
   holds the static keys itself (moto's default account, its clusters there) and `team-b` assumes
   `Admin` in its account with `source_profile = team-a`; there also `--concurrency 8`, warm.
2. sync at organisation scale: 500 clusters in 50 accounts x 4 regions, 50 profiles: wall clock, the
   child's peak RSS, and the API calls kcm reports (`-o json`) against the minimum.

Accounts are reached as users reach theirs: one profile per account that assumes `Admin` there
(`role_arn`, `source_profile = base`), the `base` keys in the credentials file. moto acts in account X
for credentials from sts:AssumeRole on a role of X; the clusters are created that way too. The `base`
keys themselves act in moto's default account, which holds no cluster here: `--all-accounts` scans it as
it would a real base account. Wall clock and peak RSS are those of the real CLI process (wait4).
"""

from __future__ import annotations

import json
import re
import shutil
import statistics
import textwrap
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import yaml
from common import BenchError, Finished, clean_env, gnu_time, log, machine, process_env, run_measured
from embedded_aws import embedded_aws, reset

ADMIN = "Admin"
HOME_REGION = "us-east-1"
DEFAULT_ACCOUNT = "123456789012"  # moto's: the account static keys act in
BASE_KEY = "base"  # the access key and secret of every profile with static keys: moto's default account
EKS_ROLE_ARN = f"arn:aws:iam::{DEFAULT_ACCOUNT}:role/eks"
SETUP_WORKERS = 8

LOOP_ACCOUNTS = (("team-a", "111111111111"), ("team-b", "222222222222"))
LOOP_REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")
LOOP_PER_ACCOUNT = 12
LOOP_ROUNDS = 5
LITERAL_CONCURRENCY = 8  # the --concurrency of the literal scenario's extra row (kcm's default: 16)
TARGET_SPEEDUP = 15.0

ORG_ACCOUNTS = 50
ORG_FIRST_ACCOUNT = 300000000000
ORG_REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2")
ORG_CLUSTERS = 500
ORG_ROUNDS = 3

PROBE_CALLS = 50
ENABLED = ("opt-in-not-required", "opted-in")  # DescribeRegions' OptInStatus of a region in use
_REQUEST = re.compile(r'"[A-Z]+ \S+ HTTP/1\.[01]" \d{3}')  # one werkzeug access-log line of moto_server


@dataclass(frozen=True)
class Account:
    profile: str
    id: str
    source: str | None = "base"  # the profile whose keys assume `Admin` here; None: it holds the keys

    @property
    def role_arn(self) -> str:
        return f"arn:aws:iam::{self.id}:role/{ADMIN}"


@dataclass(frozen=True)
class Cluster:
    name: str
    region: str
    account: Account

    @property
    def arn(self) -> str:
        return f"arn:aws:eks:{self.region}:{self.account.id}:cluster/{self.name}"


@dataclass(frozen=True)
class Variant:
    """One way to run kcm sync: its regions cache emptied first (cold) or kept (warm), or --region."""

    key: str
    label: str
    cold: bool = False
    regions: tuple[str, ...] = ()
    concurrency: int | None = None  # --concurrency; None: kcm's default

    def argv(self, kcm: str, config: Path, as_json: bool) -> list[str]:
        argv = [kcm, "sync", "--all-accounts", "--kubeconfig", str(config)]
        for region in self.regions:
            argv += ["--region", region]
        if self.concurrency is not None:
            argv += ["--concurrency", str(self.concurrency)]
        return [*argv, "-o", "json"] if as_json else argv


@dataclass
class Timed:
    """Every timed run of one command: wall clock, CPU time and peak RSS of the child, moto requests."""

    seconds: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    rss_kb: list[int] = field(default_factory=list)
    requests: list[int] = field(default_factory=list)

    def add(self, seconds: float, cpu: float, rss_kb: int | None, requests: int) -> None:
        self.seconds.append(seconds)
        self.cpu.append(cpu)
        if rss_kb is not None:
            self.rss_kb.append(rss_kb)
        self.requests.append(requests)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def spread(self) -> str:
        return f"{min(self.seconds):.2f} - {max(self.seconds):.2f}"

    @property
    def peak_mb(self) -> str:
        return f"{max(self.rss_kb) / 1024:.0f} MiB" if self.rss_kb else "-"

    @property
    def median_cpu(self) -> str:
        return f"{statistics.median(self.cpu):.2f}" if self.cpu else "-"

    @property
    def request_count(self) -> str:
        return "/".join(str(n) for n in sorted(set(self.requests)))


@dataclass(frozen=True)
class Regions:
    listed: list[str]  # by moto's DescribeRegions, with EKS
    enabled: list[str]  # of those, the ones an account has enabled


@dataclass(frozen=True)
class Report:
    """What a kcm sync -o json run says about itself."""

    calls: dict[str, int]
    regions_scanned: int
    accounts: int


class MotoLog:
    """Requests moto_server has answered so far: the lines of its access log."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def count(self) -> int:
        with self.path.open(encoding="utf-8", errors="replace") as lines:
            return sum(1 for line in lines if _REQUEST.search(line))


class Setup:
    """One benchmark's AWS: a HOME with the profiles, the clusters in moto, the environment of each run."""

    def __init__(self, url: str, home: Path, accounts: list[Account], clusters: list[Cluster]) -> None:
        self.url = url
        self.home = home
        self.accounts = accounts
        self.clusters = clusters
        self.env = {**clean_env(home), "AWS_ENDPOINT_URL": url}
        # $XDG_CACHE_HOME/kcm/aws: regions, and since issue 20 listings and descriptions (kcm.awscache)
        self.regions_cache = home / "cache" / "kcm" / "aws"

    @property
    def key_profiles(self) -> list[str]:
        """Profiles with static keys (credentials file): accounts' own, then source profiles (`base`)."""
        own = [account.profile for account in self.accounts if account.source is None]
        sources = {account.source for account in self.accounts if account.source}
        return own + sorted(name for name in sources if name not in own)

    @property
    def profiles(self) -> int:
        """Profiles `--all-accounts` takes: one per account, and `base` (static keys) when there is one."""
        return len({account.profile for account in self.accounts} | set(self.key_profiles))

    def write_profiles(self) -> None:
        folder = self.home / ".aws"
        folder.mkdir(parents=True)
        # cli_follow_urlparam: AWS CLI v1 would otherwise fetch http:// parameter values as URLs
        config = f"[default]\nregion = {HOME_REGION}\ncli_follow_urlparam = false\n"
        for account in self.accounts:
            config += f"\n[profile {account.profile}]\n"
            if account.source:
                config += f"role_arn = {account.role_arn}\nsource_profile = {account.source}\n"
            config += f"region = {HOME_REGION}\n"
        (folder / "config").write_text(config, encoding="utf-8")
        credentials = "\n".join(
            f"[{name}]\naws_access_key_id = {BASE_KEY}\naws_secret_access_key = {BASE_KEY}\n"
            for name in self.key_profiles
        )
        (folder / "credentials").write_text(credentials, encoding="utf-8")

    def _client(self, session: boto3.session.Session, service: str, region: str, **keys: str) -> Any:
        return session.client(service, endpoint_url=self.url, region_name=region, **keys)

    def _base(self, session: boto3.session.Session, service: str, region: str = HOME_REGION) -> Any:
        return self._client(
            session, service, region, aws_access_key_id=BASE_KEY, aws_secret_access_key=BASE_KEY
        )

    def create_clusters(self) -> float:
        """Every cluster in its account and region, accounts in a thread pool; the seconds it took."""
        start = time.perf_counter()
        by_account: dict[Account, list[Cluster]] = {}
        for cluster in self.clusters:
            by_account.setdefault(cluster.account, []).append(cluster)

        def create(account: Account) -> None:
            session = boto3.session.Session()  # one per thread: sessions are not thread-safe
            keys = {"aws_access_key_id": BASE_KEY, "aws_secret_access_key": BASE_KEY}  # its own: no role
            if account.source:
                sts = self._base(session, "sts")
                found = sts.assume_role(RoleArn=account.role_arn, RoleSessionName="bench")["Credentials"]
                keys = {
                    "aws_access_key_id": found["AccessKeyId"],
                    "aws_secret_access_key": found["SecretAccessKey"],
                    "aws_session_token": found["SessionToken"],
                }
            clients: dict[str, Any] = {}
            for cluster in by_account[account]:
                if cluster.region not in clients:
                    clients[cluster.region] = self._client(session, "eks", cluster.region, **keys)
                made = clients[cluster.region].create_cluster(
                    name=cluster.name, roleArn=EKS_ROLE_ARN, resourcesVpcConfig={"subnetIds": []}
                )
                if made["cluster"]["arn"] != cluster.arn:
                    raise BenchError(f"moto made {made['cluster']['arn']}, not {cluster.arn}")

        with process_env(self.env), ThreadPoolExecutor(max_workers=SETUP_WORKERS) as pool:
            list(pool.map(create, by_account))
        return time.perf_counter() - start

    def regions(self) -> Regions:
        """The regions of moto's DescribeRegions that have EKS, and those of them enabled for an account.

        AWS lists only enabled regions unless asked for AllRegions; moto lists every region, each with its
        OptInStatus. Enabled: `opt-in-not-required` or `opted-in`. A sync of every region lists those.
        """
        with process_env(self.env):
            session = boto3.session.Session()
            with_eks = set(session.get_available_regions("eks"))
            found = self._base(session, "ec2").describe_regions()["Regions"]
            listed = sorted(item["RegionName"] for item in found if item["RegionName"] in with_eks)
            enabled = [
                item["RegionName"]
                for item in found
                if item["RegionName"] in with_eks and item.get("OptInStatus") in ENABLED
            ]
            return Regions(listed, sorted(enabled))

    def probe(self) -> tuple[float, float]:
        """Milliseconds, in this process: to create one eks client, one ListClusters round trip to moto."""
        with process_env(self.env):
            session = boto3.session.Session()
            self._base(session, "eks")  # the service model and endpoint data loaded once, as in kcm
            start = time.perf_counter()
            clients = [self._base(session, "eks", HOME_REGION) for _ in range(PROBE_CALLS)]
            per_client = (time.perf_counter() - start) / PROBE_CALLS
            rounds = []
            for _ in range(PROBE_CALLS):
                start = time.perf_counter()
                clients[0].list_clusters()
                rounds.append(time.perf_counter() - start)
        return per_client * 1000, statistics.median(rounds) * 1000


# ---- running kcm sync --------------------------------------------------------------------------------


def run_sync(
    kcm: str, variant: Variant, setup: Setup, config: Path, moto: MotoLog, as_json: bool
) -> tuple[Finished, int]:
    """One kcm sync into `config` (which must not exist yet); the process and moto's requests for it."""
    if config.exists():
        raise BenchError(f"{config} exists: every run writes a fresh kubeconfig")
    if variant.cold:
        shutil.rmtree(setup.regions_cache, ignore_errors=True)
    elif not variant.regions and not any(setup.regions_cache.glob("*/*.json")):
        raise BenchError(f"{variant.label}: no regions cache in {setup.regions_cache} for a warm run")
    before = moto.count()
    finished = run_measured(variant.argv(kcm, config, as_json), setup.env, config.parent)
    return finished, moto.count() - before


def check_json(variant: Variant, finished: Finished, setup: Setup) -> Report:
    """The run wrote every cluster and nothing failed; what it says about its calls."""
    try:
        data = json.loads(finished.stdout)
    except ValueError as exc:
        raise BenchError(f"{variant.label}: -o json printed no JSON ({exc})") from None
    arns = {item["cluster_arn"] for item in data["contexts"]}
    expected = {cluster.arn for cluster in setup.clusters}
    if arns != expected or data["failures"] or not data["written"]:
        raise BenchError(
            f"{variant.label}: {len(arns & expected)}/{len(expected)} clusters, "
            f"{len(arns - expected)} others, written={data['written']}, failures={data['failures'][:3]}"
        )
    return Report(dict(data["api_calls"]), int(data["regions_scanned"]), int(data["accounts"]))


def kubeconfig_view(path: Path) -> dict[str, dict[str, Any]]:
    """Per cluster ARN (through each context): what both tools must agree on. Names and kcm's
    `extensions` differ by design and are left out."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    clusters = {entry["name"]: entry.get("cluster") or {} for entry in data.get("clusters") or []}
    users = {entry["name"]: entry.get("user") or {} for entry in data.get("users") or []}
    view: dict[str, dict[str, Any]] = {}
    for context in data.get("contexts") or []:
        body = context.get("context") or {}
        arn = str(body.get("cluster"))
        cluster, user = clusters.get(arn, {}), users.get(body.get("user"), {})
        exec_ = user.get("exec") or {}
        view[arn] = {
            "server": cluster.get("server"),
            "certificate-authority-data": cluster.get("certificate-authority-data"),
            "exec command": exec_.get("command"),
            "exec apiVersion": exec_.get("apiVersion"),
            "exec args": exec_.get("args"),
            "exec env": exec_.get("env"),
        }
    return view


def compare(aws_file: Path, kcm_file: Path, expected: set[str]) -> str:
    """'' when both files hold every expected cluster, each with the same facts; else the first difference."""
    theirs, ours = kubeconfig_view(aws_file), kubeconfig_view(kcm_file)
    for label, view in (("aws", theirs), ("kcm", ours)):
        if set(view) != expected:
            found = set(view)
            return (
                f"{label}: {len(found & expected)}/{len(expected)} clusters, {len(found - expected)} others"
            )
    for arn in sorted(expected):
        for key, value in theirs[arn].items():
            if ours[arn][key] != value:
                return f"{arn}: {key} is {ours[arn][key]!r} in kcm's file, {value!r} in the AWS CLI's"
    return ""


def cluster_arns(path: Path) -> set[str]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {entry["name"] for entry in data.get("clusters") or []}


# ---- 1. sync vs the aws loop -------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """One setup of benchmark 1: its profiles and accounts, the kcm rows timed against its own loop."""

    key: str  # its folder and log prefix
    accounts: tuple[Account, ...]
    reached: int  # accounts `--all-accounts` must reach (checked on every -o json run)
    variants: tuple[Variant, ...]
    empty: bool = False  # also time kcm sync with no profile at all (nothing to scan)


def _cold_warm(*extra: Variant) -> tuple[Variant, ...]:
    return (
        Variant("cold", "`kcm sync --all-accounts`, regions cache cold (first run)", cold=True),
        Variant("warm", "`kcm sync --all-accounts`, regions cache warm (every day)"),
        *extra,
    )


# The two profiles each assume Admin from `base`, whose keys act in moto's default account (no clusters).
VIA_BASE = Scenario(
    "loop",
    tuple(Account(profile, account) for profile, account in LOOP_ACCOUNTS),
    reached=len(LOOP_ACCOUNTS) + 1,
    variants=_cold_warm(
        Variant(
            "regions",
            f"`kcm sync --all-accounts --region` x{len(LOOP_REGIONS)} (the regions that hold clusters)",
            regions=LOOP_REGIONS,
        )
    ),
    empty=True,
)
# The issue's literal scenario: team-a holds the keys (moto's default account, its clusters there),
# team-b assumes Admin in 222222222222 from team-a. `--all-accounts` reaches exactly these 2 accounts.
LITERAL = Scenario(
    "literal",
    (
        Account(LOOP_ACCOUNTS[0][0], DEFAULT_ACCOUNT, source=None),
        Account(LOOP_ACCOUNTS[1][0], LOOP_ACCOUNTS[1][1], source=LOOP_ACCOUNTS[0][0]),
    ),
    reached=len(LOOP_ACCOUNTS),
    variants=_cold_warm(
        Variant(
            "warm-c8",
            f"`kcm sync --all-accounts --concurrency {LITERAL_CONCURRENCY}`, regions cache warm",
            concurrency=LITERAL_CONCURRENCY,
        )
    ),
)


@dataclass
class LoopResult:
    scenario: Scenario
    clusters: int
    accounts: int
    rounds: int
    variants: list[Variant]
    timed: dict[str, Timed]  # "aws", "empty" and the variants' keys
    reports: dict[str, Report]
    difference: str  # '' when the two kubeconfigs agree
    regions: Regions
    occupied: int  # account-regions that hold clusters
    client_ms: float
    list_ms: float


def loop_vs_sync(url: str, moto: MotoLog, aws: str, kcm: str, work: Path, scenario: Scenario) -> LoopResult:
    """One scenario on an empty moto: its clusters, then the loop and its kcm rows in turns."""
    tag = scenario.key
    folder = work / tag
    accounts = list(scenario.accounts)
    clusters = [
        Cluster(f"{account.profile}-{index:02d}", LOOP_REGIONS[index % len(LOOP_REGIONS)], account)
        for account in accounts
        for index in range(LOOP_PER_ACCOUNT)
    ]
    setup = Setup(url, folder / "home", accounts, clusters)
    setup.write_profiles()
    log(f"{tag}: {len(clusters)} clusters created in {setup.create_clusters():.1f} s")
    empty = Setup(url, folder / "empty-home", [], [])  # no profile: kcm sync's cost with nothing to scan
    (empty.home / ".aws").mkdir(parents=True)
    variants = list(scenario.variants)
    expected = {cluster.arn for cluster in clusters}

    def aws_argv(cluster: Cluster, config: Path) -> list[str]:
        return [
            aws,
            "eks",
            "update-kubeconfig",
            "--name",
            cluster.name,
            "--region",
            cluster.region,
            "--profile",
            cluster.account.profile,
            "--kubeconfig",
            str(config),
        ]

    # Untimed: one AWS CLI call per profile (its assume-role credentials cache, as on any working day);
    # one kcm sync -o json per variant, for the API calls it reports.
    for account in accounts:
        first = next(cluster for cluster in clusters if cluster.account == account)
        run_measured(aws_argv(first, folder / "warm-up-aws"), setup.env, folder)
    reports: dict[str, Report] = {}
    for variant in variants:
        finished, _ = run_sync(kcm, variant, setup, folder / f"warm-up-{variant.key}", moto, as_json=True)
        reports[variant.key] = check_json(variant, finished, setup)
        if reports[variant.key].accounts != scenario.reached:
            raise BenchError(
                f"{tag}: {variant.label} reached {reports[variant.key].accounts} accounts, "
                f"not {scenario.reached}"
            )
    log(f"{tag}: warmed up")

    timed = {key: Timed() for key in ("aws", *(["empty"] * scenario.empty), *(v.key for v in variants))}
    files: dict[str, Path] = {}

    def run_aws(round_: int) -> None:
        config = files["aws"] = folder / f"aws-{round_}"
        before, cpu, rss, start = moto.count(), 0.0, [], time.perf_counter()
        for cluster in clusters:
            finished = run_measured(aws_argv(cluster, config), setup.env, folder)
            cpu += finished.cpu_seconds
            rss += [finished.max_rss_kb] if finished.max_rss_kb is not None else []
        timed["aws"].add(time.perf_counter() - start, cpu, max(rss, default=None), moto.count() - before)
        if cluster_arns(config) != expected:
            raise BenchError(f"{tag}: aws loop: {config} lacks clusters after the loop")

    def run_variant(variant: Variant) -> Callable[[int], None]:
        def run(round_: int) -> None:
            config = files[variant.key] = folder / f"kcm-{variant.key}-{round_}"
            finished, requests = run_sync(kcm, variant, setup, config, moto, as_json=False)
            timed[variant.key].add(finished.seconds, finished.cpu_seconds, finished.max_rss_kb, requests)
            if cluster_arns(config) != expected:
                raise BenchError(f"{variant.label}: {config} does not hold the {len(expected)} clusters")

        return run

    def run_empty(round_: int) -> None:
        config = folder / f"kcm-empty-{round_}"
        finished, requests = run_sync(
            kcm, Variant("empty", "nothing to scan", cold=True), empty, config, moto, False
        )
        timed["empty"].add(finished.seconds, finished.cpu_seconds, finished.max_rss_kb, requests)

    entries: list[Callable[[int], None]] = [
        run_aws,
        *(run_variant(variant) for variant in variants),
        *([run_empty] if scenario.empty else []),
    ]
    for round_ in range(LOOP_ROUNDS):
        shift = round_ % len(entries)
        for entry in entries[shift:] + entries[:shift]:
            entry(round_)
        log(
            f"{tag}: round {round_ + 1}/{LOOP_ROUNDS}: aws {timed['aws'].seconds[-1]:.1f} s, "
            + ", ".join(f"kcm {variant.key} {timed[variant.key].seconds[-1]:.2f} s" for variant in variants)
        )
    client_ms, list_ms = setup.probe()
    return LoopResult(
        scenario=scenario,
        clusters=len(clusters),
        accounts=len(accounts),
        rounds=LOOP_ROUNDS,
        variants=variants,
        timed=timed,
        reports=reports,
        difference=compare(files["aws"], files["warm"], expected),
        regions=setup.regions(),
        occupied=len({(cluster.account, cluster.region) for cluster in clusters}),
        client_ms=client_ms,
        list_ms=list_ms,
    )


# ---- 2. sync at organisation scale -------------------------------------------------------------------


@dataclass
class OrgResult:
    clusters: int
    accounts: int
    profiles: int
    rounds: int
    setup_seconds: float
    regions: Regions
    variants: list[Variant]
    timed: dict[str, Timed]
    reports: dict[str, list[Report]]
    minimum: dict[str, dict[str, int]]


def minimum_calls(
    variant: Variant, profiles: int, accounts: int, regions: int, clusters: int
) -> dict[str, int]:
    """The fewest calls that find every cluster without knowing where they are."""
    scanned = len(variant.regions) if variant.regions else regions
    calls = {
        "sts:GetCallerIdentity": profiles,
        "eks:ListClusters": accounts * scanned,
        "eks:DescribeCluster": clusters,
    }
    if variant.cold and not variant.regions:
        calls["ec2:DescribeRegions"] = accounts
    return calls


def organisation(accounts: int, clusters: int) -> tuple[list[Account], list[Cluster]]:
    """`accounts` role profiles (acct-NN) and `clusters` clusters (eks-NNN) spread evenly over them and
    ORG_REGIONS: the organisation of this file's second benchmark and of org_bench.py."""
    found = [
        Account(f"acct-{index:0{len(str(accounts - 1))}d}", f"{ORG_FIRST_ACCOUNT + index:012d}")
        for index in range(accounts)
    ]
    made = [
        Cluster(
            f"eks-{index:0{len(str(clusters - 1))}d}",
            ORG_REGIONS[(index // accounts) % len(ORG_REGIONS)],
            found[index % accounts],
        )
        for index in range(clusters)
    ]
    return found, made


def organised(url: str, home: Path, accounts: int, clusters: int) -> tuple[Setup, float]:
    """`organisation(accounts, clusters)` made real: its profiles written under `home`, its clusters
    created in moto; and the seconds that took (logged)."""
    members, made = organisation(accounts, clusters)
    setup = Setup(url, home, members, made)
    setup.write_profiles()
    seconds = setup.create_clusters()
    log(f"org: {clusters} clusters in {accounts} accounts created in {seconds:.1f} s")
    return setup, seconds


def org_scale(url: str, moto: MotoLog, kcm: str, work: Path) -> OrgResult:
    folder = work / "org"
    setup, setup_seconds = organised(url, folder / "home", ORG_ACCOUNTS, ORG_CLUSTERS)
    accounts, clusters = setup.accounts, setup.clusters
    regions = setup.regions()
    variants = [
        Variant("cold", "`--all-accounts`, regions cache cold", cold=True),
        Variant("warm", "`--all-accounts`, regions cache warm"),
        Variant("regions", f"`--all-accounts --region` x{len(ORG_REGIONS)}", regions=ORG_REGIONS),
    ]
    accounts_reached = len(accounts) + 1  # and `base`'s own
    timed = {variant.key: Timed() for variant in variants}
    reports: dict[str, list[Report]] = {variant.key: [] for variant in variants}
    for round_ in range(ORG_ROUNDS):
        shift = round_ % len(variants)  # round 0 starts cold: every warm run finds a cache
        for variant in variants[shift:] + variants[:shift]:
            config = folder / f"kcm-{variant.key}-{round_}"
            finished, requests = run_sync(kcm, variant, setup, config, moto, as_json=True)
            timed[variant.key].add(finished.seconds, finished.cpu_seconds, finished.max_rss_kb, requests)
            reports[variant.key].append(check_json(variant, finished, setup))
        log(
            f"org: round {round_ + 1}/{ORG_ROUNDS}: "
            + ", ".join(f"{variant.key} {timed[variant.key].seconds[-1]:.1f} s" for variant in variants)
        )
    return OrgResult(
        clusters=len(clusters),
        accounts=accounts_reached,
        profiles=setup.profiles,
        rounds=ORG_ROUNDS,
        setup_seconds=setup_seconds,
        regions=regions,
        variants=variants,
        timed=timed,
        reports=reports,
        minimum={
            variant.key: minimum_calls(
                variant, setup.profiles, accounts_reached, len(regions.enabled), len(clusters)
            )
            for variant in variants
        },
    )


# ---- the report --------------------------------------------------------------------------------------


RSS_NOTE = (
    "Peak RSS: the process's own high-water mark, as GNU `/usr/bin/time -f %M` reports it (wait4's"
    " ru_maxrss would start at that of the bench process; the wrapper adds about a millisecond)."
)


def _para(*parts: str) -> list[str]:
    """One markdown paragraph from its pieces (empty ones left out), wrapped as the rest of results.md."""
    text = " ".join(part for part in parts if part)
    return textwrap.wrap(text, width=105, break_on_hyphens=False, break_long_words=False)


def _bullet(*parts: str) -> list[str]:
    text = " ".join(part for part in parts if part)
    lines = textwrap.wrap(text, width=103, break_on_hyphens=False, break_long_words=False)
    return [("- " if index == 0 else "  ") + line for index, line in enumerate(lines)]


def _calls(calls: Mapping[str, int]) -> str:
    named = ", ".join(f"{name.split(':')[1]} {count}" for name, count in calls.items())
    return f"{named} = {sum(calls.values())}"


def _counts(values: list[int]) -> str:
    """`n`, or `a/b` when the runs differed."""
    return "/".join(str(value) for value in sorted(set(values)))


def _verdict(speedup: float) -> str:
    return "holds" if speedup >= TARGET_SPEEDUP else "does not hold"


def _loop_rows(result: LoopResult, setup: str) -> list[str]:
    """One scenario's rows of the table: its loop, then its kcm rows against that loop."""
    aws = result.timed["aws"]
    rows = [
        f"| {setup} | `aws eks update-kubeconfig` x {result.clusters} (the loop) | {aws.median:.2f} "
        f"| {aws.spread} | {aws.median_cpu} | {aws.peak_mb} | {aws.request_count} | - | 1.0x |",
    ]
    for variant in result.variants:
        run = result.timed[variant.key]
        rows.append(
            f"| {setup} | {variant.label} | {run.median:.2f} | {run.spread} | {run.median_cpu} "
            f"| {run.peak_mb} | {run.request_count} | {_calls(result.reports[variant.key].calls)} | "
            f"**{aws.median / run.median:.1f}x** |"
        )
    if result.scenario.empty:
        empty = result.timed["empty"]
        rows.append(
            f"| - | `kcm sync --all-accounts` with no AWS profile (nothing to scan) | {empty.median:.2f} | "
            f"{empty.spread} | {empty.median_cpu} | {empty.peak_mb} | {empty.request_count} | - | - |"
        )
    return rows


def _measured(aws: Timed, run: Timed) -> str:
    return f"{aws.median / run.median:.1f}x: {run.median:.2f} s vs {aws.median:.2f} s"


def loop_section(result: LoopResult, literal: LoopResult) -> list[str]:
    aws, empty = result.timed["aws"], result.timed["empty"]
    cold, warm, regions = (result.timed[key] for key in ("cold", "warm", "regions"))
    via_base = f"{result.reports['warm'].accounts} accounts (`base` + 2 roles)"
    issue = f"**{literal.reports['warm'].accounts} accounts (the issue's literal)**"
    rows = [*_loop_rows(result, via_base), *_loop_rows(literal, issue)]
    warm_lists = result.reports["warm"].calls.get("eks:ListClusters", 0)
    regions_lists = result.reports["regions"].calls.get("eks:ListClusters", 0)
    per_region = (warm.median - regions.median) / max(warm_lists - regions_lists, 1) * 1000
    per_region_note = (
        f"Each extra account-region listed costs about {per_region:.0f} ms of wall clock: a ListClusters"
        " round trip, and for the first account in a region an eks client, which kcm then shares with"
        f" the other accounts (creating one takes {result.client_ms:.1f} ms in the bench's own process)."
        if warm_lists > regions_lists
        else ""
    )
    budget = aws.median / TARGET_SPEEDUP
    busy = statistics.median(warm.cpu) / warm.median
    same = "yes." if not result.difference else f"**no**: {result.difference}."
    literal_same = "yes." if not literal.difference else f"**no**: {literal.difference}."
    cold_lists = result.reports["cold"].calls.get("eks:ListClusters", 0)
    cache_saves = (
        f"the regions cache saves {result.reports['cold'].calls.get('ec2:DescribeRegions', 0)}"
        " DescribeRegions and no ListClusters"
        if cold_lists == warm_lists
        else f"the regions cache saves DescribeRegions and {cold_lists - warm_lists} ListClusters"
    )
    if busy >= 0.85:
        busy_note = (
            f"kcm's CPU time is {busy:.0%} of its wall clock (warm): it is CPU-bound on one core (the GIL"
            " runs one thread's Python at a time), so its thread pool hides moto's latency but not"
            " botocore's per-call CPU; moto_server works on the other core."
        )
    else:
        busy_note = (
            f"kcm's CPU time is {busy:.0%} of its wall clock (warm): the rest is waiting, mostly for"
            " moto_server, which shares the machine's cores."
        )
    l_aws, l_cold, l_warm, l_c8 = (literal.timed[key] for key in ("aws", "cold", "warm", "warm-c8"))
    l_budget = l_aws.median / TARGET_SPEEDUP
    l_warm_lists = literal.reports["warm"].calls.get("eks:ListClusters", 0)
    l_busy = statistics.median(l_warm.cpu) / l_warm.median
    c8_vs_default = (
        f"faster than kcm's default 16 by {l_warm.median - l_c8.median:.2f} s"
        if l_c8.median < l_warm.median
        else f"no faster than kcm's default 16 ({l_c8.median - l_warm.median:.2f} s slower)"
    )
    profiles = ", ".join(profile for profile, _ in LOOP_ACCOUNTS)
    key_profile, role_account = literal.scenario.accounts[0], literal.scenario.accounts[1]
    return [
        f"### 1. sync vs the aws loop: {result.clusters} clusters, {result.accounts} accounts, "
        f"{len(LOOP_REGIONS)} regions",
        "",
        *_para(
            f"{result.clusters // result.accounts} clusters per account (profiles {profiles}),",
            f"spread over {', '.join(LOOP_REGIONS)}. The loop runs `aws eks update-kubeconfig",
            "--name N --region R --profile P --kubeconfig F` once per cluster, one after the other,",
            "into one fresh file; kcm runs once into another fresh file. Median of",
            f"{result.rounds} rounds in the same run, the commands taking turns. Before them,",
            "untimed: one AWS CLI call per profile (so its assume-role credentials cache is warm, as",
            "on any working day) and one `kcm sync -o json` per kcm row (the API calls below).",
            "Cold: `$XDG_CACHE_HOME/kcm/regions` deleted before the run, so kcm asks DescribeRegions;",
            "warm: the cache a previous run left.",
            f"moto lists {len(result.regions.listed)} regions with EKS,",
            f"{len(result.regions.enabled)} of them enabled (OptInStatus opt-in-not-required; AWS would",
            "not list the others, `not-opted-in`). Two setups of the profiles, each with its own loop",
            "(the `loop / this` column compares a kcm row with the loop of its own setup):",
        ),
        "",
        *_bullet(
            f"{via_base}: both profiles assume {ADMIN} (`role_arn`, `source_profile = base`), team-a in",
            f"{result.scenario.accounts[0].id}, team-b in {result.scenario.accounts[1].id}.",
            "`--all-accounts` also reaches `base` (the source profile, static keys, moto's default",
            f"account {DEFAULT_ACCOUNT}, no clusters): {result.reports['warm'].accounts} accounts, one",
            "more than the issue's.",
        ),
        *_bullet(
            f"{issue}: exactly the issue's scenario, `--all-accounts` reaching exactly",
            f"{literal.reports['warm'].accounts} accounts. Profile {key_profile.profile} holds static keys",
            f"itself (credentials file) and acts in moto's default account {key_profile.id}, where its",
            f"clusters are; {role_account.profile} assumes {ADMIN} in {role_account.id} with",
            f"`source_profile = {key_profile.profile}`. No `base`, no account without clusters. Measured",
            f"after the other setup (moto emptied in between), in its own {literal.rounds} rounds, its",
            "loop and kcm rows taking turns. Its last row is informative, not the target's command:",
            f"`--concurrency {LITERAL_CONCURRENCY}` instead of kcm's default 16, on a machine where",
            "CPython threads share 2 cores.",
        ),
        "",
        "| setup | command | median s | min - max s | CPU s | peak RSS | HTTP requests to moto "
        "| API calls (kcm -o json) | loop / this |",
        "|---|---|---:|---:|---:|---:|---:|---|---:|",
        *rows,
        "",
        *_para(
            "CPU: user + system time of the process (wait4).",
            RSS_NOTE if gnu_time() else "Peak RSS: not measured (no GNU time at /usr/bin/time).",
            f"For the loop, CPU is summed and RSS is the largest of the {result.clusters} processes.",
            "HTTP requests: access-log lines of",
            "moto_server during the run, including the sts:AssumeRole calls botocore's credential provider",
            "makes for role profiles, which kcm's own `api_calls` does not count.",
        ),
        "",
        *_para(
            "The kubeconfig of the last loop and that of the last warm kcm run agree cluster by cluster",
            "(same set of ARNs; per ARN the same server, certificate-authority-data, and exec command,",
            "apiVersion,",
            "args and env; context names and kcm's `extensions` differ by design):",
            f"{via_base}: {same} {issue}: {literal_same}",
        ),
        "",
        f"Target, kcm sync at least {TARGET_SPEEDUP:.0f}x faster than the loop; setup with `base`, "
        f"{result.reports['warm'].accounts} accounts (at most {budget:.2f} s here):",
        "",
        f"- regions cache warm: **{_verdict(aws.median / warm.median)}** (measured {_measured(aws, warm)}).",
        f"- regions cache cold: **{_verdict(aws.median / cold.median)}** (measured {_measured(aws, cold)}).",
        f"- not the target's command, for scale: with `--region` naming the {len(LOOP_REGIONS)} regions, "
        f"{aws.median / regions.median:.1f}x.",
        "",
        f"The same target in the issue's literal scenario, exactly {literal.reports['warm'].accounts} "
        f"accounts (at most {l_budget:.2f} s here):",
        "",
        f"- regions cache warm: **{_verdict(l_aws.median / l_warm.median)}** (measured "
        f"{_measured(l_aws, l_warm)}).",
        f"- regions cache cold: **{_verdict(l_aws.median / l_cold.median)}** (measured "
        f"{_measured(l_aws, l_cold)}).",
        f"- informative, not the target's command: warm with `--concurrency {LITERAL_CONCURRENCY}`, "
        f"{_measured(l_aws, l_c8)} (would {'' if l_aws.median / l_c8.median >= TARGET_SPEEDUP else 'not '}"
        f"reach {TARGET_SPEEDUP:.0f}x).",
        "",
        "Where the time goes (numbers from this run):",
        "",
        *_bullet(
            f"The loop pays a whole AWS CLI start per cluster, {aws.median / result.clusters:.2f} s per",
            "invocation; its one DescribeCluster is a moto round trip of a few ms",
            f"({result.list_ms:.1f} ms for a ListClusters from a warm client in the bench's own process).",
            "kcm starts once, but that start alone (interpreter and imports; nothing to scan) takes",
            f"{empty.median:.2f} s: {empty.median / budget:.0%} of the {budget:.2f} s the target leaves.",
        ),
        *_bullet(
            f"Cold {cold.median:.2f} s, warm {warm.median:.2f} s: {cache_saves}. Each run lists",
            f"{warm_lists} account-regions for clusters that sit in",
            f"{result.occupied}; with `--region` naming those",
            f"({regions_lists} ListClusters) kcm takes {regions.median:.2f} s.",
            per_region_note,
        ),
        *_bullet(busy_note),
        *_bullet(
            f"The issue's literal scenario: {literal.reports['warm'].accounts} accounts, so a warm run lists",
            f"{l_warm_lists} account-regions (not {warm_lists}) and takes {l_warm.median:.2f} s",
            f"(cold {l_cold.median:.2f} s); its loop, {l_aws.median / literal.clusters:.2f} s per",
            f"invocation, takes {l_aws.median:.2f} s. kcm's CPU time is {l_busy:.0%} of its wall clock",
            "there (warm).",
            f"`--concurrency {LITERAL_CONCURRENCY}`: {l_c8.median:.2f} s, {c8_vs_default}.",
        ),
    ]


def org_section(result: OrgResult) -> list[str]:
    rows = []
    for variant in result.variants:
        run = result.timed[variant.key]
        reports = result.reports[variant.key]
        rows.append(
            f"| {variant.label} | {run.median:.2f} | {run.spread} | {run.median_cpu} | {run.peak_mb} "
            f"| {_counts([r.accounts for r in reports])} | {_counts([r.regions_scanned for r in reports])} "
            f"| {run.request_count} |"
        )
    operations = sorted(
        {name for key, reports in result.reports.items() for r in reports for name in r.calls}
        | {name for minimum in result.minimum.values() for name in minimum}
    )
    call_rows = []
    for name in operations:
        cells = [
            f"{_counts([r.calls.get(name, 0) for r in result.reports[v.key]])} / "
            f"{result.minimum[v.key].get(name, 0)}"
            for v in result.variants
        ]
        call_rows.append(f"| {name} | " + " | ".join(cells) + " |")
    totals = [
        f"**{_counts([sum(r.calls.values()) for r in result.reports[v.key]])} / "
        f"{sum(result.minimum[v.key].values())}**"
        for v in result.variants
    ]
    call_rows.append("| total | " + " | ".join(totals) + " |")
    cold, warm, regions = (result.timed[key] for key in ("cold", "warm", "regions"))
    scanned = result.reports["warm"][0].regions_scanned
    fewer = scanned - result.reports["regions"][0].regions_scanned
    per_region_cpu = (statistics.median(warm.cpu) - statistics.median(regions.cpu)) / max(fewer, 1) * 1000
    per_region_kib = (max(warm.rss_kb, default=0) - max(regions.rss_kb, default=0)) / max(fewer, 1)
    saved = sum(result.reports["cold"][0].calls.values()) - sum(result.reports["warm"][0].calls.values())
    return [
        f"### 2. sync at organisation scale: {result.clusters} clusters, {ORG_ACCOUNTS} accounts x "
        f"{len(ORG_REGIONS)} regions",
        "",
        *_para(
            f"{ORG_ACCOUNTS} profiles, one per account, each assuming {ADMIN} from `base`; {result.clusters}",
            f"clusters spread evenly over the accounts and {', '.join(ORG_REGIONS)} (created in moto in",
            f"{result.setup_seconds:.0f} s by {SETUP_WORKERS} threads, not timed). `kcm sync -o json` into a",
            "fresh file each run, kcm's default concurrency; median of",
            f"{result.rounds} runs each, the rows taking turns. {result.profiles} profiles have credentials",
            f"({ORG_ACCOUNTS} + `base`), reaching {result.accounts} accounts; moto lists",
            f"{len(result.regions.listed)} regions with EKS, {len(result.regions.enabled)} of them enabled.",
        ),
        "",
        "| `kcm sync` | median s | min - max s | CPU s | peak RSS | accounts | account-regions scanned "
        "| HTTP requests to moto |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
        *_para(
            "API calls kcm reports (`api_calls` of `-o json`; retries not included) / the minimum that finds",
            "every cluster without knowing where they are: one GetCallerIdentity per profile, one",
            "DescribeRegions per account when the cache is cold, one ListClusters per account and enabled",
            "region (or region given with `--region`), one DescribeCluster per cluster (`a/b` where runs",
            "differed):",
        ),
        "",
        "| operation | " + " | ".join(variant.label for variant in result.variants) + " |",
        "|---|" + "---:|" * len(result.variants),
        *call_rows,
        "",
        *_para(
            f"The clusters sit in {ORG_ACCOUNTS * len(ORG_REGIONS)} account-regions; without `--region` kcm",
            f"lists {scanned}. The warm cache saves {saved} calls: warm takes",
            f"{warm.median / cold.median:.0%} of cold ({warm.median:.1f} s vs {cold.median:.1f} s),",
            "`--region`",
            f"{regions.median / cold.median:.0%} ({regions.median:.1f} s).",
            f"Each account-region listed costs about {per_region_cpu:.0f} ms of kcm's CPU"
            if fewer > 0
            else "",
            f"and {per_region_kib:.0f} KiB of its peak RSS" if fewer > 0 and warm.rss_kb else "",
            "(warm vs `--region`)." if fewer > 0 else "",
        ),
    ]


def run(work: Path, aws: str, kcm: str) -> str:
    """Both sync benchmarks (the first in two setups) on one moto_server, emptied before each; the
    markdown section."""
    started = time.perf_counter()
    work.mkdir(parents=True)
    log_path = work / "moto.log"
    with embedded_aws(log=log_path) as url:
        moto = MotoLog(log_path)
        about = machine(None, aws, kcm, {**clean_env(work / "about"), "AWS_ENDPOINT_URL": url}, work)
        reset(url)
        loop = loop_vs_sync(url, moto, aws, kcm, work, VIA_BASE)
        reset(url)  # the literal scenario's team-a acts in moto's default account, `base`'s above
        literal = loop_vs_sync(url, moto, aws, kcm, work, LITERAL)
        reset(url)
        org = org_scale(url, moto, kcm, work)
    minutes = (time.perf_counter() - started) / 60
    lines = [
        "## kcm sync vs the AWS CLI loop",
        "",
        *about,
        "",
        *_para(
            "Wall clock of the real CLI process against moto_server (the embedded AWS, on the same",
            "machine). Every run in its own HOME, XDG dirs and AWS config files, no AWS_* or KUBECONFIG",
            "inherited. Reproduce: `.venv/bin/python bench/run.py sync` (this part only; it took",
            f"{minutes:.0f} minutes here) or `make bench`.",
        ),
        "",
        *loop_section(loop, literal),
        "",
        *org_section(org),
        "",
    ]
    return "\n".join(lines)
