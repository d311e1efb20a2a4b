"""The AWS half of `kcm sync`: the ways into each account, its regions, its clusters, their names.

Each phase runs in one thread pool; a failure is recorded against its profile, account or region and
never stops the rest. The minimum of calls: one identity call per profile (none with --org-role, whose
accounts are known), one ListClusters per region and one DescribeCluster per cluster, whatever the
number of roles that reach it; and of those, only what kcm.awscache does not remember: regions, the
organisation's accounts, regions known to be empty, clusters described before. With --org-role, the
role is assumed only in accounts where this run makes a call.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any, TypeVar

from kcm import aws, awscache, cache, discovery, explorer, sso
from kcm.discovery import Identity, Reach, Shared
from kcm.eks import EksCluster
from kcm.errors import AwsError, InputError, WriteError

_ROLE_NAME = re.compile(r"^[\w+=,.@/-]{1,512}$")
T = TypeVar("T")
R = TypeVar("R")
Progress = Callable[[str, int, int], None]
Pair = tuple[str, str]  # (account, region)


@dataclass(frozen=True)
class ScanOptions:
    profiles: tuple[str, ...] = ()
    all_accounts: bool = False
    prefer_roles: tuple[str, ...] = ()
    each_role: bool = False
    org_role: str | None = None
    regions: tuple[str, ...] = ()
    concurrency: int = 16
    need_account_names: bool = False
    sso_sessions: tuple[str, ...] = ()  # IAM Identity Center sessions (every one with all_accounts)
    write_profiles: bool = True  # a profile for each account and role reached that has none
    profile_template: str = sso.TEMPLATE
    discovery: str = "list"  # or "resource-explorer": kcm.explorer
    full: bool = False  # trust nothing kcm.awscache remembers: list and describe everything
    clear_cache: bool = False  # remove kcm.awscache's files first
    # account-regions holding kcm's entries in the files --prune edits: listed whatever kcm.awscache
    # says, so that prune, which acts only where this run listed, can act there
    list_anyway: frozenset[tuple[str, str]] = frozenset()


@dataclass(frozen=True)
class Found:
    """A cluster, and the way kcm reached it: what its entries will say."""

    cluster: EksCluster
    account: str
    account_name: str
    profile: str | None  # written as AWS_PROFILE
    role_arn: str | None  # written as --role (--org-role)
    role: str  # the role (or IAM user) name, for templates

    @property
    def via(self) -> str:
        return f"role {self.role_arn}" if self.role_arn else f"profile {self.profile or 'default'}"


@dataclass(frozen=True)
class Failure:
    scope: str  # "profile prod", "account 111122223333 region eu-west-1", ...
    message: str


@dataclass
class Scan:
    found: list[Found] = field(default_factory=list)
    scanned: set[Pair] = field(default_factory=set)  # (account, region) listed in full
    skipped: set[Pair] = field(default_factory=set)  # not listed: known to be empty (kcm.awscache)
    unseen: set[tuple[str, str, str]] = field(default_factory=set)  # listed, but not described
    failures: list[Failure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    failed_profiles: set[str] = field(default_factory=set)  # their entries are never pruned this run
    accounts: int = 0
    shared: Shared = field(default_factory=Shared)
    # kcm's block of the AWS config, per SSO session: the profiles it should hold, and which are new.
    profile_block: dict[str, list[sso.Profile]] = field(default_factory=dict)
    new_profiles: list[sso.Profile] = field(default_factory=list)

    @property
    def calls(self) -> Counter[str]:
        return self.shared.calls


class _Pool:
    def __init__(self, size: int, result: Scan, progress: Progress | None) -> None:
        self.executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="kcm-scan")
        self.result = result
        self.progress = progress

    def each(
        self, phase: str, items: Iterable[T], work: Callable[[T], R], scope: Callable[[T], str]
    ) -> list[tuple[T, R]]:
        """`work` on every item, in parallel; results in the items' order, failures recorded."""
        return self.collect(phase, [(item, self.executor.submit(work, item)) for item in items], scope)

    def collect(
        self, phase: str, submitted: list[tuple[T, Future[R]]], scope: Callable[[T], str]
    ) -> list[tuple[T, R]]:
        """Wait for work already submitted; results and failures in submission order."""
        index = {future: position for position, (_, future) in enumerate(submitted)}
        done: dict[int, R] = {}
        failed: dict[int, Failure] = {}
        for count, future in enumerate(as_completed(index), 1):
            try:
                done[index[future]] = future.result()
            except AwsError as exc:
                failed[index[future]] = Failure(scope(submitted[index[future]][0]), str(exc))
            if self.progress:
                self.progress(phase, count, len(submitted))
        self.result.failures += [failed[position] for position in sorted(failed)]
        return [(submitted[position][0], done[position]) for position in sorted(done)]


