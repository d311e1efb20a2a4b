"""`kcm add` against the oracle: the real `aws eks update-kubeconfig`, same embedded AWS, same files."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import aws_cli, forkserver
from tests.conftest import Aws, pointed_at, reset

AWS_WRITTEN = """apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: T1RIRVI=
    server: https://other.example.com
  name: arn:aws:eks:eu-west-1:123456789012:cluster/other
contexts:
- context:
    cluster: arn:aws:eks:eu-west-1:123456789012:cluster/other
    user: arn:aws:eks:eu-west-1:123456789012:cluster/other
  name: other
current-context: other
kind: Config
preferences: {}
users:
- name: arn:aws:eks:eu-west-1:123456789012:cluster/other
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      args: [--region, eu-west-1, eks, get-token, --cluster-name, other, --output, json]
      command: aws
"""

PROFILES = """[default]
region = us-east-1
cli_follow_urlparam = false
[profile eks-admin]
region = us-east-1
[profile west]
region = us-west-2
[profile other-default]
region = us-east-1
"""
CREDENTIALS = """[default]
aws_access_key_id = testing
aws_secret_access_key = testing
[eks-admin]
aws_access_key_id = testing
aws_secret_access_key = testing
[west]
aws_access_key_id = testing
aws_secret_access_key = testing
[other-default]
aws_access_key_id = testing
aws_secret_access_key = testing
"""


@dataclass
class Case:
    args: list[str]
    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # relative path -> initial text
    kubeconfig_env: str | None = None  # KUBECONFIG, with {d} for the directory
    unset: tuple[str, ...] = ()


CASES: dict[str, Case] = {
    "fresh": Case(["--name", "prod", "--kubeconfig", "{d}/config"]),
    "alias": Case(["--name", "prod", "--alias", "prod", "--kubeconfig", "{d}/config"]),
    "user-alias-names-context": Case(["--name", "prod", "--user-alias", "me", "--kubeconfig", "{d}/config"]),
    "alias-and-user-alias": Case(
        ["--name", "prod", "--alias", "p", "--user-alias", "me", "--kubeconfig", "{d}/config"]
    ),
    "role-arn": Case(
        ["--name", "prod", "--role-arn", "arn:aws:iam::123456789012:role/EKSAdmin", "--kubeconfig", "{d}/c"]
    ),
    "profile-flag": Case(["--name", "prod", "--profile", "eks-admin", "--kubeconfig", "{d}/config"]),
    "profile-default-flag": Case(["--name", "prod", "--profile", "default", "--kubeconfig", "{d}/config"]),
    "aws-profile-env": Case(
        ["--name", "prod", "--kubeconfig", "{d}/config"], env={"AWS_PROFILE": "eks-admin"}
    ),
    "aws-default-profile-env": Case(
        ["--name", "prod", "--kubeconfig", "{d}/config"], env={"AWS_DEFAULT_PROFILE": "default"}
    ),
    "both-profile-envs": Case(
        ["--name", "prod", "--kubeconfig", "{d}/config"],
        env={"AWS_PROFILE": "eks-admin", "AWS_DEFAULT_PROFILE": "other-default"},
    ),
    "flag-beats-env": Case(
        ["--name", "prod", "--profile", "eks-admin", "--kubeconfig", "{d}/config"],
        env={"AWS_PROFILE": "other-default"},
    ),
    "proxy-url": Case(["--name", "prod", "--proxy-url", "http://proxy:3128", "--kubeconfig", "{d}/config"]),
    "region-flag": Case(["--name", "west-1", "--region", "us-west-2", "--kubeconfig", "{d}/config"]),
    "region-from-profile": Case(
        ["--name", "west-1", "--profile", "west", "--kubeconfig", "{d}/config"], unset=("AWS_DEFAULT_REGION",)
    ),
    "assume-role-arn": Case(
        [
            "--name",
            "shared",
            "--region",
            "eu-west-1",
            "--assume-role-arn",
            "arn:aws:iam::111111111111:role/reader",
            "--role-arn",
            "arn:aws:iam::111111111111:role/admin",
            "--kubeconfig",
            "{d}/config",
        ]
    ),
    "existing-file": Case(
        ["--name", "prod", "--alias", "prod", "--kubeconfig", "{d}/config"], files={"config": AWS_WRITTEN}
    ),
    "update-same-cluster": Case(
        ["--name", "prod", "--alias", "again", "--kubeconfig", "{d}/config"], files={"config": "@prod"}
    ),
    "context-name-on-another-cluster": Case(
        ["--name", "prod", "--alias", "other", "--kubeconfig", "{d}/config"], files={"config": AWS_WRITTEN}
    ),
    "empty-file": Case(["--name", "prod", "--kubeconfig", "{d}/config"], files={"config": ""}),
    "contexts-null": Case(
        ["--name", "prod", "--kubeconfig", "{d}/config"],
        files={"config": "apiVersion: v1\nkind: Config\nclusters: null\ncontexts: null\nusers:\n"},
    ),
    "default-path": Case(["--name", "prod"]),
    "kubeconfig-list-second-holds-it": Case(
        ["--name", "prod", "--alias", "x"],
        files={"a": AWS_WRITTEN, "b": "@prod"},
        kubeconfig_env="{d}/a:{d}/b",
    ),
    "kubeconfig-list-none-holds-it": Case(
        ["--name", "prod"], files={"b": AWS_WRITTEN}, kubeconfig_env="{d}/a::{d}/b:"
    ),
    "kubeconfig-flag-beats-list": Case(
        ["--name", "prod", "--kubeconfig", "{d}/c"], files={"b": "@prod"}, kubeconfig_env="{d}/a:{d}/b"
    ),
}


def _run(tool: str, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`aws eks update-kubeconfig ARGS` (the real CLI, served: tests/aws_cli.py) or `kcm add ARGS`."""
    if tool == "aws":
        return aws_cli.run(["eks", "update-kubeconfig", *args], env)
    return forkserver.run("kcm", ["add", *args], env=env, timeout=120)


