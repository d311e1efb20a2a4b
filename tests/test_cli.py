"""The `kcm` command as users run it: a process, its exit code, its output complete through a pipe."""

from __future__ import annotations

import json
import subprocess
import typing
from pathlib import Path

import pytest

from tests.conftest import VENV_BIN


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(VENV_BIN / "kcm"), *args], capture_output=True, text=True, env=env)


def test_success_is_zero_and_the_whole_output_arrives(tmp_path: Path) -> None:
    """Output far larger than a pipe's buffer still arrives in full: kcm flushes before it exits."""
    config = tmp_path / "config"
    contexts = "".join(f"- name: c{n}\n  context: {{cluster: c{n}, user: u{n}}}\n" for n in range(3000))
    config.write_text(f"apiVersion: v1\nkind: Config\ncontexts:\n{contexts}")
    done = run("list", "--kubeconfig", str(config), "-o", "json")
    assert done.returncode == 0, done.stderr
    assert len(done.stdout) > 200_000
    assert [row["name"] for row in json.loads(done.stdout)] == [f"c{n}" for n in range(3000)]


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = run("list", "--kubeconfig", str(tmp_path / "config"), "--output", "yaml")
    assert done.returncode == 2
    assert done.stderr == "kcm: --output 'yaml': choose text, json or name\n"
    assert done.stdout == ""


def test_version() -> None:
    done = run("--version")
    assert done.returncode == 0 and done.stdout.startswith("kcm ")


@pytest.mark.parametrize("args", [["use", "a"], ["sync"], ["--version"]])
def test_on_windows_every_command_is_refused_in_one_line_before_it_runs(
    args: list[str], tmp_path: Path
) -> None:
    """kcm is not supported on Windows (README): it says so and why before any command reads or writes
    a file, instead of failing halfway through a write. Run here with sys.platform as Windows has it."""
    import sys

    work = tmp_path / "work"
    work.mkdir()
    config = work / "config"
    config.write_text("apiVersion: v1\nkind: Config\ncurrent-context: b\ncontexts:\n- name: a\n- name: b\n")
    code = "import sys; sys.platform = 'win32'; from kcm.main import main; main()"
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(work), "KUBECONFIG": str(config)},
    )
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == (
        "kcm: Windows is not supported yet: kcm keeps kubeconfigs private by POSIX owner and mode checks; "
        "run it in WSL\n"
    )
    assert "current-context: b" in config.read_text() and list(work.iterdir()) == [config]


def test_help_lists_every_command_and_each_command_has_its_own(tmp_path: Path) -> None:
    from kcm.cli import app
    from kcm.main import COMMANDS

    registered = {command.name or command.callback.__name__ for command in app.registered_commands}
    assert registered == set(COMMANDS)
    top = run("--help")
    assert top.returncode == 0
    for name, summary in COMMANDS.items():
        assert f"  {name}" in top.stdout and summary in top.stdout
    assert run().stdout == top.stdout  # no arguments: the same help
    own = run("list", "--help")  # not the front door's: typer's, with the command's options
    assert own.returncode == 0 and "--kubeconfig" in own.stdout and "--output" in own.stdout


def test_every_commands_help_renders() -> None:
    """typer, click and rich draw each command's help (make test-lowest runs this on the lowest versions)."""
    from typer.testing import CliRunner

    from kcm.cli import app
    from kcm.main import COMMANDS

    for name in COMMANDS:
        done = CliRunner().invoke(app, [name, "--help"])
        assert done.exit_code == 0 and "--help" in done.output, (name, done.output, done.exception)


def test_a_command_runs_on_an_app_of_that_command_alone_exactly_as_on_the_whole_app(tmp_path: Path) -> None:
    """cli.app_for: help, usage errors and a run are the whole app's, byte for byte; anything that is
    not a command gets the whole app, which names them all."""
    from typer.testing import CliRunner

    from kcm.cli import app, app_for
    from kcm.main import COMMANDS

    config = tmp_path / "config"
    start = "apiVersion: v1\nkind: Config\ncontexts:\n- name: a\n  context: {cluster: c, user: u}\n"

    def run(on: typing.Any, argv: list[str]) -> tuple[int, str, str, str]:
        config.write_text(start)
        done = CliRunner().invoke(on, argv)
        return done.exit_code, done.stdout, done.stderr, config.read_text()

    cases = [
        ["--debug", "list", "--kubeconfig", str(config)],
        ["rename", "a", "b", "--kubeconfig", str(config)],
    ]
    for name in COMMANDS:
        cases += [[name, "--help"], [name, "--no-such-option"], [name], ["--debug", name, "--help"]]
    for argv in cases:
        one = app_for(argv)
        assert len(one.registered_commands) == 1, argv
        assert run(one, argv) == run(app, argv), argv
    assert run(app, cases[1])[3] != start  # the rename ran
    for argv in ([], ["--help"], ["--version"], ["nosuch"], ["--debug"], ["--debug", "--nosuch", "list"]):
        assert app_for(argv) is app, argv
    assert len(app.registered_commands) == len(COMMANDS)


