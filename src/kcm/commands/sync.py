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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kcm import eks, kubeconfig, options, paths, prefetch, reconcile, settings, sso, store
from kcm.commands.scan import Found, Scan, ScanOptions, scan
from kcm.eks import Entries
from kcm.errors import InputError, KcmError

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
    kubeconfig_template: str | None = None  # one file per group of clusters (kcm.commands.split)
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
    status: str  # added, adopted, updated, unchanged, conflict; failed: its file could not be written


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
    error: str | None = None  # why the file could not be read or written (a split sync goes on)

    @property
    def failed(self) -> bool:
        return bool(self.scan.failures or self.plan.conflicts or self.error)


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


def fields(found: Found) -> dict[str, str]:
    """The template fields of a cluster as reached one way."""
    return {
        "cluster": found.cluster.name,
        "region": found.cluster.region,
        "account_id": found.account,
        "account_name": found.account_name,
        "profile": found.profile or "",
        "role": found.role,
    }


def context_name(template: str, found: Found) -> str:
    return template.format(**fields(found))


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

    kubeconfig, kubeconfig_template = _target(flags, config)
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
        kubeconfig=kubeconfig,
        kubeconfig_template=kubeconfig_template,
        dry_run=bool(flags.get("dry-run")),
        exec_plugin=pick("token-helper"),
        adopt=pick("adopt"),
        exclude=tuple(pick("exclude")),
        include_removed=bool(flags.get("include-removed")),
    )


def _target(flags: dict[str, Any], config: dict[str, Any]) -> tuple[str | None, str | None]:
    """`--kubeconfig` or `--kubeconfig-template`: a flag over either in the config file; both given
    by flags, or both by the config file, is an error."""
    for source in (flags, config):
        file, template = source.get("kubeconfig"), source.get("kubeconfig-template")
        if file is not None and template is not None:
            given = (
                "--kubeconfig and --kubeconfig-template"
                if source is flags
                else (f"{settings.path()}: [sync] sets kubeconfig and kubeconfig-template")
            )
            raise InputError(
                f"{given}: give one (kubeconfig is one file, the template one file per group of clusters)"
            )
        if file is not None or template is not None:
            return file, template
    return None, None


def checked(options: SyncOptions) -> str:
    """The options a sync can judge before asking AWS; returns the context-name template."""
    template = template_of(options)
    scope = options.scope
    if scope.concurrency < 1:
        raise InputError(f"--concurrency {scope.concurrency}: must be at least 1")
    for pattern in scope.profiles:
        if not pattern:
            raise InputError("--profile '': an empty profile name")
    eks.check_exec_plugin(options.exec_plugin)
    return template


def uses(template: str, name: str) -> bool:
    """Whether a template (already checked) names the field `name`."""
    return any(field == name for _, field, _, _ in string.Formatter().parse(template))


@dataclass
class Gathered:
    """What AWS holds, as this sync's entries: the scan, the entries by context name, what --exclude
    left out."""

    scan: Scan
    targets: dict[str, tuple[Found, Entries]]
    excluded: list[str]


def gather(
    options: SyncOptions,
    template: str,
    progress: Callable[[str, int, int], None] | None,
    names: bool,
    pruned: Sequence[Path] = (),
) -> Gathered:
    """Scan AWS (with account names when `names` or the template needs them), write the SSO profiles
    the contexts will name (unless --dry-run), and build every cluster's entries. With --prune, the
    account-regions of kcm's entries in the files `pruned` are listed whatever kcm remembers."""
    scope = replace(options.scope, need_account_names=names or uses(template, "account_name"))
    if options.prune:
        scope = replace(scope, list_anyway=entry_pairs(pruned))
    found = scan(scope, progress)
    if not options.dry_run:  # before the kubeconfig: no context ever names a profile not yet there
        for session_name, profiles in found.profile_block.items():
            sso.write_profiles(session_name, profiles)
    targets = wanted(found.found, template, scope.each_role, options.exec_plugin)
    excluded = sorted(name for name, (item, _) in targets.items() if _excluded(name, item, options.exclude))
    for name in excluded:
        del targets[name]
    return Gathered(found, targets, excluded)


