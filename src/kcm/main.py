"""The `kcm` command's front door.

What people run dozens of times a day (`kcm list`, `kcm use CONTEXT`, `kcm current`, the shell's
`kcm __complete`, `kcm completion SHELL`, `kcm --help` and `--version`) and what cron, CI and kubectl
run over and over (`kcm sync`, `kcm token`) run from here without importing typer (with the pydantic it
brings, a tenth of a second before any work). Their options are kcm.options'. Anything else, and any
form of those this door does not recognise exactly (`kcm list --help`, a misspelt option), goes to the
typer app in cli.py, which parses and explains everything.
"""

from __future__ import annotations

import gc
import os
import sys

from kcm import __version__, options

# name -> summary, in `kcm --help` order; tests/test_cli.py checks it against the typer app's commands.
COMMANDS = {
    "add": "Add or update one EKS cluster as `aws eks update-kubeconfig` does, keeping the rest of the file.",
    "sync": "Write a context for every EKS cluster in every account and region your AWS setup reaches.",
    "diff": "Preview a sync (with sync's options) or a merge (FILE...): exit 0 no changes, 1 changes.",
    "merge": "Bring other kubeconfigs' clusters, users and contexts into yours, keeping every line of it.",
    "use": "Make CONTEXT current: its name, a part of it no other name holds, or - for the previous one.",
    "ns": "Set the current context's namespace: NAME, - for the previous one, or pick one of the cluster's.",
    "rm": "Remove contexts, and their clusters and users unless another context still uses them.",
    "rename": "Rename a context; current-context follows it.",
    "export": "A self-contained kubeconfig, YAML or -o json: just these contexts, their clusters and users.",
    "exec": "Run a command with KUBECONFIG set to a private file holding just one cluster; removed after.",
    "env": "Write a private kubeconfig for this shell and print the line that points KUBECONFIG at it.",
    "doctor": "Walk the layers to the cluster, name the broken one with its fix; --fix makes those it can.",
    "list": "List contexts with cluster, user, namespace, AWS account and region; * marks the current one.",
    "current": "Print the current context (or with --namespace its namespace), for shell prompts.",
    "token": "kubectl's exec plugin: an EKS token as `aws eks get-token` makes it, cached until near expiry.",
    "undo": "Put the kubeconfig back as it was before kcm's last change to it; --list shows the steps kept.",
    "unlock": "Remove a kubeconfig lock left by a crashed kubectl or kcm (never one a live process holds).",
    "completion": "Print the completion script for bash, zsh or fish; its first lines say how to load it.",
}
SUMMARY = "kcm: kubeconfig manager and merger for Amazon EKS."
# Why, and the way out; before any command runs, since a write would fail halfway through it.
WINDOWS = "kcm keeps kubeconfigs private by POSIX owner and mode checks; run it in WSL"


def main() -> None:
    """The `kcm` command. A run is short and its garbage is freed by reference counting: the cyclic
    collector runs far less often than Python's default (tuned for long-lived processes), which cost a
    small sync a tenth of its time. When the command is done, the process ends without tearing down the
    interpreter (0.1-0.2 s of freeing botocore's models object by object); commands release their locks
    and remove their files in their own `finally` blocks, so nothing waits for exit."""
    gc.set_threshold(100_000, 10, 10)
    if sys.platform == "win32":
        sys.stderr.write(f"kcm: Windows is not supported yet: {WINDOWS}\n")
        sys.stderr.flush()
        os._exit(1)
    try:
        code = fast(sys.argv[1:])
        if code is None:
            from kcm import cli

            code = cli.run()
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:  # `kcm list | head`: the reader left; as any CLI, end quietly
        code = 141  # what a shell reports for a command ended by SIGPIPE
    os._exit(code)