def matching_profiles(patterns: tuple[str, ...], names: list[str]) -> list[str]:
    """Profile names matching any shell glob; a pattern matching nothing is an error."""
    chosen: list[str] = []
    for pattern in patterns:
        hits = [name for name in names if fnmatch.fnmatchcase(name, pattern)]
        if not hits:
            raise InputError(
                f"--profile {pattern!r}: no such AWS profile in the config or credentials file "
                "(see `aws configure list-profiles`)"
            )
        chosen += [name for name in hits if name not in chosen]
    return chosen


def _check_regions(regions: tuple[str, ...]) -> None:
    if not regions:
        return
    known = aws.eks_regions(discovery.botocore_session(None))  # the models the scan reads anyway
    for region in regions:
        if known and region not in known:
            raise InputError(f"--region {region!r}: EKS has no such region")


def _profile_reaches(
    options: ScanOptions, pool: _Pool, sessions: list[sso.Session]
) -> list[tuple[Reach, Identity]]:
    result = pool.result
    if options.sso_sessions and not (options.all_accounts or options.profiles):
        return []  # --sso-session alone: its assignments are the scope
    if options.all_accounts:
        names = []
        covered = sso.pinned(sessions) if sessions else {}  # a scanned session reaches its profiles
        by_session = set(covered.values())
        for profile in discovery.profiles():
            if profile.name in by_session:
                continue
            if profile.source:
                names.append(profile.name)
            else:
                result.notes.append(f"profile {profile.name}: no credentials configured; skipped")
    elif options.profiles:
        names = matching_profiles(options.profiles, [p.name for p in discovery.profiles()])
    else:
        names = [aws.effective_profile(None) or ""]

    def identify(name: str) -> tuple[Reach, Identity]:
        reach = Reach(f"profile {name or 'default'}", profile=name or None, shared=result.shared)
        return reach, reach.identity()

    reached = pool.each("finding accounts", names, identify, lambda n: f"profile {n or 'default'}")
    result.failed_profiles = set(names) - {name for name, _ in reached}
    return [found for _, found in reached]


def _org_reaches(options: ScanOptions, pool: _Pool) -> tuple[list[tuple[Reach, Identity]], dict[str, str]]:
    role = options.org_role
    assert role is not None
    if len(options.profiles) > 1 or options.all_accounts:
        raise InputError("--org-role reads the organisation as one identity: give at most one --profile")
    if not _ROLE_NAME.match(role):
        raise InputError(f"--org-role {role!r}: not an IAM role name (letters, digits and +=,.@_- ; a path/)")
    base_profile = options.profiles[0] if options.profiles else aws.effective_profile(None)
    result = pool.result
    base = Reach(f"profile {base_profile or 'default'}", profile=base_profile, shared=result.shared)
    own = base.identity()
    partition = own.partition
    setup = base.setup(partition)
    accounts = awscache.organization(setup, own.account, full=options.full, warn=result.warnings.append)
    if accounts is None:
        accounts = base.organization_accounts()
        awscache.remember_organization(setup, own.account, accounts)
    reaches = []
    for account, _ in accounts:
        if account == own.account:  # the account we are in already: no role to assume
            reaches.append((base, own))
            continue
        role_arn = f"arn:{partition}:iam::{account}:role/{role}"
        arn = f"arn:{partition}:sts::{account}:assumed-role/{role.rsplit('/', 1)[-1]}/kcm-sync"
        reaches.append((base.assume(role_arn, later=True), Identity(account, arn)))  # entered when needed
    return reaches, dict(accounts)


