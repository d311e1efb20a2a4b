"""`kcm exec` and `kcm env` as CI runs them: real processes, real signals, the embedded AWS."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from kcm.commands import ci
from tests.conftest import VENV_BIN, Aws

KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not on PATH")
ROLE = "arn:aws:iam::123456789012:role/ci-deployer"

# Run inside `kcm exec`: what the job sees of its KUBECONFIG, as JSON on stdout.
INSPECT = """
import json, os, stat, subprocess, sys
path = os.environ["KUBECONFIG"]
info = {
    "path": path,
    "mode": stat.S_IMODE(os.stat(path).st_mode),
    "dir_mode": stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode),
    "text": open(path).read(),
}
if len(sys.argv) > 1:
    info["kubectl"] = subprocess.run(
        [sys.argv[1], "config", "view", "-o", "json"], capture_output=True, text=True, check=True
    ).stdout
print(json.dumps(info))
"""


def kcm(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(VENV_BIN / "kcm"), *args], capture_output=True, text=True, **kwargs)


@pytest.fixture
def demo(aws: Aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))  # the platform temp dir, watched by the tests
    (tmp_path / "tmp").mkdir()
    return aws.cluster("demo")


def jobs(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "tmp").glob("kcm-*"))


@pytest.mark.parametrize("with_kubectl", [pytest.param(True, marks=needs_kubectl), False])
def test_exec_gives_the_command_a_private_file_with_one_context_then_removes_it(
    demo: dict[str, Any], aws: Aws, tmp_path: Path, with_kubectl: bool
) -> None:
    args = [str(KUBECTL)] if with_kubectl else []
    done = kcm(
        "exec", "--name", "demo", "--role-arn", ROLE, "--", str(VENV_BIN / "python"), "-c", INSPECT, *args
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert (seen["mode"], seen["dir_mode"]) == (0o600, 0o700)
    data = yaml.safe_load(seen["text"])
    assert [c["name"] for c in data["contexts"]] == [demo["arn"]]
    assert data["current-context"] == demo["arn"]
    assert data["clusters"][0]["cluster"]["server"] == demo["endpoint"]
    args_ = data["users"][0]["user"]["exec"]["args"]
    assert args_[args_.index("--role") + 1] == ROLE
    if with_kubectl:
        assert json.loads(seen["kubectl"])["current-context"] == demo["arn"]
    assert not Path(seen["path"]).exists() and jobs(tmp_path) == []
    assert not (aws.home / ".kube").exists()


def test_exec_with_token_helper_kcm_writes_a_user_that_runs_kcm_token(
    demo: dict[str, Any], tmp_path: Path
) -> None:
    done = kcm(
        "exec", "--name", "demo", "--token-helper", "kcm", "--", str(VENV_BIN / "python"), "-c", INSPECT
    )
    assert done.returncode == 0, done.stderr
    exec_ = yaml.safe_load(json.loads(done.stdout)["text"])["users"][0]["user"]["exec"]
    assert exec_["command"] == "kcm"
    assert exec_["args"] == ["token", "--region", "us-east-1", "--cluster-name", "demo"]
    assert jobs(tmp_path) == []
    bad = kcm("exec", "--name", "demo", "--token-helper", "kubectl", "--", "true")
    assert bad.returncode == 2 and "--token-helper 'kubectl': choose aws" in bad.stderr


def test_exec_exit_code_is_the_commands(demo: dict[str, Any], tmp_path: Path) -> None:
    assert kcm("exec", "--name", "demo", "--", "sh", "-c", "exit 7").returncode == 7
    assert kcm("exec", "--name", "demo", "--", "sh", "-c", "kill -TERM $$").returncode == 128 + 15
    missing = kcm("exec", "--name", "demo", "--", "no-such-command-here")
    assert missing.returncode == 127
    assert missing.stderr == "kcm: no-such-command-here: cannot run: No such file or directory\n"
    assert jobs(tmp_path) == []


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_a_signal_to_kcm_reaches_the_command_and_the_file_goes(
    demo: dict[str, Any], tmp_path: Path, number: signal.Signals
) -> None:
    marker = tmp_path / "started"
    # the trap first: a signal forwarded before it would end the shell with 128+N, not its answer
    script = f'trap "exit 3" TERM INT; echo "$KUBECONFIG" > {marker}; sleep 30 & wait'
    job = subprocess.Popen([str(VENV_BIN / "kcm"), "exec", "--name", "demo", "--", "sh", "-c", script])
    deadline = time.monotonic() + 30
    while not (marker.exists() and marker.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    path = Path(marker.read_text().strip())
    assert path.exists()
    job.send_signal(number)
    try:
        code = job.wait(timeout=30)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"kcm alive after the signal: {_state(job.pid)}") from None
    if number == signal.SIGKILL:  # nothing can be forwarded; the watchdog still removes the file
        assert code == -signal.SIGKILL
        deadline = time.monotonic() + 10
        while jobs(tmp_path) and time.monotonic() < deadline:  # the file goes, then its folder
            time.sleep(0.05)
    else:
        assert code == 3  # the command's own answer to the forwarded signal
    assert not path.exists() and jobs(tmp_path) == []


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_while_the_command_is_being_started_reaches_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, number: signal.Signals
) -> None:
    """On a loaded machine the command can be running, and kcm signalled, before kcm knows its pid:
    here the signal comes just as the command has been started, before kcm has its handle."""
    config = tmp_path / "config"
    config.write_text(
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://c.example'}}]\n"
        "users: [{name: u, user: {token: not-a-real-token}}]\n"
        "contexts: [{name: a, context: {cluster: c, user: u}}]\n"
    )
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    marker = tmp_path / "started"
    real = subprocess.Popen

    def started_then_signalled(args: Any, **kwargs: Any) -> Any:
        child = real(args, **kwargs)
        if args[0] == "sh":
            deadline = time.monotonic() + 30
            while not marker.exists() and time.monotonic() < deadline:  # its trap is set
                time.sleep(0.01)
            os.kill(os.getpid(), number)  # kcm's handler runs here, before Popen has returned
        return child

    monkeypatch.setattr(subprocess, "Popen", started_then_signalled)
    script = f'trap "exit 3" TERM INT; touch {marker}; sleep 30 & wait'
    started = time.monotonic()
    code = ci.run(ci.JobOptions(context="a", kubeconfig=str(config)), ["sh", "-c", script])
    assert code == 3  # the command's own answer to the forwarded signal
    assert time.monotonic() - started < 20
    assert jobs(tmp_path) == []


def test_a_signal_before_the_command_is_started_starts_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    config = tmp_path / "config"
    config.write_text(
        "clusters: [{name: c, cluster: {server: 'https://c.example'}}]\n"
        "users: [{name: u, user: {token: not-a-real-token}}]\n"
        "contexts: [{name: a, context: {cluster: c, user: u}}]\n"
    )
    write = ci._private_file

    def written_then_signalled(folder: Path, content: str) -> Path:
        path = write(folder, content)
        os.kill(os.getpid(), signal.SIGTERM)
        return path

    monkeypatch.setattr(ci, "_private_file", written_then_signalled)
    marker = tmp_path / "ran"
    code = ci.run(ci.JobOptions(context="a", kubeconfig=str(config)), ["touch", str(marker)])
    assert code == 128 + signal.SIGTERM and not marker.exists() and jobs(tmp_path) == []


def test_env_writes_a_private_file_for_eval(demo: dict[str, Any], aws: Aws, tmp_path: Path) -> None:
    kcm_env = f"{VENV_BIN / 'kcm'} env --name demo --namespace web"
    script = f'eval "$({kcm_env})"; cat "$KUBECONFIG"; ls -ld "$KUBECONFIG"'
    if KUBECTL:  # and kubectl works with it
        script += f"; {KUBECTL} config current-context >&2"
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, start_new_session=True)
    assert done.returncode == 0, done.stderr
    assert yaml.safe_load(done.stdout.split("\n-rw")[0])["contexts"][0]["context"]["namespace"] == "web"
    assert "\n-rw------- " in done.stdout
    if KUBECTL:
        assert done.stderr.strip() == demo["arn"]
    (folder,) = jobs(tmp_path)
    assert (folder.stat().st_mode & 0o777) == 0o700
    assert not (aws.home / ".kube").exists()
    # its shell's session has ended: --clean removes it; a live session's file stays
    live = kcm("env", "--name", "demo")
    assert live.returncode == 0 and live.stdout.startswith("export KUBECONFIG=")
    cleaned = kcm("env", "--clean")
    assert cleaned.returncode == 0 and f"removed {folder}" in cleaned.stderr
    assert not folder.exists() and len(jobs(tmp_path)) == 1  # the file of this test's process stays


def test_env_for_github_goes_under_runner_temp(
    demo: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = tmp_path / "runner"
    runner.mkdir()
    monkeypatch.setenv("RUNNER_TEMP", str(runner))
    done = kcm("env", "--name", "demo", "--format", "github")
    assert done.returncode == 0, done.stderr
    key, _, value = done.stdout.strip().partition("=")
    assert key == "KUBECONFIG" and Path(value).parent.parent == runner
    assert (Path(value).stat().st_mode & 0o777) == 0o600
    assert kcm("env", "--clean").returncode == 0 and Path(value).exists()  # the job's, not a shell's


@needs_kubectl
def test_context_is_exported_from_the_users_kubeconfig_read_only(
    aws: Aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    mine = tmp_path / "config"
    mine.write_text(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: 'https://c.example.com'}\n"
        "contexts:\n- name: ctx\n  context: {cluster: c, user: u}\n"
        "- name: other\n  context: {cluster: c, user: u}\n"
        "users:\n- name: u\n  user: {token: t}\ncurrent-context: other\n"
    )
    before = mine.stat()
    done = kcm(
        "exec",
        "--context",
        "ctx",
        "--kubeconfig",
        str(mine),
        "--",
        str(KUBECTL),
        "config",
        "get-contexts",
        "-o",
        "name",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["ctx"]
    assert (mine.stat().st_mtime_ns, mine.stat().st_ino) == (before.st_mtime_ns, before.st_ino)
    assert not list(tmp_path.glob("config.lock"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "name the cluster (--name) or a context of your kubeconfig (--context)"),
        (["--context", "x", "--name", "demo"], "--context takes the context as it is: drop --name"),
        (["--name", "demo", "--role-arn", "not-an-arn"], "--role-arn"),
        (["--name", "nope"], "nope"),
    ],
)
def test_bad_input_is_one_line_and_runs_nothing(
    demo: dict[str, Any], tmp_path: Path, args: list[str], message: str
) -> None:
    marker = tmp_path / "ran"
    done = kcm("exec", *args, "--", "touch", str(marker))
    assert done.returncode != 0 and not marker.exists()
    assert done.stderr.startswith("kcm: ") and done.stderr.count("\n") == 1 and message in done.stderr
    assert jobs(tmp_path) == []


def test_clean_leaves_what_is_not_kcms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    stranger = tmp_path / f"{ci.ENV_PREFIX}stranger"
    stranger.mkdir()
    assert ci.clean() == [] and stranger.exists()


@pytest.mark.parametrize("watchdog", ["fork", "spawn"])
@pytest.mark.parametrize("number", [signal.SIGKILL, signal.SIGQUIT], ids=["KILL", "QUIT"])
def test_exec_killed_with_its_whole_group_leaves_no_private_file(
    demo: dict[str, Any], tmp_path: Path, number: int, watchdog: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cancelled CI job signals the whole process group: kcm, its command, and (before) its
    watchdog; the watchdog now lives in a session of its own and removes the folder. Both watchdogs:
    forked, and spawned (Windows' way, forced here with KCM_WATCHDOG)."""
    monkeypatch.setenv("KCM_WATCHDOG", watchdog)
    marker = tmp_path / "started"
    script = f'echo "$KUBECONFIG" > {marker}; sleep 30'
    job = subprocess.Popen(
        [str(VENV_BIN / "kcm"), "exec", "--name", "demo", "--", "sh", "-c", script], start_new_session=True
    )
    deadline = time.monotonic() + 30
    while not (marker.exists() and marker.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    path = Path(marker.read_text().strip())
    assert path.exists()
    os.killpg(job.pid, number)
    try:
        job.wait(timeout=30)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"kcm alive after the signal: {_state(job.pid)}") from None
    deadline = time.monotonic() + 10
    while path.parent.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not path.parent.exists() and jobs(tmp_path) == []


