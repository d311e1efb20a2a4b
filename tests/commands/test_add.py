"""What `kcm add` does beyond the AWS CLI: keeps the file, keeps user settings, refuses bad input."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from kcm.cli import app_for
from tests.conftest import Aws
from tests.terminal import Terminal

HAND_WRITTEN = """# My clusters — edited by hand, please keep this comment
apiVersion: v1
kind: Config
clusters:
    # staging first
    -   name: staging   # the old one
        cluster: {server: "https://staging.example.com", insecure-skip-tls-verify: true}
contexts:
    -   name: staging
        context: {cluster: staging, user: staging, namespace: web}
users:
    -   name: staging
        user: {token: not-a-real-token}
current-context: staging
# end of file
"""


def kcm(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app_for(list(args)), list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def prod(aws: Aws) -> dict[str, object]:
    return aws.cluster("prod")


def test_every_original_line_survives_and_new_entries_follow_the_style(prod: object, tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(HAND_WRITTEN)
    code, out, err = kcm("add", "prod", "--alias", "prod", "--kubeconfig", str(config))
    assert code == 0, err
    assert out == f"Added new context prod to {config}\n"
    text = config.read_text()
    lines = text.splitlines()
    kept = iter(lines)
    assert all(any(line == candidate for candidate in kept) for line in HAND_WRITTEN.splitlines()[:-2])
    assert "current-context: prod" in lines
    assert "    -   cluster:" in lines  # the file's own sequence style, 4-space indent
    data = yaml.safe_load(text)
    assert data["contexts"][1] == {"context": {"cluster": prod["arn"], "user": prod["arn"]}, "name": "prod"}


def test_a_repeated_add_changes_no_byte_and_does_not_rewrite(prod: object, tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(HAND_WRITTEN)
    assert kcm("add", "prod", "--kubeconfig", str(config))[0] == 0
    before = config.read_bytes()
    inode, mtime = config.stat().st_ino, config.stat().st_mtime_ns
    code, out, _ = kcm("add", "prod", "--kubeconfig", str(config))
    assert code == 0
    assert out.startswith("Updated context")
    assert config.read_bytes() == before
    assert (config.stat().st_ino, config.stat().st_mtime_ns) == (inode, mtime)


def test_readding_keeps_namespace_and_extensions_of_the_context(prod: dict[str, str], tmp_path: Path) -> None:
    config = tmp_path / "config"
    assert kcm("add", "prod", "--alias", "prod", "--kubeconfig", str(config))[0] == 0
    text = config.read_text().replace(
        "    user: " + prod["arn"] + "\n  name: prod",
        "    user: " + prod["arn"] + "\n    namespace: payments  # mine\n"
        "    extensions:\n    - name: team\n      extension: {owner: me}\n  name: prod",
    )
    config.write_text(text)
    assert kcm("add", "prod", "--alias", "prod", "--role-arn", "arn:aws:iam::123456789012:role/x",
               "--kubeconfig", str(config))[0] == 0  # fmt: skip
    data = yaml.safe_load(config.read_text())
    context = data["contexts"][0]["context"]
    assert context["namespace"] == "payments"
    assert context["extensions"] == [{"name": "team", "extension": {"owner": "me"}}]
    assert "namespace: payments  # mine" in config.read_text()
    assert data["users"][0]["user"]["exec"]["args"][-2:] == ["--role", "arn:aws:iam::123456789012:role/x"]


def test_a_context_name_taken_by_another_cluster_is_replaced_whole(
    prod: dict[str, str], tmp_path: Path
) -> None:
    config = tmp_path / "config"
    config.write_text(HAND_WRITTEN)
    assert kcm("add", "prod", "--alias", "staging", "--kubeconfig", str(config))[0] == 0
    contexts = yaml.safe_load(config.read_text())["contexts"]
    assert contexts == [{"name": "staging", "context": {"cluster": prod["arn"], "user": prod["arn"]}}]


@pytest.mark.parametrize("alias", ["no", "on", "y", "true", "1.20", "null", "~", "0x1F", "1_000", "12:30"])
def test_yaml11_words_stay_strings_for_kubectl(alias: str, prod: object, tmp_path: Path) -> None:
    config = tmp_path / "config"
    assert kcm("add", "prod", "--alias", alias, "--kubeconfig", str(config))[0] == 0
    data = yaml.safe_load(config.read_text())  # PyYAML reads YAML 1.1, as kubectl does
    assert data["current-context"] == alias
    assert data["contexts"][0]["name"] == alias


def test_new_file_is_private_and_existing_mode_is_kept(prod: object, tmp_path: Path) -> None:
    fresh = tmp_path / "new" / "config"
    assert kcm("add", "prod", "--kubeconfig", str(fresh))[0] == 0
    assert fresh.stat().st_mode & 0o777 == 0o600
    shared = tmp_path / "shared"
    shared.write_text(HAND_WRITTEN)
    shared.chmod(0o640)
    assert kcm("add", "prod", "--kubeconfig", str(shared))[0] == 0
    assert shared.stat().st_mode & 0o777 == 0o640


def test_a_symlinked_kubeconfig_stays_a_link(prod: object, tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "kubeconfig"
    real.parent.mkdir()
    real.write_text(HAND_WRITTEN)
    link = tmp_path / "config"
    link.symlink_to(real)
    assert kcm("add", "prod", "--kubeconfig", str(link))[0] == 0
    assert link.is_symlink()
    assert "prod" in real.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config", "dotfiles", "home"]
    assert sorted(p.name for p in real.parent.iterdir()) == ["kubeconfig"]


def test_dry_run_prints_the_merged_file_with_its_comments_and_writes_nothing(
    prod: object, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    config.write_text(HAND_WRITTEN)
    code, out, err = kcm("add", "prod", "--kubeconfig", str(config), "--dry-run")
    assert code == 0
    assert out.startswith("# My clusters")
    assert err.splitlines()[0].startswith("+ context arn:aws:eks:us-east-1:123456789012:cluster/prod (")
    assert "prod" in out
    assert config.read_text() == HAND_WRITTEN
    assert not (tmp_path / "config.lock").exists()


def test_no_name_uses_the_only_cluster(prod: dict[str, str], tmp_path: Path) -> None:
    config = tmp_path / "config"
    code, _, err = kcm("add", "--alias", "prod", "--kubeconfig", str(config))
    assert code == 0, err
    assert yaml.safe_load(config.read_text())["clusters"][0]["name"] == prod["arn"]


def test_no_name_with_several_clusters_lists_them(aws: Aws, tmp_path: Path) -> None:
    aws.cluster("b-cluster")
    aws.cluster("a-cluster")
    config = tmp_path / "config"
    code, _, err = kcm("add", "--kubeconfig", str(config))
    assert code != 0
    assert err.strip().splitlines() == ["kcm: 2 clusters in region us-east-1, name one: a-cluster, b-cluster"]
    assert not config.exists()


def test_undo_puts_back_the_previous_version(prod: object, tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(HAND_WRITTEN)
    assert kcm("add", "prod", "--kubeconfig", str(config))[0] == 0
    assert kcm("add", "prod", "--alias", "second", "--kubeconfig", str(config))[0] == 0
    assert kcm("undo", "--kubeconfig", str(config))[0] == 0
    assert "second" not in config.read_text()
    assert "prod" in config.read_text()
    assert kcm("undo", "--kubeconfig", str(config))[0] == 0
    assert config.read_text() == HAND_WRITTEN
    code, _, err = kcm("undo", "--kubeconfig", str(config))
    assert code != 0
    assert "no backup" in err


def test_undo_refuses_when_the_file_changed_since(prod: object, tmp_path: Path) -> None:
    config = tmp_path / "config"
    assert kcm("add", "prod", "--kubeconfig", str(config))[0] == 0
    config.write_text(config.read_text() + "# edited later\n")
    code, _, err = kcm("undo", "--kubeconfig", str(config))
    assert code != 0
    assert "changed since" in err
    assert kcm("undo", "--force", "--kubeconfig", str(config))[0] == 0
    assert not config.exists()  # kcm had created it


def test_backups_are_private(prod: object, tmp_path: Path, isolated: Path) -> None:
    config = tmp_path / "config"
    config.write_text(HAND_WRITTEN)
    assert kcm("add", "prod", "--kubeconfig", str(config))[0] == 0
    backups = list((isolated / ".local/state/kcm/backups").rglob("*.yaml"))
    assert [b.read_text() for b in backups] == [HAND_WRITTEN]
    assert backups[0].stat().st_mode & 0o777 == 0o600
    assert backups[0].parent.stat().st_mode & 0o777 == 0o700


def test_no_credentials_or_tokens_are_written(prod: object, aws: Aws, tmp_path: Path) -> None:
    aws.profiles(
        "[default]\nregion = us-east-1\n",
        "[default]\naws_access_key_id = AKIDKCM\naws_secret_access_key = s3cr3t\n",
    )
    config = tmp_path / "config"
    assert kcm("add", "prod", "--profile", "default", "--kubeconfig", str(config))[0] == 0
    text = config.read_text()
    for secret in ("AKIDKCM", "s3cr3t", "testing", "aws_secret_access_key", "token:"):
        assert secret not in text


def test_add_runs_without_typer(aws: Aws, tmp_path: Path) -> None:
    """`kcm add` in a loop, as `aws eks update-kubeconfig` is run: kcm's front door runs it without
    typer (nor its pydantic); the AWS SDK is its work."""
    aws.cluster("prod")
    config = tmp_path / "config"
    probe = (
        "import sys\n"
        "from kcm import main\n"
        f"assert main.fast(['add', 'prod', '--kubeconfig', {str(config)!r}, '--alias', 'p']) == 0\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('typer', 'click', 'pydantic', 'rich'))\n"
        "print(heavy, file=sys.stderr)\n"
        "sys.exit(1 if heavy else 0)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"Added new context p to {config}\n"
    assert yaml.safe_load(config.read_text())["current-context"] == "p"


def test_on_a_terminal_without_a_name_it_asks_which_cluster(aws: Aws, tmp_path: Path) -> None:
    aws.cluster("b-cluster")
    aws.cluster("a-cluster")
    config = tmp_path / "config"
    with Terminal("add", "--kubeconfig", str(config), env={**os.environ, "TERM": "xterm"}) as term:
        deadline = time.monotonic() + 20
        while b"Cluster:" not in term.screen_bytes and time.monotonic() < deadline:
            term._pump(0.05)
        assert b"  1) a-cluster\r\n  2) b-cluster\r\n" in term.screen_bytes
        term.press("2\r")
        assert term.finish() == 0
    assert term.stdout.startswith("Added new context arn:aws:eks:us-east-1:123456789012:cluster/b-cluster")
    assert yaml.safe_load(config.read_text())["current-context"].endswith("cluster/b-cluster")
