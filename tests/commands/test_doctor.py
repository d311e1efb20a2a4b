"""`kcm doctor` against the embedded AWS and a stand-in EKS API server; and real kubectl through it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.awsrequest
import botocore.session
import pytest
import yaml
from typer.testing import CliRunner

from kcm.cli import app_for
from tests import forkserver
from tests.apiserver import ApiServer, api_server, connect_proxy
from tests.conftest import VENV_BIN, Aws

KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not on PATH")
ACCOUNT = "123456789012"  # the embedded AWS's default account: where static keys act
USER_ARN = f"arn:aws:sts::{ACCOUNT}:user/moto"  # what its GetCallerIdentity says for them (AWS: iam)
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/team/deployer"  # a role with a path
CONFIG = """[default]
region = us-east-1
[profile dev]
region = us-east-1
[profile sso-dev]
sso_session = corp
sso_account_id = 123456789012
sso_role_name = Admin
region = us-east-1
[sso-session corp]
sso_start_url = https://corp.awsapps.com/start
sso_region = us-east-1
[profile helper-gone]
region = us-east-1
credential_process = kcm-no-such-helper --json
[profile helper-garbage]
region = us-east-1
credential_process = echo not-json
"""
CREDENTIALS = "[dev]\naws_access_key_id = dev\naws_secret_access_key = dev\n"


def kcm(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app_for(list(args)), list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def doctor(config: Path, *args: str) -> tuple[int, dict[str, list[dict[str, str]]]]:
    code, out, err = kcm("doctor", "--kubeconfig", str(config), "-o", "json", *args)
    assert out, err
    by_check: dict[str, list[dict[str, str]]] = {}
    for check in json.loads(out):
        by_check.setdefault(check["check"], []).append(check)
    return code, by_check


def statuses(checks: dict[str, list[dict[str, str]]]) -> dict[str, str]:
    """The worst status of each check."""
    order = {"ok": 0, "warn": 1, "fail": 2}
    return {name: max((c["status"] for c in found), key=order.__getitem__) for name, found in checks.items()}


@pytest.fixture
def demo(aws: Aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    aws.profiles(CONFIG, CREDENTIALS)
    # the `aws` that kubectl's exec plugin and doctor's version check run: the AWS CLI of VENV_BIN,
    # served (a fresh one is 0.7 s of CPU a run)
    served = forkserver.on_path("aws", tmp_path / "served-bin")
    monkeypatch.setenv("PATH", os.pathsep.join((served, str(VENV_BIN), os.environ["PATH"])))
    aws.client("iam").create_role(Path="/team/", RoleName="deployer", AssumeRolePolicyDocument="{}")
    return aws.cluster("demo")


def added(tmp_path: Path, *args: str) -> Path:
    config = tmp_path / "config"
    code, _, err = kcm("add", "--name", "demo", "--region", "us-east-1", "--kubeconfig", str(config), *args)
    assert code == 0, err
    return config


def edit(config: Path, change: Any) -> None:
    data = yaml.safe_load(config.read_text())
    change(data)
    config.write_text(yaml.safe_dump(data))
    config.chmod(0o600)


@pytest.mark.parametrize("role", [None, ROLE_ARN], ids=["profile", "role"])
def test_a_kcm_token_entry_is_walked_like_aws_get_token(
    demo: dict[str, Any], tmp_path: Path, role: str | None
) -> None:
    config = added(
        tmp_path, "--profile", "dev", "--token-helper", "kcm", *(["--role-arn", role] if role else [])
    )
    _, checks = doctor(config)
    found = statuses(checks)
    assert [found[name] for name in ("kubeconfig", "exec plugin", "identity", "token", "cluster")] == [
        "ok"
    ] * 5
    assert "(kcm token" in checks["exec plugin"][0]["detail"]
    expected = "assumed-role/deployer" if role else USER_ARN
    assert expected in checks["identity"][0]["detail"]


def test_a_healthy_context_passes_identity_token_and_cluster(demo: dict[str, Any], tmp_path: Path) -> None:
    config = added(tmp_path, "--profile", "dev")
    code, checks = doctor(config)
    found = statuses(checks)
    assert [found[name] for name in ("kubeconfig", "exec plugin", "identity", "token", "cluster")] == [
        "ok"
    ] * 5
    assert checks["identity"][0]["detail"].startswith(
        f"profile dev (the kubeconfig's AWS_PROFILE) is {USER_ARN} (credentials: shared-credentials-file)"
    )
    assert "ACTIVE" in checks["cluster"][0]["detail"]
    assert found["access"] == "warn"  # the embedded AWS has no access config: CONFIG_MAP, aws-auth advice
    assert found["api server"] == "fail" and code == 1  # its endpoint is made up: unreachable


def test_the_role_arn_the_cluster_sees_with_its_path(demo: dict[str, Any], tmp_path: Path) -> None:
    config = added(tmp_path, "--profile", "dev", "--role-arn", ROLE_ARN)
    _, checks = doctor(config)
    detail = checks["identity"][0]["detail"]
    assert "assumed-role/deployer/" in detail and f"the cluster sees {ROLE_ARN}" in detail
    found = statuses(checks)
    assert [found[name] for name in ("identity", "token", "cluster")] == ["ok"] * 3


@pytest.mark.parametrize(
    ("change", "check", "problem", "fix"),
    [
        (
            lambda d: d["clusters"][0]["cluster"].update(server="https://old.example.com"),
            "cluster",
            "stale entry: server https://old.example.com",
            "kcm add --name demo --region us-east-1",
        ),
        (
            lambda d: d["users"][0]["user"]["exec"].update(
                apiVersion="client.authentication.k8s.io/v1alpha1"
            ),
            "exec plugin",
            "v1alpha1: kubectl 1.24 and later refuse it",
            "kcm add",
        ),
        (
            lambda d: d["users"][0]["user"]["exec"]["env"][0].update(value="nope"),
            "identity",
            "profile 'nope' (the kubeconfig's AWS_PROFILE) does not exist",
            "[profile nope]",
        ),
        (
            lambda d: d["users"][0]["user"]["exec"]["env"][0].update(value="sso-dev"),
            "identity",
            "SSO session",
            "aws sso login --sso-session corp",
        ),
        (
            lambda d: d["users"][0]["user"]["exec"]["env"][0].update(value="helper-gone"),
            "identity",
            "`kcm-no-such-helper ...` is not on PATH",
            "",
        ),
        (
            lambda d: d["users"][0]["user"]["exec"]["env"][0].update(value="helper-garbage"),
            "identity",
            "printed something that is not JSON",
            "",
        ),
    ],
    ids=["stale", "v1alpha1", "missing-profile", "expired-sso", "process-missing", "process-garbage"],
)
def test_each_broken_layer_is_a_failing_check_with_its_fix(
    demo: dict[str, Any], tmp_path: Path, change: Any, check: str, problem: str, fix: str
) -> None:
    config = added(tmp_path, "--profile", "dev")
    edit(config, change)
    code, checks = doctor(config)
    failing = [c for c in checks[check] if c["status"] == "fail"]
    assert code == 1 and failing, checks
    assert problem in failing[0]["detail"] and fix in failing[0]["fix"]


def test_kubeconfig_layer_problems(demo: dict[str, Any], tmp_path: Path) -> None:
    config = added(tmp_path, "--profile", "dev")
    config.chmod(0o644)
    Path(f"{config}.lock").write_text("")
    code, checks = doctor(config)
    details = [(c["status"], c["detail"]) for c in checks["kubeconfig"]]
    assert ("warn", f"{config} is readable by others (mode 644)") in details
    assert any(s == "fail" and "lock exists" in d for s, d in details) and code == 1
    assert doctor(config, "--context", "nope")[1]["kubeconfig"][0]["detail"].startswith(
        "no context named 'nope'"
    )


@pytest.fixture
def server(demo: dict[str, Any], tmp_path: Path) -> Iterator[ApiServer]:
    with api_server(tmp_path, "demo") as running:
        yield running


def pointed(config: Path, server: ApiServer) -> None:
    """The kubeconfig's cluster at the stand-in API server, with its CA."""
    edit(
        config,
        lambda d: d["clusters"][0]["cluster"].update(
            server=server.url, **{"certificate-authority-data": server.ca_data}
        ),
    )


