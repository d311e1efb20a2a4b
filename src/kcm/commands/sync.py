"""`kcm sync`: find every EKS cluster the user's AWS setup reaches, then write them all in one edit.

AWS first (in a thread pool, no lock held; a big kubeconfig is parsed meanwhile by a forked child), then
a plan on the file as read without the lock: nothing to do ends there; anything else is lock -> read ->
plan -> apply -> write once.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import string
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kcm import eks, kubeconfig, options, paths, prefetch, reconcile, settings, sso, store
from kcm.commands.scan import Found, Scan, ScanOptions, scan
from kcm.eks import Entries
from kcm.errors import InputError

FIELDS = ("cluster", "region", "account_id", "account_name", "profile", "role")
TEMPLATE = "{cluster}.{region}.{account_id}"
EACH_ROLE_TEMPLATE = "{role}@{cluster}.{region}.{account_id}"


@dataclass(frozen=True)
class SyncOptions:
    scope: ScanOptions = field(default_factory=ScanOptions)  # which accounts, roles and regions
    alias_template: str | None = None
    prune: bool = False
    set_current: str | None = None
    kubeconfig: str | None = None
    dry_run: bool = False
    exec_plugin: str = "aws"
    adopt: bool = True  # take over another tool's context for the same cluster and identity
    exclude: tuple[str, ...] = ()  # globs: clusters left out
    include_removed: bool = False  # bring back what `kcm rm` removed


@dataclass(frozen=True)
class Row:
    """One cluster as reached one way, and what this run did to its context."""

    context: str
    found: Found
    status: str  # added, updated, unchanged, conflict


@dataclass
class SyncResult:
    path: Path
    written: bool
    dry_run: bool
    rows: list[Row]
    pruned: list[str]  # context names
    scan: Scan
    plan: reconcile.Plan
    before: str = ""  # the file's text, and as it is (or would be) written
    after: str = ""
    current: str = ""  # its current-context before
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was left out, and why

    @property
    def failed(self) -> bool:
        return bool(self.scan.failures or self.plan.conflicts)


def template_of(options: SyncOptions) -> str:
    """The context-name template, checked: known fields only; with --each-role, one naming the role."""
    each_role = options.scope.each_role
    template = options.alias_template or (EACH_ROLE_TEMPLATE if each_role else TEMPLATE)
    try:
        used = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise InputError(f"--alias-template {template!r}: {exc}") from None
    unknown = sorted(name for name in used if name not in FIELDS)
    if unknown:
        raise InputError(
            f"--alias-template {template!r}: unknown field {{{unknown[0]}}} "
            f"(fields: {', '.join('{' + name + '}' for name in FIELDS)})"
        )
    if each_role and not used & {"role", "profile"}:
        raise InputError(
            f"--alias-template {template!r}: with --each-role it must use {{role}} or {{profile}}"
        )
    return template


def context_name(template: str, found: Found) -> str:
    return template.format(
        cluster=found.cluster.name,
        region=found.cluster.region,
        account_id=found.account,
        account_name=found.account_name,
        profile=found.profile or "",
        role=found.role,
    )


def wanted(
    found: list[Found], template: str, each_role: bool, exec_plugin: str = "aws"
) -> dict[str, tuple[Found, Entries]]:
    """The marked entries for every cluster, by context name; two clusters on one name is an error."""
    by_name: dict[str, list[Found]] = {}
    for item in found:
        by_name.setdefault(context_name(template, item), []).append(item)
    clashes = {name: items for name, items in by_name.items() if len(items) > 1}
    if clashes:
        listed = "; ".join(
            f"'{name}': " + ", ".join(f"{item.cluster.arn} ({item.via})" for item in items)
            for name, items in sorted(clashes.items())
        )
        raise InputError(
            f"{len(clashes)} context name(s) would hold several clusters: {listed}; make --alias-template "
            "more specific (add {account_id}, {region} or {role}); nothing was written"
        )
    result: dict[str, tuple[Found, Entries]] = {}
    for name, (item,) in sorted(by_name.items()):
        base = {"account": item.account, "region": item.cluster.region, "cluster": item.cluster.name}
        how = (
            {"role": item.role_arn} if item.role_arn else ({"profile": item.profile} if item.profile else {})
        )
        plain = eks.entries(
            item.cluster,
            profile=item.profile,
            role_arn=item.role_arn,
            alias=name,
            user_alias=f"{item.cluster.arn}@{item.role}" if each_role else None,
            exec_plugin=exec_plugin,
        )
        result[name] = (
            item,
            Entries(
                reconcile.marked("clusters", plain.cluster, base),
                reconcile.marked("users", plain.user, {**base, **how}),
                reconcile.marked("contexts", plain.context, {**base, **how}),
            ),
        )
    return result


def _prunable(result: Scan) -> Callable[[str, dict[str, Any]], bool]:
    """Only where this run looked and saw everything: a scanned region, a cluster that is not there,
    and not an entry of a profile that failed (with --each-role, another role may have scanned its
    account)."""

    def check(section: str, entry: dict[str, Any]) -> bool:
        record = reconcile.origin(section, entry) or {}
        where = (str(record.get("account")), str(record.get("region")))
        if record.get("profile") in result.failed_profiles:
            return False
        return where in result.scanned and (*where, str(record.get("cluster"))) not in result.unseen

    return check


def _key(entries: Entries) -> str:
    return reconcile.removed_key(reconcile.origin("contexts", entries.context) or {})


def _excluded(name: str, item: Found, patterns: tuple[str, ...]) -> bool:
    """`--exclude GLOB`: the cluster's name, the context name kcm would give it, or its account id."""
    return any(
        fnmatch.fnmatchcase(value, pattern)
        for pattern in patterns
        for value in (item.cluster.name, name, item.account)
    )


