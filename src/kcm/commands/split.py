"""`kcm sync --kubeconfig-template PATH`: one kubeconfig file per group of clusters, and the
`KUBECONFIG` line that lists them.

The template is a path with sync's fields (`~/.kube/eks/{account_name}.yaml`): each cluster goes to the
file its fields name, and each file is synced as `--kubeconfig FILE` syncs one (`sync.FileSync`: planned
without the lock, then locked, planned again, written atomically), one file after the other. A file that
cannot be read or written is reported and the others go on. A field's value is AWS data (an account
name is whatever its owner typed), so it is escaped into part of one path component: never `/`, `..`,
NUL or `:`.

kubectl reads the list as one config: the first file that names an entry wins it, and the first file
that sets current-context wins that. Context names are unique across the files (sync's name check), and
`--set-current` is written where `kubectl config use-context` writes it: the first file. Which files a
template wrote is kept in kcm's state folder, so that `--prune` reaches a file whose group has no
cluster any more.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kcm import folders, reconcile, store
from kcm.commands import sync
from kcm.commands.scan import Found, Scan
from kcm.eks import Entries
from kcm.errors import InputError, KcmError
from kcm.schema import name_of

_UNSAFE = re.compile(r"[^A-Za-z0-9._+@-]+")  # as --profile-template's names (kcm.sso)
_FIELDS = ", ".join("{" + name + "}" for name in sync.FIELDS)


def escaped(value: str) -> str:
    """A field's value as part of one path component: characters other than letters, digits and `._+@-`
    become `-` (so no `/`, NUL, or `:`, KUBECONFIG's separator), so does a leading `.` (so never `.`,
    `..` or a hidden file), and an empty value is `-`."""
    text = _UNSAFE.sub("-", value)
    if text.startswith("."):
        text = "-" + text[1:]
    return text or "-"


def _braced(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


@dataclass(frozen=True)
class PathTemplate:
    text: str  # as given
    expanded: str  # `~` expanded and made absolute, braces in what was added escaped: what fields fill

    def path(self, found: Found) -> Path:
        values = sync.fields(found)
        filled = "".join(
            literal + (escaped(values[name]) if name is not None else "")
            for literal, name, _, _ in string.Formatter().parse(self.expanded)
        )
        return Path(os.path.abspath(filled))

    def uses(self, name: str) -> bool:
        return sync.uses(self.expanded, name)


def parse(text: str) -> PathTemplate:
    """`--kubeconfig-template`, checked: known fields only, at least one, without format or conversion;
    `~` expanded as --kubeconfig's is, `$VARIABLES` not (kubectl expands neither in KUBECONFIG)."""
    where = f"--kubeconfig-template {text!r}"
    if "\0" in text:
        raise InputError(f"{where}: holds a NUL character")
    try:
        used = [(name, spec, conversion) for _, name, spec, conversion in string.Formatter().parse(text)]
    except ValueError as exc:
        raise InputError(f"{where}: {exc}") from None
    named = [(name, spec, conversion) for name, spec, conversion in used if name is not None]
    for name, spec, conversion in named:
        if name not in sync.FIELDS:
            raise InputError(f"{where}: unknown field {{{name}}} (fields: {_FIELDS})")
        if spec or conversion:
            raise InputError(f"{where}: {{{name}}} takes no format or conversion (write {{{name}}})")
    if not named:
        raise InputError(
            f"{where}: names no field, so every cluster would go to one file (fields: {_FIELDS}; "
            "--kubeconfig writes one file)"
        )
    if text.endswith(os.sep):
        raise InputError(f"{where}: names a folder; end it with a file name, such as {{account_name}}.yaml")
    expanded = text
    if text.startswith("~"):
        head, slash, rest = text.partition(os.sep)
        home = os.path.expanduser(head)
        if home != head:
            expanded = _braced(home) + slash + rest
    if not os.path.isabs(expanded):
        expanded = os.path.join(_braced(os.getcwd()), expanded)
    return PathTemplate(text, expanded)


# ---- which files a template wrote --------------------------------------------------------------------
def _record_path(template: PathTemplate) -> Path:
    digest = hashlib.sha256(template.expanded.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return folders.user_state() / "templates" / f"{digest}.json"


def recorded(template: PathTemplate) -> tuple[list[Path], list[str]]:
    """The files earlier syncs with this template wrote, and a warning if kcm's record is damaged."""
    path = _record_path(template)
    data = folders.read_private(path)
    if data is None:
        return [], []
    try:
        value = json.loads(data)
        files = value["files"] if value.get("template") == template.expanded else []
        if not all(isinstance(item, str) and os.path.isabs(item) for item in files):
            raise ValueError(files)
    except (ValueError, TypeError, KeyError, AttributeError):
        return [], [f"{path}: not kcm's record of the files this template wrote; ignored"]
    return [Path(item) for item in files], []


def remember(template: PathTemplate, before: list[Path], files: list[Path]) -> list[str]:
    """Record `files` as this template's (unless that is what the record says); a warning if it cannot."""
    if sorted(before) == sorted(files):
        return []
    path = _record_path(template)
    text = json.dumps({"template": template.expanded, "files": sorted(str(item) for item in files)})
    try:
        folders.private(path.parent, parents=2)  # templates, kcm, the XDG state folder
        store.write_atomic(path, text, mode=0o600)
    except (OSError, KcmError) as exc:
        return [f"{path}: cannot record which files this template wrote ({exc}); --prune will not reach them"]
    return []


# ---- the sync ------------------------------------------------------------------------------------------
@dataclass
class SplitResult:
    template: PathTemplate
    files: list[sync.SyncResult]  # this run's files, in the KUBECONFIG line's order
    earlier: list[sync.SyncResult]  # with --prune: files of earlier runs that get no cluster in this one
    kubeconfig: list[Path]  # the KUBECONFIG line: the files kcm's entries are in, that kubectl can read
    scan: Scan
    dry_run: bool
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.scan.failures) or any(file.failed for file in (*self.files, *self.earlier))