def fast(argv: list[str]) -> int | None:
    """The exit status of a command run here, or None for one the typer app must run."""
    if argv in ([], ["--help"], ["-h"]):
        sys.stdout.write(help_text())
        return 0
    if argv == ["--version"]:
        sys.stdout.write(f"kcm {__version__}\n")
        return 0
    door = _DOORS.get(argv[0])
    if door is None:
        return None
    from kcm.errors import KcmError, printable

    try:
        return door(argv[1:])
    except KcmError as exc:
        sys.stderr.write(f"kcm: {printable(str(exc))}\n")  # output.error's, without importing kcm.output
        return exc.exit_code
    except KeyboardInterrupt:  # as the typer app (click) ends on Ctrl-C
        print("\nAborted!", file=sys.stderr)
        return 1


def _list(args: list[str]) -> int | None:
    words: list[str] = []
    flags = given_options(args, options.COMMANDS["list"].door(), words)
    if flags is None or words:
        return None
    from kcm.commands import listing

    return listing.show(_text(flags.get("kubeconfig")), str(flags.get("output") or "text"))


def _use(args: list[str]) -> int | None:
    """`kcm use NAME` (and `kcm use -`): one value written where the cache says it is (kcm.quick),
    else the full edit."""
    words: list[str] = []
    flags = given_options(args, options.COMMANDS["use"].door(), words)
    if flags is None or len(words) != 1:
        return None
    from kcm import quick

    kubeconfig = _text(flags.get("kubeconfig"))
    message = quick.use(words[0], kubeconfig)
    if message is None:
        from kcm.commands import contexts

        message = "\n".join(contexts.use(words[0], kubeconfig).messages)
    sys.stdout.write(message + "\n")
    return 0


def _add(args: list[str]) -> int | None:
    """`kcm add`, run in loops as `aws eks update-kubeconfig` is: here, without typer (with the
    pydantic it brings, 0.17 s of each run), unless it must ask which cluster on a terminal."""
    words: list[str] = []
    flags = given_options(args, options.COMMANDS["add"].door(), words)
    if flags is None or len(words) > 1:
        return None
    name, named = _text(flags.get("name")), words[0] if words else None
    if name and named and name != named:
        return None  # the typer app explains
    if not (name or named) and sys.stdin.isatty():
        return None  # it may ask which cluster: the typer app's prompt
    from kcm.commands import add

    add.report(
        add.AddOptions(
            name=name or named,
            region=_text(flags.get("region")),
            profile=_text(flags.get("profile")),
            role_arn=_text(flags.get("role-arn")),
            assume_role_arn=_text(flags.get("assume-role-arn")),
            alias=_text(flags.get("alias")),
            user_alias=_text(flags.get("user-alias")),
            kubeconfig=_text(flags.get("kubeconfig")),
            proxy_url=_text(flags.get("proxy-url")),
            dry_run=bool(flags.get("dry-run")),
            exec_plugin=_text(flags.get("token-helper")) or "aws",
        ),
        verbose=bool(flags.get("verbose")),
    )
    return 0


def _ns(args: list[str]) -> int | None:
    """`kcm ns NAME`, `kcm ns -` and `kcm ns` (pick or list): kubens' everyday verb, as `use` is kubectx's."""
    words: list[str] = []
    flags = given_options(args, options.COMMANDS["ns"].door(), words)
    if flags is None or len(words) > 1:
        return None
    from kcm.commands import contexts

    done = contexts.namespace(words[0] if words else None, _text(flags.get("kubeconfig")))
    if done is not None:  # None: it printed its own output
        from kcm.errors import printable

        sys.stdout.writelines(message + "\n" for message in done.messages)
        sys.stderr.writelines(f"kcm: warning: {printable(message)}\n" for message in done.warnings)
    return 0


def _current(args: list[str]) -> int | None:
    flags = given_options(args, options.COMMANDS["current"].door())
    if flags is None:
        return None
    from kcm import quick

    sys.stdout.write(quick.current(_text(flags.get("kubeconfig")), bool(flags.get("namespace"))) + "\n")
    return 0


def _complete(args: list[str]) -> int | None:
    """`kcm __complete WORD...`: what the shell completion scripts ask (kcm.completion)."""
    from kcm import completion

    sys.stdout.write(completion.answer(args))
    return 0


