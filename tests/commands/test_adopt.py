"""Adoption (issue 18): a kubeconfig the AWS CLI, eksctl or `kcm add` filled becomes kcm's at the first
sync, one context per cluster and identity; --exclude, `kcm rm` remembered, --include-removed."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests import aws_cli
from tests.commands.test_sync import by_name, kcm, read, role_profiles, sync
from tests.commands.test_sync import org as org  # the fixture: the clusters of test_sync's LAYOUT
from tests.conftest import ROOT, VENV_BIN, Aws

KUBECTL = shutil.which("kubectl")


def kubectl_reads(config: Path) -> None:
    """The real kubectl loads the file (offline: a context that does not exist is never dialled)."""
    if KUBECTL is None:
        return
    view = subprocess.run(
        [KUBECTL, "config", "view", "--context", "nonexistent", "-o", "json", "--kubeconfig", str(config)],
        capture_output=True,
        text=True,
    )
    assert view.returncode == 0, view.stderr


WEB = "arn:aws:eks:us-east-1:111111111111:cluster/web"
BATCH = "arn:aws:eks:us-west-2:222222222222:cluster/batch"
DATA = "arn:aws:eks:eu-west-1:333333333333:cluster/data"
TEAM_C_ROLE = "arn:aws:iam::333333333333:role/Deployer"


def update_kubeconfig(config: Path, tmp_path: Path, *args: str) -> None:
    """The real `aws eks update-kubeconfig`, against the embedded AWS, with the test's profiles."""
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"}
    cli_config = tmp_path / "cli.cfg"
    cli_config.write_text(role_profiles().replace("[default]\n", "[default]\ncli_follow_urlparam = false\n"))
    env["AWS_CONFIG_FILE"] = str(cli_config)
    done = aws_cli.run(["eks", "update-kubeconfig", "--kubeconfig", str(config), *args], env)
    assert done.returncode == 0, done.stderr


@pytest.fixture
def from_the_aws_cli(org: dict[str, dict[str, Any]], tmp_path: Path) -> Path:
    """A kubeconfig as a user arrives with it: three clusters added by the AWS CLI (one by --profile,
    one with --alias, one with --role-arn), then edited by hand: a namespace, a comment, v1alpha1."""
    config = tmp_path / "config"
    update_kubeconfig(config, tmp_path, "--name", "web", "--region", "us-east-1", "--profile", "team-a")
    update_kubeconfig(
        config,
        tmp_path,
        "--name",
        "batch",
        "--region",
        "us-west-2",
        "--profile",
        "team-b",
        "--alias",
        "batch",
    )
    update_kubeconfig(
        config,
        tmp_path,
        "--name",
        "data",
        "--region",
        "eu-west-1",
        "--profile",
        "team-c",
        "--role-arn",
        TEAM_C_ROLE,
    )
    text = config.read_text()
    text = text.replace(
        "    cluster: arn:aws:eks:us-west-2:222222222222:cluster/batch\n",
        "    cluster: arn:aws:eks:us-west-2:222222222222:cluster/batch\n    namespace: jobs\n",
    )
    # the web user, as an older AWS CLI wrote it
    start = text.index(f"- name: {WEB}\n  user:")
    head, user = text[:start], text[start:]
    user = user.replace("client.authentication.k8s.io/v1beta1", "client.authentication.k8s.io/v1alpha1", 1)
    config.write_text("# my clusters\n" + head + user)
    return config


def test_the_first_sync_adopts_what_the_aws_cli_wrote_and_the_second_changes_no_byte(
    from_the_aws_cli: Path,
) -> None:
    config = from_the_aws_cli
    code, out, _ = sync(config, "--profile", "team-*", "--dry-run")
    assert code == 0
    assert f"= adopt {WEB} (written by aws eks update-kubeconfig)" in out
    assert "= adopt batch (written by aws eks update-kubeconfig)" in out
    assert (
        f"! context '{DATA}' reaches {DATA} as role {TEAM_C_ROLE} (profile team-c), not as profile team-c"
        in out
    )
    before = config.read_text()
    code, out, err = sync(config, "--profile", "team-*")
    assert code == 0, err
    data = read(config)
    contexts = by_name(data, "contexts")
    # one context per cluster and identity: the AWS CLI's names kept, kcm's only for what was missing
    assert sorted(contexts) == sorted(
        [
            WEB,
            "batch",
            DATA,  # the Deployer role's way in: left as it is
            "data.eu-west-1.333333333333",  # team-c's own: added
            "api.us-east-1.111111111111",
            "web.eu-west-1.111111111111",
            "edge.ap-southeast-2.333333333333",
        ]
    )
    assert contexts["batch"]["context"]["namespace"] == "jobs"
    assert "v1alpha1" not in config.read_text()
    users = by_name(data, "users")
    assert users[WEB]["user"]["exec"]["apiVersion"] == "client.authentication.k8s.io/v1beta1"
    assert users[DATA]["user"]["exec"]["args"][-2:] == ["--role", TEAM_C_ROLE]  # untouched
    assert {"name": "AWS_PROFILE", "value": "team-a"} in users[WEB]["user"]["exec"]["env"]
    for name in (WEB, "batch"):  # marked: later syncs and --prune treat them as kcm's
        assert any(item["name"] == "kcm" for item in contexts[name]["context"]["extensions"])
    assert not any(item.get("name") == "kcm" for item in contexts[DATA]["context"].get("extensions") or [])
    assert config.read_text().startswith("# my clusters\n")
    kept = [line for line in before.splitlines() if line not in config.read_text().splitlines()]
    assert all("v1alpha1" in line for line in kept), kept  # every other line of the file is still there
    after = config.read_bytes()
    assert sync(config, "--profile", "team-*")[0] == 0
    assert config.read_bytes() == after
    kubectl_reads(config)


