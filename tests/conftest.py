"""Every test runs in its own HOME with no AWS credentials and no KUBECONFIG of the developer's."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from embedded_aws import embedded_aws, reset

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent

# Hypothesis's 200 ms deadline measures the machine, not kcm: with a worker per core and subprocesses
# beside it, one example can wait half a second for a CPU. The example count stays hypothesis's own.
settings.register_profile("kcm", deadline=None)
settings.load_profile("kcm")


def pytest_configure(config: pytest.Config) -> None:
    """kcm's modules compiled once, before any test runs it: most tests run the `kcm` command, and
    where PYTHONDONTWRITEBYTECODE is set (as on this project's CI machines) no run may save what it
    compiled, so each one compiled every module it imported again, 70-140 ms of CPU a run. Done by the
    controller only (xdist's workers start after it)."""
    if not hasattr(config, "workerinput"):
        import compileall

        compileall.compile_dir(ROOT / "src", quiet=1)


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's: the lowest-versions smoke run has none
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto` (make test): one worker more than there are CPUs. Much of a test is waiting, for the
    embedded AWS, kubectl or a kcm process, so a worker per CPU leaves CPUs idle; measured on 2 CPUs,
    the whole suite took 5:07 with 2 workers, 4:25 with 3 and 5:05 with 4."""
    return len(os.sched_getaffinity(0)) + 1 if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1) + 1


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow tests (many processes, seconds each) first: with parallel workers (make test), a worker
    that picks one up last would keep the whole run waiting for it."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    for name in list(os.environ):
        if name.startswith("AWS_") or name in ("KUBECONFIG",):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".local/state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / ".aws/config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / ".aws/credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.chdir(tmp_path)
    return home


@pytest.fixture(scope="session")
def aws_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with embedded_aws(tmp_path_factory.mktemp("moto") / "moto.log", quick_eks=True) as url:
        yield url


@dataclass
class Aws:
    """The embedded AWS, emptied for each test, with the environment pointing at it."""

    url: str
    home: Path
    # the test's clients, each made once (making one is 10-20 ms of CPU; a fixture needs dozens)
    _clients: dict[tuple[Any, ...], Any] = field(default_factory=dict, repr=False)
    _assumed: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)

    def client(self, service: str, region: str = "us-east-1", **credentials: Any) -> Any:
        key = (service, region, *sorted(credentials.items()))
        if key not in self._clients:
            import boto3

            made = boto3.client(service, region_name=region, endpoint_url=self.url, **credentials)
            self._clients[key] = made
        return self._clients[key]

    def in_account(self, account: str, service: str, region: str = "us-east-1") -> Any:
        """A client acting in `account`, reached the way kcm reaches it: sts:AssumeRole (once a test)."""
        if account not in self._assumed:
            role = f"arn:aws:iam::{account}:role/admin"
            answer = self.client("sts").assume_role(RoleArn=role, RoleSessionName="test")
            self._assumed[account] = answer["Credentials"]
        creds = self._assumed[account]
        return self.client(
            service,
            region,
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
        )

    def cluster(self, name: str, region: str = "us-east-1", account: str | None = None) -> dict[str, Any]:
        """Create cluster `name`; what CreateCluster answers (what DescribeCluster says of it)."""
        eks = self.in_account(account, "eks", region) if account else self.client("eks", region)
        made = eks.create_cluster(
            name=name,
            roleArn="arn:aws:iam::123456789012:role/eks",
            resourcesVpcConfig={"subnetIds": []},
        )
        cluster: dict[str, Any] = made["cluster"]
        return cluster

    def known_regions(self, account: str, regions: list[str]) -> None:
        """The regions kcm remembers `account` has enabled, as a sync earlier in the day left them:
        most tests need not ask ec2:DescribeRegions and list all 30-odd regions."""
        from kcm import awscache, discovery

        setup = discovery.Reach("the embedded AWS", profile=None).setup("aws")
        remembered = awscache.Account(setup, account, full=False, warn=print)
        remembered.remember_regions(regions)
        remembered.save()

    def profiles(self, text: str, credentials: str = "") -> None:
        folder = self.home / ".aws"
        folder.mkdir(exist_ok=True)
        (folder / "config").write_text(text)
        (folder / "credentials").write_text(credentials)


def pointed_at(url: str, home: Path, monkeypatch: pytest.MonkeyPatch) -> Aws:
    """The environment pointed at the embedded AWS at `url`, with its fake keys."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return Aws(url, home)


@pytest.fixture
def aws(aws_server: str, isolated: Path, monkeypatch: pytest.MonkeyPatch) -> Aws:
    reset(aws_server)
    return pointed_at(aws_server, isolated, monkeypatch)
