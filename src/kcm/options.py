"""Every command's options, declared once: what each is called, what it takes, its default, whether
the config file may set it, and what completes its value.

Read by the front door (kcm.main parses the everyday commands and sync without typer), by shell
completion (kcm.completion), by the config file's schema (kcm.settings) and by sync's `resolve`. The
typer app in cli.py declares the same options with their help; tests/test_cli.py holds the two equal.
Adding an option: one line here, its parameter and help in cli.py. Nothing here imports anything: the
commands that read it run dozens of times a day.
"""

from __future__ import annotations

# What completes a value: a kind of name kcm can list, "file" (the shell's own file completion), or
# nothing (""); a tuple is the fixed choices.
Values = str | tuple[str, ...]


class Option:
    """One option: `names` (the first is the long one), the key it is known by in flags and the config
    file, its kind ("value", "list": repeatable, "int", "flag": no value), and `negative`, the flag that
    turns a flag off (`--no-prune`)."""

    __slots__ = ("default", "key", "kind", "names", "negative", "setting", "values")

    def __init__(
        self,
        *names: str,
        key: str = "",
        kind: str = "value",
        values: Values = "",
        default: object = None,
        setting: bool = False,
        negative: str = "",
    ) -> None:
        self.names = names
        self.key = key or names[0].lstrip("-")
        self.kind = kind
        self.values = values
        self.default = default
        self.setting = setting  # the config file's [command] table may set it
        self.negative = negative

    def takes_value(self) -> bool:
        return self.kind != "flag"


class Command:
    """A command's options, and what its arguments are (`args`: the kinds of values, in order; the last
    one repeats when `repeat`)."""

    __slots__ = ("args", "options", "repeat")

    def __init__(self, options: tuple[Option, ...], args: tuple[Values, ...] = (), repeat: bool = False):
        self.options = options
        self.args = args
        self.repeat = repeat

    def find(self, name: str) -> Option | None:
        return next((opt for opt in self.options if name in opt.names or name == opt.negative), None)

    def door(self) -> dict[str, tuple[str, object]]:
        """The options as kcm.main.given_options reads them: name -> (key, kind); a flag's kind is the
        value it sets."""
        table: dict[str, tuple[str, object]] = {}
        for opt in self.options:
            kind: object = True if opt.kind == "flag" else opt.kind
            table.update({name: (opt.key, kind) for name in opt.names})
            if opt.negative:
                table[opt.negative] = (opt.key, False)
        return table


def _output(*formats: str) -> Option:
    return Option("--output", "-o", values=formats, default=formats[0])


KUBECONFIG = Option("--kubeconfig", values="file")
TOKEN_HELPER = Option("--token-helper", values=("aws", "kcm"), default="aws", setting=True)
CONFLICT = Option("--on-conflict", values=("fail", "keep", "theirs", "rename"), default="fail")
FLATTEN = Option("--flatten", kind="flag", default=False)
DRY_RUN = Option("--dry-run", kind="flag", default=False)

# sync's scope and naming options, which `kcm diff` takes too.
SCOPE = (
    Option("--profile", kind="list", values="profile", default=(), setting=True),
    Option("--all-accounts", kind="flag", default=False, setting=True),
    Option("--prefer-role", kind="list", default=(), setting=True),
    Option("--each-role", kind="flag", default=False, setting=True),
    Option("--org-role", setting=True),
    Option("--region", kind="list", values="region", default=(), setting=True),
    Option("--alias-template", setting=True),
    Option("--prune", kind="flag", default=False, setting=True, negative="--no-prune"),
    Option("--set-current", values="context"),
    Option("--concurrency", kind="int", default=16, setting=True),
    Option("--sso-session", kind="list", values="sso-session", default=(), setting=True),
    Option("--write-profiles", kind="flag", default=True, setting=True, negative="--no-write-profiles"),
    Option("--profile-template", setting=True),
    TOKEN_HELPER,
    Option("--adopt", kind="flag", default=True, setting=True, negative="--no-adopt"),
    Option("--exclude", kind="list", default=(), setting=True),
    Option("--include-removed", kind="flag"),  # unset: None, as typer leaves it
    Option("--discovery", values=("list", "resource-explorer"), default="list", setting=True),
    Option("--full", kind="flag"),  # unset: None, as typer leaves it
)
# One cluster, as `kcm add` names it (`aws eks update-kubeconfig`'s options).
_CLUSTER = (
    Option("--name"),
    Option("--region", values="region"),
    Option("--profile", values="profile"),
    Option("--role-arn"),
    Option("--assume-role-arn"),
    Option("--alias"),
)
# `kcm exec` and `kcm env`: one cluster, as add names it, or a context of the kubeconfig.
_JOB = (
    *_CLUSTER,
    Option("--namespace"),
    Option("--context", values="context"),
    KUBECONFIG,
    Option("--token-helper", values=("aws", "kcm")),
)
SHELLS = ("bash", "zsh", "fish")

