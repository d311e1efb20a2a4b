"""Bad input: one line on stderr that says what and where, a non-zero exit, no file changed."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import VENV_BIN, Aws

BAD_FILES: dict[str, tuple[bytes, str]] = {
    "unparsable": (b"apiVersion: v1\nclusters: [\n", "config:3:1: invalid YAML"),
    "tab-indent": (b"apiVersion: v1\nclusters:\n\t- name: a\n", "config:3:1: invalid YAML"),
    "root-is-a-list": (b"- a\n- b\n", "config:1:1: not a kubeconfig: the top level is a list"),
    "root-is-a-string": (b"hello\n", "not a kubeconfig: the top level is a str"),
    "clusters-is-a-mapping": (b"clusters:\n  a: b\n", "config:2:3: 'clusters' must be a list"),
    "contexts-is-a-string": (b"contexts: nope\n", "config:1:11: 'contexts' must be a list"),
    "entry-not-a-mapping": (b"users:\n- just-a-name\n", "config:2:3: an entry in 'users' must be a mapping"),
    "entry-without-name": (
        b"clusters:\n- cluster: {server: x}\n",
        "config:2:3: an entry in 'clusters' has no name",
    ),
    "duplicate-names": (
        b"contexts:\n- name: a\n  context: {}\n- name: a\n  context: {}\n",
        "config:4:3: duplicate name 'a' in 'contexts' (also on line 2)",
    ),
    "current-context-not-string": (
        b"current-context: [a]\n",
        "config:1:18: 'current-context' must be a string",
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
    "two-documents": (b"a: 1\n---\nb: 2\n", "config:2:1: invalid YAML: but found another document"),
    "duplicate-key": (b"apiVersion: v1\napiVersion: v2\n", "config:2:1: duplicate key 'apiVersion'"),
}


def _kcm(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VENV_BIN / "kcm"), *args], capture_output=True, text=True, cwd=cwd, timeout=60, check=False
    )


def _assert_one_line_error(run: subprocess.CompletedProcess[str], expected: str) -> None:
    assert run.returncode != 0
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("kcm: ")
    assert expected in lines[0], lines[0]
    assert "Traceback" not in run.stderr + run.stdout


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