def test_the_api_server_layer_says_unmapped_or_who_you_are(
    demo: dict[str, Any], server: ApiServer, tmp_path: Path
) -> None:
    config = added(tmp_path, "--profile", "dev")
    pointed(config, server)
    code, checks = doctor(config)
    assert code == 1
    assert checks["cluster"][0]["status"] == "fail"  # the server is no longer EKS's: named as stale
    unmapped = checks["api server"][0]
    assert unmapped["status"] == "fail" and "401 Unauthorized" in unmapped["detail"]
    assert USER_ARN in unmapped["detail"] and "map that exact role ARN" in unmapped["fix"]
    server.access[USER_ARN] = "dev-user"
    _, checks = doctor(config)
    assert checks["api server"][0]["status"] == "ok"
    assert "knows you as dev-user" in checks["api server"][0]["detail"]


def test_an_unreachable_server_is_named(demo: dict[str, Any], tmp_path: Path) -> None:
    config = added(tmp_path, "--profile", "dev")
    # nothing listens on port 9 (discard); the embedded AWS's made-up CA would fail first, so a real one
    with api_server(tmp_path, "demo") as elsewhere:
        ca = elsewhere.ca_data
    edit(
        config,
        lambda d: d["clusters"][0]["cluster"].update(
            server="https://127.0.0.1:9", **{"certificate-authority-data": ca}
        ),
    )
    code, checks = doctor(config)
    assert code == 1
    assert checks["api server"][0]["detail"].startswith("cannot reach https://127.0.0.1:9")


