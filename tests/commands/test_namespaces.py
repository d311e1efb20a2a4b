"""`kcm ns`: the current context's namespace, set offline in the file that holds the context; `-` for
the previous one; with no name, the cluster's namespaces (kubectl) to pick from or to print; the cache
that shell completion reads. kubectl agrees with every file written."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import forkserver
from tests.apiserver import api_server
from tests.terminal import Terminal

KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not on PATH")

FIRST = """# first file: comments stay
apiVersion: v1
kind: Config
clusters:
- name: shared
  cluster:
    server: https://shared.example.com
contexts:
- name: a
  context:
    cluster: shared
    user: alice
- name: b
  context:
    cluster: shared
    user: alice
    namespace: team-b
users:
- name: alice
  user:
    token: alice-token
current-context: lab
"""
SECOND = """apiVersion: v1
kind: Config
clusters:
- name: lab
  cluster:
    server: https://lab.example.com
contexts:
- name: lab  # the current one, held here
  context:
    cluster: lab
    user: carol
users:
- name: carol
  user:
    token: carol-token
"""
NAMESPACES = ["default", "kube-system", "web"]


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    first, second = tmp_path / "first", tmp_path / "second"
    first.write_text(FIRST)
    second.write_text(SECOND)
    monkeypatch.setenv("KUBECONFIG", f"{first}{os.pathsep}{second}")
    return first, second


def fake_kubectl(folder: Path, fail: str = "") -> Path:
    """A kubectl that lists NAMESPACES as `get namespaces -o name` does (or fails as kubectl does
    when the cluster is out of reach), and records its arguments."""
    folder.mkdir(exist_ok=True)
    script = folder / "kubectl"
    listed = "".join(f"namespace/{name}\\n" for name in NAMESPACES)
    noise = "E1202 10:00:00.000000 1 memcache.go:265] could not get the current server API group list"
    failing = f"echo '{noise}' >&2\necho '{fail}' >&2\nexit 1\n"
    script.write_text(
        f'#!/bin/sh\nprintf "%s\\n" "$@" > "{folder}/args"\n' + (failing if fail else f"printf '{listed}'\n")
    )
    script.chmod(0o755)
    return folder


def kcm(*args: str, path: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if path is not None:
        env["PATH"] = f"{path}{os.pathsep}{env['PATH']}"
    return forkserver.run("kcm", list(args), env=env)


def kubectl_namespace(context: str, *options: str) -> str:
    """The namespace kubectl takes for `context` (`config view --minify`, read offline)."""
    done = subprocess.run(
        [
            str(KUBECTL),
            "config",
            "view",
            "--minify",
            "-o",
            "jsonpath={..namespace}",
            "--context",
            context,
            *options,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


@needs_kubectl
def test_ns_sets_the_namespace_in_the_file_holding_the_context_and_kubectl_agrees(
    files: tuple[Path, Path],
) -> None:
    first, second = files
    done = kcm("ns", "web")
    assert done.returncode == 0, done.stderr
    assert done.stdout == 'Context "lab" modified.\nActive namespace is "web".\n' and done.stderr == ""
    assert first.read_text() == FIRST  # current-context is here, the context is not
    assert second.read_text() == SECOND.replace("    user: carol\n", "    user: carol\n    namespace: web\n")
    assert kubectl_namespace("lab") == "web"


@needs_kubectl
def test_a_flow_context_keeps_its_shape_and_comment_and_comes_back_byte_for_byte(tmp_path: Path) -> None:
    config = tmp_path / "config"
    flow = SECOND.replace(
        "  context:\n    cluster: lab\n    user: carol\n", "  context: {cluster: lab, user: carol}\n"
    )
    config.write_text(flow + "current-context: lab\n")
    assert kcm("ns", "web", "--kubeconfig", str(config)).returncode == 0
    assert (
        "- name: lab  # the current one, held here\n  context: {cluster: lab, user: carol, namespace: web}\n"
        in (config.read_text())
    )
    assert kubectl_namespace("lab", "--kubeconfig", str(config)) == "web"
    assert kcm("ns", "-", "--kubeconfig", str(config)).returncode == 0
    assert config.read_text() == flow + "current-context: lab\n"


def test_the_same_namespace_again_writes_nothing(files: tuple[Path, Path], isolated: Path) -> None:
    first, _ = files
    assert kcm("use", "b").returncode == 0
    written = first.stat().st_mtime_ns
    backups = sorted((isolated / ".local/state/kcm/backups").rglob("*"))
    done = kcm("ns", "team-b")
    assert done.returncode == 0 and done.stdout == 'Active namespace is "team-b".\n'
    assert first.stat().st_mtime_ns == written
    assert sorted((isolated / ".local/state/kcm/backups").rglob("*")) == backups
    assert kcm("use", "a").returncode == 0
    written = first.stat().st_mtime_ns
    backups = sorted((isolated / ".local/state/kcm/backups").rglob("*"))
    unset = kcm("ns", "default")  # a context naming none is in "default" already, for kubectl
    assert unset.returncode == 0 and unset.stdout == 'Active namespace is "default".\n'
    assert first.stat().st_mtime_ns == written
    assert sorted((isolated / ".local/state/kcm/backups").rglob("*")) == backups
    assert "namespace: default" not in first.read_text()


@needs_kubectl
def test_ns_dash_goes_back_and_forth_per_context_and_back_to_none_set(
    files: tuple[Path, Path], isolated: Path
) -> None:
    first, _ = files
    none_yet = kcm("ns", "-")
    assert none_yet.returncode == 2 and none_yet.stdout == ""
    assert none_yet.stderr == (
        "kcm: no previous namespace to go back to in context 'lab': "
        "kcm remembers one when `kcm ns` changes it\n"
    )
    assert kcm("ns", "web").returncode == 0
    assert kcm("ns", "api").returncode == 0
    back = kcm("ns", "-")
    assert back.returncode == 0 and back.stdout == 'Context "lab" modified.\nActive namespace is "web".\n'
    assert kubectl_namespace("lab") == "web"
    assert kcm("ns", "-").stdout.endswith('Active namespace is "api".\n')
    assert kcm("use", "b").returncode == 0  # another context: its own previous namespace
    assert kcm("ns", "-").returncode == 2
    assert kcm("ns", "prod").returncode == 0
    assert kcm("ns", "-").stdout == 'Context "b" modified.\nActive namespace is "team-b".\n'
    assert kcm("use", "a").returncode == 0  # none set: `-` comes back to none set, the file as it was
    before = first.read_text()
    assert kcm("ns", "web").returncode == 0
    unset = kcm("ns", "-")
    assert unset.stdout == 'Context "a" modified.\nActive namespace is "default".\n'
    assert first.read_text() == before
    kept = list((isolated / ".local/state/kcm/previous-namespace").iterdir())
    assert len(kept) == 3 and all(stat.S_IMODE(path.stat().st_mode) == 0o600 for path in kept)


def test_no_current_context_or_a_bad_name_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(SECOND)
    unset = kcm("ns", "web", "--kubeconfig", str(config))
    assert unset.returncode == 2 and unset.stdout == ""
    assert unset.stderr == f"kcm: no current context in {config}: `kcm use CONTEXT` sets one\n"
    listing = kcm("ns", "--kubeconfig", str(config))
    assert listing.returncode == 2 and listing.stderr == unset.stderr
    config.write_text(SECOND + "current-context: lab\n")
    bad = kcm("ns", "Kube_System", "--kubeconfig", str(config))
    assert bad.returncode == 2 and len(bad.stderr.splitlines()) == 1
    assert bad.stderr.startswith("kcm: 'Kube_System' cannot be a namespace: ")
    assert config.read_text() == SECOND + "current-context: lab\n"


def test_ns_alone_prints_the_clusters_namespaces_one_a_line_and_caches_them(
    files: tuple[Path, Path], tmp_path: Path, isolated: Path
) -> None:
    from kcm.namespaces import cached_namespaces

    fake = fake_kubectl(tmp_path / "bin")
    assert cached_namespaces("lab") is None
    done = kcm("ns", path=fake)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "default\nkube-system\nweb\n"
    assert (fake / "args").read_text().split() == [
        "get", "namespaces", "-o", "name", "--context", "lab", "--request-timeout=20s",
    ]  # fmt: skip
    assert cached_namespaces("lab") == NAMESPACES
    assert cached_namespaces("a") is None  # per context
    assert cached_namespaces("lab", str(files[1])) is None  # and per kubeconfig
    [entry] = (isolated / ".cache/kcm/namespaces").iterdir()
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600
    assert stat.S_IMODE(entry.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(entry.parent.parent.stat().st_mode) == 0o700
    record = json.loads(entry.read_text())
    record["saved"] = time.time() - 301  # five minutes on: gone
    entry.write_text(json.dumps(record))
    assert cached_namespaces("lab") is None


def test_with_kubeconfig_kubectl_is_told_the_file(tmp_path: Path) -> None:
    from kcm.namespaces import cached_namespaces

    config = tmp_path / "config"
    config.write_text(SECOND + "current-context: lab\n")
    fake = fake_kubectl(tmp_path / "bin")
    done = kcm("ns", "--kubeconfig", str(config), path=fake)
    assert done.returncode == 0 and done.stdout == "default\nkube-system\nweb\n"
    assert (fake / "args").read_text().split()[-2:] == ["--kubeconfig", str(config)]
    assert cached_namespaces("lab", str(config)) == NAMESPACES
    assert cached_namespaces("lab", config) == NAMESPACES  # a Path as well


def test_a_namespace_the_cached_list_lacks_is_set_with_a_warning(
    files: tuple[Path, Path], tmp_path: Path
) -> None:
    assert kcm("ns", path=fake_kubectl(tmp_path / "bin")).returncode == 0
    done = kcm("ns", "wbe")
    assert done.returncode == 0
    assert done.stdout == 'Context "lab" modified.\nActive namespace is "wbe".\n'
    assert (
        done.stderr
        == "kcm: warning: context 'lab' had no namespace 'wbe' when kcm last listed them; set anyway\n"
    )
    assert kcm("ns", "web").stderr == ""


def test_kubectl_failing_is_one_line_naming_the_context_its_server_and_kubectls_words(
    files: tuple[Path, Path], tmp_path: Path
) -> None:
    from kcm.namespaces import cached_namespaces

    reason = "Unable to connect to the server: dial tcp: lookup lab.example.com: no such host"
    done = kcm("ns", path=fake_kubectl(tmp_path / "bin", fail=reason))
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == (
        "kcm: cannot list the namespaces of context 'lab' (server https://lab.example.com): "
        f"kubectl: {reason}; `kcm ns NAME` sets one without asking the cluster\n"
    )
    assert files[0].read_text() == FIRST and files[1].read_text() == SECOND
    assert cached_namespaces("lab") is None


def test_kubectl_missing_is_one_line_too(files: tuple[Path, Path], tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {**os.environ, "PATH": str(empty)}
    done = forkserver.run("kcm", ["ns"], env=env)
    assert done.returncode == 1
    assert done.stderr == (
        "kcm: cannot list the namespaces of context 'lab' (server https://lab.example.com): kubectl is not "
        "on PATH; `kcm ns NAME` sets one without asking the cluster\n"
    )


def terminal_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    fake = fake_kubectl(tmp_path / "bin")
    path = [part for part in os.environ["PATH"].split(os.pathsep) if not (Path(part) / "fzf").exists()]
    return {**os.environ, "PATH": os.pathsep.join([str(fake), *path]), "TERM": "xterm", **extra}


def test_on_a_terminal_ns_picks_from_the_clusters_namespaces(
    files: tuple[Path, Path], tmp_path: Path
) -> None:
    _, second = files
    with Terminal("ns", env=terminal_env(tmp_path)) as term:
        screen = term.wait_for(lambda screen: "> * default" in screen)  # none set: "default" is current
        assert screen[0] == "Namespace>" and screen[2:5] == ["> * default", "    kube-system", "    web"]
        term.press("we\r")
        assert term.finish() == 0
        assert term.stdout == 'Context "lab" modified.\nActive namespace is "web".\n'
        assert term.mode() == term.mode_before
    assert "    namespace: web\n" in second.read_text()
    with Terminal("ns", env=terminal_env(tmp_path)) as term:  # now "web" is the one marked
        term.wait_for(lambda screen: "> * web" in screen)
        term.press("\x1b")
        assert term.finish() == 130 and term.stdout == ""
    assert "    namespace: web\n" in second.read_text()


def test_on_a_terminal_with_fzf_ns_runs_it(files: tuple[Path, Path], tmp_path: Path) -> None:
    env = terminal_env(tmp_path)
    fzf = tmp_path / "bin" / "fzf"
    fzf.write_text(f'#!/bin/sh\ncat > "{tmp_path}/fzf-input"\necho kube-system\n')
    fzf.chmod(0o755)
    with Terminal("ns", env=env) as term:
        assert term.finish() == 0
        assert term.stdout == 'Context "lab" modified.\nActive namespace is "kube-system".\n'
    assert (tmp_path / "fzf-input").read_text() == "\x1b[1;32mdefault\x1b[0m\nkube-system\nweb\n"


def test_cached_namespaces_imports_nothing_heavy() -> None:
    """Shell completion calls it on every Tab: no typer, AWS SDK or YAML parser on its way."""
    probe = (
        "import sys\n"
        "from kcm.namespaces import cached_namespaces\n"
        "assert cached_namespaces('lab') is None\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('boto3', 'botocore', 'typer', 'click', 'pydantic', 'rich', 'yaml', 'ruamel', 'subprocess'))\n"
        "print(heavy)\n"
        "sys.exit(1 if heavy else 0)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


@needs_kubectl
def test_against_a_cluster_with_the_real_kubectl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The stand-in API server over HTTPS, reached by kubectl itself: its namespaces, listed and cached,
    then one set; and when the server is gone, kubectl's own words."""
    from kcm.namespaces import cached_namespaces

    config = tmp_path / "config"
    with api_server(tmp_path, "lab") as server:
        server.namespaces = ["default", "kube-system", "payments"]
        config.write_text(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: lab\n  cluster:\n"
            f"    server: {server.url}\n    certificate-authority-data: {server.ca_data}\n"
            "contexts:\n- name: lab\n  context:\n    cluster: lab\n    user: carol\n"
            "users:\n- name: carol\n  user:\n    token: carol-token\ncurrent-context: lab\n"
        )
        monkeypatch.setenv("KUBECONFIG", str(config))
        listed = kcm("ns")
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout == "default\nkube-system\npayments\n"
        assert cached_namespaces("lab") == ["default", "kube-system", "payments"]
        assert kcm("ns", "payments").stdout == 'Context "lab" modified.\nActive namespace is "payments".\n'
        assert kubectl_namespace("lab") == "payments"
        url = server.url
    gone = kcm("ns")
    assert gone.returncode == 1 and len(gone.stderr.splitlines()) == 1
    assert gone.stderr.startswith(
        f"kcm: cannot list the namespaces of context 'lab' (server {url}): kubectl: "
    )