def _preference(patterns: tuple[str, ...], role: str) -> int:
    """Where `role` stands by --prefer-role: the index of the first pattern (a case-insensitive shell
    glob) it matches; after them all when it matches none."""
    lowered = role.lower()
    return next((i for i, p in enumerate(patterns) if fnmatch.fnmatchcase(lowered, p.lower())), len(patterns))


def _choose(
    reaches: list[tuple[Reach, Identity]], options: ScanOptions, result: Scan
) -> dict[str, list[tuple[Reach, Identity]]]:
    """Per account, the reach to use (--prefer-role, then name), or with --each-role one per role."""

    def rank(item: tuple[Reach, Identity]) -> tuple[int, str]:
        return _preference(options.prefer_roles, item[1].role), item[0].label

    by_account: dict[str, list[tuple[Reach, Identity]]] = {}
    for item in reaches:
        by_account.setdefault(item[1].account, []).append(item)
    chosen: dict[str, list[tuple[Reach, Identity]]] = {}
    for account, items in sorted(by_account.items()):
        items.sort(key=rank)
        if options.each_role:
            per_role: dict[str, tuple[Reach, Identity]] = {}
            for item in items:
                per_role.setdefault(item[1].arn.rsplit("/", 1)[0], item)
            chosen[account] = sorted(per_role.values(), key=lambda item: item[1].role)
        else:
            chosen[account] = items[:1]
        used = {id(item[0]) for item in chosen[account]}
        for reach, identity in items:
            if id(reach) not in used:
                result.notes.append(
                    f"{reach.label} ({identity.role} in {account}): not used, "
                    f"{chosen[account][0][0].label} reaches that account"
                )
    return chosen


def scan(options: ScanOptions, progress: Progress | None = None) -> Scan:
    """Everything kcm sync needs from AWS; failures recorded, never raised, once the scope is known."""
    _check_regions(options.regions)
    if options.discovery not in explorer.MODES:
        raise InputError(f"--discovery {options.discovery!r}: choose list or resource-explorer")
    result = Scan()
    if options.clear_cache:
        _clear_cache(result)
    pool = _Pool(options.concurrency, result, progress)
    try:
        org_names: dict[str, str] = {}
        if options.org_role:
            if options.sso_sessions:
                raise InputError("--org-role and --sso-session are two ways into the accounts: give one")
            reaches, org_names = _org_reaches(options, pool)
        else:
            if options.all_accounts and options.profiles:
                raise InputError("--all-accounts takes every profile: drop --profile, or drop --all-accounts")
            sessions = _sessions(options)
            reaches = _profile_reaches(options, pool, sessions)
            for known in sessions:
                try:
                    found, names = _sso_reaches(options, pool, known)
                except AwsError as exc:
                    if options.sso_sessions:  # asked for by name: nothing is written without it
                        raise
                    result.failures.append(Failure(f"SSO session {known.name}", str(exc)))
                    result.failed_profiles |= set(sso.pinned([known]).values())
                    continue
                reaches += found
                org_names.update(names)
        chosen = _choose(reaches, options, result)
        result.accounts = len(chosen)
        _clusters(options, pool, chosen, org_names)
    finally:
        pool.executor.shutdown(wait=True, cancel_futures=True)
    return result