def _attempt(file: sync.FileSync, action: Callable[[], None]) -> None:
    """One file's step; a failure is that file's, and the others go on."""
    try:
        action()
    except KcmError as exc:
        file.error = str(exc)
    except OSError as exc:
        file.error = f"{file.path}: {exc.strerror or exc}"


def _removed(file: sync.FileSync) -> set[tuple[str, str]]:
    return {(change.section, change.name) for change in file.planned.changes if change.after is None}


def _contexts_after(file: sync.FileSync) -> set[str]:
    names = {name_of(entry) for entry in file.data.get("contexts") or [] if isinstance(entry, dict)}
    for change in file.planned.changes:
        if change.section == "contexts":
            (names.discard if change.after is None else names.add)(change.name)
    return names


def _keeps_marks(file: sync.FileSync) -> bool:
    """Whether kcm's entries are left in the file after this run."""
    removed = _removed(file)
    return any(
        reconcile.origin(section, entry) is not None and (section, name_of(entry)) not in removed
        for section in reconcile.BODY
        for entry in file.data.get(section) or []
        if isinstance(entry, dict)
    )


def _unchanged(data: dict[str, Any], planned: reconcile.Plan) -> str | None:
    return None


def _follow(file: sync.FileSync, rule: sync.CurrentRule) -> None:
    file.rule = rule
    file.planned = dataclasses.replace(file.planned, current_context=rule(file.data, file.planned))


def _current_rules(options: sync.SyncOptions, files: list[sync.FileSync], stale: list[sync.FileSync]) -> None:
    """current-context as kubectl reads (the first that is set) and writes it (`kubectl config
    use-context`: into the first file of the list that exists): --set-current goes to the first file;
    a current-context naming a context this run removed from every file is unset."""
    after: set[str] = set().union(*(_contexts_after(file) for file in files))
    pruned = {name for file in (*files, *stale) for section, name in _removed(file) if section == "contexts"}
    gone = pruned - after
    wanted = options.set_current
    if wanted is not None and wanted not in after:
        raise InputError(f"--set-current {wanted!r}: no such context after this sync")
    holder = files[0] if files else None

    def rule_for(file: sync.FileSync) -> sync.CurrentRule:
        def rule(data: dict[str, Any], planned: reconcile.Plan) -> str | None:
            now = str(data.get("current-context") or "")
            if wanted is not None and file is holder:
                return None if now == wanted else wanted
            return "" if now and now in gone else None

        return rule

    for file in (*files, *stale):
        _follow(file, rule_for(file))


def _doubles(files: list[sync.FileSync], groups: dict[Path, dict[str, Any]]) -> list[str]:
    """kcm's contexts left in one file while this run writes them to another (with --prune they go)."""
    home = {name: path for path, group in groups.items() for name in group}
    found = []
    for file in files:
        existing = {name_of(e): e for e in file.data.get("contexts") or [] if isinstance(e, dict)}
        for name in sorted(_contexts_after(file) & home.keys()):
            if home[name] != file.path and reconcile.origin("contexts", existing.get(name) or {}):
                found.append(
                    f"context {name} is kcm's in {file.path} and in {home[name]}, where this run writes it "
                    "(kubectl reads it from the first of the two in KUBECONFIG; --prune removes the other)"
                )
    return found


def _grouped(
    template: PathTemplate, targets: dict[str, tuple[Found, Entries]], notes: list[str]
) -> dict[Path, dict[str, tuple[Found, Entries]]]:
    """The entries by the file the template names for them. Two names for one file (a link the user
    made) are one group, written once through the first name: else each would prune the other's."""
    groups: dict[Path, dict[str, tuple[Found, Entries]]] = {}
    for name, (item, entries) in targets.items():
        groups.setdefault(template.path(item), {})[name] = (item, entries)
    first: dict[str, Path] = {}
    for path in sorted(groups):
        real = first.setdefault(os.path.realpath(path), path)
        if real != path:
            groups[real].update(groups.pop(path))
            notes.append(f"{path} is {real} (a link): written once, as {real}")
    return groups


