"""`kcm add` on the kubeconfig shapes of the AWS CLI's own update-kubeconfig tests, the AWS CLI as oracle.

The ideas (not the code or the fixtures) come from aws/aws-cli's tests of its kubeconfig loader, validator,
appender and file selector: partial files (a section or current-context missing), null sections and
entries, entries without a name or a body, keys in an unusual order, an old `v1alpha1` entry for the same
cluster being updated, an existing entry with a role, malformed files (a section or an entry that is a
string, plain text, unparsable YAML), a KUBECONFIG list whose first file is corrupted, which file is
chosen, and the cluster status. Every fixture here is our own small text.

Both tools run on copies of the same file with the same arguments against the same embedded AWS. Where
both write, the data must be equal (PyYAML loads of both files), so must the first line of stdout, kubectl
must read kcm's file, and every original line kcm did not need to change must still be there, in order
(kcm keeps bytes; the AWS CLI rewrites the file).

Where the AWS CLI and kubectl disagree about a file (one reads it, the other refuses it), kcm follows
kubectl for what it reads: the AWS CLI refuses a list entry that is null, which kubectl reads as an empty
entry, so kcm must edit that file; the AWS CLI reads duplicate names, an apiVersion other than v1 and an
entry body that is a string, which kubectl refuses, so kcm must refuse them as bad input.

All runs happen once, in parallel, in a module fixture (the AWS CLI's start-up is most of the time); each
test then checks one case's results.
"""

from __future__ import annotations

import http.server
import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from embedded_aws import reset
from yaml.nodes import MappingNode, Node, SequenceNode

from tests.apiserver import running
from tests.commands.test_add_oracle import Case, _run
from tests.conftest import Aws
from tests.test_corpus import KUBECTL, kubectl_view, last_line

needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not on PATH")

PROD = "arn:aws:eks:us-east-1:123456789012:cluster/prod"
OTHER = "arn:aws:eks:eu-west-1:123456789012:cluster/other"
ROLE = "arn:aws:iam::123456789012:role/EKSAdmin"
ARGS = ["--name", "prod", "--kubeconfig", "{d}/config"]
SECTIONS = ("clusters", "contexts", "users")

# ---- building blocks of the fixtures: another cluster's entries, and stale ones for prod ----------------
OTHER_CLUSTER = f"""- cluster:
    certificate-authority-data: T1RIRVI=
    server: https://other.example.com
  name: {OTHER}
"""
OTHER_CONTEXT = f"""- context:
    cluster: {OTHER}
    namespace: team-a
    user: {OTHER}
  name: other
"""
OTHER_USER = f"""- name: {OTHER}
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      args: [--region, eu-west-1, eks, get-token, --cluster-name, other, --output, json]
      command: aws
"""
STALE_PROD_CLUSTER = f"""- cluster:
    certificate-authority-data: U1RBTEU=
    server: https://stale.example.com
  name: {PROD}
"""
PROD_CONTEXT = f"""- context:
    cluster: {PROD}
    user: {PROD}
  name: {PROD}
"""
V1ALPHA1_PROD_USER = f"""- name: {PROD}
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1alpha1
      args:
      - --region
      - us-east-1
      - eks
      - get-token
      - --cluster-name
      - prod
      command: aws
"""
AUTHENTICATOR_PROD_USER = f"""- name: {PROD}
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1alpha1
      args:
      - token
      - -i
      - prod
      - -r
      - arn:aws:iam::123456789012:role/Old
      command: aws-iam-authenticator
"""


def _config(
    clusters: str | None = OTHER_CLUSTER,
    contexts: str | None = OTHER_CONTEXT,
    users: str | None = OTHER_USER,
    current: str | None = "other",
) -> str:
    """A file in the AWS CLI's key order; a None section or current-context is left out."""
    text = "apiVersion: v1\n"
    text += "" if clusters is None else f"clusters:\n{clusters}"
    text += "" if contexts is None else f"contexts:\n{contexts}"
    text += "" if current is None else f"current-context: {current}\n"
    text += "kind: Config\npreferences: {}\n"
    return text + ("" if users is None else f"users:\n{users}")


