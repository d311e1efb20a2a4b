"""`kcm token` against the embedded AWS: `aws eks get-token`'s ExecCredential, then from the cache."""

from __future__ import annotations

import base64
import datetime
import json
import os
import shutil
import stat
import subprocess
import sys
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from kcm import token
from tests import forkserver
from tests.apiserver import api_server, caller
from tests.conftest import VENV_BIN, Aws

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/deployer"
KEYS_ARN = f"arn:aws:sts::{ACCOUNT}:user/moto"  # the embedded AWS's answer for static keys


def kcm_token(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return forkserver.run("kcm", ["token", *args], env=env, timeout=60)


def issued(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    done = kcm_token(*args, env=env)
    assert done.returncode == 0, done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def url_of(value: str) -> str:
    encoded = value.removeprefix("k8s-aws-v1.")
    return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()


def signer(value: str, cluster: str) -> str:
    """The raw ARN GetCallerIdentity gives for the token's URL (session name included)."""
    url = url_of(value)
    credential = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))["X-Amz-Credential"]
    request = urllib.request.Request(  # noqa: S310  # the embedded AWS
        url,
        headers={
            "x-k8s-aws-id": cluster,
            "Authorization": f"AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders=host, Signature=0",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310  # the embedded AWS
        found = ET.fromstring(answer.read()).find(".//{*}Arn")  # noqa: S314  # the embedded AWS's answer
    assert found is not None and found.text
    return found.text


def cached_files() -> list[Path]:
    folder = Path(token.tokens_folder())
    return sorted(folder.glob("*.token")) if folder.exists() else []


@pytest.fixture
def role(aws: Aws) -> str:
    aws.client("iam").create_role(RoleName="deployer", AssumeRolePolicyDocument="{}")
    return ROLE


def test_the_same_shape_as_aws_eks_get_token(aws: Aws) -> None:
    aws_cli = shutil.which("aws", path=str(VENV_BIN))
    assert aws_cli, "awscli is a test dependency"
    theirs = json.loads(
        subprocess.run(
            [
                aws_cli,
                "eks",
                "get-token",
                "--cluster-name",
                "demo",
                "--region",
                "us-east-1",
                "--output",
                "json",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    ours = issued("--cluster-name", "demo", "--region", "us-east-1")
    assert list(ours) == list(theirs) == ["kind", "apiVersion", "spec", "status"]
    assert {k: v for k, v in ours.items() if k != "status"} == {
        k: v for k, v in theirs.items() if k != "status"
    }
    assert list(ours["status"]) == list(theirs["status"]) == ["expirationTimestamp", "token"]
    when = [
        datetime.datetime.strptime(answer["status"]["expirationTimestamp"], "%Y-%m-%dT%H:%M:%SZ")
        for answer in (ours, theirs)
    ]
    assert abs((when[0] - when[1]).total_seconds()) < 60  # both now + 14 minutes
    query = [
        dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url_of(a["status"]["token"])).query))
        for a in (ours, theirs)
    ]
    assert sorted(query[0]) == sorted(query[1])
    for key in ("Action", "Version", "X-Amz-Algorithm", "X-Amz-Expires", "X-Amz-SignedHeaders"):
        assert query[0][key] == query[1][key], key
    assert query[0]["X-Amz-SignedHeaders"] == "host;x-k8s-aws-id" and query[0]["X-Amz-Expires"] == "60"
    assert (
        urllib.parse.urlsplit(url_of(ours["status"]["token"])).netloc
        == urllib.parse.urlsplit(url_of(theirs["status"]["token"])).netloc
    )


@pytest.mark.parametrize("with_role", [False, True], ids=["credentials", "role"])
def test_the_token_proves_the_right_identity(aws: Aws, role: str, with_role: bool) -> None:
    answer = issued(
        "--cluster-name", "demo", "--region", "us-east-1", *(["--role-arn", role] if with_role else [])
    )
    value = answer["status"]["token"]
    assert caller(value, "demo") == (role if with_role else KEYS_ARN)  # as the EKS authenticator maps it
    if with_role:
        assert signer(value, "demo") == f"arn:aws:sts::{ACCOUNT}:assumed-role/deployer/EKSGetTokenAuth"


def test_a_second_call_is_served_from_a_private_cache(
    aws: Aws, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret = "kcm-test-secret-key-never-stored"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    first = issued("--cluster-name", "demo", "--region", "us-east-1")
    files = cached_files()
    assert len(files) == 1
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert stat.S_IMODE(files[0].parent.stat().st_mode) == 0o700
    assert secret not in files[0].name + files[0].read_text() + url_of(first["status"]["token"])
    broken = tmp_path / "no-botocore"
    (broken / "botocore").mkdir(parents=True)
    (broken / "botocore" / "__init__.py").write_text("raise ImportError('botocore is not to be used')\n")
    second = issued(
        "--cluster-name", "demo", "--region", "us-east-1", env={**os.environ, "PYTHONPATH": str(broken)}
    )
    assert second == first  # from the cache: minting would have needed botocore
    again = kcm_token(
        "--cluster-name",
        "demo",
        "--region",
        "us-east-1",
        "--no-cache",
        env={**os.environ, "PYTHONPATH": str(broken)},
    )
    assert again.returncode != 0  # the check itself works: without the cache, botocore is needed


def test_what_changes_the_identity_changes_the_cache_entry(aws: Aws, role: str) -> None:
    base = ("--cluster-name", "demo", "--region", "us-east-1")
    issued(*base)
    issued(*base, "--role-arn", role)
    issued("--cluster-name", "other", "--region", "us-east-1")
    issued("--cluster-name", "demo", "--region", "eu-west-1")
    issued(*base, env={**os.environ, "AWS_ACCESS_KEY_ID": "another-key"})
    assert len(cached_files()) == 5
    aws.profiles("[default]\nregion = us-east-1\n")  # the AWS config changed: its profiles may have
    issued(*base)
    assert len(cached_files()) == 6
    issued(*base)
    assert len(cached_files()) == 6


def test_a_token_near_its_expiry_is_made_again(aws: Aws) -> None:
    issued("--cluster-name", "demo", "--region", "us-east-1")
    (path,) = cached_files()
    soon = int(datetime.datetime.now(datetime.UTC).timestamp()) + 50
    path.write_text(f"k8s-aws-v1.old\n{soon}\n")
    answer = issued("--cluster-name", "demo", "--region", "us-east-1")
    assert answer["status"]["token"] != "k8s-aws-v1.old"
    assert path.read_text().split("\n")[0] == answer["status"]["token"]


def test_no_cache_and_clear_cache(aws: Aws) -> None:
    issued("--cluster-name", "demo", "--region", "us-east-1", "--no-cache")
    assert cached_files() == []
    issued("--cluster-name", "demo", "--region", "us-east-1")
    issued("--cluster-name", "other", "--region", "us-east-1")
    done = kcm_token("--clear-cache")
    assert done.returncode == 0 and done.stdout == ""
    assert done.stderr.startswith("removed 2 cached tokens from ")
    assert cached_files() == []


@pytest.mark.parametrize(
    ("exec_info", "version"),
    [
        ("", "client.authentication.k8s.io/v1beta1"),
        (
            '{"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential"}',
            "client.authentication.k8s.io/v1",
        ),
        ("not json", "client.authentication.k8s.io/v1beta1"),
    ],
)
def test_the_api_version_follows_kubernetes_exec_info(aws: Aws, exec_info: str, version: str) -> None:
    answer = issued(
        "--cluster-name",
        "demo",
        "--region",
        "us-east-1",
        env={**os.environ, "KUBERNETES_EXEC_INFO": exec_info},
    )
    assert answer["apiVersion"] == version


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--region", "us-east-1"], "--cluster-name or --cluster-id is required"),
        (["--cluster-name", "a", "--cluster-id", "b", "--region", "us-east-1"], "give one, not both"),
        (["--cluster-name", "a", "--output", "text"], "kcm token prints JSON only"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(aws: Aws, args: list[str], message: str) -> None:
    done = kcm_token(*args)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and message in done.stderr
    assert cached_files() == []


def test_a_missing_profile_or_a_bad_role_is_bad_input(aws: Aws) -> None:
    done = kcm_token(
        "--cluster-name", "demo", "--region", "us-east-1", env={**os.environ, "AWS_PROFILE": "nope"}
    )
    assert done.returncode == 2 and done.stderr == (
        "kcm: AWS profile 'nope' not found in the AWS config or credentials file "
        "(see `aws configure list-profiles`)\n"
    )
    done = kcm_token("--cluster-name", "demo", "--region", "us-east-1", "--role-arn", "deployer")
    assert done.returncode == 2 and "is not an IAM role ARN" in done.stderr


def test_no_credentials_is_one_line_and_exit_3(aws: Aws) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    done = kcm_token("--cluster-name", "demo", "--region", "us-east-1", env=env)
    assert done.returncode == 3 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "no AWS credentials found" in done.stderr


def test_a_cache_file_of_another_shape_is_not_trusted(tmp_path: Path) -> None:
    path = tmp_path / "entry.token"
    later = int(datetime.datetime.now(datetime.UTC).timestamp()) + 600
    for text in (
        "",
        "k8s-aws-v1.x",
        f"bearer\n{later}\n",
        "k8s-aws-v1.x\nsoon\n",
        f'k8s-aws-v1."\n{later}\n',
    ):
        path.write_text(text)
        assert token.read_cached(str(path)) is None, text
    path.write_text(f"k8s-aws-v1.x\n{later}\n")
    found = token.read_cached(str(path))
    assert found is not None and found.token == "k8s-aws-v1.x" and found.expires == later


def test_the_warm_paths_shortcuts_agree_with_the_libraries(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """What the warm path does by hand to stay light: the JSON it writes and reads, its folder."""
    import platformdirs

    from kcm import cache, eks

    assert token.PREFIX == eks.TOKEN_PREFIX
    found = token.Token("k8s-aws-v1.abc_-", 1_800_000_000)
    for version in (token.V1, token.V1BETA1):
        assert (
            token.exec_credential(found, version)
            == json.dumps(
                {
                    "kind": "ExecCredential",
                    "apiVersion": version,
                    "spec": {},
                    "status": {"expirationTimestamp": "2027-01-15T08:00:00Z", "token": "k8s-aws-v1.abc_-"},
                },
                indent=4,
            )
            + "\n"
        )
    for info in (
        '{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false}}',
        '{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","spec":{}}',
        '{"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential"}',
        '{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v2"}',
    ):
        quick = token._top_api_version(info)
        assert quick is None or quick == json.loads(info)["apiVersion"], info
    monkeypatch.delenv("KCM_CACHE_DIR", raising=False)
    for xdg in (None, str(tmp_path / "xdg")):
        if xdg is None:
            monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
        else:
            monkeypatch.setenv("XDG_CACHE_HOME", xdg)
        assert (
            token.tokens_folder()
            == str(cache.folder() / "tokens")
            == os.path.join(platformdirs.user_cache_dir("kcm"), "tokens")
        )
    monkeypatch.setenv("KCM_CACHE_DIR", str(tmp_path / "elsewhere"))
    assert token.tokens_folder() == str(cache.folder() / "tokens")


KUBECTL = shutil.which("kubectl")


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not on PATH")
@pytest.mark.parametrize("with_role", [False, True], ids=["credentials", "role"])
def test_real_kubectl_through_a_token_helper_kcm_entry(
    aws: Aws, role: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, with_role: bool
) -> None:
    from typer.testing import CliRunner

    from kcm.cli import app_for

    aws.cluster("demo")
    config = tmp_path / "config"
    add = [
        "add",
        "--name",
        "demo",
        "--region",
        "us-east-1",
        "--token-helper",
        "kcm",
        "--kubeconfig",
        str(config),
    ]
    argv = [*add, *(["--role-arn", role] if with_role else [])]
    done = CliRunner().invoke(app_for(argv), argv)
    assert done.exit_code == 0, done.output
    data = yaml.safe_load(config.read_text())
    exec_ = data["users"][0]["user"]["exec"]
    assert exec_["command"] == "kcm"
    assert exec_["args"] == ["token", "--region", "us-east-1", "--cluster-name", "demo"] + (
        ["--role-arn", role] if with_role else []
    )
    monkeypatch.setenv("PATH", f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}")  # kubectl finds `kcm`
    with api_server(tmp_path, "demo") as server:
        data["clusters"][0]["cluster"].update(
            server=server.url, **{"certificate-authority-data": server.ca_data}
        )
        config.write_text(yaml.safe_dump(data))
        whoami = [str(KUBECTL), "--kubeconfig", str(config), "auth", "whoami", "-o", "json"]
        refused = subprocess.run(whoami, capture_output=True, text=True)
        assert refused.returncode != 0 and "Unauthorized" in refused.stderr  # a good token, an unmapped ARN
        identity = role if with_role else KEYS_ARN
        assert server.seen == [identity]
        assert len(cached_files()) == 1
        server.access[identity] = "deployer"
        done_ = subprocess.run(whoami, capture_output=True, text=True)  # the cached token this time
        assert done_.returncode == 0, done_.stderr
        assert json.loads(done_.stdout)["status"]["userInfo"]["username"] == "deployer"
        assert len(cached_files()) == 1


def test_a_cached_token_imports_next_to_nothing(aws: Aws) -> None:
    """The warm path is the point: it costs about what the interpreter's start costs. No AWS SDK, no
    typer, and none of the standard modules that take milliseconds to import either."""
    args = ["token", "--cluster-name", "demo", "--region", "us-east-1"]
    issued(*args[1:])
    probe = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "from kcm import main\n"
        f"assert main.fast({args!r}) == 0\n"
        "new = set(sys.modules) - before\n"
        "heavy = sorted(m for m in new if m.split('.')[0] in "
        "('boto3', 'botocore', 'urllib3', 'typer', 'click', 'pydantic', 'rich', 'yaml', 'platformdirs', "
        "'json', 'typing', 're', 'dataclasses', 'pathlib', 'hashlib', 'datetime', 'collections'))\n"
        "print(heavy, file=sys.stderr)\n"
        "sys.exit(1 if heavy else 0)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"]["token"].startswith("k8s-aws-v1.")


def test_concurrent_calls_with_an_empty_cache_all_answer_and_leave_one_whole_file(aws: Aws) -> None:
    argv = [str(VENV_BIN / "kcm"), "token", "--cluster-name", "demo", "--region", "us-east-1"]
    calls = [
        subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(6)
    ]
    answers = [call.communicate(timeout=120) for call in calls]
    assert all(call.returncode == 0 for call in calls), answers
    tokens = {json.loads(out)["status"]["token"] for out, _ in answers}
    (path,) = cached_files()
    assert path.read_text().split("\n")[0] in tokens
    assert [entry.name for entry in path.parent.iterdir()] == [path.name]  # no temp file left