def test_no_adopt_adds_its_own_contexts_beside_them(from_the_aws_cli: Path) -> None:
    config = from_the_aws_cli
    assert sync(config, "--profile", "team-*", "--no-adopt")[0] == 0
    contexts = by_name(read(config), "contexts")
    assert WEB in contexts and "web.us-east-1.111111111111" in contexts
    assert "batch" in contexts and "batch.us-west-2.222222222222" in contexts


def test_a_context_kcm_add_wrote_is_adopted_too(org: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    config = tmp_path / "config"
    assert (
        kcm(
            "add",
            "web",
            "--region",
            "us-east-1",
            "--profile",
            "team-a",
            "--alias",
            "web",
            "--kubeconfig",
            str(config),
        )[0]
        == 0
    )
    assert sync(config, "--profile", "team-a")[0] == 0
    contexts = by_name(read(config), "contexts")
    assert "web" in contexts and "web.us-east-1.111111111111" not in contexts
    assert len(by_name(read(config), "users")) == 3  # web's (adopted), api's, web in eu-west-1's


def test_eksctls_entries_are_adopted_under_their_names(
    aws: Aws, org: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    cluster = org[DATA]
    config = tmp_path / "config"
    shape = (ROOT / "fixtures/adopt/eksctl.yaml").read_text()
    config.write_text(
        shape.replace("SERVER", cluster["endpoint"]).replace("CA", cluster["certificateAuthority"]["data"])
    )
    _, out, _ = sync(config, "--profile", "team-c", "--dry-run")
    assert "= adopt ci@data.eu-west-1.eksctl.io (written by eksctl)" in out
    assert sync(config, "--profile", "team-c")[0] == 0
    data = read(config)
    assert "data.eu-west-1.eksctl.io" in by_name(data, "clusters") and DATA not in by_name(data, "clusters")
    user = by_name(data, "users")["ci@data.eu-west-1.eksctl.io"]["user"]["exec"]
    assert {"name": "AWS_STS_REGIONAL_ENDPOINTS", "value": "regional"} in user["env"]  # the user's own: kept
    assert "ci@data.eu-west-1.eksctl.io" in by_name(data, "contexts")
    after = config.read_bytes()
    assert sync(config, "--profile", "team-c")[0] == 0
    assert config.read_bytes() == after


def test_exclude_leaves_clusters_out_and_prune_removes_what_kcm_wrote_for_them(
    org: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    config = tmp_path / "config"
    code, _, err = sync(config, "--profile", "team-*", "--exclude", "edge", "--exclude", "222222222222")
    assert code == 0
    contexts = by_name(read(config), "contexts")
    assert not any(name.startswith(("edge.", "batch.")) for name in contexts)
    assert "2 cluster(s) left out by --exclude" in err
    assert sync(config, "--profile", "team-*")[0] == 0
    assert "edge.ap-southeast-2.333333333333" in by_name(read(config), "contexts")
    assert sync(config, "--profile", "team-*", "--exclude", "web.*", "--prune")[0] == 0
    contexts = by_name(read(config), "contexts")
    assert not any(name.startswith("web.") for name in contexts) and "api.us-east-1.111111111111" in contexts
    assert WEB not in by_name(read(config), "clusters")


def test_kcm_rm_is_remembered_by_sync_until_include_removed(
    org: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    config = tmp_path / "config"
    assert sync(config, "--profile", "team-a")[0] == 0
    code, _, err = kcm("rm", "api.us-east-1.111111111111", "--kubeconfig", str(config))
    assert code == 0 and "--include-removed" in err
    code, _, err = sync(config, "--profile", "team-a")
    assert code == 0 and "api.us-east-1.111111111111" not in by_name(read(config), "contexts")
    assert "whose contexts you removed with kcm rm left out: api.us-east-1.111111111111" in err
    kubectl_reads(config)  # the record is an extension kubectl reads
    code, out, err = sync(config, "--profile", "team-a", "--include-removed")
    assert code == 0, out + err
    assert "api.us-east-1.111111111111" in by_name(read(config), "contexts")
    assert "removed" not in config.read_text()  # brought back: no longer recorded
    assert sync(config, "--profile", "team-a")[0] == 0
    assert "api.us-east-1.111111111111" in by_name(read(config), "contexts")


def test_exclude_and_adopt_in_the_config_file(
    org: dict[str, dict[str, Any]], from_the_aws_cli: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = tmp_path / "kcm.toml"
    settings.write_text('[sync]\nexclude = ["edge", "api"]\nadopt = false\n')
    monkeypatch.setenv("KCM_CONFIG", str(settings))
    assert sync(from_the_aws_cli, "--profile", "team-*")[0] == 0
    contexts = by_name(read(from_the_aws_cli), "contexts")
    assert not any(name.startswith(("edge.", "api.")) for name in contexts)
    assert "web.us-east-1.111111111111" in contexts  # adopt = false: kcm's own beside the AWS CLI's
