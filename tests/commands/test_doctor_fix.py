"""`kcm doctor --fix` (issue 18), as users run it: the real `kcm` process against the embedded AWS, on a
kubeconfig the AWS CLI wrote long ago (a stale endpoint and CA, a v1alpha1 exec) and kept by hand."""

from __future__ import annotations

import difflib
import json
import os
import pty
import select
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kcm import store
from tests import forkserver
from tests.commands.test_doctor import demo as demo  # the fixture: profile dev, cluster demo
from tests.conftest import VENV_BIN

KCM = str(VENV_BIN / "kcm")
KUBECTL = shutil.which("kubectl")
ARN = "arn:aws:eks:us-east-1:123456789012:cluster/demo"
OLD_SERVER = "https://0ld0ld0ld.gr7.us-east-1.eks.amazonaws.com"
OLD_CA = "T0xEIENB"  # base64 of "OLD CA"
V1ALPHA1 = "client.authentication.k8s.io/v1alpha1"
STALE = f"""# kept by hand since 2021: written by `aws eks update-kubeconfig`, a kind cluster added after
apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: {OLD_CA}
    server: {OLD_SERVER}
  name: {ARN}
- cluster:
    insecure-skip-tls-verify: true
    server: https://127.0.0.1:6443  # kind
  name: kind-dev
contexts:
- context:
    cluster: {ARN}
    namespace: shop
    user: {ARN}
  name: demo
- context: {{cluster: kind-dev, user: kind-dev}}
  name: kind-dev
current-context: demo
kind: Config
preferences: {{}}
users:
- name: {ARN}
  user:
    exec:
      apiVersion: {V1ALPHA1}
      args:
      - --region
      - us-east-1
      - eks
      - get-token
      - --cluster-name
      - demo
      - --output
      - json
      command: aws
      env:
      - name: AWS_PROFILE
        value: dev
- name: kind-dev
  user:
    token: not-a-secret
"""


