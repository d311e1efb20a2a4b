"""The round-trip promise, checked on a corpus of real-world kubeconfig files.

For every file in fixtures/kubeconfigs/: an unchanged load + dump is byte-identical; upserting an EKS
cluster, user and context (as `aws eks update-kubeconfig` writes them) keeps every original line in
order, means exactly the original data plus the upserts (PyYAML as the oracle), is idempotent, keeps
the newline style, and is read by the real kubectl.
"""

from __future__ import annotations

import copy
import functools
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from yaml import CBaseLoader
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from kcm import kubeconfig
from kcm.errors import InputError
from kcm.kubeconfig import EditError, loads
from kcm.yamltext import resolve_plain

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "kubeconfigs"
# Files kcm refuses to edit, with the reason it must give; every other file must be edited losslessly.
REFUSED = {"existing-eks-entry-anchored.yaml": "defines a YAML anchor that other entries use"}
FILES = sorted(path for path in FIXTURES.iterdir() if path.is_file() and path.name not in REFUSED)
KUBECTL = shutil.which("kubectl")
NO_SUCH_CONTEXT = "kcm-corpus-test-no-such-context"

ARN = "arn:aws:eks:us-east-1:111122223333:cluster/prod-blue"
ALIAS = "eks-prod"
SERVER = "https://0123456789ABCDEF0123456789ABCDEF.gr7.us-east-1.eks.amazonaws.com"
CA_DATA = (
    "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUMvakNDQWVhZ0F3SUJBZ0lCQURBTkJna3Foa2lHOXcwQkFRc0ZBREFWTVJN"
    "d0VRWURWUVFERXdwcmRXSmwKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo="
)
CLUSTER = {"cluster": {"certificate-authority-data": CA_DATA, "server": SERVER}, "name": ARN}
USER = {
    "name": ARN,
    "user": {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "args": [
                "--region",
                "us-east-1",
                "eks",
                "get-token",
                "--cluster-name",
                "prod-blue",
                "--output",
                "json",
            ],
            "command": "aws",
            "env": [{"name": "AWS_PROFILE", "value": "prod"}],
        }
    },
}
CONTEXT = {"context": {"cluster": ARN, "user": ARN}, "name": ALIAS}
UPSERTS = (("clusters", CLUSTER), ("users", USER), ("contexts", CONTEXT))
# What the AWS CLI starts an empty (or comment-only) file with.
SKELETON = {
    "apiVersion": "v1",
    "clusters": [],
    "contexts": [],
    "current-context": "",
    "kind": "Config",
    "preferences": {},
    "users": [],
}

corpus = pytest.mark.parametrize("path", FILES, ids=[path.name for path in FILES])
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not on PATH")


def read(path: Path) -> str:
    return path.read_bytes().decode()


def upsert_all(text: str, source: str) -> Any:
    doc = loads(text, source)
    for section, entry in UPSERTS:
        doc.upsert(section, entry)
    doc.set("current-context", ALIAS)
    return doc


@functools.cache
def updated(name: str) -> str:
    """The dumped text of a fixture after the upserts (computed once per file)."""
    return str(upsert_all(read(FIXTURES / name), name).dump())


def expected_data(text: str) -> Any:
    """The aws-cli semantics: an entry with the same name is replaced whole, else appended."""
    data = copy.deepcopy(yaml.safe_load(text))
    if data is None:
        data = copy.deepcopy(SKELETON)
    for section, entry in UPSERTS:
        entries = data.get(section) or []
        names = [item["name"] for item in entries]
        if entry["name"] in names:
            entries[names.index(entry["name"])] = entry
        else:
            entries.append(entry)
        data[section] = entries
    data["current-context"] = ALIAS
    return data


def kubectl_view(path: Path, home: Path) -> subprocess.CompletedProcess[str]:
    """`kubectl config view`, kept offline.

    The gcloud build of kubectl (a version "dispatcher") asks the current context's API server for
    its version before any command, `config view` included: it runs the user's exec plugin (`aws`,
    `bash -c ...`) and connects to the server. A `--context` that names no context stops that query;
    `config view` ignores `--context` (without `--minify`), so the output is unchanged. A PATH with no
    programs keeps exec plugins from running anyway, and HOME keeps its cache out of the real home.
    """
    assert KUBECTL is not None
    return subprocess.run(
        [KUBECTL, "config", "view", "--kubeconfig", str(path), "--context", NO_SUCH_CONTEXT, "-o", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"HOME": str(home), "PATH": str(home / "no-bin")},
    )


