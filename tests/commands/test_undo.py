"""`kcm undo` through the real `kcm` process: switches take no step."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from kcm import store
from tests.conftest import VENV_BIN

START = """# mine: comments stay
apiVersion: v1
kind: Config
clusters:
- name: shared
  cluster: {server: 'https://shared.example.com'}
contexts:
- name: a
  context: {cluster: shared, user: alice}
- name: b
  context: {cluster: shared, user: alice}
users:
- name: alice
  user: {token: alice-token}
current-context: a
"""
OTHER = """apiVersion: v1
kind: Config
clusters:
- name: lab
  cluster: {server: 'https://lab.example.com'}
contexts:
- name: lab
  context: {cluster: lab, user: carol}
users:
- name: carol
  user: {token: carol-token}
"""


def kcm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VENV_BIN / "kcm"), *args], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config"
    path.write_text(START)
    (tmp_path / "other").write_text(OTHER)
    return path


def ok(*args: str) -> str:
    run = kcm(*args)
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    return run.stdout


def metas(config: Path) -> list[Path]:
    return sorted(store._backup_folder(config).glob("*.json"))


def test_switches_take_no_step_and_undo_still_reaches_the_change(config: Path, tmp_path: Path) -> None:
    ok("merge", str(tmp_path / "other"), "--kubeconfig", str(config))
    for name in ("lab", "b", "a", "lab", "-", "b"):  # six switches, more than kcm used to keep
        ok("use", name, "--kubeconfig", str(config))
    assert "current-context: b" in config.read_text()
    assert len(metas(config)) == 1  # the merge's, and no switch's
    assert "Restored" in ok("undo", "--kubeconfig", str(config))
    assert config.read_text() == START  # the merge undone (and the switches since, with it)
    run = kcm("undo", "--kubeconfig", str(config))
    assert run.returncode == 1 and "kcm has no backup of this file" in run.stderr


def test_undo_still_walks_back_one_change_at_a_time_across_switches(config: Path, tmp_path: Path) -> None:
    ok("merge", str(tmp_path / "other"), "--kubeconfig", str(config))
    merged = config.read_text()
    ok("use", "lab", "--kubeconfig", str(config))
    ok("rename", "b", "beta", "--kubeconfig", str(config))
    ok("use", "beta", "--kubeconfig", str(config))
    assert "(kcm rename b beta --kubeconfig" in ok("undo", "--kubeconfig", str(config))
    assert config.read_text() == merged.replace("current-context: a", "current-context: lab")
    ok("undo", "--kubeconfig", str(config))
    assert config.read_text() == START


def test_the_command_recorded_is_short_printable_and_holds_no_url_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    argv = [
        "/usr/bin/kcm",
        "add",
        "prod",
        "--proxy-url",
        "http://me:s3cret@proxy:3128",
        "--alias",
        "x\x1b[2J",
    ]
    monkeypatch.setattr("sys.argv", argv)
    assert store.command_line() == "kcm add prod --proxy-url 'http://***@proxy:3128' --alias 'x\\x1b[2J'"
    monkeypatch.setattr("sys.argv", ["kcm", "sync", "--profile", "p" * 500])
    recorded = store.command_line()
    assert len(recorded) == 200 and recorded.startswith("kcm sync --profile ppp") and recorded.endswith("...")