def _completion(args: list[str]) -> int | None:
    if len(args) != 1 or args[0] not in options.SHELLS:
        return None  # typer explains
    from kcm import completion

    sys.stdout.write(completion.script(args[0]))
    return 0


def _text(value: object) -> str | None:
    return str(value) if value is not None else None


SYNC_OPTIONS = options.COMMANDS["sync"].door()
# What sync's flags are when not given: None for what the config file may set (lists: empty), so that
# it can; the declared default for the rest.
_SYNC_UNSET = {
    opt.key: (() if opt.kind == "list" else None) if opt.setting else opt.default
    for opt in options.COMMANDS["sync"].options
}


def sync_flags(args: list[str]) -> dict[str, object] | None:
    """`kcm sync ARGS` as the flags `commands.sync.report` takes (plus "output"), or None when the
    typer app must parse them."""
    flags = given_options(args, SYNC_OPTIONS)
    if flags is None:
        return None
    return {**_SYNC_UNSET, **flags}


def given_options(
    args: list[str], spec: dict[str, tuple[str, object]], positional: list[str] | None = None
) -> dict[str, object] | None:
    """The options of `spec` found in `args`, by key (words that are not options go to `positional`
    when it is given); None for anything else: an option `spec` does not name, a flag with a value, a
    one-value option given twice, a value missing or not an integer, a word with nowhere to go."""
    flags: dict[str, object] = {}
    words = iter(args)
    for word in words:
        if positional is not None and (not word.startswith("-") or word == "-"):
            positional.append(word)
            continue
        name, equals, value = word.partition("=")
        found = spec.get(name)
        if found is None:
            return None
        key, kind = found
        if isinstance(kind, bool):
            if equals or key in flags:
                return None
            flags[key] = kind
            continue
        if not equals:
            following = next(words, None)
            if following is None:
                return None
            value = following
        if kind == "list":
            given = flags.get(key, ())
            assert isinstance(given, tuple)
            flags[key] = (*given, value)
        elif key in flags:
            return None
        elif kind == "int":
            if not (value.isascii() and value.isdigit()):  # typer explains anything else
                return None
            flags[key] = int(value)
        else:
            flags[key] = value
    return flags


def _sync(args: list[str]) -> int | None:
    """`kcm sync` without typer: the door's biggest saving (a tenth of a second of pydantic)."""
    flags = sync_flags(args)
    if flags is None:
        return None
    from kcm import paths, prefetch, settings

    config = settings.load("sync")
    if flags["kubeconfig-template"] is not None or (
        not flags["kubeconfig"] and "kubeconfig-template" in config
    ):
        from kcm.commands import sync

        return sync.report(flags, str(flags.pop("output")))  # many files: none is parsed early
    kubeconfig = _text(flags["kubeconfig"] or config.get("kubeconfig"))
    # A big file's parse starts now, on another core, while botocore is imported and AWS asked.
    with prefetch.prefetch(paths.kubeconfig_paths(kubeconfig)[0]) as early:
        from kcm.commands import sync

        return sync.report(flags, str(flags.pop("output")), early)


def _token(args: list[str]) -> int | None:
    """`kcm token`, kubectl's exec plugin: a cached token costs the interpreter's start and a file read."""
    flags = given_options(args, options.COMMANDS["token"].door())
    if flags is None:
        return None
    from kcm import token

    return token.command(flags)


def help_text() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = [
        "Usage: kcm [OPTIONS] COMMAND [ARGS]...",
        "",
        f"  {SUMMARY}",
        "",
        "Options:",
        "  --debug    Show tracebacks.",
        "  --version  Show the version.",
        "  --help     Show this message and exit.",
        "",
        "Commands:",
        *(f"  {name:<{width}}  {summary}" for name, summary in COMMANDS.items()),
        "",
        "`kcm COMMAND --help` for a command's options.",
    ]
    return "\n".join(lines) + "\n"


_DOORS = {
    "add": _add,
    "list": _list,
    "use": _use,
    "ns": _ns,
    "current": _current,
    "sync": _sync,
    "token": _token,
    "__complete": _complete,
    "completion": _completion,
}