def _clear_cache(result: Scan) -> None:
    try:
        removed = cache.remove(awscache.FOLDER, "regions")  # regions/: kcm's before, by account alone
    except OSError as exc:
        raise WriteError(
            f"cannot remove kcm's AWS caches in {cache.folder()}: {exc.strerror or exc}"
        ) from None
    where = ", ".join(str(path) for path in removed)
    result.notes.append(f"removed kcm's AWS caches ({where})" if removed else "no AWS cache to remove")


def _sessions(options: ScanOptions) -> list[sso.Session]:
    sso.check_template(options.profile_template)
    if options.sso_sessions:
        return [sso.session(name) for name in dict.fromkeys(options.sso_sessions)]
    return sso.sessions() if options.all_accounts else []


def _partition(region: str) -> str:
    return "aws-us-gov" if region.startswith("us-gov-") else "aws-cn" if region.startswith("cn-") else "aws"


def _sso_reaches(
    options: ScanOptions, pool: _Pool, known: sso.Session
) -> tuple[list[tuple[Reach, Identity]], dict[str, str]]:
    """The session's assignments: per account the role --prefer-role picks (every role with
    --each-role), each reached with role credentials and pinned to a profile (the user's for that
    account and role, else one kcm writes)."""
    result = pool.result
    portal = sso.Portal(known, sso.access_token(known), result.shared.count)
    accounts = portal.accounts()
    listed = pool.each(
        "listing SSO roles", accounts, portal.roles, lambda a: f"SSO session {known.name} account {a[0]}"
    )
    assignments = [item for _, roles in listed for item in roles]

    def rank(item: sso.Assignment) -> tuple[int, str]:
        return _preference(options.prefer_roles, item.role), item.role

    by_account: dict[str, list[sso.Assignment]] = {}
    for item in assignments:
        by_account.setdefault(item.account, []).append(item)
    profiles = sso.profile_settings()
    pins = sso.pinned([known], profiles)
    in_block = set(sso.block_profiles(sso.read_config()))
    chosen: list[tuple[sso.Assignment, str]] = []
    block: list[sso.Profile] = []
    for account, items in sorted(by_account.items()):
        items.sort(key=rank)
        picked = items if options.each_role else items[:1]
        for item in items[len(picked) :]:
            result.notes.append(
                f"SSO session {known.name}: role {item.role} in {account}: not used, role {picked[0].role} "
                "reaches that account"
            )
        for item in picked:
            name = _profile_for(item, options, pins, profiles, result)
            if name is not None:
                chosen.append((item, name))
    assigned = {(item.account, item.role) for item in assignments}
    for name in sorted(in_block):  # kcm's earlier profiles of this session, while still assigned
        settings = profiles.get(name, {})
        pair = (str(settings.get("sso_account_id")), str(settings.get("sso_role_name")))
        if settings.get("sso_session") == known.name and pair in assigned:
            block.append(sso.Profile(name, known.name, *pair, str(settings.get("region") or known.region)))
    result.new_profiles = [
        dataclasses.replace(profile, region=profile.region or known.region) for profile in result.new_profiles
    ]
    block += [profile for profile in result.new_profiles if profile.session == known.name]
    if options.write_profiles:
        result.profile_block[known.name] = block
    base = Reach(f"SSO session {known.name}", profile=None, shared=result.shared)
    partition = _partition(known.region)

    def enter(pair: tuple[sso.Assignment, str]) -> tuple[Reach, Identity]:
        item, name = pair
        reach = Reach(f"profile {name}", profile=name, credentials=portal.credentials(item), base=base)
        return reach, Identity(
            item.account, f"arn:{partition}:sts::{item.account}:assumed-role/{item.role}/kcm-sso"
        )

    entered = pool.each(
        "SSO role credentials", chosen, enter, lambda p: f"profile {p[1]} ({p[0].role} in {p[0].account})"
    )
    result.failed_profiles |= {name for _, name in chosen} - {
        reach.profile or "" for _, (reach, _) in entered
    }
    return [found for _, found in entered], {item.account: item.account_name for item in assignments}