def test_the_front_door_hands_what_it_does_not_know_to_the_full_parser(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(
        "apiVersion: v1\nkind: Config\ncontexts:\n- name: a\n  context: {cluster: c, user: u}\n"
    )
    assert run("list", f"--kubeconfig={config}").returncode == 0
    typo = run("list", "--kubeconfg", str(config))
    assert typo.returncode == 2 and "--kubeconfg" in typo.stderr  # typer's own message
    missing = run("use", "nope", "--kubeconfig", str(config))
    assert missing.returncode == 2 and missing.stderr == f"kcm: no context named 'nope' in {config}\n"


def _typer_options(name: str) -> dict[str, tuple[str, object]]:
    """A command's options as the typer app declares them, in the door's terms: name -> (key, kind)."""
    from typer.main import get_command

    from kcm.cli import app

    # the Python annotation of each parameter, from the function itself: how typer's parameter objects
    # carry it is their own (click's, or typer's own copy of click, from version to version)
    function = next(i.callback for i in app.registered_commands if (i.name or i.callback.__name__) == name)
    hints = typing.get_type_hints(function)
    declared: dict[str, tuple[str, object]] = {}
    command = get_command(app).commands[name]  # type: ignore[attr-defined]
    for param in command.params:
        if param.param_type_name != "option":
            continue
        key = param.name.replace("_", "-")
        if param.is_flag:
            declared.update({opt: (key, True) for opt in param.opts})
            declared.update({opt: (key, False) for opt in param.secondary_opts})
        else:
            number = hints[param.name] in (int, int | None)
            kind = "list" if param.multiple else "int" if number else "value"
            declared.update({opt: (key, kind) for opt in param.opts})
    return declared


def _typer_arguments(name: str) -> list[tuple[str, bool]]:
    """A command's arguments as typer declares them: (name, repeated)."""
    from typer.main import get_command

    from kcm.cli import app

    command = get_command(app).commands[name]  # type: ignore[attr-defined]
    params = [param for param in command.params if param.param_type_name == "argument"]
    return [(str(param.name), param.nargs == -1) for param in params]


# typer parameters whose Python names differ from their option's key (a keyword, or a clash)
_PARAMETER_KEYS = {
    "output-format": "output",
    "output-file": "output-file",
    "shell-format": "format",
    "list-steps": "list",
}


def test_every_option_is_declared_once_in_kcm_options_and_typer_agrees() -> None:
    """kcm.options is what the door, completion, the config file and resolve read; typer declares the
    same options, with the same kinds and keys, and the same number of arguments."""
    from typer.main import get_command

    from kcm import options
    from kcm.cli import app

    assert set(get_command(app).commands) == set(options.COMMANDS)  # type: ignore[attr-defined]
    for name, command in options.COMMANDS.items():
        typer_side = {
            opt: (_PARAMETER_KEYS.get(key, key), kind) for opt, (key, kind) in _typer_options(name).items()
        }
        assert typer_side == command.door(), name
        arguments = _typer_arguments(name)
        assert len(arguments) == len(command.args), name
        assert any(repeated for _, repeated in arguments) == command.repeat, name


def test_the_config_file_knows_the_options_marked_as_settings() -> None:
    from kcm import options, settings

    marked = [opt.key for opt in options.COMMANDS["sync"].options if opt.setting]
    assert list(settings.KNOWN["sync"]) == marked
    assert settings.KNOWN["sync"]["concurrency"] is int and settings.KNOWN["sync"]["profile"] is list
    assert "set-current" not in settings.KNOWN["sync"] and "dry-run" not in settings.KNOWN["sync"]


SYNC_ARGVS = [
    [],
    ["--region", "us-east-1", "--region=eu-west-1", "--profile", "a*", "--dry-run"],
    ["--all-accounts", "--prefer-role", "Admin*", "--prefer-role", "ReadOnly", "--each-role"],
    ["--org-role", "OrganizationAccountAccessRole", "--concurrency", "8", "-o", "json", "--no-prune"],
    ["--alias-template={cluster}", "--set-current", "x", "--kubeconfig", "/tmp/k", "--prune"],
    ["--output=text", "--concurrency=0", "--profile", "--region"],  # a value may look like an option
    [
        "--sso-session",
        "corp",
        "--sso-session=lab",
        "--no-write-profiles",
        "--profile-template",
        "{role}-{account_id}",
    ],
    ["--write-profiles", "--token-helper", "kcm"],
    ["--no-adopt", "--exclude", "edge*", "--exclude=111111111111", "--include-removed"],
    ["--adopt"],
    ["--discovery", "resource-explorer", "--org-role=Admin"],
    ["--discovery=list"],
    ["--full", "--clear-cache", "--org-role", "Admin"],
    ["--kubeconfig-template", "~/.kube/eks/{account_name}.yaml", "--prune"],
]


@pytest.mark.parametrize("argv", SYNC_ARGVS, ids=" ".join)
def test_the_sync_door_reads_options_as_typer_does(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from kcm.cli import app
    from kcm.commands import sync
    from kcm.main import sync_flags

    seen: list[tuple[dict[str, object], str]] = []
    monkeypatch.setattr(sync, "report", lambda flags, output_format: seen.append((flags, output_format)) or 0)
    done = CliRunner().invoke(app, ["sync", *argv])
    assert done.exit_code == 0, done.output
    door = sync_flags(argv)
    assert door is not None
    assert [(flags, output_format) for flags, output_format in seen] == [
        ({key: value for key, value in door.items() if key != "output"}, door["output"])
    ]


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["--regoin", "x"],  # a typo: typer says so
        ["--concurrency", "eight"],
        ["--concurrency", "²"],
        ["--kubeconfig", "a", "--kubeconfig", "b"],
        ["--dry-run", "--dry-run"],
        ["--prune=yes"],
        ["--region"],  # no value
        ["extra"],
        ["-ojson"],
    ],
    ids=" ".join,
)
def test_the_sync_door_leaves_anything_else_to_typer(argv: list[str]) -> None:
    from kcm.main import sync_flags

    assert sync_flags(argv) is None


