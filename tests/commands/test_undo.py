"""`kcm undo` and `kcm undo --list` through the real `kcm` process: switches take no step, each step
says when, which command and how much it changed, and an old or damaged backup is still listed."""

from __future__ import annotations

import datetime
import json
import re
import subprocess
from pathlib import Path

import pytest

from kcm import store
from tests import forkserver
from tests.commands.test_contexts import SECOND as OTHER  # another file of the KUBECONFIG list

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
WHEN = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d")


def kcm(*args: str) -> subprocess.CompletedProcess[str]:
    return forkserver.run("kcm", list(args), timeout=60)


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


def test_a_hand_edit_after_the_switches_still_needs_force(config: Path, tmp_path: Path) -> None:
    ok("merge", str(tmp_path / "other"), "--kubeconfig", str(config))
    ok("use", "lab", "--kubeconfig", str(config))
    config.write_text(config.read_text() + "# edited by hand\n")
    listed = kcm("undo", "--list", "--kubeconfig", str(config))
    assert listed.returncode == 0
    assert (
        listed.stderr
        == f"kcm: warning: {config} changed since kcm's last change to it: `kcm undo` needs --force\n"
    )
    run = kcm("undo", "--kubeconfig", str(config))
    assert run.returncode == 1 and "changed since kcm last wrote it" in run.stderr
    ok("undo", "--force", "--kubeconfig", str(config))
    assert config.read_text() == START


def test_the_list_says_when_which_command_and_how_many_entries_newest_first(
    config: Path, tmp_path: Path
) -> None:
    created = tmp_path / "new"
    ok("merge", str(tmp_path / "other"), "--kubeconfig", str(created))
    listed = ok("undo", "--list", "--kubeconfig", str(created)).splitlines()
    assert listed[1].split(None, 3)[3].endswith("created the file: 3 added")

    ok("merge", str(tmp_path / "other"), "--kubeconfig", str(config))
    ok("use", "lab", "--kubeconfig", str(config))
    ok("rename", "b", "beta", "--kubeconfig", str(config))
    ok("rm", "lab", "--kubeconfig", str(config))
    before = datetime.datetime.now()
    rows = [line.split("  ") for line in ok("undo", "--list", "--kubeconfig", str(config)).splitlines()]
    rows = [[cell.strip() for cell in row if cell.strip()] for row in rows]
    assert rows[0] == ["STEP", "WHEN", "COMMAND", "CHANGES (undo takes them back)"]
    assert [row[0] for row in rows[1:]] == ["1", "2", "3"]
    assert all(WHEN.fullmatch(row[1]) for row in rows[1:])
    newest = datetime.datetime.strptime(rows[1][1], "%Y-%m-%d %H:%M")
    assert before - datetime.timedelta(minutes=2) <= newest <= before  # local time, to the minute
    assert [row[2:] for row in rows[1:]] == [
        [f"kcm rm lab --kubeconfig {config}", "3 removed; current-context back to lab"],
        [f"kcm rename b beta --kubeconfig {config}", "1 added, 1 removed"],
        # the switch to lab came after the merge: undoing the merge puts a back too
        [f"kcm merge {tmp_path / 'other'} --kubeconfig {config}", "3 added; current-context back to a"],
    ]

    data = json.loads(ok("undo", "--list", "-o", "json", "--kubeconfig", str(config)))
    assert [step["step"] for step in data] == [1, 2, 3]
    assert data[1]["changes"] == {
        "clusters": {"added": 0, "changed": 0, "removed": 0},
        "contexts": {"added": 1, "changed": 0, "removed": 1},
        "users": {"added": 0, "changed": 0, "removed": 0},
    }
    assert data[0]["current_context"] == {"before": "lab", "after": ""}
    assert data[0]["command"] == f"kcm rm lab --kubeconfig {config}" and data[0]["damaged"] is None
    assert datetime.datetime.fromisoformat(data[0]["time"]).tzinfo is not None

    ok("undo", "--kubeconfig", str(config))
    assert len(ok("undo", "--list", "--kubeconfig", str(config)).splitlines()) == 3  # header, 2 steps


def test_a_changed_entry_is_counted_as_changed(config: Path, tmp_path: Path) -> None:
    (tmp_path / "theirs").write_text(START.replace("shared.example.com", "moved.example.com"))
    ok("merge", str(tmp_path / "theirs"), "--on-conflict", "theirs", "--kubeconfig", str(config))
    rows = ok("undo", "--list", "--kubeconfig", str(config)).splitlines()
    assert rows[1].endswith("  1 changed")


def test_a_backup_kept_before_commands_were_recorded_is_listed_and_undone(
    config: Path, tmp_path: Path
) -> None:
    ok("merge", str(tmp_path / "other"), "--kubeconfig", str(config))
    [meta] = metas(config)
    old = json.loads(meta.read_text())
    del old["command"]
    meta.write_text(json.dumps(old))
    rows = ok("undo", "--list", "--kubeconfig", str(config)).splitlines()
    assert re.fullmatch(r"1\s+\S+ \S+\s+\(not recorded\)\s+3 added", rows[1]), rows[1]
    assert json.loads(ok("undo", "--list", "-o", "json", "--kubeconfig", str(config)))[0]["command"] is None
    assert (
        ok("undo", "--kubeconfig", str(config)).strip()
        == f"Restored {config} as it was before kcm's last change"
    )
    assert config.read_text() == START


@pytest.mark.parametrize(
    "damage", ["meta-cut-short", "meta-not-an-object", "copy-missing", "copy-unreadable"]
)
def test_a_damaged_backup_is_listed_as_damaged(damage: str, config: Path, tmp_path: Path) -> None:
    ok("merge", str(tmp_path / "other"), "--kubeconfig", str(config))
    ok("rename", "b", "beta", "--kubeconfig", str(config))
    meta = metas(config)[-1]  # the newest: the rename's
    if damage == "meta-cut-short":
        meta.write_text('{"path": ')
    elif damage == "meta-not-an-object":
        meta.write_text("[]")
    elif damage == "copy-missing":
        meta.with_suffix(".yaml").unlink()
    else:
        meta.with_suffix(".yaml").write_text("clusters: {server: [a]}\n")
    run = kcm("undo", "--list", "--kubeconfig", str(config))
    assert run.returncode == 0 and run.stderr == ""
    rows = run.stdout.splitlines()
    assert len(rows) == 3
    assert "damaged: " in rows[1] and rows[1].endswith("(`kcm undo` refuses it)"), rows[1]
    assert rows[2].endswith("unknown (the file after it cannot be read)"), rows[2]
    data = json.loads(ok("undo", "--list", "-o", "json", "--kubeconfig", str(config)))
    assert data[0]["damaged"] and data[0]["changes"] is None
    assert kcm("undo", "--kubeconfig", str(config)).returncode == 1  # never restored


def test_the_list_with_no_backup_bad_formats_and_mixed_options_are_one_line(config: Path) -> None:
    for args, code, message in [
        (["undo", "--list"], 1, f"kcm: {config}: kcm has no backup of this file"),
        (["undo", "--list", "-o", "yaml"], 2, "kcm: --output 'yaml': choose text or json"),
        (["undo", "-o", "json"], 2, "kcm: --output: only `kcm undo --list` prints a format"),
        (["undo", "--list", "--force"], 2, "kcm: --force restores; `kcm undo --list` only shows the steps"),
    ]:
        run = kcm(*args, "--kubeconfig", str(config))
        assert (run.returncode, run.stdout, run.stderr) == (code, "", message + "\n"), args
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
