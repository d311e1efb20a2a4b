"""The everyday verbs: use, rm, rename, export, list -o json; kubectl agrees with every result."""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from kcm.cli import app_for

KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not on PATH")

FIRST = """# first file: comments stay
apiVersion: v1
kind: Config
clusters:
- name: shared   # used by two contexts
  cluster: {server: 'https://shared.example.com'}
- name: solo
  cluster:
    server: https://solo.example.com
    certificate-authority: ca.crt
contexts:
- name: a
  context: {cluster: shared, user: alice}
- name: b
  context: {cluster: shared, user: bob}
- name: s
  context: {cluster: solo, user: alice}
users:
- name: alice
  user: {token: alice-token}
- name: bob
  user: {token: bob-token}
current-context: a
"""
SECOND = """apiVersion: v1
kind: Config
clusters:
- name: lab
  cluster: {server: 'https://lab.example.com'}
contexts:
- name: lab
  context: {cluster: lab, user: carol}
users:
- name: carol
  user: {token: carol-token}
"""


def kcm(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app_for(list(args)), list(args))
    return result.exit_code, result.stdout, result.stderr


def kubectl(*args: str) -> str:
    done = subprocess.run([str(KUBECTL), *args], capture_output=True, text=True, check=True)
    return done.stdout


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    first, second = tmp_path / "first", tmp_path / "second"
    first.write_text(FIRST)
    (tmp_path / "ca.crt").write_bytes(b"SOLO CA\n")
    second.write_text(SECOND)
    monkeypatch.setenv("KUBECONFIG", f"{first}{os.pathsep}{second}")
    return first, second