# ---- which original lines the upserts may rewrite ---------------------------------------------------
def last_line(node: Node) -> int:
    """The 0-based line of a node's last character (PyYAML's block end marks overshoot)."""
    if isinstance(node, ScalarNode):
        end = node.end_mark
        # a block scalar ends at the start of the line after it
        return end.line - 1 if end.column == 0 and end.line > node.start_mark.line else end.line
    if node.flow_style:
        return node.end_mark.line
    children = [part for pair in node.value for part in pair] if isinstance(node, MappingNode) else node.value
    return max(last_line(child) for child in children)


def rewritten_lines(text: str) -> set[int]:
    """Lines of the original the upserts may change: a replaced entry, the current-context value, a
    null or empty section (which becomes a list), and the closing line of a flow collection that
    gains entries or keys before its `]` or `}`."""
    root = yaml.compose(text)
    if not isinstance(root, MappingNode):
        return set()
    data = yaml.safe_load(text)
    new = dict(UPSERTS)
    spans: list[Node] = []
    closing: set[int] = {root.end_mark.line} if root.flow_style else set()
    for key, value in root.value:
        if key.value == "current-context" and data.get("current-context") != ALIAS:
            spans.append(value)
        elif key.value in new and isinstance(value, SequenceNode) and value.value:
            for item, entry in zip(value.value, data[key.value], strict=True):
                if entry.get("name") == new[key.value]["name"] and entry != new[key.value]:
                    spans.append(item)
            if value.flow_style:
                closing.add(value.end_mark.line)
        elif key.value in new:
            spans.append(value)
    return closing | {line for node in spans for line in range(node.start_mark.line, last_line(node) + 1)}


# ---- the tests ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused_with_the_reason_and_nothing_dumped(name: str) -> None:
    doc = upsert_all(read(FIXTURES / name), name)
    with pytest.raises(EditError, match=REFUSED[name]):
        doc.dump()


def test_corpus_is_big_enough() -> None:
    assert len(FILES) >= 25


@needs_kubectl
@corpus
def test_fixture_is_a_kubeconfig_kubectl_reads(path: Path, tmp_path: Path) -> None:
    result = kubectl_view(path, tmp_path)
    assert result.returncode == 0, result.stderr


@corpus
def test_unchanged_round_trip_is_byte_identical(path: Path) -> None:
    text = read(path)
    assert loads(text, path.name).dump() == text


@corpus
def test_original_lines_kept_in_order(path: Path) -> None:
    text = read(path)
    skip = rewritten_lines(text)
    kept = [line for number, line in enumerate(text.split("\n")) if number not in skip]
    out = iter(updated(path.name).split("\n"))
    for line in kept:
        assert any(line == candidate for candidate in out), f"original line lost or moved: {line!r}"


@corpus
def test_result_means_original_plus_upserts(path: Path) -> None:
    assert yaml.safe_load(updated(path.name)) == expected_data(read(path))


@corpus
def test_second_upsert_changes_nothing(path: Path) -> None:
    first = updated(path.name)
    doc = upsert_all(first, path.name)
    assert not doc.changed
    assert doc.dump() == first


@corpus
def test_newline_style_kept(path: Path) -> None:
    text, out = read(path), updated(path.name)
    if "\r\n" in text:
        assert out.count("\n") == out.count("\r\n"), "a CRLF file gained LF-only line endings"
    else:
        assert "\r" not in out
    assert out.startswith("\ufeff") == text.startswith("\ufeff")
    if text.strip():
        assert out.endswith("\n") == text.endswith("\n")


