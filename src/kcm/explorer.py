"""`kcm sync --discovery resource-explorer`: where the clusters are, from AWS Resource Explorer's
aggregator index in the hub account, instead of one ListClusters per account and region.

The hub is the identity sync starts from. ListIndexes names its aggregator index's region; Search is
sent there, through that region's default view, and GetView says what the view sees: its scope (the
hub's account, the organisation, or an OU) and its filter. An account-region is *covered* when it has
an index the view sees: the hub's own (ListIndexes) and, with a view of the organisation, the members'
(ListIndexesForMembers); with a view of an OU, only members the search showed to be in it. A covered
account-region's clusters are the ones Search returned, possibly none, and it is not listed; every
other account-region is listed as `--discovery list` lists it.

Search counts at most 1,000 matches: beyond, kcm searches region by region, and a region still
incomplete is not covered. So a covered account-region is always one seen in full, and prune stays
exact. Resource Explorer not set up, or refusing, leaves every account-region to ListClusters, with a
note: a sync never loses clusters to it.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import botocore.exceptions as bx

from kcm import credentials
from kcm.discovery import Reach, Shared
from kcm.errors import KcmError

MODES = ("list", "resource-explorer")
SERVICE = "resource-explorer-2"
QUERY = "resourcetype:eks:cluster"
_PAGE = 1000  # Search's largest page, and the most matches it counts
_MEMBERS = 10  # ListIndexesForMembers: the most accounts a call, and indexes a page
# A default view filtered by these still shows every cluster: any other filter may hide some.
_HARMLESS = frozenset({QUERY, "service:eks"})
Pair = tuple[str, str]  # (account, region)


@dataclass(frozen=True)
class Discovery:
    listed: dict[Pair, list[str]]  # the covered account-regions, and the names of their clusters
    note: str


class _NotSetUp(Exception):
    """Resource Explorer cannot answer for the hub: the message says what to set up."""


def discover(
    profiles: tuple[str, ...],
    org_role: bool,
    reaches: Iterable[Reach],
    shared: Shared,
    pairs: list[Pair],
    executor: Executor,
) -> Discovery:
    """The account-regions of `pairs` the hub's index covers, with their clusters; none, and why, when
    Resource Explorer cannot answer."""
    try:
        hub = _hub(profiles, org_role, reaches, shared)
        listed, where = _covered(hub, pairs, executor)
    except (KcmError, _NotSetUp) as exc:
        return Discovery(
            {},
            f"--discovery resource-explorer: {exc}; every account-region is listed with ListClusters "
            "instead (docs/sync.md#one-query-for-the-whole-organisation)",
        )
    clusters = sum(len(names) for names in listed.values())
    return Discovery(
        listed,
        f"--discovery resource-explorer: {len(listed)} of {len(pairs)} account-region(s) from {where} "
        f"({clusters} cluster(s)); {len(pairs) - len(listed)} listed with ListClusters",
    )


def _hub(profiles: tuple[str, ...], org_role: bool, reaches: Iterable[Reach], shared: Shared) -> Reach:
    """The identity sync starts from: --org-role's base, a --profile naming one profile (not a glob),
    else the default credentials. The scan's own reach for it when it made one: no second sign-in."""
    one = len(profiles) == 1 and (org_role or not any(ch in profiles[0] for ch in "*?["))
    name = profiles[0] if one else credentials.effective_profile(None)
    for reach in reaches:
        if reach.profile == name and reach.role_arn is None:
            return reach
    return Reach(f"profile {name or 'default'}", profile=name, shared=shared)


def _covered(hub: Reach, pairs: list[Pair], executor: Executor) -> tuple[dict[Pair, list[str]], str]:
    action = "list Resource Explorer indexes"
    indexes = _call(hub, hub.home_region, action, "list_indexes", "Indexes", MaxResults=100)
    aggregator = next((index for index in indexes if index.get("Type") == "AGGREGATOR"), None)
    if aggregator is None:
        raise _NotSetUp(
            f"{hub.label} has no Resource Explorer aggregator index (turn on cross-Region search in the "
            "hub account: `aws resource-explorer-2 update-index-type --type AGGREGATOR`)"
        )
    account, region = str(aggregator["Arn"]).split(":")[4], str(aggregator["Region"])
    found, view_arn, complete = _search(hub, region, QUERY)
    scope = _scope(_view(hub, region, view_arn))
    indexed = {(account, str(index["Region"])) for index in indexes}
    if scope != "account":
        indexed |= _member_indexes(hub, region, sorted({a for a, _ in pairs} - {account}), executor)
    covered = [pair for pair in pairs if pair in indexed]
    if not complete:  # more matches than Search counts: a search per region, used only if complete
        found = {}
        for name in sorted({r for _, r in covered}):
            more, _, whole = _search(hub, region, f"{QUERY} region:{name}")
            found.update(more if whole else {})
            covered = covered if whole else [pair for pair in covered if pair[1] != name]
    if scope == "ou":  # kcm cannot list an OU's accounts: those the search saw are in it
        covered = [pair for pair in covered if pair[0] in {a for a, _ in found}]
    return {pair: sorted(found.get(pair, [])) for pair in covered}, f"view {view_arn} in {region}"