def entry_pairs(files: Sequence[Path]) -> frozenset[tuple[str, str]]:
    """The (account, region) of every entry kcm marked in these files; a file that cannot be read or
    parsed adds none (its own sync reports it)."""
    pairs = set()
    for path in files:
        try:
            text = store.read_text(Path(os.path.realpath(path)))
            data = kubeconfig.loads(text or "", str(path)).original
        except (KcmError, OSError):
            continue
        for section in ("clusters", "users", "contexts"):
            for entry in data.get(section) or []:
                record = reconcile.origin(section, entry) if isinstance(entry, dict) else None
                if record is not None:
                    pairs.add((str(record.get("account")), str(record.get("region"))))
    return frozenset(pairs)


# The current-context a file gets, given its data and its plan (None: it stays); reconcile's own rule
# (--set-current, or unset when its context is pruned) when a sync has no rule of its own.
CurrentRule = Callable[[dict[str, Any], reconcile.Plan], str | None]
EMPTY = reconcile.Plan((), None, {}, {})


class FileSync:
    """One kubeconfig file's part of a sync. First planned on the file as it is now, read without the
    lock as kubectl reads: a sync that changes nothing ends there, and never waits on (or holds up) a
    writer. A change is planned again on the text read under the lock, and written from that."""

    def __init__(
        self,
        path: Path,
        targets: dict[str, tuple[Found, Entries]],
        options: SyncOptions,
        found: Scan,
        rule: CurrentRule | None = None,
    ) -> None:
        self.path = path
        self.targets = targets
        self.options = options
        self.found = found
        self.rule = rule
        self.left_out: list[str] = []
        self.seen: str | None = None
        self.doc: kubeconfig.Document | None = None
        self.data: dict[str, Any] = {}
        self.planned = EMPTY
        self.before = self.after = ""
        self.written = False
        self.error: str | None = None  # why this file could not be read or written

    def plan_for(self, data: dict[str, Any]) -> reconcile.Plan:
        options, targets = self.options, self.targets
        gone = {reconcile.removed_key(record): record for record in reconcile.removed(data)}
        back = [name for name, (_, entries) in targets.items() if _key(entries) in gone]
        self.left_out = [] if options.include_removed else back
        planned = reconcile.plan(
            data,
            [entries for name, (_, entries) in targets.items() if name not in self.left_out],
            prunable=_prunable(self.found) if options.prune else None,
            set_current=options.set_current if self.rule is None else None,
            adopt=options.adopt,
        )
        if options.include_removed and back:  # brought back on purpose: no longer recorded as removed
            kept = {
                key: record for key, record in gone.items() if key not in {_key(targets[n][1]) for n in back}
            }
            planned = replace(planned, extensions=reconcile.with_removed(data, list(kept.values())))
        if self.rule is not None:
            planned = replace(planned, current_context=self.rule(data, planned))
        return planned

    def read(self, early: prefetch.Prefetch | None = None) -> None:
        """Read and plan without the lock; `early`: the file's parse, if one was started."""
        self.seen = store.read_text(Path(os.path.realpath(self.path)))
        data = early.data(self.seen) if early is not None else None
        if data is None:
            self.doc = kubeconfig.loads(self.seen or "", str(self.path))
            data = self.doc.original
        self.data = data
        self.planned = self.plan_for(data)
        self.before = self.after = self.seen or ""

    def write(self) -> None:
        """Lock, plan again if the file changed meanwhile, apply, write (unless --dry-run)."""
        if not (self.planned.changes or self.planned.current_context is not None):
            return
        dry_run = self.options.dry_run
        with store.edit(self.path, write=not dry_run) as current:
            doc = self.doc
            if doc is None or current.text != self.seen:
                doc = kubeconfig.loads(current.text or "", str(self.path))
                self.data = doc.original
                self.planned = self.plan_for(self.data)
            self.doc = doc
            reconcile.apply(self.planned, doc)
            self.after, self.before = doc.dump(), doc.bom + doc.text
            self.written = doc.changed and not dry_run
            if self.written:
                current.new_text = self.after

    def result(self, notes: list[str]) -> SyncResult:
        planned = self.planned
        rows = []
        for name, (item, entries) in self.targets.items():
            if name in self.left_out:
                continue
            name = planned.contexts.get(name, name)  # a context the user renamed keeps its name
            status = "failed" if self.error is not None else _status(planned, name, entries)
            rows.append(Row(name, item, status))
        pruned = [c.name for c in planned.changes if c.kind == "remove" and c.section == "contexts"]
        if self.error is not None:
            pruned = []
        warnings = []
        if planned.current_context == "":
            where = f" of {self.path}" if self.rule is not None else ""
            warnings.append(
                f"current-context{where} pointed at a pruned context; it is now unset "
                "(`kubectl config use-context` sets one)"
            )
        notes = list(notes)
        if self.left_out:
            notes.append(
                f"{len(self.left_out)} cluster(s) whose contexts you removed with kcm rm left out: "
                f"{', '.join(self.left_out)} (--include-removed brings them back)"
            )
        return SyncResult(
            self.path,
            self.written,
            self.options.dry_run,
            rows,
            pruned,
            self.found,
            planned,
            self.before,
            self.after,
            str(self.data.get("current-context") or ""),
            warnings,
            notes,
            self.error,
        )


