"""Bad input: one line on stderr that says what and where, a non-zero exit, no file changed."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests import forkserver
from tests.conftest import Aws
from tests.test_corpus import KUBECTL, kubectl_view

BAD_FILES: dict[str, tuple[bytes, str]] = {
    "unparsable": (b"apiVersion: v1\nclusters: [\n", "config:3:1: invalid YAML"),
    "tab-indent": (b"apiVersion: v1\nclusters:\n\t- name: a\n", "config:3:1: invalid YAML"),
    "root-is-a-list": (b"- a\n- b\n", "config:1:1: not a kubeconfig: the top level is a list"),
    "root-is-a-string": (b"hello\n", "not a kubeconfig: the top level is a str"),
    "clusters-is-a-mapping": (b"clusters:\n  a: b\n", "config:2:3: 'clusters' must be a list"),
    "contexts-is-a-string": (b"contexts: nope\n", "config:1:11: 'contexts' must be a list"),
    "entry-not-a-mapping": (
        b"users:\n- just-a-name\n",
        "config:2:3: 'users[0]' must be a mapping, found a string 'just-a-name'",
    ),
    "name-not-a-string": (
        b"clusters:\n- name: yes\n",
        "config:2:9: 'clusters[0].name' must be a string, found a boolean `yes`: quote it",
    ),
    "name-a-number": (
        b"users:\n- name: 1\n",
        "config:2:9: 'users[0].name' must be a string, found a number `1`",
    ),
    "duplicate-names": (
        b"contexts:\n- name: a\n  context: {}\n- name: a\n  context: {}\n",
        "config:4:3: duplicate name 'a' in 'contexts' (also on line 2)",
    ),
    "two-nameless-entries": (
        b"contexts:\n- context: {}\n- name: null\n",
        "config:3:3: duplicate name '' in 'contexts' (also on line 2)",
    ),
    "current-context-not-string": (
        b"current-context: [a]\n",
        "config:1:18: 'current-context' must be a string, found a list",
    ),
    "server-a-number": (
        b"clusters:\n- name: a\n  cluster: {server: 0x1F}\n",
        "config:3:21: 'clusters[0].cluster.server' must be a string, found a number `0x1F`: quote it",
    ),
    "bool-field-a-string": (
        b"clusters:\n- name: a\n  cluster: {insecure-skip-tls-verify: 'yes'}\n",
        "'clusters[0].cluster.insecure-skip-tls-verify' must be true or false, found a string 'yes'",
    ),
    "ca-data-not-base64": (
        b"clusters:\n- name: a\n  cluster: {certificate-authority-data: YWJjZA}\n",
        "config:3:41: 'clusters[0].cluster.certificate-authority-data' is not base64",
    ),
    "exec-args-a-string": (
        b"users:\n- name: a\n  user: {exec: {command: aws, args: eks}}\n",
        "'users[0].user.exec.args' must be a list, found a string 'eks'",
    ),
    "kind-not-config": (b"kind: config\n", "config:1:7: 'kind' must be 'Config', found 'config'"),
    "api-version-v2": (b"apiVersion: v2\n", "config:1:13: 'apiVersion' must be 'v1', found 'v2'"),
    "infinity": (b"current-context: .inf\n", "config:1:18: kubectl cannot read `.inf`"),
    "too-deep": (
        b"a: " + b"[" * 50_000 + b"]" * 50_000 + b"\n",
        "config:1:10004: invalid YAML: exceeded max depth of 10000",
    ),
    "alias-bomb": (
        b"a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
        b"c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
        b"e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
        b"g: [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n",
        "YAML aliases expand too far",
    ),
    "recursive-alias": (b"a: &a [*a]\n", "config:1:4: recursive YAML alias"),
    "undefined-alias": (b"a: *nope\n", "config:1:4: invalid YAML: found undefined alias"),
    "binary": (
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe",
        "config: not a text file (invalid UTF-8 at byte 0)",
    ),
    "nul-byte": (b"apiVersion: v1\x00\n", "config:1:15: invalid YAML: control characters are not allowed"),
    "yaml-1.2": (b"%YAML 1.2\n---\na: 1\n", "invalid YAML: found incompatible YAML document"),
    "duplicate-key-last-wins": (
        b"apiVersion: v1\napiVersion: v2\n",
        "config:2:13: 'apiVersion' must be 'v1', found 'v2'",
    ),
    "question-mark-in-flow": (
        b"users:\n- name: u\n  user: {exec: {command: x, args: [https://x/p?a=b]}}\n",
        "invalid YAML",
    ),
}


def _kcm(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return forkserver.run("kcm", list(args), cwd=cwd, timeout=60)


def _assert_one_line_error(run: subprocess.CompletedProcess[str], expected: str) -> None:
    assert run.returncode != 0
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("kcm: ")
    assert expected in lines[0], lines[0]
    assert "Traceback" not in run.stderr + run.stdout


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not on PATH")
def test_kubectl_refuses_every_bad_file_too(tmp_path: Path) -> None:
    for name, (content, _) in BAD_FILES.items():
        config = tmp_path / name
        config.write_bytes(content)
        assert kubectl_view(config, tmp_path).returncode != 0, name


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_bad_kubeconfig(name: str, aws: Aws, tmp_path: Path) -> None:
    aws.cluster("prod")
    content, expected = BAD_FILES[name]
    config = tmp_path / "config"
    config.write_bytes(content)
    run = _kcm("add", "prod", "--kubeconfig", "config", cwd=tmp_path)
    _assert_one_line_error(run, expected)
    assert config.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config", "home"]


def test_a_directory(aws: Aws, tmp_path: Path) -> None:
    aws.cluster("prod")
    (tmp_path / "config").mkdir()
    run = _kcm("add", "prod", "--kubeconfig", "config", cwd=tmp_path)
    _assert_one_line_error(run, "is a directory, not a kubeconfig file")


ARG_CASES: dict[str, tuple[list[str], str]] = {
    "unknown-cluster": (
        ["nope"],
        "cluster 'nope' not found for the default credential chain, region us-east-1",
    ),
    "invalid-role-arn": (["prod", "--role-arn", "admin"], "--role-arn 'admin' is not an IAM role ARN"),
    "invalid-assume-role-arn": (
        ["prod", "--assume-role-arn", "arn:aws:iam::12:role/x"],
        "--assume-role-arn 'arn:aws:iam::12:role/x' is not an IAM role ARN",
    ),
    "unknown-profile": (["prod", "--profile", "ghost"], "AWS profile 'ghost' not found"),
    "unknown-region": (["prod", "--region", "mars-north-1"], "unknown AWS region 'mars-north-1'"),
    "two-names": (["prod", "--name", "other"], "two cluster names given"),
}


@pytest.mark.parametrize("name", list(ARG_CASES))
def test_bad_arguments(name: str, aws: Aws, tmp_path: Path) -> None:
    aws.cluster("prod")
    args, expected = ARG_CASES[name]
    config = tmp_path / "config"
    config.write_text("# mine\n")
    run = _kcm("add", *args, "--kubeconfig", "config", cwd=tmp_path)
    _assert_one_line_error(run, expected)
    assert config.read_text() == "# mine\n"


def test_an_unknown_region_names_where_it_came_from(
    aws: Aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "mars-north-1")
    run = _kcm("add", "prod", "--kubeconfig", "config", cwd=tmp_path)
    _assert_one_line_error(run, "unknown AWS region 'mars-north-1' (from AWS_DEFAULT_REGION)")


def test_no_region_anywhere(aws: Aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    run = _kcm("add", "prod", "--kubeconfig", "config", cwd=tmp_path)
    _assert_one_line_error(run, "You must specify a region")


def test_no_credentials_at_all(aws: Aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    run = _kcm("add", "prod", "--kubeconfig", "config", cwd=tmp_path)
    _assert_one_line_error(run, "no AWS credentials found (the default credential chain, region us-east-1)")
    assert not (tmp_path / "config").exists()


def test_unreachable_endpoint(aws: Aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # discard port: nothing listens
    run = _kcm("add", "prod", "--kubeconfig", "config", cwd=tmp_path)
    _assert_one_line_error(run, "cannot reach AWS")
    assert not (tmp_path / "config").exists()


def test_debug_shows_the_traceback(aws: Aws, tmp_path: Path) -> None:
    (tmp_path / "config").write_text("clusters: {}\n")
    aws.cluster("prod")
    run = _kcm("--debug", "add", "prod", "--kubeconfig", "config", cwd=tmp_path)
    assert run.returncode != 0
    assert "Traceback" in run.stderr