@needs_kubectl
def test_completion_offers_the_namespaces_kcm_listed_and_never_asks_the_cluster(
    files: tuple[Path, Path], tmp_path: Path
) -> None:
    def complete(word: str, path: Path | None = None) -> list[str]:
        return kcm("__complete", "ns", word, path=path).stdout.splitlines()

    assert complete("") == [":4"]  # nothing listed yet: nothing offered, kubectl not run
    assert kcm("ns", path=fake_kubectl(tmp_path / "bin")).returncode == 0
    broken = fake_kubectl(tmp_path / "broken", fail="must not be called")
    assert complete("", broken) == [*NAMESPACES, ":4"]
    assert complete("k", broken) == ["kube-system", ":4"]
    assert not (broken / "args").exists()


def test_a_namespace_change_is_no_step_of_undo(files: tuple[Path, Path], isolated: Path) -> None:
    first, second = files
    assert kcm("ns", "web").returncode == 0
    assert first.read_text() + second.read_text() != FIRST + SECOND
    assert kcm("ns", "-").returncode == 0
    backups = isolated / ".local/state/kcm/backups"
    assert not backups.exists() or not any(backups.rglob("*.json"))
    assert first.read_text() + second.read_text() == FIRST + SECOND


def test_ns_never_imports_boto3_or_typer(files: tuple[Path, Path]) -> None:
    """kubens' verb, run as often as kubectx's (`use`): kcm's front door runs it, without typer or
    the AWS SDK; its output is the typer app's."""
    probe = (
        "import sys\n"
        "from kcm import main\n"
        "for argv in (['ns', 'web'], ['ns', '-'], ['ns', 'api']):\n"
        "    assert main.fast(argv) == 0, argv\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('boto3', 'botocore', 'typer', 'click', 'pydantic', 'rich'))\n"
        "print(heavy, file=sys.stderr)\n"
        "sys.exit(1 if heavy else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        'Context "lab" modified.',
        'Active namespace is "web".',
        'Context "lab" modified.',
        'Active namespace is "default".',
        'Context "lab" modified.',
        'Active namespace is "api".',
    ]
    assert main_output("ns", "nope", "extra").returncode == 2  # two names: the typer app explains


def main_output(*args: str) -> subprocess.CompletedProcess[str]:
    return forkserver.run("kcm", list(args))