def _status(planned: reconcile.Plan, name: str, entries: Entries) -> str:
    if name in planned.conflicts:
        return "conflict"
    context = planned.of("contexts", name)
    if context is not None and context.kind in ("add", "adopt"):
        return "added" if context.kind == "add" else "adopted"
    user = planned.users.get(name, entries.user["name"])
    touched = (("contexts", name), ("users", user), ("clusters", entries.cluster["name"]))
    return "updated" if any(planned.of(*key) for key in touched) else "unchanged"


def resolve(flags: dict[str, Any]) -> SyncOptions:
    """Options from flags (None or empty when not given) over the config file's `[sync]` defaults."""
    config = settings.load("sync")

    def pick(key: str) -> Any:
        """The flag if given, else the config file's setting, else the option's declared default."""
        value = flags.get(key)
        if value is None or value == ():
            return config.get(key, options.default("sync", key))
        return value

    return SyncOptions(
        scope=ScanOptions(
            profiles=tuple(pick("profile")),
            all_accounts=pick("all-accounts"),
            prefer_roles=tuple(pick("prefer-role")),
            each_role=pick("each-role"),
            org_role=pick("org-role"),
            regions=tuple(pick("region")),
            concurrency=pick("concurrency"),
            sso_sessions=tuple(pick("sso-session")),
            write_profiles=pick("write-profiles"),
            profile_template=pick("profile-template") or sso.TEMPLATE,
            discovery=pick("discovery"),
            full=bool(flags.get("full")),
            clear_cache=bool(flags.get("clear-cache")),
        ),
        alias_template=pick("alias-template"),
        prune=pick("prune"),
        set_current=flags.get("set-current"),
        kubeconfig=pick("kubeconfig"),
        dry_run=bool(flags.get("dry-run")),
        exec_plugin=pick("token-helper"),
        adopt=pick("adopt"),
        exclude=tuple(pick("exclude")),
        include_removed=bool(flags.get("include-removed")),
    )