def kcm(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return forkserver.run("kcm", list(args), timeout=120, env=env)


@pytest.fixture
def stale(demo: dict[str, Any], tmp_path: Path) -> Path:
    config = tmp_path / "config"
    config.write_text(STALE)
    config.chmod(0o600)
    return config


def steps(config: Path) -> int:
    """How many steps `kcm undo` keeps for the file."""
    done = kcm("undo", "--list", "-o", "json", "--kubeconfig", str(config))
    return len(json.loads(done.stdout)) if done.returncode == 0 else 0


def changed_lines(before: str, after: str) -> tuple[list[str], list[str]]:
    diff = list(difflib.ndiff(before.splitlines(), after.splitlines()))
    return [line[2:] for line in diff if line[0] == "-"], [line[2:] for line in diff if line[0] == "+"]


def kubectl_view(config: Path) -> dict[str, Any]:
    """What the real kubectl reads in the file (offline: a context that does not exist is never dialled)."""
    assert KUBECTL is not None
    view = subprocess.run(
        [
            KUBECTL,
            "config",
            "view",
            "--context",
            "nonexistent",
            "-o",
            "json",
            "--raw",
            "--kubeconfig",
            str(config),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert view.returncode == 0, view.stderr
    data: dict[str, Any] = json.loads(view.stdout)
    return data


def by_check(text: str) -> dict[str, list[str]]:
    """doctor's text lines (status, check), by check: the statuses each check reported."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        status, _, rest = line.partition("  ")
        if status.strip() in ("ok", "warn", "fail"):
            found.setdefault(rest.strip().split("  ")[0], []).append(status.strip())
    return found


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not on PATH")
def test_fix_shows_the_plan_writes_one_backed_up_edit_and_a_second_fix_writes_nothing(
    demo: dict[str, Any], stale: Path
) -> None:
    before = kcm("doctor", "--kubeconfig", str(stale))
    assert before.returncode == 1
    assert "fail  exec plugin" in before.stdout and "`kcm doctor --fix` upgrades the entry" in before.stdout
    assert "stale entry: server" in before.stdout  # a v1alpha1 entry no longer ends the walk
    done = kcm("doctor", "--fix", "--kubeconfig", str(stale))
    out = done.stdout
    shown, _, after = out.partition(f"wrote {stale}")
    assert after, out + done.stderr
    assert f"kcm doctor --fix: 2 changes to {stale}\n" in shown
    assert (
        (  # as every --dry-run shows a change; no CA data printed
            f"~ cluster {ARN}: cluster.certificate-authority-data DATA+OMITTED -> DATA+OMITTED; "
            f"cluster.server {OLD_SERVER} -> {demo['endpoint'][:57]}...\n"
            "    server and certificate-authority-data as EKS describes demo now\n"
        )
        in shown
    )
    assert f"~ user {ARN}: user.exec.apiVersion {V1ALPHA1} -> client.authentication.k8s.io/v1beta1" in shown
    assert "(removed in Kubernetes 1.24)" in shown
    assert f"(`kcm undo --kubeconfig {stale}` puts it back)" in after
    rechecked = by_check(after.partition("checked again after the fix:")[2])
    assert rechecked["cluster"] == ["ok"] and "fail" not in rechecked["exec plugin"]
    assert done.returncode == 1 and rechecked["api server"] == ["fail"]  # EKS's made-up endpoint

    fixed = stale.read_text()
    removed, added = changed_lines(STALE, fixed)  # every other line as it was, comments included
    assert removed == [
        f"    certificate-authority-data: {OLD_CA}",
        f"    server: {OLD_SERVER}",
        f"      apiVersion: {V1ALPHA1}",
    ]
    assert added == [
        f"    certificate-authority-data: {demo['certificateAuthority']['data']}",
        f"    server: {demo['endpoint']}",
        "      apiVersion: client.authentication.k8s.io/v1beta1",
    ]
    assert stale.stat().st_mode & 0o777 == 0o600
    view = kubectl_view(stale)
    assert [c["cluster"]["server"] for c in view["clusters"] if c["name"] == ARN] == [demo["endpoint"]]
    assert {u["name"]: u["user"].get("exec", {}).get("apiVersion") for u in view["users"]}[ARN].endswith(
        "v1beta1"
    )
    assert steps(stale) == 1

    again = kcm("doctor", "--fix", "--kubeconfig", str(stale))
    assert "nothing for `kcm doctor --fix` to fix" in again.stdout and "nothing written" in again.stdout
    assert "wrote" not in again.stdout
    assert stale.read_text() == fixed and steps(stale) == 1

    undone = kcm("undo", "--kubeconfig", str(stale))
    assert undone.returncode == 0, undone.stderr
    assert stale.read_text() == STALE


def test_fix_as_json_is_one_object(demo: dict[str, Any], stale: Path) -> None:
    done = kcm("doctor", "--fix", "-o", "json", "--kubeconfig", str(stale))
    result = json.loads(done.stdout)
    assert [(f["section"], f["name"], f["file"]) for f in result["fixes"]] == [
        ("clusters", ARN, str(stale)),
        ("users", ARN, str(stale)),
    ]
    assert result["fixes"][0]["after"]["cluster"]["certificate-authority-data"] == "DATA+OMITTED"
    assert result["written"] == [str(stale)]
    assert {c["check"]: c["status"] for c in result["after"] if c["check"] == "cluster"} == {"cluster": "ok"}


def test_an_aws_iam_authenticator_entry_becomes_aws_eks_get_token(demo: dict[str, Any], stale: Path) -> None:
    text = STALE.replace(
        "      - --region\n      - us-east-1\n      - eks\n      - get-token\n      - --cluster-name\n"
        "      - demo\n      - --output\n      - json\n      command: aws\n",
        "      - token\n      - -i\n      - demo\n      command: aws-iam-authenticator\n",
    ).replace(V1ALPHA1, "client.authentication.k8s.io/v1beta1")
    stale.write_text(text)
    checked = kcm("doctor", "--kubeconfig", str(stale))
    assert "'aws-iam-authenticator' is not on PATH" in checked.stdout  # as on most machines now
    assert "`kcm doctor --fix` converts the entry to `aws eks get-token`" in checked.stdout
    done = kcm("doctor", "--fix", "--kubeconfig", str(stale))
    assert "aws-iam-authenticator token -> aws eks get-token" in done.stdout
    user = next(u for u in yaml.safe_load(stale.read_text())["users"] if u["name"] == ARN)
    assert user["user"]["exec"]["command"] == "aws"
    assert user["user"]["exec"]["args"] == [
        "--region", "us-east-1", "eks", "get-token", "--cluster-name", "demo", "--output", "json"
    ]  # fmt: skip
    assert f"! cluster {ARN}: not compared with EKS" in done.stdout
    assert "stale entry" in done.stdout  # only now does the walk reach the cluster: run it again
    second = kcm("doctor", "--fix", "--kubeconfig", str(stale))
    assert f"cluster.server {OLD_SERVER}" in second.stdout and "wrote" in second.stdout


def test_a_healthy_entry_has_nothing_to_fix(demo: dict[str, Any], tmp_path: Path) -> None:
    config = tmp_path / "config"
    added = kcm("add", "demo", "--region", "us-east-1", "--profile", "dev", "--kubeconfig", str(config))
    assert added.returncode == 0, added.stderr
    text = config.read_text()
    done = kcm("doctor", "--fix", "--kubeconfig", str(config))
    assert done.stdout.splitlines()[-1].startswith("nothing for `kcm doctor --fix` to fix")
    assert config.read_text() == text and steps(config) == 1  # kcm add's own step only


# ---- the hostile and unlucky pass ----------------------------------------------------------------------
def on_a_terminal(args: list[str], meanwhile: Callable[[], None], answer: str) -> tuple[int, str]:
    """`kcm ARGS` with a terminal for stdin, stdout and stderr: `meanwhile` runs while it asks, then
    `answer` is typed. Its exit status and everything it showed."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(KCM, [KCM, *args])  # noqa: S606  # kcm itself, its arguments as given
    shown = b""
    deadline = time.monotonic() + 120

    def read(until: bytes | None) -> None:
        nonlocal shown
        while time.monotonic() < deadline and (until is None or until not in shown):
            ready, _, _ = select.select([fd], [], [], 1)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the other end closed
                return
            if not chunk:
                return
            shown += chunk

    try:
        read(b"[y/N]")
        assert b"[y/N]" in shown, shown.decode(errors="replace")
        meanwhile()
        os.write(fd, answer.encode() + b"\n")
        read(None)
    finally:
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), shown.decode(errors="replace").replace("\r\n", "\n")


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not on PATH")
def test_on_a_terminal_it_asks_without_holding_the_lock_and_keeps_what_changed_meanwhile(
    demo: dict[str, Any], stale: Path
) -> None:
    assert KUBECTL is not None
    done: list[subprocess.CompletedProcess[str]] = []

    def kubectl_adds_a_context() -> None:  # kubectl gives up at once on a held lock: none is held
        set_context = [
            KUBECTL,
            "--kubeconfig",
            str(stale),
            "config",
            "set-context",
            "extra",
            "--cluster=kind-dev",
        ]
        done.append(subprocess.run(set_context, capture_output=True, text=True, check=False))

    code, shown = on_a_terminal(["doctor", "--fix", "--kubeconfig", str(stale)], kubectl_adds_a_context, "y")
    assert done[0].returncode == 0, done[0].stderr
    assert shown.index(f"~ user {ARN}") < shown.index("Write these changes") < shown.index(f"wrote {stale}")
    data = kubectl_view(stale)
    assert "extra" in [c["name"] for c in data["contexts"]]  # replanned on the text under the lock
    assert next(c for c in data["clusters"] if c["name"] == ARN)["cluster"]["server"] == demo["endpoint"]
    assert code == 1  # the API server is still unreachable


def test_on_a_terminal_no_writes_nothing(demo: dict[str, Any], stale: Path) -> None:
    code, shown = on_a_terminal(["doctor", "--fix", "--kubeconfig", str(stale)], lambda: None, "n")
    assert "nothing written" in shown and code == 1
    assert stale.read_text() == STALE and steps(stale) == 0


def test_an_entry_changed_while_it_asks_is_not_overwritten(demo: dict[str, Any], stale: Path) -> None:
    """Someone fixes the exec by hand (or re-runs update-kubeconfig) while the question waits: the plan
    made under the lock is not the plan shown, so nothing is written."""
    by_hand = STALE.replace(V1ALPHA1, "client.authentication.k8s.io/v1")

    def edited() -> None:
        stale.write_text(by_hand)

    code, shown = on_a_terminal(["doctor", "--fix", "--kubeconfig", str(stale)], edited, "y")
    assert f"kcm: {stale}: changed since kcm doctor planned its fixes; nothing was written" in shown
    assert "run `kcm doctor --fix` again" in shown and code == 1
    assert stale.read_text() == by_hand and steps(stale) == 0
    assert not Path(f"{stale}.lock").exists()


def test_a_writer_without_a_lock_during_the_write_wins(
    demo: dict[str, Any], stale: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`aws eks update-kubeconfig` takes no lock: a change it makes between kcm's read under the lock and
    its rename is kept, and nothing is written (store's expected text)."""
    from typer.testing import CliRunner

    from kcm.cli import app_for

    theirs = STALE + "# aws eks update-kubeconfig was here\n"
    write = store.write_atomic

    def raced(target: Path, text: str, mode: int | None = None, expected: object = store._ANY) -> None:
        if target == stale and expected is not store._ANY:
            stale.write_text(theirs)
        write(target, text, mode, expected)

    monkeypatch.setattr(store, "write_atomic", raced)
    result = CliRunner().invoke(app_for(argv := ["doctor", "--fix", "--kubeconfig", str(stale)]), argv)
    assert result.exit_code == 1
    assert f"kcm: {stale}: changed while kcm was writing it" in result.stderr
    assert "nothing was written: run it again" in result.stderr
    assert stale.read_text() == theirs
    assert steps(stale) == 0  # no backup claims a write that did not happen
    assert sorted(p.name for p in stale.parent.iterdir() if p.name.startswith(".config")) == []


def test_a_held_lock_is_named_and_nothing_is_written(demo: dict[str, Any], stale: Path) -> None:
    holder = subprocess.Popen(["sleep", "60"])
    lock = Path(f"{stale}.lock")
    try:
        lock.write_text(f"{holder.pid}\n{os.uname().nodename}\n")
        done = kcm("doctor", "--fix", "--kubeconfig", str(stale), env={**os.environ, "KCM_LOCK_TIMEOUT": "1"})
    finally:
        holder.kill()
        holder.wait()
    assert done.returncode == 4
    assert f"fail  kubeconfig   {lock} exists" in done.stdout  # the walk saw it
    assert f"~ user {ARN}" in done.stdout  # the plan is shown before the wait
    assert done.stderr.startswith(f"kcm: {lock}: locked by kcm (PID {holder.pid}")
    assert len(done.stderr.strip().splitlines()) == 1
    assert stale.read_text() == STALE and steps(stale) == 0


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Path]:
    """A folder on a tmpfs mounted read-only, where the machine lets us mount one (root)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_read_only_file_is_one_line_and_left_as_it_is(
    demo: dict[str, Any], read_only: Path, tmp_path: Path
) -> None:
    target = read_only / "config"
    target.write_text(STALE)
    target.chmod(0o600)
    remount = subprocess.run(["mount", "-o", "remount,ro", str(read_only)], capture_output=True, check=False)
    if remount.returncode != 0:
        pytest.skip(f"cannot remount read-only here: {remount.stderr.decode().strip()}")
    for config in (
        target,
        tmp_path / "link",
    ):  # the file itself, and a link to it from a folder kcm can write
        if config != target:
            config.symlink_to(target)
        done = kcm("doctor", "--fix", "--kubeconfig", str(config))
        assert done.returncode != 0 and f"~ user {ARN}" in done.stdout
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("kcm: ") and "Read-only file system" in lines[0], lines
        assert target.read_text() == STALE and not Path(f"{config}.lock").exists()


def test_entries_in_two_files_of_the_list_are_fixed_where_they_are(
    demo: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kubectl's rule: the file that holds an entry is where it is edited; each file its own step of undo."""
    cluster = (
        f"- cluster:\n    certificate-authority-data: {OLD_CA}\n    server: {OLD_SERVER}\n  name: {ARN}\n"
    )
    first, second = tmp_path / "first", tmp_path / "second"
    first.write_text(STALE.replace(cluster, ""))
    second.write_text(f"apiVersion: v1\nkind: Config\nclusters:\n{cluster}")
    monkeypatch.setenv("KUBECONFIG", f"{first}{os.pathsep}{second}")
    done = kcm("doctor", "--fix")
    assert f"kcm doctor --fix: 1 change to {first}\n~ user {ARN}" in done.stdout
    assert f"kcm doctor --fix: 1 change to {second}\n~ cluster {ARN}" in done.stdout
    assert f"wrote {first} (`kcm undo` puts it back)" in done.stdout
    assert f"wrote {second} (`kcm undo --kubeconfig {second}` puts it back)" in done.stdout
    assert V1ALPHA1 not in first.read_text() and demo["endpoint"] in second.read_text()
    assert steps(first) == 1 and steps(second) == 1