# ---- shapes both tools read: the same data must come out ---------------------------------------------
VALID: dict[str, Case] = {
    # the AWS CLI's "no cluster / no context / no user" files: a whole section is missing
    "no-clusters-key": Case(ARGS, files={"config": _config(clusters=None)}),
    "no-contexts-or-users-keys": Case(ARGS, files={"config": _config(contexts=None, users=None)}),
    # its "null cluster / context / user" files: one section null while the others hold entries
    "null-sections-among-entries": Case(
        ARGS,
        files={
            "config": _config(users=None).replace(f"clusters:\n{OTHER_CLUSTER}", "clusters: null\n")
            + "users: ~\n"
        },
    ),
    # its "no current context" file is entries-without-a-name below; here a current-context that is null
    "current-context-null": Case(ARGS, files={"config": _config(current="null")}),
    # its "changed ordering" file: top-level keys and entry keys in an unusual order, prod stale inside
    "keys-in-unusual-order": Case(
        ARGS,
        files={
            "config": f"users:\n{OTHER_USER}kind: Config\nclusters:\n- name: {PROD}\n  cluster:\n"
            "    server: https://stale.example.com\n    certificate-authority-data: U1RBTEU=\n"
            f"{OTHER_CLUSTER}current-context: other\ncontexts:\n- name: other\n  context:\n"
            f"    user: {OTHER}\n    cluster: {OTHER}\npreferences: {{}}\napiVersion: v1\n"
        },
    ),
    # its "old api version" file and what it becomes: prod's user is v1alpha1 with the old args
    "old-v1alpha1-entry-for-this-cluster": Case(
        ARGS,
        files={"config": _config(STALE_PROD_CLUSTER, PROD_CONTEXT, V1ALPHA1_PROD_USER, current=PROD)},
    ),
    # its "existing with role" file: prod's user runs aws-iam-authenticator with -r; a new --role-arn
    "existing-entry-with-a-role": Case(
        ["--name", "prod", "--role-arn", ROLE, "--kubeconfig", "{d}/config"],
        files={"config": _config(STALE_PROD_CLUSTER, PROD_CONTEXT, AUTHENTICATOR_PROD_USER, current=PROD)},
    ),
    # its "old data" file: prod is the second of two clusters, each entry replaced where it stands
    "this-cluster-second-of-two": Case(
        ARGS,
        files={
            "config": _config(
                OTHER_CLUSTER + STALE_PROD_CLUSTER,
                OTHER_CONTEXT + PROD_CONTEXT,
                OTHER_USER + AUTHENTICATOR_PROD_USER,
            )
        },
    ),
    # its "bad cluster / bad context / bad user" files: entries for prod with a name and no body
    "entries-without-a-body": Case(
        ARGS,
        files={
            "config": _config(f"- name: {PROD}\n", f"- name: {PROD}\n", f"- name: {PROD}\n", current=PROD)
            + "\n\n"
        },
    ),
    # its "bad cluster 2 / bad context 2" files and has_cluster's cases (entries with no name or a null
    # one), in its "no current context" file
    "entries-without-a-name": Case(
        ARGS,
        files={
            "config": _config(
                "- cluster:\n    server: https://nameless.example.com\n",
                f"- context:\n    cluster: {OTHER}\n    user: {OTHER}\n  name: null\n",
                "- user:\n    token: abc\n",
                current=None,
            )
        },
    ),
    # its writer truncating a file of comments: the AWS CLI starts afresh, kcm keeps the comments
    "comments-only": Case(ARGS, files={"config": "# kubeconfig, by hand\n#\n# nothing here yet\n"}),
}

# ---- shapes the AWS CLI refuses and kubectl reads: kcm follows kubectl -------------------------------
AWS_CLI_REFUSES: dict[str, Case] = {
    "null-cluster-entry": Case(ARGS, files={"config": "apiVersion: v1\nclusters:\n- null\n"}),
    "null-entries-in-flow-lists": Case(
        ARGS, files={"config": _config(clusters=None, contexts=None, users="- ~\n") + "contexts: [null]\n"}
    ),
}