@pytest.mark.parametrize("entries", [[], [USER_ARN]], ids=["no-entry", "entry"])
def test_access_entries_in_api_mode(
    demo: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entries: list[str]
) -> None:
    """The embedded AWS has no access entries: their calls, and accessConfig, are stubbed here only."""

    def stubbed(**kwargs: Any) -> Any:
        """A before-call handler's answer stands for the call: (the HTTP response, the parsed one)."""
        http = botocore.awsrequest.AWSResponse("https://eks.stub", 200, {}, None)
        if kwargs["model"].name == "ListAccessEntries":
            return http, {"accessEntries": entries}
        policy = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"
        return http, {"associatedAccessPolicies": [{"policyArn": policy}]}

    def with_api_mode(parsed: dict[str, Any], **_: Any) -> None:
        parsed["cluster"]["accessConfig"] = {"authenticationMode": "API"}

    create = botocore.session.Session.create_client

    def create_client(self: Any, service: str, *args: Any, **kwargs: Any) -> Any:
        client = create(self, service, *args, **kwargs)
        if service == "eks":
            client.meta.events.register("before-call.eks.ListAccessEntries", stubbed)
            client.meta.events.register("before-call.eks.ListAssociatedAccessPolicies", stubbed)
            client.meta.events.register("after-call.eks.DescribeCluster", with_api_mode)
        return client

    monkeypatch.setattr(botocore.session.Session, "create_client", create_client)
    config = added(tmp_path, "--profile", "dev")
    _, checks = doctor(config)
    access = checks["access"][0]
    if entries:
        assert (
            access["status"] == "ok"
            and access["detail"] == f"access entry for {USER_ARN}: AmazonEKSViewPolicy"
        )
    else:
        assert access["status"] == "fail" and f"no access entry for {USER_ARN}" in access["detail"]
        assert f"aws eks create-access-entry --cluster-name demo --principal-arn {USER_ARN}" in access["fix"]
        assert "associate-access-policy" in access["fix"]


def test_text_output_is_one_line_per_check(demo: dict[str, Any], tmp_path: Path) -> None:
    config = added(tmp_path, "--profile", "dev")
    edit(config, lambda d: d["clusters"][0]["cluster"].update(server="https://old.example.com"))
    code, out, _ = kcm("doctor", "--kubeconfig", str(config))
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith("ok    kubeconfig")
    stale = next(line for line in lines if line.startswith("fail  cluster"))
    assert "-> `kcm add --name demo --region us-east-1`" in stale


@needs_kubectl
@pytest.mark.parametrize("role", [None, ROLE_ARN], ids=["profile", "role"])
def test_real_kubectl_through_the_real_aws_get_token(
    demo: dict[str, Any], server: ApiServer, tmp_path: Path, role: str | None
) -> None:
    config = added(tmp_path, "--profile", "dev", *(["--role-arn", role] if role else []))
    pointed(config, server)
    whoami = [str(KUBECTL), "--kubeconfig", str(config), "auth", "whoami", "-o", "json"]
    refused = subprocess.run(whoami, capture_output=True, text=True)
    assert refused.returncode != 0 and "Unauthorized" in refused.stderr  # the token is fine, the ARN unmapped
    expected = f"arn:aws:iam::{ACCOUNT}:role/deployer" if role else USER_ARN  # the authenticator drops paths
    assert server.seen == [expected]
    server.access[expected] = "deployer"
    done = subprocess.run(whoami, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"]["userInfo"]["username"] == "deployer"


def test_the_clusters_proxy_url_is_used_as_kubectl_uses_it(
    demo: dict[str, Any], server: ApiServer, tmp_path: Path
) -> None:
    config = added(tmp_path, "--profile", "dev")
    pointed(config, server)
    server.access[USER_ARN] = "dev-user"
    with connect_proxy() as (proxy, asked):
        edit(config, lambda d: d["clusters"][0]["cluster"].update(**{"proxy-url": proxy}))
        _, checks = doctor(config)
    assert checks["api server"][0]["status"] == "ok"
    assert asked == [server.url.removeprefix("https://")] * 2  # /version, then the SelfSubjectReview
