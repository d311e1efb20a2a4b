"""The `kcm` command's front door.

What people run dozens of times a day, `kcm list`, `kcm use CONTEXT`, `kcm --help` and `--version`, and
what cron and CI run over and over, `kcm sync`, run from here without importing typer (with the pydantic
it brings, a tenth of a second before any work). Anything else, and any form of those this door does
not recognise exactly (`kcm list --help`, a misspelt option), goes to the typer app in cli.py, which
parses and explains everything.
"""

from __future__ import annotations

import gc
import os
import sys

from kcm import __version__

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
    "export": "A self-contained kubeconfig: just these contexts, their clusters and users, files inlined.",
    "exec": "Run a command with KUBECONFIG set to a private file holding just one cluster; removed after.",
    "env": "Write a private kubeconfig for this shell and print the line that points KUBECONFIG at it.",
    "doctor": "Walk the layers between you and the cluster, and name the broken one with its fix.",
    "list": "List contexts with cluster, user, namespace, AWS account and region; * marks the current one.",
    "token": "kubectl's exec plugin: an EKS token as `aws eks get-token` makes it, cached until near expiry.",
    "undo": "Put the kubeconfig back as it was before kcm's last change to it.",
    "unlock": "Remove a kubeconfig lock left by a crashed kubectl or kcm (never one a live process holds).",
}
SUMMARY = "kcm: kubeconfig manager and merger for Amazon EKS."


def main() -> None:
    """The `kcm` command. A run is short and its garbage is freed by reference counting: the cyclic
    collector runs far less often than Python's default (tuned for long-lived processes), which cost a
    small sync a tenth of its time. When the command is done, the process ends without tearing down the
    interpreter (0.1-0.2 s of freeing botocore's models object by object); commands release their locks
    and remove their files in their own `finally` blocks, so nothing waits for exit."""
    gc.set_threshold(100_000, 10, 10)
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


# `kcm list` and `kcm use`'s options (the typer app declares the same).
LIST_OPTIONS: dict[str, tuple[str, object]] = {
    "--kubeconfig": ("kubeconfig", "value"),
    "--output": ("output", "value"),
    "-o": ("output", "value"),
}


def _list(args: list[str]) -> int | None:
    words: list[str] = []
    flags = given_options(args, LIST_OPTIONS, words)
    if flags is None or words:
        return None
    from kcm.commands import listing

    return listing.show(_text(flags.get("kubeconfig")), str(flags.get("output") or "text"))


def _use(args: list[str]) -> int | None:
    words: list[str] = []
    flags = given_options(args, LIST_OPTIONS, words)
    if flags is None or len(words) != 1 or "output" in flags:
        return None
    from kcm import output
    from kcm.commands import contexts

    for message in contexts.use(words[0], _text(flags.get("kubeconfig"))).messages:
        output.out(message)
    return 0


def _text(value: object) -> str | None:
    return str(value) if value is not None else None


# `kcm sync`'s options as the typer app declares them (tests/test_cli.py holds the two to each other):
# option -> (key in sync's flags, kind). The door takes each given once, as `--name value`,
# `--name=value` or a bare flag; anything else (help, a repeat of a one-value option, a typo) goes to typer.
SYNC_OPTIONS = {
    "--profile": ("profile", "list"),
    "--prefer-role": ("prefer-role", "list"),
    "--region": ("region", "list"),
    "--org-role": ("org-role", "value"),
    "--alias-template": ("alias-template", "value"),
    "--set-current": ("set-current", "value"),
    "--kubeconfig": ("kubeconfig", "value"),
    "--output": ("output", "value"),
    "-o": ("output", "value"),
    "--concurrency": ("concurrency", "int"),
    "--token-helper": ("token-helper", "value"),
    "--sso-session": ("sso-session", "list"),
    "--profile-template": ("profile-template", "value"),
    "--write-profiles": ("write-profiles", True),
    "--no-write-profiles": ("write-profiles", False),
    "--all-accounts": ("all-accounts", True),
    "--each-role": ("each-role", True),
    "--prune": ("prune", True),
    "--no-prune": ("prune", False),
    "--dry-run": ("dry-run", True),
}
_SYNC_UNSET = {
    "profile": (),
    "prefer-role": (),
    "region": (),
    "sso-session": (),
    "dry-run": False,
    "output": "text",
}


def sync_flags(args: list[str]) -> dict[str, object] | None:
    """`kcm sync ARGS` as the flags `commands.sync.report` takes (plus "output"), or None when the
    typer app must parse them."""
    flags = given_options(args, SYNC_OPTIONS)
    if flags is None:
        return None
    return {**dict.fromkeys(SYNC_KEYS), **_SYNC_UNSET, **flags}


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


SYNC_KEYS = sorted({key for key, _ in SYNC_OPTIONS.values()})


def _sync(args: list[str]) -> int | None:
    """`kcm sync` without typer: the door's biggest saving (a tenth of a second of pydantic)."""
    flags = sync_flags(args)
    if flags is None:
        return None
    from kcm import paths, prefetch, settings

    kubeconfig = _text(flags["kubeconfig"] or settings.load("sync").get("kubeconfig"))
    # A big file's parse starts now, on another core, while botocore is imported and AWS asked.
    with prefetch.prefetch(paths.kubeconfig_paths(kubeconfig)[0]) as early:
        from kcm.commands import sync

        return sync.report(flags, str(flags.pop("output")), early)


# `kcm token`'s options (held to the typer app's by tests/test_cli.py, as sync's): `aws eks get-token`'s.
TOKEN_OPTIONS = {
    "--cluster-name": ("cluster-name", "value"),
    "--cluster-id": ("cluster-id", "value"),
    "--region": ("region", "value"),
    "--role-arn": ("role-arn", "value"),
    "--role": ("role-arn", "value"),  # as `aws eks update-kubeconfig` writes it for get-token
    "--output": ("output", "value"),
    "--no-cache": ("no-cache", True),
    "--clear-cache": ("clear-cache", True),
}


def _token(args: list[str]) -> int | None:
    """`kcm token`, kubectl's exec plugin: a cached token costs the interpreter's start and a file read."""
    flags = given_options(args, TOKEN_OPTIONS)
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


_DOORS = {"list": _list, "use": _use, "sync": _sync, "token": _token}