def read(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


def names(path: Path, section: str) -> list[str]:
    return [entry["name"] for entry in read(path).get(section) or []]


@needs_kubectl
def test_use_writes_where_kubectl_would_and_kubectl_agrees(files: tuple[Path, Path]) -> None:
    first, second = files
    code, out, err = kcm("use", "lab")
    assert code == 0, err
    assert out == 'Switched to context "lab".\n'
    assert read(first)["current-context"] == "lab" and "current-context" not in read(second)
    assert kubectl("config", "current-context").strip() == "lab"
    assert "# first file: comments stay" in first.read_text()


def test_use_an_unknown_context_is_one_line_and_writes_nothing(files: tuple[Path, Path]) -> None:
    first, second = files
    code, out, err = kcm("use", "nope")
    assert code == 2 and out == ""
    assert err == f"kcm: no context named 'nope' in {first}, {second}\n"
    assert first.read_text() == FIRST and second.read_text() == SECOND


@needs_kubectl
def test_rm_takes_the_cluster_and_user_only_when_no_other_context_uses_them(files: tuple[Path, Path]) -> None:
    first, second = files
    code, out, err = kcm("rm", "b", "lab")
    assert code == 0, err
    assert names(first, "contexts") == ["a", "s"]
    assert names(first, "clusters") == ["shared", "solo"]  # `a` still uses shared
    assert names(first, "users") == ["alice"]  # bob went with b
    assert (
        names(second, "contexts") == [] and names(second, "clusters") == [] and names(second, "users") == []
    )
    assert "deleted context b" in out and "deleted user bob" in out and "deleted cluster lab" in out
    assert kubectl("config", "get-contexts", "-o", "name").split() == ["a", "s"]
    assert "# used by two contexts" in first.read_text()


def test_rm_of_the_current_context_unsets_it(files: tuple[Path, Path]) -> None:
    first, _ = files
    code, _, err = kcm("rm", "a")
    assert code == 0
    assert "current-context was 'a'; it is now unset" in err
    assert read(first)["current-context"] == ""
    assert names(first, "users") == ["alice", "bob"]  # s still uses alice


def test_rm_with_one_unknown_context_removes_nothing(files: tuple[Path, Path]) -> None:
    first, second = files
    code, _, err = kcm("rm", "b", "nope")
    assert code == 2 and "no context named 'nope'" in err
    assert first.read_text() == FIRST and second.read_text() == SECOND


@needs_kubectl
def test_rename_in_place_and_current_context_follows(files: tuple[Path, Path]) -> None:
    first, _ = files
    code, out, err = kcm("rename", "a", "alpha")
    assert out == 'Context "a" renamed to "alpha".\n'
    assert code == 0, err
    text = first.read_text()
    assert "- name: alpha\n  context: {cluster: shared, user: alice}\n" in text
    assert text.replace("alpha", "a") == FIRST  # nothing else changed, not a byte
    assert kubectl("config", "current-context").strip() == "alpha"
    assert kcm("rename", "alpha", "b")[0] == 2  # b exists
    assert kcm("rename", "nope", "x")[0] == 2


@needs_kubectl
def test_export_is_self_contained_and_kubectl_reads_it(files: tuple[Path, Path], tmp_path: Path) -> None:
    out_file = tmp_path / "out" / "exported"
    code, _, err = kcm("export", "s", "lab", "--output-file", str(out_file))
    assert code == 0, err
    assert (out_file.stat().st_mode & 0o777) == 0o600
    data = read(out_file)
    assert data["current-context"] == "s"
    assert names(out_file, "contexts") == ["s", "lab"]
    assert names(out_file, "clusters") == ["solo", "lab"] and names(out_file, "users") == ["alice", "carol"]
    solo = data["clusters"][0]["cluster"]
    assert solo == {
        "server": "https://solo.example.com",
        "certificate-authority-data": base64.b64encode(b"SOLO CA\n").decode(),
    }
    view = json.loads(kubectl("config", "view", "--raw", "-o", "json", "--kubeconfig", str(out_file)))
    assert [c["name"] for c in view["contexts"]] == ["lab", "s"]  # kubectl sorts
    code, text, _ = kcm("export", "lab")
    assert code == 0 and yaml.safe_load(text)["contexts"][0]["name"] == "lab"


def test_export_of_a_context_whose_cluster_is_missing_is_bad_input(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(
        "apiVersion: v1\nkind: Config\ncontexts:\n- name: x\n  context: {cluster: gone, user: u}\n"
    )
    code, out, err = kcm("export", "x", "--kubeconfig", str(config))
    assert code == 2 and out == ""
    assert err == "kcm: context 'x': no cluster named 'gone' in the kubeconfig\n"


def _kcm(*args: str) -> subprocess.CompletedProcess[str]:
    kcm_bin = Path(sys.executable).parent / "kcm"
    return subprocess.run([str(kcm_bin), *args], capture_output=True, text=True, check=False)


def _kubectl_json(path: Path) -> str:
    """`kubectl config view -o json` of a file; --context names none, so this kubectl build asks no server."""
    return kubectl("config", "view", "--raw", "-o", "json", "--context", "none", "--kubeconfig", str(path))


@needs_kubectl
def test_export_o_json_is_the_same_kubeconfig_laid_out_as_kubectl_prints_one(
    files: tuple[Path, Path], tmp_path: Path
) -> None:
    first, _ = files
    first.write_text(FIRST.replace("https://shared.example.com", "https://shared.example.com/?a=<1>&b=2"))
    as_yaml, as_json = _kcm("export", "a", "lab"), _kcm("export", "a", "lab", "-o", "json")
    assert as_yaml.returncode == as_json.returncode == 0, as_json.stderr
    assert _kcm("export", "a", "lab", "--output", "yaml").stdout == as_yaml.stdout  # the default
    data = json.loads(as_json.stdout)
    assert data == yaml.safe_load(as_yaml.stdout)  # the same data
    (tmp_path / "exported.yaml").write_text(as_yaml.stdout)
    (tmp_path / "exported.json").write_text(as_json.stdout)
    printed = _kubectl_json(tmp_path / "exported.yaml")
    assert json.loads(_kubectl_json(tmp_path / "exported.json")) == json.loads(printed)  # read alike
    assert list(data) == list(json.loads(printed))  # kubectl's key order, four spaces, Go's escapes
    assert as_json.stdout.startswith('{\n    "kind": "Config",\n    "apiVersion": "v1",\n')
    assert '"name": "shared",\n            "cluster": {' in as_json.stdout  # an entry's name first
    assert "https://shared.example.com/?a=\\u003c1\\u003e\\u0026b=2" in as_json.stdout
    assert "https://shared.example.com/?a=\\u003c1\\u003e\\u0026b=2" in printed

    out_file = tmp_path / "out.json"
    written = _kcm("export", "a", "-o", "json", "--output-file", str(out_file))
    assert written.returncode == 0 and written.stdout == "" and written.stderr == f"Wrote {out_file}\n"
    assert json.loads(out_file.read_text())["current-context"] == "a"
    assert stat.S_IMODE(out_file.stat().st_mode) == 0o600


def test_export_o_is_a_format_and_a_bad_one_is_one_line_with_nothing_written(
    files: tuple[Path, Path], tmp_path: Path
) -> None:
    for value, hint in (("xml", ""), ("prod.kubeconfig", " (--output-file FILE writes one)")):
        for args in (["-o", value], ["--output", value, "--output-file", str(tmp_path / "out")]):
            run = _kcm("export", "a", *args)
            assert (run.returncode, run.stdout) == (2, "")
            assert run.stderr == f"kcm: --output {value!r}: choose yaml or json{hint}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ca.crt", "first", "home", "second"]


def test_list_json_for_scripts(files: tuple[Path, Path]) -> None:
    code, out, _ = kcm("list", "-o", "json")
    rows = json.loads(out)
    assert code == 0
    assert [(row["name"], row["current"], row["cluster"], row["user"]) for row in rows] == [
        ("a", True, "shared", "alice"),
        ("b", False, "shared", "bob"),
        ("s", False, "solo", "alice"),
        ("lab", False, "lab", "carol"),
    ]


MANY = """apiVersion: v1
kind: Config
contexts:
- name: payments-prod
  context: {cluster: c, user: u}
- name: payments-staging
  context: {cluster: c, user: u}
- name: search-prod
  context: {cluster: c, user: u}
- name: prod
  context: {cluster: c, user: u}
"""


def _use(name: str, config: Path) -> subprocess.CompletedProcess[str]:
    kcm_bin = Path(sys.executable).parent / "kcm"
    return subprocess.run(
        [str(kcm_bin), "use", name, "--kubeconfig", str(config)], capture_output=True, text=True, check=False
    )


def test_use_takes_an_exact_name_first_then_a_unique_part_of_one(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(MANY)
    exact = _use("prod", config)  # exact wins, though three names hold "prod"
    assert exact.returncode == 0 and exact.stdout == 'Switched to context "prod".\n'
    part = _use("STAGING", config)  # a part, case aside, that one name holds: that one, and said so
    assert part.returncode == 0
    assert (
        part.stdout
        == 'Switched to context "payments-staging". (the one context whose name holds "STAGING")\n'
    )
    assert "current-context: payments-staging" in config.read_text()


def test_use_lists_the_names_a_part_matches_and_suggests_the_nearest(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(MANY.replace("- name: prod\n  context: {cluster: c, user: u}\n", ""))
    several = _use("prod", config)
    assert several.returncode == 2
    assert (
        several.stderr
        == "kcm: 'prod' is part of 2 context names: payments-prod, search-prod; give more of one\n"
    )
    typo = _use("paymnts-prod", config)
    assert typo.returncode == 2
    assert typo.stderr == f"kcm: no context named 'paymnts-prod' in {config}; did you mean 'payments-prod'?\n"
    assert "current-context" not in config.read_text()


def test_use_dash_goes_back_to_the_previous_context_and_back_again(tmp_path: Path, isolated: Path) -> None:
    config = tmp_path / "config"
    config.write_text(MANY + "current-context: prod\n")
    first = _use("-", config)
    assert first.returncode == 2
    assert (
        first.stderr == "kcm: no previous context to go back to: kcm remembers one when `kcm use` switches\n"
    )
    assert _use("search-prod", config).returncode == 0
    back = _use("-", config)
    assert back.returncode == 0 and back.stdout == 'Switched to context "prod".\n'
    again = _use("-", config)
    assert again.returncode == 0 and again.stdout == 'Switched to context "search-prod".\n'
    other = tmp_path / "other"  # remembered per kubeconfig
    other.write_text(MANY + "current-context: prod\n")
    assert _use("-", other).returncode == 2
    [remembered] = list((isolated / ".local/state/kcm/previous").iterdir())
    assert stat.S_IMODE(remembered.stat().st_mode) == 0o600
