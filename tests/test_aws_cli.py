"""tests/aws_cli.py's AWS CLI answers exactly as a fresh `aws` process does."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests import aws_cli
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
def test_the_served_cli_answers_as_a_fresh_process(args: list[str], aws: Aws, tmp_path: Path) -> None:
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
