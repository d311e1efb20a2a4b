"""tests/forkserver.py's served commands answer exactly as fresh processes do: the AWS CLI and kcm."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from tests import aws_cli, forkserver
from tests.conftest import Aws


@pytest.mark.parametrize(
    "args",
    [
        ["--version"],
        ["eks", "update-kubeconfig", "--name", "prod", "--dry-run"],
        ["eks", "update-kubeconfig", "--name", "prod", "--kubeconfig", "written", "--alias", "p"],
        ["eks", "update-kubeconfig"],  # no --name: usage on stderr, 252
        ["eks", "update-kubeconfig", "--name", "missing"],  # ResourceNotFoundException, 254
        ["eks", "describe-cluster", "--name", "prod", "--query", "cluster.name", "--output", "text"],
    ],
    ids=["version", "dry-run", "write", "usage", "not-found", "query"],
)
def test_the_served_aws_cli_answers_as_a_fresh_process(args: list[str], aws: Aws, tmp_path: Path) -> None:
    aws.cluster("prod")
    env = {key: value for key, value in os.environ.items() if key != "KUBECONFIG"}
    for where in ("fresh", "served"):
        (tmp_path / where).mkdir()
    env_fresh = {**env, "KUBECONFIG": str(tmp_path / "fresh" / "config")}
    fresh = subprocess.run(
        [aws_cli.AWS, *args],
        env=env_fresh,
        cwd=tmp_path / "fresh",
        capture_output=True,
        text=True,
        timeout=120,
    )
    env_served = {**env, "KUBECONFIG": str(tmp_path / "served" / "config")}
    served = aws_cli.run(args, env_served, tmp_path / "served")
    assert served.returncode == fresh.returncode
    assert served.stdout.replace("/served/", "/fresh/") == fresh.stdout
    assert served.stderr.replace("/served/", "/fresh/") == fresh.stderr
    files = {where: sorted(p.name for p in (tmp_path / where).iterdir()) for where in ("fresh", "served")}
    assert files["served"] == files["fresh"]
    for name in files["fresh"]:
        assert (tmp_path / "served" / name).read_text().replace("/served/", "/fresh/") == (
            tmp_path / "fresh" / name
        ).read_text()


def test_a_served_aws_cli_writes_the_runs_own_default_kubeconfig(aws: Aws, tmp_path: Path) -> None:
    """update-kubeconfig's default, ~/.kube/config, is made from HOME when the server imports it: a
    run writes its own HOME's, as a fresh process would."""
    aws.cluster("prod")
    env = {key: value for key, value in os.environ.items() if key != "KUBECONFIG"}
    env["HOME"] = str(tmp_path / "elsewhere")
    served = aws_cli.run(["eks", "update-kubeconfig", "--name", "prod"], env, tmp_path)
    assert served.returncode == 0, served.stderr
    written = tmp_path / "elsewhere" / ".kube" / "config"
    assert f"to {written}" in served.stdout and "cluster/prod" in written.read_text()


@pytest.mark.parametrize(
    "args",
    [
        ["--version"],
        ["eks", "describe-cluster", "--name", "prod", "--query", "cluster.arn"],
        ["eks", "list-clusters", "--region", "nowhere-1"],
    ],
    ids=["version", "query", "error"],
)
def test_a_served_command_on_path_answers_as_the_real_one(args: list[str], aws: Aws, tmp_path: Path) -> None:
    """forkserver.on_path: what kubectl's exec plugin and kcm doctor find on PATH; run as they run it."""
    aws.cluster("prod")
    relayed = forkserver.on_path("aws", tmp_path / "served")
    env = {**os.environ, "PATH": f"{relayed}{os.pathsep}{os.environ['PATH']}"}
    served = subprocess.run(["aws", *args], env=env, capture_output=True, text=True, timeout=120)
    fresh = subprocess.run([aws_cli.AWS, *args], capture_output=True, text=True, timeout=120)
    assert (served.returncode, served.stdout, served.stderr) == (fresh.returncode, fresh.stdout, fresh.stderr)
    assert served.stdout or served.stderr