def _profile_for(
    item: sso.Assignment,
    options: ScanOptions,
    pins: dict[tuple[str, str, str], str],
    existing: dict[str, dict[str, Any]],
    result: Scan,
) -> str | None:
    """The profile a context for `item` is pinned to: the user's, else a new one (recorded), else None
    with a note when kcm may not write one."""
    name = pins.get((item.session, item.account, item.role))
    if name is not None:
        return name
    name = sso.profile_name(options.profile_template, item)
    where = f"{item.role} in {item.account} ({item.account_name})"
    if name in existing:
        raise InputError(
            f"--profile-template {options.profile_template!r} names '{name}' for {where}, but a profile "
            "of that name already exists for something else; choose another template"
        )
    if not options.write_profiles:
        result.notes.append(
            f"SSO session {item.session}: {where} has no profile; skipped "
            f"(--no-write-profiles; kcm would write [profile {name}])"
        )
        return None
    result.new_profiles.append(sso.Profile(name, item.session, item.account, item.role, ""))
    return name


def _discovered(
    options: ScanOptions,
    pool: _Pool,
    first: dict[str, tuple[Reach, Identity]],
    pairs: list[tuple[str, str]],
) -> dict[tuple[str, str], list[str]]:
    """With --discovery resource-explorer, the account-regions its index covers, with their clusters'
    names: those are not listed. Nothing with --discovery list, or when the index cannot answer."""
    if options.discovery != "resource-explorer":
        return {}
    reaches = [reach for reach, _ in first.values()]
    found = explorer.discover(
        options.profiles, bool(options.org_role), reaches, pool.result.shared, pairs, pool.executor
    )
    pool.result.notes.append(found.note)
    return found.listed


def _clusters(
    options: ScanOptions,
    pool: _Pool,
    chosen: dict[str, list[tuple[Reach, Identity]]],
    org_names: dict[str, str],
) -> None:
    result = pool.result
    first = {account: items[0] for account, items in chosen.items()}
    memory = {
        account: awscache.Account(
            reach.setup(identity.partition), account, full=options.full, warn=result.warnings.append
        )
        for account, (reach, identity) in first.items()
    }
    doors = _Doors(pool, first, org_names)
    regions = _enabled_regions(options, pool, first, memory, doors)
    pairs = [(account, region) for account, names in regions.items() for region in names]
    known = _discovered(options, pool, first, pairs)
    to_list, result.skipped = _to_list(pairs, known, memory, options.list_anyway)
    describing_only = {  # covered by the index, with a cluster not remembered: a call in that account
        account
        for (account, region), names in known.items()
        if any(memory[account].description(region, name) is None for name in names)
    }
    doors.enter(sorted({account for account, _ in to_list} | describing_only))
    result.accounts -= len(doors.failed)
    visited = [pair for pair in pairs if pair not in result.skipped and pair[0] not in doors.failed]

    describing: list[tuple[tuple[str, str, str], Future[EksCluster]]] = []
    lock = threading.Lock()

    def listing(pair: Pair) -> list[str]:
        """List a region, and start describing its clusters at once: no wait for the other regions."""
        account, region = pair
        reach, remembered = first[account][0], memory[account]
        if pair in known:
            names = known[pair]
            remembered.keep_only(region, names)
        else:
            names = reach.cluster_names(region)
            remembered.listed(region, names)
        with lock:
            for name in names:
                cached = remembered.description(region, name)
                work = (
                    _done(cached)
                    if cached
                    else pool.executor.submit(_describe, reach, remembered, name, region)
                )
                describing.append(((*pair, name), work))
        return names

    listed = pool.each("listing clusters", visited, listing, lambda p: f"account {p[0]} region {p[1]}")
    result.scanned = {pair for pair, _ in listed}
    wanted = [(account, region, name) for (account, region), names in listed for name in names]
    order = {key: position for position, key in enumerate(wanted)}
    describing.sort(key=lambda item: order[item[0]])
    described = pool.collect(
        "describing clusters", describing, lambda k: f"cluster {k[2]} (account {k[0]} region {k[1]})"
    )
    for remembered in memory.values():
        remembered.save()
    clusters: list[tuple[str, EksCluster]] = []
    seen = {key for key, _ in described}
    result.unseen = {key for key in wanted if key not in seen}
    for (account, region, name), cluster in described:
        if cluster.ready:
            clusters.append((account, cluster))
        else:
            result.unseen.add((account, region, name))
            result.notes.append(
                f"cluster {name} (account {account} region {region}): "
                f"status {cluster.status}, not ready; skipped"
            )
    names = dict(org_names)
    if options.need_account_names and not org_names:
        accounts = sorted({account for account, _ in clusters})
        for account, alias in pool.each(
            "account names", accounts, lambda a: first[a][0].account_alias(), str
        ):
            if alias:
                names[account] = alias
    for account, cluster in clusters:
        for reach, identity in chosen[account]:
            result.found.append(
                Found(
                    cluster,
                    account,
                    names.get(account) or reach.profile or account,
                    reach.profile,
                    reach.role_arn,
                    identity.role,
                )
            )