@needs_kubectl
@corpus
def test_kubectl_reads_result(path: Path, tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_bytes(updated(path.name).encode())
    result = kubectl_view(config, tmp_path)
    assert result.returncode == 0, result.stderr
    view = json.loads(result.stdout)
    assert view["current-context"] == ALIAS
    contexts = {item["name"]: item["context"] for item in view["contexts"]}
    assert contexts[ALIAS] == {"cluster": ARN, "user": ARN}
    clusters = {item["name"]: item["cluster"] for item in view["clusters"]}
    assert clusters[ARN]["server"] == SERVER
    users = {item["name"]: item["user"] for item in view["users"]}
    assert users[ARN]["exec"]["args"] == USER["user"]["exec"]["args"]


# ---- removal: what `kcm sync --prune` and `kcm rm` do ---------------------------------------------------
# Removing an entry whose anchor other entries alias would break them: refused, like rewriting one.
REMOVAL_REFUSED = {"anchors-aliases.yaml"}
REMOVABLE = [path for path in FILES if path.name not in REMOVAL_REFUSED]
removable = pytest.mark.parametrize("path", REMOVABLE, ids=[path.name for path in REMOVABLE])


@pytest.mark.parametrize("name", sorted(REMOVAL_REFUSED))
def test_removal_refused_when_it_breaks_an_alias(name: str) -> None:
    with pytest.raises(EditError, match="defines a YAML anchor that other entries use"):
        removed(name)


def removals(text: str) -> list[tuple[str, str]]:
    """The first and the last entry of every section: the two ends where splicing is hardest."""
    data = yaml.safe_load(text) or {}
    picked: list[tuple[str, str]] = []
    for section in ("clusters", "contexts", "users"):
        names = [entry["name"] for entry in data.get(section) or []]
        picked += [(section, name) for name in dict.fromkeys(names[:1] + names[-1:])]
    return picked


@functools.cache
def removed(name: str) -> str:
    text = read(FIXTURES / name)
    doc = loads(text, name)
    for section, entry in removals(text):
        assert doc.remove(section, entry)
    return str(doc.dump())


def expected_after_removal(text: str) -> Any:
    data = copy.deepcopy(yaml.safe_load(text))
    for section, name in removals(text):
        data[section] = [entry for entry in data[section] if entry["name"] != name]
    return data


@removable
def test_removal_means_original_minus_entries(path: Path) -> None:
    text = read(path)
    if not removals(text):
        assert removed(path.name) == text
        return
    assert yaml.safe_load(removed(path.name)) == expected_after_removal(text)


@removable
def test_removal_keeps_every_line_outside_the_removed_entries(path: Path) -> None:
    text = read(path)
    root = yaml.compose(text)
    if not isinstance(root, MappingNode) or root.flow_style:
        return
    gone = dict(removals(text))
    spans: set[int] = set()
    for key, value in root.value:
        if key.value in gone and isinstance(value, SequenceNode):
            if value.flow_style:
                spans |= set(range(value.start_mark.line, value.end_mark.line + 1))
                continue
            names = [entry["name"] for entry in yaml.safe_load(text)[key.value]]
            for item, entry_name in zip(value.value, names, strict=True):
                if (key.value, entry_name) in removals(text):
                    spans |= set(range(item.start_mark.line, last_line(item) + 1))
            if all((key.value, entry_name) in removals(text) for entry_name in names):
                spans.add(key.start_mark.line)
    out = iter(removed(path.name).split("\n"))
    for number, line in enumerate(text.split("\n")):
        if number not in spans:
            assert any(line == candidate for candidate in out), f"original line lost or moved: {line!r}"


@removable
def test_remove_everything_then_add(path: Path) -> None:
    text = read(path)
    doc = loads(text, path.name)
    for entry in list(doc.entries("clusters")):
        doc.remove("clusters", entry["name"])
    doc.upsert("clusters", CLUSTER)
    data = yaml.safe_load(doc.dump())
    assert data["clusters"] == [CLUSTER]


@needs_kubectl
@removable
def test_kubectl_reads_removal_result(path: Path, tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_bytes(removed(path.name).encode())
    result = kubectl_view(config, tmp_path)
    assert result.returncode == 0, result.stderr


def test_remove_missing_entry_is_a_no_op() -> None:
    doc = loads(read(FIXTURES / "hand-commented.yaml"), "hand-commented.yaml")
    assert not doc.remove("contexts", "no-such-context")
    assert not doc.changed


ALL_FILES = sorted(path for path in FIXTURES.iterdir() if path.is_file())


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: p.name)
def test_both_builders_mean_the_same(path: Path) -> None:
    """The quick builder (no anchors, tags or merge keys) and the full one give the same data."""
    text = read(path).removeprefix("\ufeff")
    root = CBaseLoader(text).get_single_node()
    if root is None:  # comments only
        return
    full = kubeconfig._Builder(text, path.name).build(root)
    if not any(mark in text for mark in kubeconfig._SLOW_MARKS):
        assert kubeconfig._plain_build(root, kubeconfig._Builder(text, path.name).error) == full
    assert loads(text, path.name).original == (full if isinstance(full, dict) else kubeconfig.new_config())


# Plain scalars that YAML 1.1 or Go may read as other than a string, and neighbours that stay strings.
_WORDS = (  # noqa: SIM905 (words read better than a list of quoted words)
    "~ null Null NULL y Y yes Yes YES n N no NO true True TRUE false FALSE on On ON off Off OFF "
    "0 7 -7 +7 010 08 0b101 -0b11 0x1F +0X1f 0o17 0O7 1_000 1_ _1 0x_1F 1:30 1.5 -1.5 .5 .5_0 ._5 1. "
    "1e3 1E3 1.0e+3 1e-400 1e400 -1e400 9223372036854775808 18446744073709551615 18446744073709551616 "
    "-9223372036854775809 0x 0b102 0o8 0x1.8p1 1.5e .e5 + Nan nan inf 2001-12-14 "
    "nope yesterday only offset tomorrow False0 x1 v1 arn:aws:eks 1.2.3 -- . 0.0.0.0 1x = <<"
).split()
PLAIN = [*_WORDS, "9" * 400, "9" * 5000]


def _number_or_value(value: Any) -> Any:
    """Go writes a float64 as its shortest decimal: compare numbers as numbers, and keep bool apart."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return ("number", float(value))
    return value


@needs_kubectl
def test_plain_scalars_read_as_kubectl_reads_them(tmp_path: Path) -> None:
    """Each word, unquoted, in a cluster extension: kubectl prints the value it read as JSON."""
    words = "".join(f"          k{index}: {word}\n" for index, word in enumerate(PLAIN))
    text = (
        "clusters:\n- name: c\n  cluster:\n    server: https://c\n    extensions:\n"
        f"    - name: words\n      extension:\n{words}"
    )
    path = tmp_path / "config"
    path.write_text(text)
    run = kubectl_view(path, tmp_path)
    assert run.returncode == 0, run.stderr
    theirs = json.loads(run.stdout)["clusters"][0]["cluster"]["extensions"][0]["extension"]
    ours = loads(text).data["clusters"][0]["cluster"]["extensions"][0]["extension"]
    for index, word in enumerate(PLAIN):
        key = f"k{index}"
        assert _number_or_value(ours[key]) == _number_or_value(theirs[key]), word
    root = CBaseLoader(text).get_single_node()
    quick = kubeconfig._plain_build(root, kubeconfig._Builder(text, "t").error)
    assert quick == kubeconfig._Builder(text, "t").build(root)
    assert [resolve_plain(word) for word in PLAIN] == [ours[f"k{i}"] for i in range(len(PLAIN))]


@needs_kubectl
@pytest.mark.parametrize("word", [".inf", "-.Inf", "+.INF", ".nan", ".NaN"])
def test_infinity_and_nan_are_refused_as_kubectl_refuses_them(word: str, tmp_path: Path) -> None:
    text = f"current-context: a\nextensions:\n- name: x\n  extension: {{v: {word}}}\n"
    path = tmp_path / "config"
    path.write_text(text)
    assert kubectl_view(path, tmp_path).returncode != 0
    with pytest.raises(InputError, match=rf"^t:4:18: kubectl cannot read `\{word}` \(JSON has no"):
        loads(text, "t")


def test_a_repeated_key_takes_the_last_value_as_kubectl_does() -> None:
    assert loads("current-context: a\ncurrent-context: b\n", "t").data["current-context"] == "b"
    assert loads("clusters:\n- name: a\n  name: b\n", "t").data["clusters"] == [{"name": "b"}]


def test_quick_builder_keeps_the_errors() -> None:
    with pytest.raises(InputError, match=r"t:1:3: a mapping key must be a plain value"):
        loads("? [a]\n: 1\n", "t")
    with pytest.raises(InputError, match=r"t:1:1: a mapping key cannot be null"):
        loads("~: 1\n", "t")
