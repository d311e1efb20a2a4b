"""`kcm list`: what kubectl sees, with AWS account and region, fast and without boto3."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kcm.cli import app_for

ARN = "arn:aws:eks:eu-west-1:111111111111:cluster/web"
MARK = "extensions: [{name: kcm, extension: {account: '111111111111', region: eu-west-1, cluster: web}}]"
FIRST = f"""apiVersion: v1
kind: Config
clusters:
- name: {ARN}
  cluster: {{server: 'https://web.example.com'}}
contexts:
- name: web
  context: {{cluster: '{ARN}', user: '{ARN}', namespace: shop, {MARK}}}
- name: lab
  context: {{cluster: lab, user: me}}
users:
- name: {ARN}
  user: {{}}
current-context: web
"""
SECOND = """apiVersion: v1
kind: Config
contexts:
- name: lab
  context: {cluster: shadowed, user: me}
- name: kind-dev
  context: {cluster: kind-dev, user: kind-dev}
current-context: kind-dev
"""


def kcm(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app_for(list(args)), list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    first, second = tmp_path / "first", tmp_path / "second"
    first.write_text(FIRST)
    second.write_text(SECOND)
    monkeypatch.setenv("KUBECONFIG", f"{first}:{second}")
    return first, second


def test_list_shows_what_kubectl_merges(files: tuple[Path, Path]) -> None:
    code, out, err = kcm("list")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["CURRENT", "NAME", "CLUSTER", "USER", "NAMESPACE", "ACCOUNT", "REGION", "KCM"]
    assert lines[1].split() == ["*", "web", "web", "web", "shop", "111111111111", "eu-west-1", "yes"]
    assert lines[2].split() == ["lab", "lab", "me"]  # the first file's lab wins, as in kubectl
    assert lines[3].split() == ["kind-dev", "kind-dev", "kind-dev"]


def test_list_json(files: tuple[Path, Path]) -> None:
    code, out, _ = kcm("list", "-o", "json")
    assert code == 0
    rows = json.loads(out)
    assert rows[0] == {
        "name": "web",
        "current": True,
        "cluster": ARN,
        "user": ARN,
        "namespace": "shop",
        "account": "111111111111",
        "region": "eu-west-1",
        "managed": True,
        "file": str(files[0]),
    }
    assert [row["file"] for row in rows] == [str(files[0]), str(files[0]), str(files[1])]


def test_list_of_a_missing_file_is_empty_and_a_bad_file_one_line(tmp_path: Path) -> None:
    code, out, _ = kcm("list", "--kubeconfig", str(tmp_path / "none"))
    assert code == 0 and out.splitlines() == ["CURRENT  NAME  CLUSTER  USER  NAMESPACE  ACCOUNT  REGION  KCM"]
    bad = tmp_path / "bad"
    bad.write_text("contexts: [\n")
    code, _, err = kcm("list", "--kubeconfig", str(bad))
    assert code == 2 and err.startswith(f"kcm: {bad}:") and len(err.splitlines()) == 1


def test_list_never_imports_boto3_or_typer(files: tuple[Path, Path]) -> None:
    """The commands run dozens of times a day start fast: no AWS SDK, no typer (nor its pydantic)."""
    probe = (
        "import sys\n"
        "from kcm import main\n"
        "for argv in (['list'], ['list', '-o', 'json'], ['use', 'lab'], ['--help']):\n"
        "    assert main.fast(argv) == 0, argv\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('boto3', 'botocore', 'typer', 'click', 'pydantic', 'rich'))\n"
        "print(heavy, file=sys.stderr)\n"
        "sys.exit(1 if heavy else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "web" in result.stdout and 'Switched to context "lab".' in result.stdout


def test_a_reader_that_leaves_early_gets_no_traceback(tmp_path: Path) -> None:
    """`kcm list | head -1`: the pipe closes while kcm writes; it ends quietly, as SIGPIPE would."""
    config = tmp_path / "config"
    config.write_text(
        "contexts:\n"
        + "".join(f"- name: context-{i:05}\n  context: {{cluster: c, user: u}}\n" for i in range(20000))
    )
    kcm = Path(sys.executable).parent / "kcm"
    run = subprocess.run(  # noqa: S602 (a pipeline is the point)
        f"'{kcm}' list --kubeconfig '{config}' | head -1; exit ${{PIPESTATUS[0]}}",
        shell=True,
        executable="/bin/bash",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode in (0, 141)  # 0 when the pipe took everything before head left
    assert run.stderr == ""
    assert run.stdout.startswith("CURRENT")


def test_list_o_name_prints_one_name_a_line_for_fzf_and_scripts(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(
        "contexts:\n- name: b\n  context: {cluster: c, user: u}\n- context: {cluster: c, user: u}\n"
        "- name: a b\n  context: {cluster: c, user: u}\n"
    )
    binary = Path(sys.executable).parent / "kcm"
    run = subprocess.run(
        [str(binary), "list", "-o", "name", "--kubeconfig", str(config)], capture_output=True, text=True
    )
    assert run.returncode == 0 and run.stdout == "b\na b\n"  # the file's order; a nameless one is not listed
    bad = subprocess.run(
        [str(binary), "list", "-o", "yaml", "--kubeconfig", str(config)], capture_output=True, text=True
    )
    assert bad.returncode == 2 and bad.stderr == "kcm: --output 'yaml': choose text, json or name\n"
    code, out, _ = kcm("list", "--output", "name", "--kubeconfig", str(config))  # typer's door
    assert code == 0 and out == "b\na b\n"
