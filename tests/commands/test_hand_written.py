"""Hand-written kubeconfigs that kubectl reads and C libyaml refuses: every verb reads and edits them.

The files are the shapes users write by hand: kubelogin args in a flow list (`--oidc-issuer-url=https://...`),
flow entries holding URLs and ARNs, entries without a name (kubectl reads them as name ""). The real
kubectl is the oracle for "reads it"; `kcm add` must keep every original line.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests import forkserver
from tests.conftest import Aws
from tests.test_corpus import KUBECTL, kubectl_view

OIDC = """apiVersion: v1
kind: Config
clusters: [{name: tools, cluster: {server: https://tools.example.com:6443}}]
contexts:
- name: tools
  context: {cluster: arn:aws:eks:us-east-1:111111111111:cluster/tools, user: oidc}
- context: {cluster: tools, user: oidc}   # no name: kubectl calls it ""
users:
- name: oidc
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: kubectl
      args: [oidc-login, get-token, --oidc-issuer-url=https://issuer.example.com, --oidc-client-id=k8s]
- user: {token-file: /dev/null}
current-context: tools
"""
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not on PATH")


def _kcm(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return forkserver.run("kcm", list(args), cwd=cwd, timeout=60)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config"
    path.write_text(OIDC)
    return path


def test_list_reads_flow_urls_arns_and_nameless_entries(config: Path, tmp_path: Path) -> None:
    run = _kcm("list", "--kubeconfig", str(config), "-o", "json", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    rows = json.loads(run.stdout)
    assert [row["name"] for row in rows] == ["tools", ""]
    assert rows[0]["cluster"] == "arn:aws:eks:us-east-1:111111111111:cluster/tools"
    assert rows[0]["current"] and not rows[1]["current"]


@needs_kubectl
def test_kcm_reads_what_kubectl_reads(config: Path, tmp_path: Path) -> None:
    from kcm.kubeconfig import loads

    run = kubectl_view(config, tmp_path)
    assert run.returncode == 0, run.stderr
    theirs = json.loads(run.stdout)
    ours = loads(OIDC).data
    oidc = next(user for user in theirs["users"] if user["name"] == "oidc")
    assert oidc["user"]["exec"]["args"] == ours["users"][0]["user"]["exec"]["args"]
    assert [c["name"] for c in theirs["contexts"]] == ["", "tools"]  # kubectl sorts by name
    assert theirs["clusters"][0]["cluster"]["server"] == ours["clusters"][0]["cluster"]["server"]


@needs_kubectl
def test_add_into_it_keeps_every_line_and_kubectl_reads_the_result(
    config: Path, aws: Aws, tmp_path: Path
) -> None:
    aws.cluster("prod")
    run = _kcm("add", "prod", "--kubeconfig", str(config), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    lines = config.read_text().splitlines()
    flow, *others = [line for line in OIDC.splitlines() if not line.startswith("current-context:")][2:]
    assert lines[2].startswith(flow[:-1] + ", {")  # the new cluster joins the flow list on its line
    kept = iter(lines)
    assert all(line in kept for line in others)  # every other line, in order
    view = kubectl_view(config, tmp_path)
    assert view.returncode == 0, view.stderr
    names = sorted(c["name"] for c in json.loads(view.stdout)["contexts"])
    assert names == ["", "arn:aws:eks:us-east-1:123456789012:cluster/prod", "tools"]


def test_a_nameless_context_cannot_be_used_and_says_why(config: Path, tmp_path: Path) -> None:
    run = _kcm("use", "", "--kubeconfig", str(config), cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr.strip() == f"kcm: a context without a name cannot be used: give it a name in {config}"
    assert config.read_text() == OIDC


def test_merge_never_writes_a_nameless_entry(config: Path, tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_text("apiVersion: v1\nkind: Config\n")
    run = _kcm("merge", str(config), "--kubeconfig", str(target), "--trust", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    from kcm.kubeconfig import loads

    merged = loads(target.read_text()).data
    assert all(
        entry.get("name") for section in ("clusters", "contexts", "users") for entry in merged[section]
    )


@needs_kubectl
@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_a_utf16_kubeconfig_is_read_and_written_back_in_utf16(codec: str, aws: Aws, tmp_path: Path) -> None:
    """PowerShell's `kubectl config view --raw > config` writes UTF-16 with a BOM; kubectl reads it."""
    config = tmp_path / "config"
    config.write_bytes("\ufeff".encode(codec) + OIDC.encode(codec))
    assert kubectl_view(config, tmp_path).returncode == 0
    listed = _kcm("list", "--kubeconfig", str(config), "-o", "json", cwd=tmp_path)
    assert [row["name"] for row in json.loads(listed.stdout)] == ["tools", ""]
    aws.cluster("prod")
    run = _kcm("add", "prod", "--kubeconfig", str(config), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    data = config.read_bytes()
    assert data.startswith("\ufeff".encode(codec))
    assert "cluster/prod" in data.decode(codec)
    view = kubectl_view(config, tmp_path)
    assert view.returncode == 0, view.stderr
    assert len(json.loads(view.stdout)["contexts"]) == 3