COMMANDS: dict[str, Command] = {
    "add": Command(
        (
            *_CLUSTER,
            Option("--user-alias"),
            KUBECONFIG,
            Option("--proxy-url"),
            DRY_RUN,
            Option("--verbose", kind="flag", default=False),
            Option("--token-helper", values=("aws", "kcm")),
        ),
        args=("",),
    ),
    "sync": Command(
        (
            *SCOPE,
            Option("--kubeconfig", values="file", setting=True),
            Option("--clear-cache", kind="flag", default=False),
            Option("--kubeconfig-template", values="file", setting=True),
            DRY_RUN,
            _output("text", "json"),
        )
    ),
    "diff": Command(
        (
            *SCOPE,
            KUBECONFIG,
            CONFLICT,
            FLATTEN,
            Option("--text", kind="flag", default=False),
            Option("--raw", kind="flag", default=False),
            DRY_RUN,
            _output("text", "json"),
        ),
        args=("file",),
        repeat=True,
    ),
    "merge": Command(
        (CONFLICT, FLATTEN, KUBECONFIG, DRY_RUN, Option("--trust", kind="flag", default=False)),
        args=("file",),
        repeat=True,
    ),
    "use": Command((KUBECONFIG,), args=("context",)),
    "ns": Command((KUBECONFIG,), args=("namespace",)),
    "rm": Command((KUBECONFIG,), args=("context",), repeat=True),
    "rename": Command((KUBECONFIG,), args=("context", "")),
    "export": Command(
        (Option("--output-file", values="file"), _output("yaml", "json"), KUBECONFIG),
        args=("context",),
        repeat=True,
    ),
    "exec": Command(_JOB, args=("",), repeat=True),
    "env": Command(
        (
            *_JOB,
            Option("--format", values=("sh", "github"), default="sh"),
            Option("--clean", kind="flag", default=False),
        )
    ),
    "doctor": Command(
        (
            Option("--context", values="context"),
            KUBECONFIG,
            _output("text", "json"),
            Option("--fix", kind="flag", default=False),
        )
    ),
    "list": Command((KUBECONFIG, _output("text", "json", "name"))),
    "current": Command((KUBECONFIG, Option("--namespace", kind="flag", default=False))),
    "token": Command(
        (
            Option("--cluster-name"),
            Option("--cluster-id"),
            Option("--region", values="region"),
            Option("--role-arn", "--role", key="role-arn"),
            Option("--output", values=("json",)),
            Option("--no-cache", kind="flag", default=False),
            Option("--clear-cache", kind="flag", default=False),
        )
    ),
    "undo": Command(
        (
            KUBECONFIG,
            Option("--force", kind="flag", default=False),
            Option("--list", kind="flag", default=False),
            _output("text", "json"),
        )
    ),
    "unlock": Command((KUBECONFIG,)),
    "completion": Command((), args=(SHELLS,)),
}
# Before the command: `kcm --debug sync`.
GLOBAL = (Option("--debug", kind="flag"), Option("--version", kind="flag"), Option("--help", kind="flag"))


def default(command: str, key: str) -> object:
    """The default of `command`'s option `key`."""
    found = next(opt for opt in COMMANDS[command].options if opt.key == key)
    return found.default