def _state(pid: int) -> str:
    """What the kernel says of a process that would not end: its state, signal masks, wait channel."""
    lines = []
    with contextlib.suppress(OSError):
        status = Path(f"/proc/{pid}/status").read_text().splitlines()
        lines += [
            line
            for line in status
            if line.split(":")[0] in ("State", "SigPnd", "ShdPnd", "SigBlk", "SigIgn", "SigCgt")
        ]
    with contextlib.suppress(OSError):
        lines.append("wchan " + Path(f"/proc/{pid}/wchan").read_text())
    with contextlib.suppress(OSError):
        lines.append("stack " + Path(f"/proc/{pid}/stack").read_text())
    with contextlib.suppress(OSError):
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        lines += [
            f"child {c}: " + Path(f"/proc/{c}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            for c in children
        ]
    return "; ".join(lines)


def test_a_missing_runner_temp_is_one_line(demo: dict[str, Any], tmp_path: Path) -> None:
    gone = str(tmp_path / "gone")
    for args in (["env", "--name", "demo", "--format", "github"], ["exec", "--name", "demo", "--", "true"]):
        done = kcm(*args, env={**os.environ, "RUNNER_TEMP": gone})
        assert done.returncode == 2
        assert (
            done.stderr
            == f"kcm: RUNNER_TEMP={gone!r}: no such folder (the runner sets it; unset it to use /tmp)\n"
        )


def test_a_line_break_in_runner_temp_never_reaches_github_env(demo: dict[str, Any], tmp_path: Path) -> None:
    """$GITHUB_ENV takes NAME=value lines: a path with a line break would add a line of its own."""
    runner = tmp_path / "runner\nLD_PRELOAD=evil.so"
    runner.mkdir()
    done = kcm("env", "--name", "demo", "--format", "github", env={**os.environ, "RUNNER_TEMP": str(runner)})
    assert done.returncode == 2 and done.stdout == ""
    assert "a line break in the path would split $GITHUB_ENV's line" in done.stderr
    assert list(runner.iterdir()) == []