def test_sync_through_the_door_exits_as_through_typer(tmp_path: Path) -> None:
    """A bad option value that only sync itself can judge: one line, exit 2, from either door."""
    for argv in (["--concurrency", "0"], ["--concurrency", "0", "--debug-not-an-option"]):
        done = run("sync", *argv, "--kubeconfig", str(tmp_path / "config"))
        if len(argv) == 2:
            assert done.returncode == 2
            assert done.stderr == "kcm: --concurrency 0: must be at least 1\n"
        else:
            assert done.returncode == 2 and "No such option" in done.stderr
    assert not (tmp_path / "config").exists()


TOKEN_ARGVS = [
    ["--cluster-name", "demo", "--region", "us-east-1"],
    [
        "--region=eu-west-1",
        "--cluster-id",
        "id-1",
        "--role",
        "arn:aws:iam::123456789012:role/r",
        "--no-cache",
    ],
    ["--cluster-name", "demo", "--role-arn", "arn:aws:iam::123456789012:role/r", "--output", "json"],
    ["--clear-cache"],
]


@pytest.mark.parametrize("argv", TOKEN_ARGVS, ids=" ".join)
def test_the_token_door_reads_options_as_typer_does(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from kcm import token
    from kcm.cli import app
    from kcm.main import given_options
    from kcm.options import COMMANDS

    seen: list[dict[str, object]] = []
    monkeypatch.setattr(token, "command", lambda flags: seen.append(dict(flags)) or 0)
    done = CliRunner().invoke(app, ["token", *argv])
    assert done.exit_code == 0, done.output
    door = given_options(argv, COMMANDS["token"].door())
    assert door is not None
    assert [{key: value for key, value in flags.items() if value not in (None, False)} for flags in seen] == [
        door
    ]