def _snapshot(folder: Path) -> dict[str, Any]:
    found = {}
    for path in sorted(folder.rglob("*")):
        skipped = (
            path.name.endswith(".lock") or path.parts[len(folder.parts)] == "state" or ".aws" in path.parts
        )
        if path.is_file() and not skipped:
            found[str(path.relative_to(folder))] = yaml.safe_load(path.read_text())
    return found


def _setup(case: Case, aws: Aws, work: Path, seeded: str) -> dict[str, str]:
    if work.exists():
        subprocess.run(["rm", "-rf", str(work)], check=True)
    work.mkdir(parents=True)
    for name, text in case.files.items():
        (work / name).write_text(seeded if text == "@prod" else text)
    env = {k: v for k, v in os.environ.items() if k not in case.unset}
    env.update(case.env)
    if case.kubeconfig_env is not None:
        env["KUBECONFIG"] = case.kubeconfig_env.replace("{d}", str(work))
    # the default path is ~/.kube/config: give each tool its own, identical, HOME
    env["HOME"] = str(work / "home")
    (work / "home" / ".aws").mkdir(parents=True)
    for name in ("config", "credentials"):
        (work / "home" / ".aws" / name).write_text((aws.home / ".aws" / name).read_text())
    env["AWS_CONFIG_FILE"] = str(work / "home" / ".aws" / "config")
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(work / "home" / ".aws" / "credentials")
    env["XDG_STATE_HOME"] = str(work / "state")
    return env