# ---- shapes the AWS CLI reads and kubectl refuses: kcm follows kubectl (expected kcm error) ----------
KUBECTL_REFUSES: dict[str, tuple[Case, str]] = {
    "duplicate-context-names": (
        Case(ARGS, files={"config": "contexts:\n- name: a\n  context: {}\n- name: a\n  context: {}\n"}),
        "config:4:3: duplicate name 'a' in 'contexts' (also on line 2)",
    ),
    "api-version-v2": (
        Case(ARGS, files={"config": _config().replace("apiVersion: v1", "apiVersion: v2")}),
        "config:1:13: 'apiVersion' must be 'v1', found 'v2'",
    ),
    "cluster-body-a-string": (
        Case(ARGS, files={"config": "clusters:\n- name: a\n  cluster: https://a.example.com\n"}),
        "config:3:12: 'clusters[0].cluster' must be a mapping, found a string",
    ),
}

# ---- malformed shapes: both tools refuse (expected kcm error) ----------------------------------------
MALFORMED: dict[str, tuple[Case, str]] = {
    "clusters-a-string": (
        Case(ARGS, files={"config": "apiVersion: v1\nclusters: none yet\n"}),
        "config:2:11: 'clusters' must be a list, found a string 'none yet'",
    ),
    "users-a-string": (
        Case(ARGS, files={"config": _config(users=None) + f"users: {OTHER}\n"}),
        f"config:16:8: 'users' must be a list, found a string '{OTHER}'",
    ),
    "cluster-entry-a-string": (
        Case(ARGS, files={"config": _config(clusters=f"- {OTHER}\n")}),
        f"config:3:3: 'clusters[0]' must be a mapping, found a string '{OTHER}'",
    ),
    "context-entry-a-string": (
        Case(ARGS, files={"config": _config(contexts=OTHER_CONTEXT + "- other\n")}),
        "config:13:3: 'contexts[1]' must be a mapping, found a string 'other'",
    ),
    "user-entry-a-string": (
        Case(ARGS, files={"config": _config(users="- someone\n")}),
        "config:17:3: 'users[0]' must be a mapping, found a string 'someone'",
    ),
    "plain-text": (
        Case(ARGS, files={"config": "This is a note, not a kubeconfig.\nYAML reads it as one string.\n"}),
        "config:1:1: not a kubeconfig: the top level is a str, not a mapping",
    ),
    "unparsable-yaml": (
        Case(ARGS, files={"config": "apiVersion: v1\nkind: Config: again\n"}),
        "config:2:13: invalid YAML: mapping values are not allowed here",
    ),
}

# ---- KUBECONFIG lists whose first file is corrupted (the AWS CLI's file selector) ----------------------
CORRUPTED = "apiVersion: v1\nclusters: corrupted\n"
LISTS: dict[str, Case] = {
    # no file holds prod: the first file is the one to write, and it cannot be read
    "first-corrupted-none-holds-it": Case(
        ["--name", "prod"], files={"a": CORRUPTED, "b": _config()}, kubeconfig_env="{d}/a:{d}/b"
    ),
    # a later file holds prod: the corrupted file is passed over and the later one updated
    "first-corrupted-later-holds-it": Case(
        ["--name", "prod"],
        files={
            "a": CORRUPTED,
            "b": _config(),
            "c": _config(STALE_PROD_CLUSTER, PROD_CONTEXT, V1ALPHA1_PROD_USER),
        },
        kubeconfig_env="{d}/a:{d}/b:{d}/c",
    ),
    # --kubeconfig overrides the list, corrupted first file and all
    "flag-overrides-a-corrupted-list": Case(
        ARGS, files={"a": CORRUPTED, "b": _config()}, kubeconfig_env="{d}/a:{d}/b"
    ),
}

ALL: dict[str, Case] = {
    **VALID,
    **AWS_CLI_REFUSES,
    **{name: case for name, (case, _) in KUBECTL_REFUSES.items()},
    **{name: case for name, (case, _) in MALFORMED.items()},
    **LISTS,
}


@dataclass
class Ran:
    returncode: int
    stdout: str  # the run's folder written as {d}, so both tools' messages compare verbatim
    stderr: str
    files: dict[str, bytes]  # every kubeconfig in the run's folder after the run
    work: Path


def _files(work: Path) -> dict[str, bytes]:
    found = {}
    for path in sorted(work.rglob("*")):
        top = path.relative_to(work).parts[0]
        if path.is_file() and top not in ("home", "state") and not path.name.endswith(".lock"):
            found[str(path.relative_to(work))] = path.read_bytes()
    return found


