"""The command line: options in, one call, result out. The only module that imports typer."""

from __future__ import annotations

import copy
import json
import sys
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from kcm import __version__, options, output
from kcm.errors import InputError, KcmError
from kcm.main import COMMANDS, SUMMARY


class _Group(TyperGroup):
    """Turns a KcmError into one line on stderr and its exit code, for real runs and tests alike."""

    # ctx is the Context of whichever click typer runs on: the click package (typer up to 0.25) or its
    # private copy, typer._click (0.26 on). typer.Context, its public name, is a subclass: too narrow for
    # an override's parameter. Any keeps kcm off typer's private modules.
    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except KcmError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            output.error(str(exc))
            raise SystemExit(exc.exit_code) from None


app = typer.Typer(
    cls=_Group,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals can hold AWS credentials
    help=SUMMARY,
)


def _version(value: bool) -> None:
    if value:
        output.out(f"kcm {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    ctx: typer.Context,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    ctx.obj = {"debug": debug}


def _choose(where: str, names: list[str]) -> str:
    """Which of `names` to add, asked on the terminal (off one, kcm.commands.add says to name one)."""
    for number, name in enumerate(names, 1):
        print(f"  {number}) {name}", file=sys.stderr)
    picked: int = typer.prompt("Cluster", type=int, err=True)
    if not 1 <= picked <= len(names):
        raise KcmError(f"no cluster number {picked}: pick 1 to {len(names)}")
    return names[picked - 1]


@app.command(help=COMMANDS["add"])
def add(
    name_arg: Annotated[str | None, typer.Argument(metavar="[NAME]", help="The cluster name.")] = None,
    name: Annotated[str | None, typer.Option("--name", help="The cluster name.")] = None,
    region: Annotated[str | None, typer.Option(help="The cluster's region.")] = None,
    profile: Annotated[str | None, typer.Option(help="AWS profile; written as AWS_PROFILE.")] = None,
    role_arn: Annotated[str | None, typer.Option(help="Role kubectl assumes for the token.")] = None,
    assume_role_arn: Annotated[
        str | None, typer.Option(help="Role assumed to describe the cluster (cross-account).")
    ] = None,
    alias: Annotated[str | None, typer.Option(help="Context name.")] = None,
    user_alias: Annotated[str | None, typer.Option(help="User entry name.")] = None,
    kubeconfig: Annotated[str | None, typer.Option(help="The kubeconfig file to write.")] = None,
    proxy_url: Annotated[str | None, typer.Option(help="Proxy for the cluster's API.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the merged file; write nothing.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", help="Also print the entries.")] = False,
    token_helper: TokenHelper = None,
) -> None:
    from kcm.commands import add as command

    if name_arg and name and name_arg != name:
        raise KcmError(f"two cluster names given: {name_arg!r} and --name {name!r}")
    options = command.AddOptions(
        name=name or name_arg,
        region=region,
        profile=profile,
        role_arn=role_arn,
        assume_role_arn=assume_role_arn,
        alias=alias,
        user_alias=user_alias,
        kubeconfig=kubeconfig,
        proxy_url=proxy_url,
        dry_run=dry_run,
        exec_plugin=token_helper or "aws",
    )
    command.report(options, verbose=verbose, choose=_choose if sys.stdin.isatty() else None)


# The sync scope and naming options, shared by `kcm sync` and `kcm diff`.
Profiles = Annotated[
    list[str] | None, typer.Option("--profile", help="AWS profile(s) to use; shell globs allowed.")
]
AllAccounts = Annotated[
    bool | None, typer.Option("--all-accounts", help="Every profile in the AWS config and credentials.")
]
PreferRoles = Annotated[
    list[str] | None,
    typer.Option("--prefer-role", help="Role-name globs, in order, picking one profile per account."),
]
EachRole = Annotated[
    bool | None, typer.Option("--each-role", help="One context per cluster and role, not per cluster.")
]
OrgRole = Annotated[
    str | None, typer.Option(help="Reach every account of the AWS Organization through this role.")
]
Regions = Annotated[
    list[str] | None, typer.Option("--region", help="Only these regions (default: every enabled one).")
]
AliasTemplate = Annotated[
    str | None,
    typer.Option(help="Context names: {cluster} {region} {account_id} {account_name} {profile} {role}."),
]
Prune = Annotated[
    bool | None, typer.Option("--prune/--no-prune", help="Remove kcm's entries for clusters that are gone.")
]
SetCurrent = Annotated[str | None, typer.Option(help="Make this context the current one.")]
Concurrency = Annotated[int | None, typer.Option(help="AWS calls in flight at once (default 16).")]
SsoSessions = Annotated[
    list[str] | None,
    typer.Option("--sso-session", help="IAM Identity Center sessions: every account and role they reach."),
]
WriteProfiles = Annotated[
    bool | None,
    typer.Option(
        "--write-profiles/--no-write-profiles",
        help="Add a profile to the AWS config (kcm's block) for each SSO account and role that has none.",
    ),
]
ProfileTemplate = Annotated[
    str | None,
    typer.Option(help="Names of the profiles kcm adds: {session} {account_id} {account_name} {role}."),
]
Adopt = Annotated[
    bool | None,
    typer.Option(
        "--adopt/--no-adopt",
        help="Take over a context another tool wrote for the same cluster and identity (default) "
        "instead of adding a second one.",
    ),
]
Exclude = Annotated[
    list[str] | None,
    typer.Option(
        "--exclude", help="Leave out clusters whose name, context name or account id matches (globs)."
    ),
]
IncludeRemoved = Annotated[
    bool | None,
    typer.Option("--include-removed", help="Bring back the clusters whose contexts you removed with kcm rm."),
]
Discovery = Annotated[
    str | None,
    typer.Option(
        help="How clusters are found: list (ListClusters in every account and region, the default) or "
        "resource-explorer (one AWS Resource Explorer search; ListClusters where its index does not reach)."
    ),
]
Full = Annotated[
    bool | None,
    typer.Option(
        "--full",
        help="List every account-region and describe every cluster, trusting nothing kcm remembers of "
        "AWS (regions known to be empty, clusters described before); remember it all anew.",
    ),
]
Kubeconfig = Annotated[str | None, typer.Option(help="The kubeconfig file (default: KUBECONFIG).")]
TokenHelper = Annotated[
    str | None,
    typer.Option(help="What the user entries run for a token: aws (aws eks get-token, the default) or kcm."),
]
OutputFormat = Annotated[str, typer.Option("--output", "-o", help="text or json.")]
OnConflict = Annotated[
    str, typer.Option(help="Same name, different content: fail, keep (ours), theirs, or rename (theirs).")
]
Flatten = Annotated[bool, typer.Option("--flatten", help="Inline referenced files as *-data fields.")]
Raw = Annotated[bool, typer.Option("--raw", help="Show secrets and certificate data (hidden by default).")]


_SCOPE = tuple(opt.key.replace("-", "_") for opt in options.SCOPE)  # parameter names, in kcm.options
_LISTS = tuple(opt.key.replace("-", "_") for opt in options.SCOPE if opt.kind == "list")


def _sync_flags(given: dict[str, Any]) -> dict[str, Any]:
    """The scope options among a command's parameters, keyed as sync's config file: lists as tuples,
    unset as None."""
    return {key.replace("_", "-"): tuple(given[key] or ()) if key in _LISTS else given[key] for key in _SCOPE}


@app.command(help=COMMANDS["sync"])
def sync(
    profile: Profiles = None,
    all_accounts: AllAccounts = None,
    prefer_role: PreferRoles = None,
    each_role: EachRole = None,
    org_role: OrgRole = None,
    region: Regions = None,
    alias_template: AliasTemplate = None,
    prune: Prune = None,
    set_current: SetCurrent = None,
    concurrency: Concurrency = None,
    sso_session: SsoSessions = None,
    write_profiles: WriteProfiles = None,
    profile_template: ProfileTemplate = None,
    token_helper: TokenHelper = None,
    adopt: Adopt = None,
    exclude: Exclude = None,
    include_removed: IncludeRemoved = None,
    discovery: Discovery = None,
    full: Full = None,
    kubeconfig: Kubeconfig = None,
    clear_cache: Annotated[
        bool, typer.Option("--clear-cache", help="Remove what kcm remembers of AWS first, then sync.")
    ] = False,
    kubeconfig_template: Annotated[
        str | None,
        typer.Option(
            help="One file per group instead of one kubeconfig, such as '~/.kube/eks/{account_name}.yaml' "
            "(the --alias-template fields); prints the KUBECONFIG line that lists them."
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the plan; write nothing.")] = False,
    output_format: OutputFormat = "text",
) -> None:
    from kcm.commands import sync as command

    flags = {
        **_sync_flags(locals()),
        "kubeconfig": kubeconfig,
        "clear-cache": clear_cache,
        "kubeconfig-template": kubeconfig_template,
        "dry-run": dry_run,
    }
    code = command.report(flags, output_format)
    if code:
        raise typer.Exit(code)


@app.command(help=COMMANDS["diff"])
def diff(
    files: Annotated[list[str] | None, typer.Argument(help="Kubeconfigs to preview merging.")] = None,
    profile: Profiles = None,
    all_accounts: AllAccounts = None,
    prefer_role: PreferRoles = None,
    each_role: EachRole = None,
    org_role: OrgRole = None,
    region: Regions = None,
    alias_template: AliasTemplate = None,
    prune: Prune = None,
    set_current: SetCurrent = None,
    concurrency: Concurrency = None,
    sso_session: SsoSessions = None,
    write_profiles: WriteProfiles = None,
    profile_template: ProfileTemplate = None,
    token_helper: TokenHelper = None,
    adopt: Adopt = None,
    exclude: Exclude = None,
    include_removed: IncludeRemoved = None,
    discovery: Discovery = None,
    full: Full = None,
    kubeconfig: Kubeconfig = None,
    on_conflict: OnConflict = "fail",
    flatten: Flatten = False,
    text: Annotated[
        bool, typer.Option("--text", help="The unified diff of the file as it would be written.")
    ] = False,
    raw: Raw = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Accepted; diff never writes.")] = False,
    output_format: OutputFormat = "text",
) -> None:
    output.check_format(output_format)
    del dry_run  # diff never writes: the flag only reads naturally in scripts
    flags = _sync_flags(locals())
    if files:
        given = sorted(f"--{key}" for key, value in flags.items() if value not in (None, ()))
        if given:
            raise InputError(f"{', '.join(given)}: sync options; `kcm diff FILE...` previews a merge")
        from kcm.commands import merge

        merged = merge.run(merge.MergeOptions(tuple(files), on_conflict, flatten, kubeconfig, dry_run=True))
        plan, before, after, path, failed = merged.plan, merged.before, merged.after, merged.path, False
        current = merged.current
        for item in merged.carried:
            output.warn(f"brings in: {item}")
    else:
        from kcm.commands import sync as command

        options = command.resolve({**flags, "kubeconfig": kubeconfig, "dry-run": True})
        result = command.run(options)
        plan, before, after, path = result.plan, result.before, result.after, result.path
        failed, current = result.failed, result.current
        for failure in result.scan.failures:
            output.error(f"failed: {failure.scope}: {failure.message}")
        for conflict in result.plan.conflicts.values():
            output.error(f"failed: {conflict}")
        for message in result.scan.warnings:  # a cache kcm could not use
            output.warn(message)
    if output_format == "json":
        output.out(json.dumps(output.changes_json(plan, current, raw), indent=2))
    elif text:
        output.out(output.unified(before, after, str(path)))
    else:
        for line in output.plan_lines(plan, raw):
            output.out(line)
    if failed:
        raise typer.Exit(3)  # the preview is incomplete: not "no changes", not just "changes"
    raise typer.Exit(1 if plan.changes or plan.current_context is not None else 0)


def _confirm_commands(carried: list[str]) -> bool:
    """On a terminal, ask before writing entries that make kubectl run commands; elsewhere, no."""
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        return False
    output.warn("this merge brings in what kubectl will run or read on every call through it:")
    for item in carried:
        output.warn(f"  {item}")
    return bool(typer.confirm("Write them?", default=False, err=True))


@app.command(help=COMMANDS["merge"])
def merge(
    files: Annotated[list[str], typer.Argument(help="Kubeconfigs to bring in.")],
    on_conflict: OnConflict = "fail",
    flatten: Flatten = False,
    kubeconfig: Kubeconfig = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the plan; write nothing.")] = False,
    trust: Annotated[
        bool,
        typer.Option(
            "--trust",
            help="Trust the files: write entries that make kubectl run a command or read a file (exec, "
            "auth-provider, tokenFile, certificate and key paths); without it kcm asks on a terminal and "
            "refuses in scripts.",
        ),
    ] = False,
) -> None:
    from kcm.commands import merge as command

    options = command.MergeOptions(tuple(files), on_conflict, flatten, kubeconfig, dry_run, trust)
    result = command.run(options, confirm=_confirm_commands)
    for item in result.carried:
        output.warn(f"brings in: {item}")
    for line in output.plan_lines(result.plan):
        output.out(line)
    added = sum(change.kind == "add" for change in result.plan.changes)
    changed = len(result.plan.changes) - added
    verdict = (
        f"dry run: {result.path} not written"
        if dry_run
        else f"wrote {result.path}"
        if result.written
        else f"{result.path} unchanged"
    )
    output.out(f"{added} added, {changed} changed; {verdict}")


@app.command(help=COMMANDS["use"])
def use(
    context: Annotated[
        str | None,
        typer.Argument(
            help="The context: its name, a part of it only one name holds, or - (the previous one); "
            "none: pick one on a terminal (fzf if on PATH, unless KCM_IGNORE_FZF=1), else list them."
        ),
    ] = None,
    kubeconfig: Kubeconfig = None,
) -> None:
    from kcm.commands import contexts

    _report(contexts.use(context, kubeconfig) if context is not None else contexts.choose(kubeconfig))


@app.command(help=COMMANDS["ns"])
def ns(
    namespace: Annotated[
        str | None,
        typer.Argument(
            help="The namespace, or - (the previous one); none: pick one of the cluster's on a terminal "
            "(kubectl lists them), else list them."
        ),
    ] = None,
    kubeconfig: Kubeconfig = None,
) -> None:
    from kcm.commands import contexts

    _report(contexts.namespace(namespace, kubeconfig))


@app.command(help=COMMANDS["rm"])
def rm(
    context: Annotated[list[str], typer.Argument(help="Contexts to remove.")],
    kubeconfig: Kubeconfig = None,
) -> None:
    from kcm.commands import contexts

    _report(contexts.remove(context, kubeconfig))


@app.command(help=COMMANDS["rename"])
def rename(
    old: Annotated[str, typer.Argument(help="The context's name.")],
    new: Annotated[str, typer.Argument(help="Its new name.")],
    kubeconfig: Kubeconfig = None,
) -> None:
    from kcm.commands import contexts

    _report(contexts.rename(old, new, kubeconfig))


@app.command(help=COMMANDS["export"])
def export(
    context: Annotated[list[str], typer.Argument(help="Contexts to export; the first is current.")],
    output_format: Annotated[
        str, typer.Option("--output", "-o", help="yaml, or json (as kubectl config view -o json).")
    ] = "yaml",
    output_file: Annotated[str | None, typer.Option("--output-file", help="Write here (0600).")] = None,
    kubeconfig: Kubeconfig = None,
) -> None:
    from kcm.commands import contexts

    if output_file is None:
        output.out(contexts.export(context, kubeconfig, output_format))
    else:
        written = contexts.export_to(context, output_file, kubeconfig, output_format)
        print(f"Wrote {written}", file=sys.stderr)


def _report(done: Any) -> None:
    if done is None:  # it printed its own output
        return
    for message in done.messages:
        output.out(message)
    for message in done.warnings:
        output.warn(message)


# `kcm exec` and `kcm env`: add's options for one cluster, or --context.
JobName = Annotated[str | None, typer.Option("--name", help="The cluster name.")]
JobRegion = Annotated[str | None, typer.Option(help="The cluster's region.")]
JobProfile = Annotated[str | None, typer.Option(help="AWS profile; written as AWS_PROFILE.")]
JobRole = Annotated[str | None, typer.Option(help="Role kubectl assumes for the token.")]
JobAssumeRole = Annotated[str | None, typer.Option(help="Role assumed to describe the cluster.")]
JobAlias = Annotated[str | None, typer.Option(help="Context name.")]
JobNamespace = Annotated[str | None, typer.Option(help="The context's namespace.")]
JobContext = Annotated[
    str | None, typer.Option("--context", help="Take this context from your kubeconfig instead (read-only).")
]


@app.command("exec", help=COMMANDS["exec"], context_settings={"allow_interspersed_args": False})
def exec_(
    command: Annotated[list[str], typer.Argument(help="The command to run, after --.")],
    name: JobName = None,
    region: JobRegion = None,
    profile: JobProfile = None,
    role_arn: JobRole = None,
    assume_role_arn: JobAssumeRole = None,
    alias: JobAlias = None,
    namespace: JobNamespace = None,
    context: JobContext = None,
    kubeconfig: Kubeconfig = None,
    token_helper: TokenHelper = None,
) -> None:
    from kcm.commands import ci

    options = ci.JobOptions(
        name=name,
        region=region,
        profile=profile,
        role_arn=role_arn,
        assume_role_arn=assume_role_arn,
        alias=alias,
        namespace=namespace,
        context=context,
        kubeconfig=kubeconfig,
        exec_plugin=token_helper,
    )
    raise typer.Exit(ci.run(options, command))


@app.command(help=COMMANDS["env"])
def env(
    name: JobName = None,
    region: JobRegion = None,
    profile: JobProfile = None,
    role_arn: JobRole = None,
    assume_role_arn: JobAssumeRole = None,
    alias: JobAlias = None,
    namespace: JobNamespace = None,
    context: JobContext = None,
    kubeconfig: Kubeconfig = None,
    token_helper: TokenHelper = None,
    shell_format: Annotated[
        str, typer.Option("--format", help="sh (for eval) or github ($GITHUB_ENV).")
    ] = "sh",
    clean: Annotated[
        bool, typer.Option("--clean", help="Remove the files whose shell session has ended.")
    ] = False,
) -> None:
    import shlex

    from kcm.commands import ci

    if clean:
        for folder in ci.clean():
            print(f"removed {folder}", file=sys.stderr)
        return
    if shell_format not in ("sh", "github"):
        raise InputError(f"--format {shell_format!r}: choose sh or github")
    options = ci.JobOptions(
        name=name,
        region=region,
        profile=profile,
        role_arn=role_arn,
        assume_role_arn=assume_role_arn,
        alias=alias,
        namespace=namespace,
        context=context,
        kubeconfig=kubeconfig,
        exec_plugin=token_helper,
    )
    path = ci.env(options, shell_owned=shell_format == "sh")
    output.out(
        f"export KUBECONFIG={shlex.quote(str(path))}" if shell_format == "sh" else f"KUBECONFIG={path}"
    )


def _confirm_fix(files: list[Any]) -> bool:
    """On a terminal, ask before `doctor --fix` writes; elsewhere --fix is the answer (it was asked for)."""
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        return True
    where = ", ".join(str(path) for path in files)
    return bool(typer.confirm(f"Write these changes to {where}?", default=False, err=True))


@app.command(help=COMMANDS["doctor"])
def doctor(
    context: Annotated[
        str | None, typer.Option(help="The context to check (default: the current one).")
    ] = None,
    kubeconfig: Kubeconfig = None,
    output_format: OutputFormat = "text",
    fix: Annotated[
        bool,
        typer.Option(
            "--fix",
            help="Then fix what kcm can: a stale cluster server and CA (as EKS describes them now), a "
            "stale exec entry (v1alpha1, aws-iam-authenticator, get-token without --output json or "
            "--region). Shows the plan, asks on a terminal (not in scripts), writes one locked edit "
            "(`kcm undo` puts it back), and checks again.",
        ),
    ] = False,
) -> None:
    from kcm.commands import doctor as command

    output.check_format(output_format)
    if fix:
        raise typer.Exit(command.repair(context, kubeconfig, output_format, _confirm_fix))
    checks = command.run(context, kubeconfig)
    if output_format == "json":
        output.out(json.dumps(command.as_json(checks), indent=2))
    else:
        output.checks(checks)
    if any(check.status == "fail" for check in checks):
        raise typer.Exit(1)


@app.command("list", help=COMMANDS["list"])
def list_(
    kubeconfig: Kubeconfig = None,
    output_format: Annotated[
        str, typer.Option("--output", "-o", help="text, json, or name (one context name a line).")
    ] = "text",
) -> None:
    from kcm.commands import listing

    listing.show(kubeconfig, output_format)


@app.command(help=COMMANDS["current"])
def current(
    kubeconfig: Kubeconfig = None,
    namespace: Annotated[
        bool, typer.Option("--namespace", help="The current context's namespace instead (default if unset).")
    ] = False,
) -> None:
    from kcm import quick

    output.out(quick.current(kubeconfig, namespace))


@app.command(help=COMMANDS["completion"])
def completion(
    shell: Annotated[str, typer.Argument(help="bash, zsh or fish.")],
) -> None:
    from kcm import completion as scripts
    from kcm.options import SHELLS

    if shell not in SHELLS:
        raise InputError(f"no completion for {shell!r}: choose bash, zsh or fish")
    output.out(scripts.script(shell))


@app.command(help=COMMANDS["token"])
def token(
    cluster_name: Annotated[str | None, typer.Option(help="The cluster the token is for.")] = None,
    cluster_id: Annotated[
        str | None, typer.Option(help="The cluster's id (Outposts local clusters).")
    ] = None,
    region: Annotated[str | None, typer.Option(help="The cluster's region (STS signs there).")] = None,
    role_arn: Annotated[
        str | None, typer.Option("--role-arn", "--role", help="Assume this role and sign as it.")
    ] = None,
    output_format: Annotated[str | None, typer.Option("--output", help="json, the only format.")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Make a new token; keep none.")] = False,
    clear_cache: Annotated[bool, typer.Option("--clear-cache", help="Remove every cached token.")] = False,
) -> None:
    from kcm import token as command

    flags = {
        "cluster-name": cluster_name,
        "cluster-id": cluster_id,
        "region": region,
        "role-arn": role_arn,
        "output": output_format,
        "no-cache": no_cache,
        "clear-cache": clear_cache,
    }
    code = command.command(flags)
    if code:
        raise typer.Exit(code)


@app.command(help=COMMANDS["undo"])
def undo(
    kubeconfig: Annotated[str | None, typer.Option(help="The kubeconfig file.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Even if the file changed since.")] = False,
    list_steps: Annotated[
        bool,
        typer.Option(
            "--list",
            help="Show the steps kept, newest first: when, which command, how many entries each changed.",
        ),
    ] = False,
    output_format: Annotated[str, typer.Option("--output", "-o", help="With --list: text or json.")] = "text",
) -> None:
    from kcm.commands import undo as command

    if not list_steps:
        if output_format != "text":
            raise InputError("--output: only `kcm undo --list` prints a format")
        output.out(command.run(kubeconfig, force))
    elif force:
        raise InputError("--force restores; `kcm undo --list` only shows the steps")
    else:
        command.show(kubeconfig, output_format)


@app.command(help=COMMANDS["unlock"])
def unlock(
    kubeconfig: Annotated[
        str | None, typer.Option(help="The kubeconfig file (default: the KUBECONFIG list).")
    ] = None,
) -> None:
    from kcm import lock, paths

    for path in paths.kubeconfig_paths(kubeconfig):
        output.out(lock.unlock(path.with_name(path.name + ".lock")))


def app_for(args: list[str]) -> typer.Typer:
    """The app that runs `args`: for a command, one holding only that command (typer makes every
    command's options from its signature before it runs any, 41 ms of CPU for kcm's 18 commands and
    2 to 8 ms for one); for anything else (`--help`, a misspelt command) the whole app, which lists them."""
    start = 0
    while start < len(args) and args[start] == "--debug":  # the group's one option that is not eager
        start += 1
    name = args[start] if start < len(args) else None
    for command in app.registered_commands:
        callback = command.callback
        if name == (command.name or (callback.__name__.lower().replace("_", "-") if callback else None)):
            one = copy.copy(app)
            one.registered_commands = [command]
            return one
    return app


def run() -> int:
    """Run the typer app on sys.argv; its exit status (kcm.main ends the process)."""
    try:
        app_for(sys.argv[1:])()
    except SystemExit as exc:
        return _exit_code(exc.code)
    return 0


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)  # what sys.exit("message") does
    return 1