def test_a_served_command_on_path_runs_the_real_one_where_a_server_cannot_serve_it(
    aws: Aws, tmp_path: Path
) -> None:
    """A PYTHONPATH of its own changes what the command imports: the script becomes the real command,
    a fresh process, which imports the sitecustomize found there (a served run would not)."""
    relayed = forkserver.on_path("aws", tmp_path / "served")
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text("import sys\nsys.stderr.write('fresh process\\n')\n")
    env = {**os.environ, "PATH": f"{relayed}{os.pathsep}{os.environ['PATH']}"}
    served = subprocess.run(["aws", "--version"], env=env, capture_output=True, text=True, timeout=120)
    assert served.returncode == 0 and "fresh process" not in served.stderr
    env["PYTHONPATH"] = str(tmp_path / "site")
    fresh = subprocess.run(["aws", "--version"], env=env, capture_output=True, text=True, timeout=120)
    assert fresh.returncode == 0 and "fresh process" in fresh.stderr
    assert fresh.stdout == served.stdout


def test_a_broken_config_file_is_read_in_the_run_not_at_the_servers_start(aws: Aws, tmp_path: Path) -> None:
    """The CLI reads its configuration when it runs: a served run sees the file as it is now. (This
    AWS CLI ends such a run with a traceback: its frames above the CLI's own differ, the error not.)"""
    config = tmp_path / "aws-config"
    config.write_text("[default\nregion = us-east-1\n")
    env = {**os.environ, "AWS_CONFIG_FILE": str(config)}
    fresh = subprocess.run([aws_cli.AWS, "eks", "list-clusters"], env=env, capture_output=True, text=True)
    served = aws_cli.run(["eks", "list-clusters"], env)
    assert (served.returncode, served.stdout) == (fresh.returncode, fresh.stdout) == (1, "")
    last = fresh.stderr.splitlines()[-1]
    assert served.stderr.splitlines()[-1] == last and "Unable to parse config file" in last


KUBECONFIG = """apiVersion: v1
kind: Config
clusters:
- name: a
  cluster: {server: "https://a.example"}
- name: b
  cluster: {server: "https://b.example"}
contexts:
- {name: a, context: {cluster: a, user: u}}
- {name: b, context: {cluster: b, user: u}}
users:
- {name: u, user: {token: not-a-real-token}}
current-context: a
"""


# (id, args, standard input, whether it writes): a case that writes runs at umask 000 too
_KCM_CASES = [
    ("version", ["--version"], None, False),
    ("list", ["list"], None, False),
    ("use", ["use", "b"], None, True),  # the fast door
    ("rename", ["rename", "b", "c"], None, True),  # the typer app
    ("help", ["add", "--help"], None, False),
    ("usage", ["nosuch"], None, False),  # typer's usage error, 2
    ("stdin", ["merge", "-"], KUBECONFIG.replace("a", "x"), True),  # a pipe, as subprocess.run gives
    ("big-stdin", ["merge", "-"], KUBECONFIG.replace("a", "x") + "#" * 100_000 + "\n", True),  # a file
    ("add", ["add", "prod", "--dry-run"], None, False),  # botocore, the embedded AWS
    ("add-error", ["add", "missing"], None, False),  # its error, one line
]


