"""The `kcm` command as users run it: a process, its exit code, its output complete through a pipe."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

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
    assert done.stderr == "kcm: --output 'yaml': choose text or json\n"
    assert done.stdout == ""


def test_version() -> None:
    done = run("--version")
    assert done.returncode == 0 and done.stdout.startswith("kcm ")


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
