"""`kcm add`: the entries `aws eks update-kubeconfig` writes, into a file that keeps everything else."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# botocore (through aws): the CLI imports this module only for `add`
from kcm import aws, eks, kubeconfig, paths, reconcile, store
from kcm.eks import EksCluster, Entries
from kcm.errors import AwsError, InputError, KcmError


@dataclass(frozen=True)
class AddOptions:
    name: str | None = None
    region: str | None = None
    profile: str | None = None
    role_arn: str | None = None
    assume_role_arn: str | None = None
    alias: str | None = None
    user_alias: str | None = None
    kubeconfig: str | None = None
    proxy_url: str | None = None
    dry_run: bool = False
    exec_plugin: str = "aws"


@dataclass(frozen=True)
class AddResult:
    path: Path
    context: str
    updated: bool  # a cluster entry with this ARN was already in the file
    written: bool  # False for --dry-run and for a run that changed nothing
    text: str  # the whole merged file
    entries: Entries
    plan: reconcile.Plan


Chooser = Callable[[str, list[str]], str]


def _pick_cluster(options: AddOptions, choose: Chooser | None) -> str:
    region, names = aws.list_clusters(profile=options.profile, region=options.region)
    where = f"region {region}" + (f" of profile '{options.profile}'" if options.profile else "")
    if len(names) == 1:
        return names[0]
    if not names:
        raise AwsError(f"no EKS clusters in {where}; pass --region or --profile")
    if choose is not None:
        return choose(where, names)
    raise InputError(f"{len(names)} clusters in {where}, name one: {', '.join(names)}")


def _describe(options: AddOptions, choose: Chooser | None) -> tuple[str, EksCluster]:
    name = options.name or _pick_cluster(options, choose)
    cluster = aws.describe_cluster(
        name,
        profile=options.profile,
        region=options.region,
        assume_role_arn=options.assume_role_arn,
    )
    return name, cluster


def choose_file(candidates: list[Path], cluster_arn: str, warn: Callable[[str], None]) -> Path:
    """The AWS CLI's rule: the first candidate that already holds the cluster, else the first. A file
    that cannot be read is skipped with a warning, unless it is the one chosen (its error then says it)."""
    chosen = candidates[0]
    unread: dict[Path, str] = {}
    if len(candidates) > 1:
        for path in candidates:
            try:
                text = store.read_text(path)
                if text is not None and kubeconfig.loads(text, str(path)).find("clusters", cluster_arn):
                    chosen = path
                    break
            except KcmError as exc:
                unread[path] = str(exc)
    for path, message in unread.items():
        if path != chosen:
            warn(f"skipping {message}")
    return chosen


def entries(options: AddOptions, choose: Chooser | None = None) -> tuple[EksCluster, Entries]:
    """The cluster, described with the options' credentials, and the entries update-kubeconfig writes."""
    for flag, value in (
        ("--role-arn", options.role_arn),
        ("--assume-role-arn", options.assume_role_arn),
    ):
        if value is not None:
            eks.check_role_arn(value, flag)
    eks.check_exec_plugin(options.exec_plugin)
    profile = aws.effective_profile(options.profile)
    requested, cluster = _describe(options, choose)
    return cluster, eks.entries(
        cluster,
        requested_name=requested,
        profile=profile,
        role_arn=options.role_arn,
        proxy_url=options.proxy_url,
        alias=options.alias,
        user_alias=options.user_alias,
        exec_plugin=options.exec_plugin,
    )


def run(options: AddOptions, choose: Chooser | None, warn: Callable[[str], None]) -> AddResult:
    """Describe the cluster (before any lock), then lock, merge, and write the chosen file."""
    candidates = paths.kubeconfig_paths(options.kubeconfig)
    cluster, new = entries(options, choose)
    path = choose_file(candidates, cluster.arn, warn)
    with store.edit(path, write=not options.dry_run) as current:
        doc = kubeconfig.loads(current.text or "", str(path))
        updated = doc.find("clusters", cluster.arn) is not None
        context = eks.keep_user_settings(doc.find("contexts", new.context["name"]), new.context)
        planned = reconcile.upserts(
            doc.data,
            [("clusters", new.cluster), ("users", new.user), ("contexts", context)],
            set_current=context["name"],
        )
        reconcile.apply(planned, doc)
        text = doc.dump()
        write = doc.changed and not options.dry_run
        if write:
            current.new_text = text
    written = Entries(new.cluster, new.user, context)
    return AddResult(path, context["name"], updated, write, text, written, planned)


def report(options: AddOptions, *, verbose: bool = False, choose: Chooser | None = None) -> None:
    """`kcm add`, for the typer app and `kcm.main`'s door alike: run, then print what
    `aws eks update-kubeconfig` prints (`--dry-run`: the merged file, and the plan on stderr)."""
    import sys

    from kcm import output

    result = run(options, choose, output.warn)
    if options.dry_run:
        output.out(result.text)
        for line in output.plan_lines(result.plan):
            print(line, file=sys.stderr)
        return
    verb = "Updated context {0} in {1}" if result.updated else "Added new context {0} to {1}"
    output.out(verb.format(result.context, result.path))
    if verbose:
        output.out("Entries:\n\n")
        for entry in (result.entries.context, result.entries.user, result.entries.cluster):
            output.out(output.entry_yaml(entry) + "\n")