def run(
    options: SyncOptions,
    progress: Callable[[str, int, int], None] | None = None,
    early: prefetch.Prefetch | None = None,
) -> SyncResult:
    """Scan AWS, then plan and (unless --dry-run) write the first kubeconfig file, once. `early`: the
    file's parse, if the caller started one (kcm.main does, before importing botocore)."""
    template = template_of(options)
    scope = options.scope
    if scope.concurrency < 1:
        raise InputError(f"--concurrency {scope.concurrency}: must be at least 1")
    for pattern in scope.profiles:
        if not pattern:
            raise InputError("--profile '': an empty profile name")
    eks.check_exec_plugin(options.exec_plugin)
    path = paths.kubeconfig_paths(options.kubeconfig)[0]
    with contextlib.ExitStack() as stack:
        if early is None or early.path != path:  # a big file is parsed on another core meanwhile
            early = stack.enter_context(prefetch.prefetch(path))
        found = scan(replace(scope, need_account_names="{account_name}" in template), progress)
        if not options.dry_run:  # before the kubeconfig: no context ever names a profile not yet there
            for session_name, profiles in found.profile_block.items():
                sso.write_profiles(session_name, profiles)
        targets = wanted(found.found, template, scope.each_role, options.exec_plugin)
        excluded = sorted(
            name for name, (item, _) in targets.items() if _excluded(name, item, options.exclude)
        )
        for name in excluded:
            del targets[name]
        left_out: list[str] = []

        def plan_for(data: dict[str, Any]) -> reconcile.Plan:
            gone = {reconcile.removed_key(record): record for record in reconcile.removed(data)}
            back = [name for name, (_, entries) in targets.items() if _key(entries) in gone]
            left_out[:] = [] if options.include_removed else back
            planned = reconcile.plan(
                data,
                [entries for name, (_, entries) in targets.items() if name not in left_out],
                prunable=_prunable(found) if options.prune else None,
                set_current=options.set_current,
                adopt=options.adopt,
            )
            if options.include_removed and back:  # brought back on purpose: no longer recorded as removed
                kept = {
                    key: record
                    for key, record in gone.items()
                    if key not in {_key(targets[n][1]) for n in back}
                }
                planned = replace(planned, extensions=reconcile.with_removed(data, list(kept.values())))
            return planned

        # First plan on the file as it is now, read without the lock as kubectl reads: a sync that
        # changes nothing ends there, and never waits on (or holds up) a writer. A change is planned
        # again on the text read under the lock, and written from that.
        seen = store.read_text(Path(os.path.realpath(path)))
        data = early.data(seen)
        doc = None
        if data is None:
            doc = kubeconfig.loads(seen or "", str(path))
            data = doc.original
        planned = plan_for(data)
        text = before = seen or ""
        write = False
        if planned.changes or planned.current_context is not None:
            with store.edit(path, write=not options.dry_run) as current:
                if doc is None or current.text != seen:
                    doc = kubeconfig.loads(current.text or "", str(path))
                    data = doc.original
                    planned = plan_for(data)
                reconcile.apply(planned, doc)
                text, before = doc.dump(), doc.bom + doc.text
                write = doc.changed and not options.dry_run
                if write:
                    current.new_text = text
    rows = []
    for name, (item, entries) in targets.items():
        if name in left_out:
            continue
        name = planned.contexts.get(name, name)  # a context the user renamed keeps its name
        rows.append(Row(name, item, _status(planned, name, entries)))
    pruned = [c.name for c in planned.changes if c.kind == "remove" and c.section == "contexts"]
    warnings = list(found.warnings)
    if planned.current_context == "":
        warnings.append(
            "current-context pointed at a pruned context; it is now unset "
            "(`kubectl config use-context` sets one)"
        )
    notes = []
    if excluded:
        notes.append(f"{len(excluded)} cluster(s) left out by --exclude: {', '.join(excluded)}")
    if left_out:
        notes.append(
            f"{len(left_out)} cluster(s) whose contexts you removed with kcm rm left out: "
            f"{', '.join(left_out)} (--include-removed brings them back)"
        )
    current_context = str(data.get("current-context") or "")
    return SyncResult(
        path,
        write,
        options.dry_run,
        rows,
        pruned,
        found,
        planned,
        before,
        text,
        current_context,
        warnings,
        notes,
    )


def report(flags: dict[str, Any], output_format: str, early: prefetch.Prefetch | None = None) -> int:
    """The `kcm sync` command, for the typer app and `kcm.main`'s door alike: `flags` as `resolve`
    takes them; prints the result; its exit status (1 when a scan or a name failed)."""
    from kcm import output

    output.check_format(output_format)
    options = resolve(flags)
    advance, bar = output.progress() if output_format == "text" else (None, contextlib.nullcontext())
    with bar:
        result = run(options, advance, early)
    if output_format == "json":
        output.out(json.dumps(as_json(result), indent=2))
    else:
        if options.dry_run:
            for line in output.plan_lines(result.plan):
                output.out(line)
        output.sync_summary(result)
    return 1 if result.failed else 0


def as_json(result: SyncResult) -> dict[str, Any]:
    """The run for machines: stable keys, one object."""
    return {
        "kubeconfig": str(result.path),
        "dry_run": result.dry_run,
        "written": result.written,
        "contexts": [
            {
                "name": row.context,
                "status": row.status,
                "cluster": row.found.cluster.name,
                "cluster_arn": row.found.cluster.arn,
                "account": row.found.account,
                "account_name": row.found.account_name,
                "region": row.found.cluster.region,
                "profile": row.found.profile,
                "role_arn": row.found.role_arn,
                "role": row.found.role,
            }
            for row in result.rows
        ],
        "pruned": result.pruned,
        "changes": [
            {"kind": change.kind, "section": change.section, "name": change.name}
            for change in result.plan.changes
        ],
        "current_context": result.plan.current_context,
        "failures": [{"scope": failure.scope, "message": failure.message} for failure in result.scan.failures]
        + [{"scope": "kubeconfig", "message": conflict} for conflict in result.plan.conflicts.values()],
        "notes": [*result.scan.notes, *result.notes, *result.plan.notes],
        "profiles_added": [
            {
                "name": profile.name,
                "sso_session": profile.session,
                "account": profile.account,
                "role": profile.role,
                "region": profile.region,
            }
            for profile in result.scan.new_profiles
        ],
        "warnings": result.warnings,
        "accounts": result.scan.accounts,
        "regions_scanned": len(result.scan.scanned),
        "regions_skipped": len(result.scan.skipped),
        "api_calls": dict(sorted(result.scan.calls.items())),
    }