def _member_indexes(hub: Reach, region: str, members: list[str], executor: Executor) -> set[Pair]:
    """The (account, region) of every index of these member accounts, ten accounts a call."""

    def of(batch: list[str]) -> list[dict[str, Any]]:
        action = "list member accounts' Resource Explorer indexes"
        return _call(
            hub,
            region,
            action,
            "list_indexes_for_members",
            "Indexes",
            AccountIdList=batch,
            MaxResults=_MEMBERS,
        )

    batches = [members[i : i + _MEMBERS] for i in range(0, len(members), _MEMBERS)]
    return {
        (str(index["AccountId"]), str(index["Region"]))
        for found in executor.map(of, batches)
        for index in found
    }


def _call(
    reach: Reach, region: str, action: str, operation: str, key: str, **args: Any
) -> list[dict[str, Any]]:
    """Every page of a Resource Explorer listing; a refusal as one line naming the permission."""
    client = reach.client(SERVICE, region)
    items: list[dict[str, Any]] = []
    try:
        while True:
            page = getattr(client, operation)(**args)
            items += page.get(key, [])
            if not page.get("NextToken"):
                return items
            args["NextToken"] = page["NextToken"]
    except (bx.BotoCoreError, bx.ClientError) as exc:
        permission = "".join(part.title() for part in operation.split("_"))
        raise reach.fail(exc, f"cannot {action} (resource-explorer-2:{permission})", region) from None


def _search(hub: Reach, region: str, query: str) -> tuple[dict[Pair, list[str]], str, bool]:
    """Clusters by account-region, the view used, and whether Search says it counted every match."""
    client = hub.client(SERVICE, region)
    found: dict[Pair, list[str]] = {}
    args: dict[str, Any] = {"QueryString": query, "MaxResults": _PAGE}
    returned, complete, total, view = 0, True, None, ""
    try:
        while True:
            page = client.search(**args)
            view = str(page.get("ViewArn") or view)
            counted = page.get("Count") or {}
            complete = complete and counted.get("Complete") is True  # absent: not known to be complete
            total = counted.get("TotalResources", total)
            for item in page.get("Resources", []):
                returned += 1
                parts = str(item.get("Arn", "")).split(":", 5)
                if len(parts) == 6 and parts[2] == "eks" and parts[5].startswith("cluster/"):
                    found.setdefault((parts[4], parts[3]), []).append(parts[5].removeprefix("cluster/"))
            if not page.get("NextToken"):
                break
            args["NextToken"] = page["NextToken"]
    except (bx.BotoCoreError, bx.ClientError) as exc:
        action = f"cannot search the default view in {region} (resource-explorer-2:Search)"
        raise hub.fail(exc, action, region) from None
    return found, view, complete and total == returned


def _view(hub: Reach, region: str, arn: str) -> str:
    """The scope of the view Search used (an ARN; none: the caller's account); a view whose filter
    may hide clusters is refused."""
    try:
        view: dict[str, Any] = hub.client(SERVICE, region).get_view(ViewArn=arn)["View"]
    except (bx.BotoCoreError, bx.ClientError) as exc:
        raise hub.fail(exc, f"cannot read view {arn} (resource-explorer-2:GetView)", region) from None
    filters = str((view.get("Filters") or {}).get("FilterString") or "")
    if not set(filters.lower().split()) <= _HARMLESS:
        raise _NotSetUp(
            f"the default view {arn} filters what it shows ({filters!r}), so kcm cannot tell which clusters "
            f"it hides; make the default view in {region} one without a filter"
        )
    return str(view.get("Scope") or "")


def _scope(arn: str) -> str:
    """organization, ou, or account (an account's root, or none)."""
    resource = arn.split(":", 5)[-1] if arn.startswith("arn:") else ""
    kind = resource.split("/", 1)[0]
    return kind if kind in ("organization", "ou") else "account"