@pytest.fixture(scope="module")
def seeded_world(aws_server: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Clusters in two regions of the default account, one in another account; returns a seeded file.

    Made once for the module: both tools only read AWS (DescribeCluster, AssumeRole), so every test
    finds the same clusters. A test elsewhere that empties the embedded AWS runs only after this
    module's fixtures are torn down (or, under xdist, on another worker with its own server)."""
    reset(aws_server)
    folder = tmp_path_factory.mktemp("oracle-world")
    setup = Aws(aws_server, folder)
    keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    for name, region in (("prod", "us-east-1"), ("west-1", "us-west-2")):
        setup.client("eks", region, **keys).create_cluster(
            name=name, roleArn="arn:aws:iam::123456789012:role/eks", resourcesVpcConfig={"subnetIds": []}
        )
    role = "arn:aws:iam::111111111111:role/admin"
    creds = setup.client("sts", **keys).assume_role(RoleArn=role, RoleSessionName="test")["Credentials"]
    setup.client(
        "eks",
        "eu-west-1",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    ).create_cluster(
        name="shared", roleArn="arn:aws:iam::123456789012:role/eks", resourcesVpcConfig={"subnetIds": []}
    )
    seeded = folder / "seed"
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(folder),
        "AWS_CONFIG_FILE": str(folder / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(folder / "no-credentials"),
        "AWS_ENDPOINT_URL": aws_server,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        **{key.upper(): value for key, value in keys.items()},
    }
    done = aws_cli.run(["eks", "update-kubeconfig", "--name", "prod", "--kubeconfig", str(seeded)], env)
    assert done.returncode == 0, done.stderr
    return seeded.read_text()


@pytest.fixture
def aws(seeded_world: str, aws_server: str, isolated: Path, monkeypatch: pytest.MonkeyPatch) -> Aws:
    """conftest's `aws`, pointed at the module's clusters: not emptied for each test."""
    return pointed_at(aws_server, isolated, monkeypatch)


@pytest.fixture
def world(seeded_world: str, aws: Aws) -> str:
    aws.profiles(PROFILES, CREDENTIALS)
    return seeded_world


@pytest.mark.parametrize("dry_run", [False, True], ids=["write", "dry-run"])
@pytest.mark.parametrize("name", list(CASES))
def test_same_entries_as_aws_cli(name: str, dry_run: bool, world: str, aws: Aws, tmp_path: Path) -> None:
    case = CASES[name]
    results = {}
    for tool in ("aws", "kcm"):
        # both tools see the same absolute paths, so their messages can be compared verbatim
        work = tmp_path / "work"
        env = _setup(case, aws, work, world)
        args = [a.replace("{d}", str(work)) for a in case.args] + (["--dry-run"] if dry_run else [])
        run = _run(tool, args, env)
        assert run.returncode == 0, f"{tool}: {run.stderr}"
        output = yaml.safe_load(run.stdout) if dry_run else run.stdout.splitlines()[0]
        results[tool] = (output, _snapshot(work))
        subprocess.run(["mv", str(work), str(tmp_path / tool)], check=True)
    aws_output, aws_files = results["aws"]
    kcm_output, kcm_files = results["kcm"]
    assert kcm_output == aws_output
    assert kcm_files == aws_files


def test_positional_name_is_the_same_as_name_flag(world: str, aws: Aws, tmp_path: Path) -> None:
    env = _setup(CASES["fresh"], aws, tmp_path / "w", world)
    flag = _run("kcm", ["--name", "prod", "--kubeconfig", str(tmp_path / "a")], env)
    positional = _run("kcm", ["prod", "--kubeconfig", str(tmp_path / "b")], env)
    assert flag.returncode == positional.returncode == 0
    assert (tmp_path / "a").read_text() == (tmp_path / "b").read_text()


def test_verbose_prints_entries_as_aws_does(world: str, aws: Aws, tmp_path: Path) -> None:
    outputs = []
    for tool in ("aws", "kcm"):
        env = _setup(CASES["fresh"], aws, tmp_path / tool, world)
        run = _run(
            tool, ["--name", "prod", "--alias", "p", "--kubeconfig", str(tmp_path / "k"), "--verbose"], env
        )
        assert run.returncode == 0, run.stderr
        outputs.append(run.stdout)
        (tmp_path / "k").unlink()
    aws_out, kcm_out = outputs
    assert kcm_out.splitlines()[:3] == aws_out.splitlines()[:3]
    aws_entries = [
        yaml.safe_load(chunk) for chunk in aws_out.split("Entries:")[1].split("\n\n") if chunk.strip()
    ]
    kcm_entries = [
        yaml.safe_load(chunk) for chunk in kcm_out.split("Entries:")[1].split("\n\n") if chunk.strip()
    ]
    assert kcm_entries == aws_entries


OUTPOSTS = {
    "cloud cluster": None,
    "local cluster": {"outpostArns": ["arn:aws:outposts:us-west-2:123456789012:outpost/op-1"]},
    "local cluster, empty config": {},
    "extended cluster (etcd type)": {
        "outpostArns": ["arn:aws:outposts:us-west-2:123456789012:outpost/op-1"],
        "controlPlaneInstanceType": "m5.large",
        "etcdInstanceType": "m5.large",
    },
    "local cluster, etcd type null": {"outpostArns": [], "etcdInstanceType": None},
}


@pytest.mark.parametrize("outpost_config", OUTPOSTS.values(), ids=OUTPOSTS.keys())
@pytest.mark.parametrize("role_arn", [None, "arn:aws:iam::123456789012:role/r"])
def test_outposts_rule_is_the_aws_clis(outpost_config: dict[str, Any] | None, role_arn: str | None) -> None:
    """moto drops outpostConfig: the AWS CLI's own entry builder is the oracle, fed a description,
    and kcm reads the same description through `aws.eks_cluster`."""
    import argparse

    from awscli.customizations.eks.update_kubeconfig import EKSClient

    from kcm import aws, eks

    description: dict[str, Any] = {
        "name": "edge",
        "id": "a1b2c3d4-e5f6-7890-abcd-ef1234567890",
        "arn": "arn:aws:eks:us-west-2:123456789012:cluster/edge",
        "endpoint": "https://edge.example.com",
        "certificateAuthority": {"data": "Q0E="},
        "status": "ACTIVE",
    }
    if outpost_config is not None:
        description["outpostConfig"] = outpost_config

    class Session:
        profile = "edge-admin"

    args = argparse.Namespace(cluster_name="edge", role_arn=role_arn, proxy_url=None)
    client = EKSClient(Session(), parsed_args=args)
    client._cluster_description = description
    ours = eks.entries(
        aws.eks_cluster(description, "edge"), requested_name="edge", profile="edge-admin", role_arn=role_arn
    )
    assert ours.user == json.loads(json.dumps(client.get_user_entry()))
    assert ours.cluster == json.loads(json.dumps(client.get_cluster_entry()))


def test_a_local_cluster_without_an_id_is_refused_not_written_as_null() -> None:
    """The AWS CLI would write `--cluster-id` followed by `null`; kcm says why it cannot."""
    from kcm import aws, eks
    from kcm.errors import AwsError

    description = {
        "name": "edge",
        "arn": "arn:aws:eks:us-west-2:123456789012:cluster/edge",
        "status": "ACTIVE",
        "outpostConfig": {"outpostArns": []},
    }
    with pytest.raises(AwsError, match="Outposts local cluster whose description has no id"):
        eks.entries(aws.eks_cluster(description, "edge"))