def _go(folder: Path, base: dict[str, str], name: str, tool: str) -> Ran:
    case = ALL[name]
    work = folder / name / tool
    (work / "home").mkdir(parents=True)
    for file, text in case.files.items():
        (work / file).write_bytes(text.encode())
    env = {**base, **case.env, "HOME": str(work / "home"), "XDG_STATE_HOME": str(work / "state")}
    if case.kubeconfig_env is not None:
        env["KUBECONFIG"] = case.kubeconfig_env.replace("{d}", str(work))
    run = _run(tool, [arg.replace("{d}", str(work)) for arg in case.args], env)
    where = str(work)
    return Ran(
        run.returncode, run.stdout.replace(where, "{d}"), run.stderr.replace(where, "{d}"), _files(work), work
    )


@pytest.fixture(scope="module")
def ran(aws_server: str, tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Ran]:
    """Every case, run by both tools (in parallel, each in its own folder) against one embedded AWS."""
    folder = tmp_path_factory.mktemp("aws-cli-shapes")
    home = folder / "home"
    (home / ".aws").mkdir(parents=True)
    base = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_ENDPOINT_URL": aws_server,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(home / ".aws" / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / ".aws" / "credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
    }
    with pytest.MonkeyPatch.context() as patch:  # the developer's AWS settings stay out of the setup
        for variable in list(os.environ):
            if variable.startswith("AWS_") or variable == "KUBECONFIG":
                patch.delenv(variable)
        for variable, value in base.items():
            patch.setenv(variable, value)
        reset(aws_server)
        Aws(aws_server, home).cluster("prod")
    jobs = [(name, tool) for name in ALL for tool in ("aws", "kcm")]
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        results = pool.map(lambda job: _go(folder, base, *job), jobs)
        return dict(zip(jobs, results, strict=True))


# ---- helpers for the checks --------------------------------------------------------------------------
def _data(ran: Ran, file: str = "config") -> Any:
    return yaml.safe_load(ran.files[file].decode())


def _span(node: Node) -> set[int]:
    return set(range(node.start_mark.line, last_line(node) + 1))


def _lines_lost(original: str, written: Any, edited: str) -> list[str]:
    """Original lines missing (or out of order) in `edited`, leaving out those the edit may change: an
    entry replaced by one of `written`'s, a null or empty section, and a changed current-context."""
    root = yaml.compose(original)
    data = yaml.safe_load(original)
    may_change: set[int] = set()
    if isinstance(root, MappingNode):
        for key, value in root.value:
            if key.value == "current-context" and data.get("current-context") != written["current-context"]:
                may_change |= _span(value)
            elif key.value in SECTIONS and isinstance(value, SequenceNode) and value.flow_style:
                may_change |= _span(value)  # a flow list takes new entries on its own line(s)
            elif key.value in SECTIONS and isinstance(value, SequenceNode) and value.value:
                old = data[key.value]
                replaced = {entry["name"] for entry in written[key.value] if entry not in old}
                for item, entry in zip(value.value, old, strict=True):
                    if isinstance(entry, dict) and entry.get("name") in replaced:
                        may_change |= _span(item)
            elif key.value in SECTIONS:
                may_change |= {key.start_mark.line} | _span(value)
    out = iter(edited.split("\n"))
    kept = [line for number, line in enumerate(original.split("\n")) if number not in may_change]
    return [line for line in kept if not any(line == candidate for candidate in out)]


def _assert_refused_in_one_line(kcm: Ran, expected: str) -> None:
    lines = kcm.stderr.strip().splitlines()
    assert kcm.returncode != 0
    assert len(lines) == 1, kcm.stderr
    assert re.match(r"kcm: \{d\}/[^:]+:\d+:\d+: ", lines[0]), lines[0]
    assert expected in lines[0], lines[0]
    assert "Traceback" not in kcm.stderr + kcm.stdout


def _unchanged(ran: Ran, case: Case) -> bool:
    return ran.files == {name: text.encode() for name, text in case.files.items()}


def _kubectl_reads(path: Path, home: Path) -> dict[str, Any]:
    view = kubectl_view(path, home)
    assert view.returncode == 0, view.stderr
    found: dict[str, Any] = json.loads(view.stdout)
    return found