class _Doors:
    """The way into each account, opened when the run first needs a call there: with --org-role, one
    AssumeRole per account that needs one (a failure is the account's, once); a reach that is
    already in (a profile's, an SSO role's) needs nothing."""

    def __init__(self, pool: _Pool, first: dict[str, tuple[Reach, Identity]], names: dict[str, str]) -> None:
        self.pool = pool
        self.first = first
        self.names = names
        self.failed: set[str] = set()

    def enter(self, accounts: list[str]) -> list[str]:
        """The accounts of `accounts` that can be called now."""
        waiting = [account for account in accounts if self.first[account][0].waiting]
        if waiting:
            entered = self.pool.each(
                "entering accounts",
                waiting,
                lambda account: self.first[account][0].enter(),
                lambda account: f"account {account} ({self.names.get(account, account)})",
            )
            self.failed |= set(waiting) - {account for account, _ in entered}
        return [account for account in accounts if account not in self.failed]


def _enabled_regions(
    options: ScanOptions,
    pool: _Pool,
    first: dict[str, tuple[Reach, Identity]],
    memory: dict[str, awscache.Account],
    doors: _Doors,
) -> dict[str, list[str]]:
    """Per account, the regions to look in: --region's, else the enabled ones (remembered, or asked
    with ec2:DescribeRegions)."""
    if options.regions:
        return {account: sorted(set(options.regions)) for account in first}
    found = {account: memory[account].regions() for account in first}

    def ask(account: str) -> list[str]:
        reach, identity = first[account]
        names = reach.enabled_regions(identity.partition)
        memory[account].remember_regions(names)
        return names

    asking = doors.enter([account for account, names in found.items() if names is None])
    found.update(pool.each("enabled regions", asking, ask, lambda a: f"account {a}"))
    return {account: names for account, names in found.items() if names is not None}


def _to_list(
    pairs: list[Pair],
    known: dict[Pair, list[str]],
    memory: dict[str, awscache.Account],
    anyway: frozenset[Pair] = frozenset(),
) -> tuple[list[Pair], set[Pair]]:
    """Which account-regions to list with ListClusters: every one Resource Explorer did not cover,
    except those whose last full listing found no cluster and is not due again (kcm.awscache), unless
    `anyway` names them; and those left out, known to be empty."""
    uncovered = [pair for pair in pairs if pair not in known]
    skipped = {pair for pair in uncovered if pair not in anyway and memory[pair[0]].known_empty(pair[1])}
    return [pair for pair in uncovered if pair not in skipped], skipped


def _describe(reach: Reach, remembered: awscache.Account, name: str, region: str) -> EksCluster:
    cluster = reach.describe(name, region)
    remembered.described(region, cluster)
    return cluster


def _done(value: T) -> Future[T]:
    """A future already holding `value`: a description remembered, in line with those being made."""
    future: Future[T] = Future()
    future.set_result(value)
    return future