def run(options: sync.SyncOptions, progress: Callable[[str, int, int], None] | None = None) -> SplitResult:
    """Scan AWS once, then sync each file the template names for the clusters found (and, with
    --prune, the files earlier runs of this template wrote that get no cluster now)."""
    assert options.kubeconfig_template is not None
    template = parse(options.kubeconfig_template)
    alias = sync.checked(options)
    store.lock_timeout()  # a bad KCM_LOCK_TIMEOUT: one error now, not one per file
    before, warnings = recorded(template)
    gathered = sync.gather(options, alias, progress, names=template.uses("account_name"), pruned=before)
    notes = sync.excluded_note(gathered.excluded)
    groups = _grouped(template, gathered.targets, notes)
    reals = {os.path.realpath(path) for path in groups}
    earlier = [
        path
        for path in before
        if path not in groups and os.path.realpath(path) not in reals and os.path.lexists(path)
    ]
    if earlier and not options.prune:
        notes.append(
            f"{len(earlier)} file(s) an earlier sync with this template wrote get no cluster in this one, "
            f"left as they are and still listed: {', '.join(map(str, earlier))} (--prune removes kcm's "
            "entries from them; kcm never deletes a file)"
        )
    files = [sync.FileSync(path, groups[path], options, gathered.scan, _unchanged) for path in sorted(groups)]
    stale = [sync.FileSync(path, {}, options, gathered.scan, _unchanged) for path in earlier if options.prune]
    for file in (*files, *stale):
        _attempt(file, file.read)
    readable = [file for file in files if file.error is None]
    stale_read = [file for file in stale if file.error is None]
    _current_rules(options, readable, stale_read)
    if not options.prune:
        notes += _doubles(readable, groups)
    for file in (*readable, *stale_read):
        _attempt(file, file.write)
    # A file of an earlier run stays listed (and recorded) while kcm's entries are in it.
    still = earlier if not options.prune else [file.path for file in stale_read if _keeps_marks(file)]
    for file in stale_read:
        if file.path not in still and file.error is None:
            notes.append(
                f"{file.path} holds no entry of kcm's now: left out of the KUBECONFIG line and forgotten "
                "(any entries of yours in it stay; kcm never deletes a file)"
            )
    if not options.dry_run:  # what kcm read or wrote, and what it knew of a file it could not read
        kept = [
            file.path
            for file in files
            if (file.error is None and os.path.lexists(file.path)) or file.path in before
        ]
        kept += still + [file.path for file in stale if file.error is not None]
        warnings += remember(template, before, kept)
    return SplitResult(
        template,
        [file.result([]) for file in files],
        [file.result([]) for file in stale],
        sorted([file.path for file in readable] + still),
        gathered.scan,
        options.dry_run,
        notes,
        warnings,
    )


def status(file: sync.SyncResult) -> str:
    """What happened to one file: failed, written, unchanged; with --dry-run, would write."""
    if file.error is not None:
        return "failed"
    if file.dry_run and (file.plan.changes or file.plan.current_context is not None):
        return "would write"
    return "written" if file.written else "unchanged"


def as_json(result: SplitResult) -> dict[str, Any]:
    """The run for machines: sync's object, with `kubeconfig` the KUBECONFIG value, `kubeconfigs` its
    files, and `files` what happened to each (`earlier`: a file of an earlier run, pruned)."""
    every = [(file, False) for file in result.files] + [(file, True) for file in result.earlier]
    each = [(file, sync.as_json(file), earlier) for file, earlier in every]
    failures = [{"scope": failure.scope, "message": failure.message} for failure in result.scan.failures]
    for file, _, _ in each:
        failures += [
            {"scope": f"kubeconfig {file.path}", "message": conflict}
            for conflict in file.plan.conflicts.values()
        ]
        if file.error is not None:
            failures.append({"scope": f"kubeconfig {file.path}", "message": file.error})
    return {
        "kubeconfig": os.pathsep.join(map(str, result.kubeconfig)),
        "kubeconfigs": [str(path) for path in result.kubeconfig],
        "kubeconfig_template": result.template.text,
        "dry_run": result.dry_run,
        "written": any(file.written for file, _ in every),
        "contexts": [
            {**row, "kubeconfig": str(file.path)} for file, data, _ in each for row in data["contexts"]
        ],
        "pruned": [name for _, data, _ in each for name in data["pruned"]],
        "changes": [
            {**change, "kubeconfig": str(file.path)} for file, data, _ in each for change in data["changes"]
        ],
        "current_context": next(
            (file.plan.current_context for file, _ in every if file.plan.current_context is not None), None
        ),
        "files": [
            {
                "kubeconfig": str(file.path),
                "status": status(file),
                "earlier": earlier,
                "contexts": [row["name"] for row in data["contexts"]],
                "pruned": data["pruned"],
                "current_context": data["current_context"],
                "error": file.error,
            }
            for file, data, earlier in each
        ],
        "failures": failures,
        "notes": [
            *result.scan.notes,
            *result.notes,
            *(note for file, _ in every for note in (*file.notes, *file.plan.notes)),
        ],
        "warnings": [
            *result.scan.warnings,
            *result.warnings,
            *(warning for file, _ in every for warning in file.warnings),
        ],
        **sync.scan_json(result.scan),
    }