@pytest.mark.parametrize(
    ("args", "given", "umask"),
    [
        pytest.param(args, given, umask, id=f"{case}-{umask:03o}")
        for case, args, given, writes in _KCM_CASES
        for umask in ((0o022, 0o000) if writes else (0o022,))
    ],
)
def test_served_kcm_answers_as_a_fresh_process(
    args: list[str], given: str | None, umask: int, aws: Aws, tmp_path: Path
) -> None:
    aws.cluster("prod")
    done = {}
    for where in ("fresh", "served"):
        folder = tmp_path / where
        folder.mkdir()
        (folder / "config").write_text(KUBECONFIG)
        env = {**os.environ, "KUBECONFIG": str(folder / "config")}
        before = os.umask(umask)
        try:
            if where == "fresh":
                done[where] = subprocess.run(
                    [str(forkserver.BIN / "kcm"), *args], env=env, cwd=folder, input=given,
                    capture_output=True, text=True, timeout=120,
                )  # fmt: skip
            else:
                done[where] = forkserver.run("kcm", args, env=env, cwd=folder, input=given, timeout=120)
        finally:
            os.umask(before)
    fresh, served = done["fresh"], done["served"]
    assert served.returncode == fresh.returncode
    assert served.stdout.replace("/served/", "/fresh/") == fresh.stdout
    assert served.stderr.replace("/served/", "/fresh/") == fresh.stderr
    files = {where: sorted(p.name for p in (tmp_path / where).rglob("*")) for where in ("fresh", "served")}
    assert files["served"] == files["fresh"]
    for name in files["fresh"]:
        path = {where: tmp_path / where / name for where in ("fresh", "served")}
        assert path["served"].stat().st_mode == path["fresh"].stat().st_mode, name
        if path["fresh"].is_file():
            assert path["served"].read_text().replace("/served/", "/fresh/") == path["fresh"].read_text()


def test_a_run_that_sets_what_an_import_reads_is_a_fresh_process(tmp_path: Path) -> None:
    """typer reads TERMINAL_WIDTH when imported: the server imported it without, so such a run is not
    served (its help is as narrow as a fresh process's)."""
    env = {**os.environ, "TERMINAL_WIDTH": "50"}
    fresh = subprocess.run(
        [str(forkserver.BIN / "kcm"), "add", "--help"], env=env, capture_output=True, text=True
    )
    served = forkserver.run("kcm", ["add", "--help"], env=env)
    assert (served.returncode, served.stdout) == (fresh.returncode, fresh.stdout)
    assert max(len(line) for line in fresh.stdout.splitlines()) <= 50


@pytest.mark.parametrize(
    "interpreter",
    [{}, {"PYTHONIOENCODING": "latin-1", "LC_ALL": "C"}],
    ids=["none", "latin-1-c-locale"],
)
def test_a_run_in_another_interpreter_environment_is_served_as_a_fresh_process(
    interpreter: dict[str, str], tmp_path: Path
) -> None:
    """What Python reads when it starts (PYTHON..., LANG, LC_...) is the run's, even in an environment
    built from nothing: such a run goes to a server started with the same values."""
    config = tmp_path / "config"
    config.write_text(KUBECONFIG.replace(": b", ": caf\u00e9"))
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "KUBECONFIG": str(config), **interpreter}
    args = ["list"]
    fresh = subprocess.run([str(forkserver.BIN / "kcm"), *args], env=env, capture_output=True)
    served = forkserver.run("kcm", args, env=env)
    assert served.returncode == fresh.returncode == 0
    assert served.stdout == fresh.stdout.decode("utf-8", "replace") and "caf" in served.stdout
    assert served.stderr == fresh.stderr.decode()
    servers = {key for key in forkserver._servers if key[0] == "kcm"}
    assert ("kcm", frozenset(interpreter.items())) in servers


def test_a_run_past_its_timeout_is_killed_and_raises_as_subprocess_run_does(tmp_path: Path) -> None:
    """As subprocess.run, the run (kcm) is killed; what kcm started is not the server's to kill."""
    config = tmp_path / "config"
    config.write_text(KUBECONFIG)
    env = {**os.environ, "KUBECONFIG": str(config)}
    parent = tmp_path / "parent"
    script = f"echo $PPID > {parent}; exec sleep 3"
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        forkserver.run("kcm", ["exec", "--context", "a", "--", "sh", "-c", script], env=env, timeout=1)
    assert time.monotonic() - started < 2.5
    assert not Path(f"/proc/{parent.read_text().strip()}").exists()  # kcm: killed and reaped