# ---- the tests ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(VALID))
def test_an_odd_but_valid_file_gets_the_aws_clis_entries(
    name: str, ran: dict[tuple[str, str], Ran], tmp_path: Path
) -> None:
    aws, kcm = ran[name, "aws"], ran[name, "kcm"]
    assert aws.returncode == 0, aws.stderr
    assert kcm.returncode == 0, kcm.stderr
    assert kcm.stdout.splitlines()[0] == aws.stdout.splitlines()[0]
    assert kcm.files.keys() == aws.files.keys() == {"config"}
    assert _data(kcm) == _data(aws)
    original = VALID[name].files["config"]
    assert _lines_lost(original, _data(aws), kcm.files["config"].decode()) == []
    if KUBECTL is not None:
        view = _kubectl_reads(kcm.work / "config", tmp_path)
        assert view["current-context"] == _data(aws)["current-context"]


@needs_kubectl
@pytest.mark.parametrize("name", list(AWS_CLI_REFUSES))
def test_a_null_entry_the_aws_cli_refuses_is_read_as_kubectl_reads_it(
    name: str, ran: dict[tuple[str, str], Ran], tmp_path: Path
) -> None:
    """The AWS CLI refuses a list entry that is null; kubectl reads it as an empty entry; kcm follows
    kubectl: it keeps the null entry and adds the AWS CLI's entries (those it wrote into a file of
    comments, which it starts afresh)."""
    aws, kcm = ran[name, "aws"], ran[name, "kcm"]
    case = AWS_CLI_REFUSES[name]
    assert aws.returncode != 0 and _unchanged(aws, case), "the AWS CLI reads it now: move it to VALID"
    assert aws.stderr.strip().endswith("not a <class 'dict'>.")
    original = case.files["config"]
    (tmp_path / "original").write_text(original)
    _kubectl_reads(tmp_path / "original", tmp_path)

    assert kcm.returncode == 0, kcm.stderr
    assert kcm.stdout.splitlines()[0] == "Added new context " + PROD + " to {d}/config"
    fresh = _data(ran["comments-only", "aws"])
    expected = yaml.safe_load(original)
    for section in SECTIONS:
        expected[section] = (expected.get(section) or []) + fresh[section]
    expected["current-context"] = fresh["current-context"]
    assert _data(kcm) == expected
    assert _lines_lost(original, fresh, kcm.files["config"].decode()) == []
    assert _kubectl_reads(kcm.work / "config", tmp_path)["current-context"] == PROD


@needs_kubectl
@pytest.mark.parametrize("name", list(KUBECTL_REFUSES))
def test_a_file_kubectl_refuses_is_refused_though_the_aws_cli_reads_it(
    name: str, ran: dict[tuple[str, str], Ran], tmp_path: Path
) -> None:
    """kcm follows kubectl: writing into a file kubectl cannot read would leave it unreadable."""
    aws, kcm = ran[name, "aws"], ran[name, "kcm"]
    case, expected = KUBECTL_REFUSES[name]
    assert aws.returncode == 0, f"the AWS CLI refuses it now: move it to MALFORMED ({aws.stderr})"
    (tmp_path / "original").write_text(case.files["config"])
    assert kubectl_view(tmp_path / "original", tmp_path).returncode != 0
    _assert_refused_in_one_line(kcm, expected)
    assert _unchanged(kcm, case)


@pytest.mark.parametrize("name", list(MALFORMED))
def test_a_malformed_file_is_refused_by_both_and_left_alone(
    name: str, ran: dict[tuple[str, str], Ran], tmp_path: Path
) -> None:
    aws, kcm = ran[name, "aws"], ran[name, "kcm"]
    case, expected = MALFORMED[name]
    assert aws.returncode != 0, aws.stdout
    assert _unchanged(aws, case)
    _assert_refused_in_one_line(kcm, expected)
    assert _unchanged(kcm, case)
    if KUBECTL is not None:
        (tmp_path / "original").write_text(case.files["config"])
        assert kubectl_view(tmp_path / "original", tmp_path).returncode != 0


def test_a_list_whose_first_file_is_corrupted_and_holds_nothing_fails(
    ran: dict[tuple[str, str], Ran],
) -> None:
    """The file to write is the list's first, and it cannot be read: both fail, nothing is written."""
    name = "first-corrupted-none-holds-it"
    aws, kcm = ran[name, "aws"], ran[name, "kcm"]
    assert aws.returncode != 0 and _unchanged(aws, LISTS[name])
    _assert_refused_in_one_line(kcm, "a:2:11: 'clusters' must be a list, found a string 'corrupted'")
    assert _unchanged(kcm, LISTS[name])