def excluded_note(excluded: list[str]) -> list[str]:
    if not excluded:
        return []
    return [f"{len(excluded)} cluster(s) left out by --exclude: {', '.join(excluded)}"]


def run(
    options: SyncOptions,
    progress: Callable[[str, int, int], None] | None = None,
    early: prefetch.Prefetch | None = None,
) -> SyncResult:
    """Scan AWS, then plan and (unless --dry-run) write the first kubeconfig file, once. `early`: the
    file's parse, if the caller started one (kcm.main does, before importing botocore)."""
    if options.kubeconfig_template is not None:
        raise InputError(
            f"--kubeconfig-template {options.kubeconfig_template!r}: kcm diff previews one kubeconfig "
            "(give --kubeconfig); `kcm sync --dry-run` shows a split sync's plan, file by file"
        )
    template = checked(options)
    path = paths.kubeconfig_paths(options.kubeconfig)[0]
    with contextlib.ExitStack() as stack:
        if early is None or early.path != path:  # a big file is parsed on another core meanwhile
            early = stack.enter_context(prefetch.prefetch(path))
        gathered = gather(options, template, progress, names=False, pruned=[path])
        file = FileSync(path, gathered.targets, options, gathered.scan)
        file.read(early)
        file.write()
    return file.result(excluded_note(gathered.excluded))


def report(flags: dict[str, Any], output_format: str, early: prefetch.Prefetch | None = None) -> int:
    """The `kcm sync` command, for the typer app and `kcm.main`'s door alike: `flags` as `resolve`
    takes them; prints the result; its exit status (1 when a scan or a name failed)."""
    from kcm import output

    output.check_format(output_format)
    options = resolve(flags)
    advance, bar = output.progress() if output_format == "text" else (None, contextlib.nullcontext())
    if options.kubeconfig_template is not None:
        from kcm.commands import split

        with bar:
            files = split.run(options, advance)
        if output_format == "json":
            output.out(json.dumps(split.as_json(files), indent=2))
        else:
            output.split_summary(files)
        return 1 if files.failed else 0
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
    scanned = scan_json(result.scan)
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
        "profiles_added": scanned.pop("profiles_added"),
        "warnings": [*result.scan.warnings, *result.warnings],
        **scanned,
    }


def scan_json(found: Scan) -> dict[str, Any]:
    """What the scan did, for machines: the profiles it added, accounts, account-regions, API calls."""
    return {
        "profiles_added": [
            {
                "name": profile.name,
                "sso_session": profile.session,
                "account": profile.account,
                "role": profile.role,
                "region": profile.region,
            }
            for profile in found.new_profiles
        ],
        "accounts": found.accounts,
        "regions_scanned": len(found.scanned),
        "regions_skipped": len(found.skipped),
        "api_calls": dict(sorted(found.calls.items())),
    }