def test_a_corrupted_first_file_is_passed_over_for_the_one_holding_the_cluster(
    ran: dict[tuple[str, str], Ran], tmp_path: Path
) -> None:
    name = "first-corrupted-later-holds-it"
    aws, kcm = ran[name, "aws"], ran[name, "kcm"]
    case = LISTS[name]
    assert aws.returncode == 0, aws.stderr
    assert kcm.returncode == 0, kcm.stderr
    assert kcm.stdout.splitlines()[0] == aws.stdout.splitlines()[0] == f"Updated context {PROD} in {{d}}/c"
    for tool in (aws, kcm):
        assert tool.files["a"] == CORRUPTED.encode() and tool.files["b"] == case.files["b"].encode()
    assert _data(kcm, "c") == _data(aws, "c")
    assert _lines_lost(case.files["c"], _data(aws, "c"), kcm.files["c"].decode()) == []
    if KUBECTL is not None:
        assert _kubectl_reads(kcm.work / "c", tmp_path)["current-context"] == PROD


def test_kubeconfig_flag_overrides_a_list_with_a_corrupted_first_file(
    ran: dict[tuple[str, str], Ran],
) -> None:
    name = "flag-overrides-a-corrupted-list"
    aws, kcm = ran[name, "aws"], ran[name, "kcm"]
    case = LISTS[name]
    assert aws.returncode == 0, aws.stderr
    assert kcm.returncode == 0, kcm.stderr
    assert kcm.stdout.splitlines()[0] == aws.stdout.splitlines()[0]
    assert kcm.files.keys() == aws.files.keys() == {"a", "b", "config"}
    for tool in (aws, kcm):
        assert tool.files["a"] == case.files["a"].encode() and tool.files["b"] == case.files["b"].encode()
    assert _data(kcm) == _data(aws)


STATUSES = {"creating": "CREATING", "deleting": "DELETING", "failed": "FAILED", "updating": "UPDATING"}


class _DescribeCluster(http.server.BaseHTTPRequestHandler):
    """EKS's DescribeCluster (GET /clusters/NAME), answering with a chosen status: moto (5.2) makes
    every cluster ACTIVE and has no state transitions for EKS."""

    def do_GET(self) -> None:
        name = self.path.rstrip("/").rsplit("/", 1)[-1]
        cluster: dict[str, Any] = {
            "name": name,
            "arn": f"arn:aws:eks:us-east-1:123456789012:cluster/{name}",
            "endpoint": f"https://{name}.example.com",
            "certificateAuthority": {"data": "Q0E="},
        }
        if name in STATUSES:
            cluster["status"] = STATUSES[name]
        body = json.dumps({"cluster": cluster}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.mark.parametrize("name", ["creating", "deleting", "failed", "no-status", "updating"])
def test_a_cluster_that_is_not_ready_is_refused_as_the_aws_cli_refuses_it(name: str, tmp_path: Path) -> None:
    """The AWS CLI refuses a described cluster with no status ("Cluster not found") or with a status
    other than ACTIVE or UPDATING ("Cluster status is CREATING"); kcm refuses the same ones, writes
    nothing for them, and writes the same entries for an UPDATING one."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _DescribeCluster)
    with running(server) as port:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "KUBECONFIG"},
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
            "HOME": str(tmp_path),
        }
        runs = {}
        for tool in ("aws", "kcm"):
            runs[tool] = _run(tool, ["--name", name, "--kubeconfig", str(tmp_path / tool)], env)
    aws, kcm = runs["aws"], runs["kcm"]
    if name == "updating":
        assert aws.returncode == 0 and kcm.returncode == 0, kcm.stderr
        assert yaml.safe_load((tmp_path / "kcm").read_text()) == yaml.safe_load(
            (tmp_path / "aws").read_text()
        )
        return
    assert aws.returncode != 0 and kcm.returncode != 0
    expected = "not found" if name == "no-status" else f"Cluster status is {STATUSES[name]}"
    assert expected in aws.stderr and expected in kcm.stderr, kcm.stderr
    assert len(kcm.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "aws").exists() and not (tmp_path / "kcm").exists()
