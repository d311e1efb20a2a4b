"""`kcm sync --kubeconfig-template`: one kubeconfig per group of clusters, against the embedded AWS."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kcm import store
from kcm.commands import split
from kcm.commands.scan import Found
from kcm.eks import EksCluster
from tests.commands.test_sync import CREDENTIALS, HAND_WRITTEN, by_name, kcm, read, role_profiles
from tests.commands.test_sync import org as org  # the fixture: LAYOUT's clusters in three accounts
from tests.conftest import VENV_BIN, Aws

KUBECTL = shutil.which("kubectl")
TEMPLATE = "{account_name}.yaml"
# LAYOUT's contexts, by the file each goes to: the account name is the profile's (no alias is set)
LAID_OUT = {
    "team-a.yaml": {"api.us-east-1.111111111111", "web.us-east-1.111111111111", "web.eu-west-1.111111111111"},
    "team-b.yaml": {"batch.us-west-2.222222222222"},
    "team-c.yaml": {"data.eu-west-1.333333333333", "edge.ap-southeast-2.333333333333"},
}
EVERY_CONTEXT = set().union(*LAID_OUT.values())


def split_sync(folder: Path, *args: str, template: str = TEMPLATE) -> tuple[int, str, str]:
    return kcm("sync", "--all-accounts", "--kubeconfig-template", str(folder / template), *args)


def exported(out: str) -> str:
    """The value of the `export KUBECONFIG=...` line (the output's last line), as a shell reads it."""
    last = out.strip().splitlines()[-1]
    assert last.startswith("export KUBECONFIG="), out
    [assignment] = shlex.split(last.removeprefix("export "))
    return assignment.removeprefix("KUBECONFIG=")


def contexts(path: Path) -> set[str]:
    return set(by_name(read(path), "contexts"))


def snapshot(folder: Path) -> dict[str, tuple[bytes, int, int]]:
    """Every file below `folder`: its bytes, mode and mtime."""
    return {
        str(path.relative_to(folder)): (path.read_bytes(), path.stat().st_mode, path.stat().st_mtime_ns)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def kubectl_view(kubeconfig: str) -> dict[str, Any]:
    """`kubectl config view` of a KUBECONFIG list: the merged config kubectl sees (offline: this build
    of kubectl asks the current context's server for its version unless --context names none)."""
    assert KUBECTL is not None
    done = subprocess.run(
        [KUBECTL, "config", "view", "-o", "json", "--context", "nonexistent"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"HOME": os.environ["HOME"], "PATH": "/nonexistent", "KUBECONFIG": kubeconfig},
    )
    assert done.returncode == 0, done.stderr
    view: dict[str, Any] = json.loads(done.stdout)
    return view


needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not on PATH")


# ---- one file per group ----------------------------------------------------------------------------------
def test_each_account_gets_its_file_and_the_line_lists_them(
    org: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    folder = tmp_path / "eks"
    code, out, err = split_sync(folder)
    assert code == 0, err
    files = [folder / name for name in sorted(LAID_OUT)]
    assert exported(out) == os.pathsep.join(map(str, files))
    for path in files:
        assert contexts(path) == LAID_OUT[path.name]
        assert read(path)["current-context"] == ""
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert f"wrote {path}\n" in out
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert "6 clusters in 4 accounts" in out and "6 added" in out and "3 files: 3 written, 0 unchanged" in out


@needs_kubectl
def test_kubectl_reads_every_context_through_the_printed_line(
    org: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    code, out, err = split_sync(tmp_path / "eks", "--set-current", "data.eu-west-1.333333333333")
    assert code == 0, err
    view = kubectl_view(exported(out))
    assert {context["name"] for context in view["contexts"]} == EVERY_CONTEXT
    assert {cluster["name"] for cluster in view["clusters"]} == set(org)
    assert view["current-context"] == "data.eu-west-1.333333333333"
    # kubectl reads current-context from the first file that sets one: kcm wrote it there
    assert read(tmp_path / "eks" / "team-a.yaml")["current-context"] == "data.eu-west-1.333333333333"
    assert read(tmp_path / "eks" / "team-c.yaml")["current-context"] == ""


def test_a_second_run_writes_nothing(
    org: dict[str, dict[str, Any]], tmp_path: Path, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "eks"
    assert split_sync(folder)[0] == 0
    before, state = snapshot(folder), snapshot(isolated / ".local/state")

    def no_lock(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a sync with nothing to do took a lock")

    monkeypatch.setattr(store, "edit", no_lock)
    code, out, err = split_sync(folder)
    assert code == 0, err
    assert "0 added, 0 updated, 6 unchanged" in out and "3 files: 3 unchanged, 0 failed" in out
    assert "wrote" not in out
    assert snapshot(folder) == before
    assert snapshot(isolated / ".local/state") == state  # no backup, and the record as it was


def test_dry_run_shows_each_files_plan_and_writes_nothing(
    org: dict[str, dict[str, Any]], tmp_path: Path, isolated: Path
) -> None:
    folder = tmp_path / "eks"
    code, out, err = split_sync(folder, "--dry-run")
    assert code == 0, err
    assert not folder.exists() and not (isolated / ".local/state/kcm/templates").exists()
    assert f"# {folder / 'team-b.yaml'}\n+ context batch.us-west-2.222222222222" in out
    assert out.count("dry run: would write ") == 3
    assert exported(out).split(os.pathsep) == [str(folder / name) for name in sorted(LAID_OUT)]


def test_json_lists_the_files(org: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    folder = tmp_path / "eks"
    code, out, err = split_sync(folder, "-o", "json")
    assert code == 0, err
    data = json.loads(out)
    files = [str(folder / name) for name in sorted(LAID_OUT)]
    assert data["kubeconfigs"] == files and data["kubeconfig"] == os.pathsep.join(files)
    assert data["kubeconfig_template"] == str(folder / TEMPLATE)
    assert [(item["kubeconfig"], item["status"], set(item["contexts"])) for item in data["files"]] == [
        (str(folder / name), "written", LAID_OUT[name]) for name in sorted(LAID_OUT)
    ]
    assert {(row["name"], row["kubeconfig"]) for row in data["contexts"]} == {
        (name, str(folder / file)) for file, names in LAID_OUT.items() for name in names
    }
    assert data["written"] is True and data["failures"] == [] and data["accounts"] == 4
    assert data["current_context"] is None
    again = json.loads(split_sync(folder, "-o", "json", "--dry-run")[1])
    assert {item["status"] for item in again["files"]} == {"unchanged"} and again["written"] is False


def test_the_config_file_sets_a_template_and_kubeconfig_overrides_it(
    org: dict[str, dict[str, Any]], tmp_path: Path, isolated: Path
) -> None:
    settings = isolated / ".config" / "kcm" / "config.toml"
    settings.parent.mkdir(parents=True)
    settings.write_text(f'[sync]\nkubeconfig-template = "{tmp_path}/eks/{{account_name}}/config"\n')
    done = subprocess.run(  # through kcm's front door, which must not parse ~/.kube/config early
        [str(VENV_BIN / "kcm"), "sync", "--all-accounts"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert exported(done.stdout).endswith(f"{tmp_path}/eks/team-c/config")
    assert contexts(tmp_path / "eks" / "team-b" / "config") == LAID_OUT["team-b.yaml"]
    single = tmp_path / "single"
    code, out, err = kcm("sync", "--all-accounts", "--kubeconfig", str(single))  # a flag over the file
    assert code == 0, err
    assert contexts(single) == EVERY_CONTEXT and "export KUBECONFIG" not in out
    code, _, err = kcm("diff", "--all-accounts")  # diff previews one file
    assert code == 2 and "kcm diff previews one kubeconfig (give --kubeconfig)" in err


# ---- prune ---------------------------------------------------------------------------------------------
def test_prune_acts_in_each_file_and_reaches_a_file_whose_group_is_gone(
    aws: Aws, org: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    folder = tmp_path / "eks"
    folder.mkdir()
    team_b = folder / "team-b.yaml"
    team_b.write_text(HAND_WRITTEN.replace("current-context: on-prem\n", ""))  # the user's, kcm's beside
    assert split_sync(folder, "--set-current", "api.us-east-1.111111111111")[0] == 0
    assert contexts(team_b) == {"on-prem", "batch.us-west-2.222222222222"}
    aws.in_account("111111111111", "eks", "us-east-1").delete_cluster(name="api")
    aws.in_account("222222222222", "eks", "us-west-2").delete_cluster(name="batch")
    team_c = (folder / "team-c.yaml").read_bytes()

    code, out, err = split_sync(folder)  # no --prune: nothing removed, and team-b.yaml is named
    assert code == 0, err
    assert "api.us-east-1.111111111111" in contexts(folder / "team-a.yaml")
    assert f"left as they are and still listed: {team_b} (--prune removes kcm's entries from them" in err
    assert exported(out).split(os.pathsep) == [str(folder / name) for name in sorted(LAID_OUT)]

    code, out, err = split_sync(folder, "--prune")
    assert code == 0, err
    assert contexts(folder / "team-a.yaml") == LAID_OUT["team-a.yaml"] - {"api.us-east-1.111111111111"}
    assert team_b.exists() and contexts(team_b) == {"on-prem"}  # the user's context stays, and the file
    assert "# end" in team_b.read_text()
    assert (folder / "team-c.yaml").read_bytes() == team_c
    assert f"wrote {team_b}: an earlier run's file, no cluster now" in out
    assert "2 pruned" in out
    assert f"{team_b} holds no entry of kcm's now: left out of the KUBECONFIG line and forgotten" in err
    assert read(folder / "team-a.yaml")["current-context"] == ""
    assert f"current-context of {folder / 'team-a.yaml'} pointed at a pruned context; it is now unset" in err
    assert exported(out).split(os.pathsep) == [str(folder / "team-a.yaml"), str(folder / "team-c.yaml")]

    code, out, err = split_sync(folder, "--prune")  # it holds nothing of kcm's now: forgotten
    assert code == 0 and str(team_b) not in out + err and "0 pruned" in out


def test_prune_in_a_file_acts_only_where_this_run_looked(
    aws: Aws, org: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    folder = tmp_path / "eks"
    assert split_sync(folder)[0] == 0
    aws.in_account("333333333333", "eks", "eu-west-1").delete_cluster(name="data")
    aws.in_account("222222222222", "eks", "us-west-2").delete_cluster(name="batch")
    code, out, err = split_sync(folder, "--region", "us-east-1", "--prune")
    assert code == 0, err
    assert contexts(folder / "team-c.yaml") == LAID_OUT["team-c.yaml"]  # eu-west-1 was not listed
    assert contexts(folder / "team-b.yaml") == LAID_OUT["team-b.yaml"]  # nor us-west-2
    assert "0 pruned" in out


def test_a_context_whose_group_changed_is_named_and_pruned_from_its_old_file(
    aws: Aws, org: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    """`{role}.yaml`: team-b's profile now assumes ReadOnly, so batch goes to ReadOnly.yaml; kcm's old
    context for it in Admin.yaml would shadow the new one for kubectl if Admin.yaml came first."""
    folder = tmp_path / "eks"
    assert split_sync(folder, template="{role}.yaml")[0] == 0
    admin, read_only = folder / "Admin.yaml", folder / "ReadOnly.yaml"
    assert contexts(admin) == EVERY_CONTEXT
    aws.profiles(role_profiles({"team-b": "ReadOnly"}), CREDENTIALS)
    code, out, err = split_sync(folder, template="{role}.yaml")
    assert code == 0, err
    assert contexts(read_only) == LAID_OUT["team-b.yaml"] and contexts(admin) == EVERY_CONTEXT
    assert (
        f"kcm: note: context batch.us-west-2.222222222222 is kcm's in {admin} and in {read_only}, where "
        "this run writes it" in err
    )
    code, out, err = split_sync(folder, "--prune", template="{role}.yaml")
    assert code == 0, err
    assert contexts(admin) == EVERY_CONTEXT - LAID_OUT["team-b.yaml"] and "is kcm's in" not in err
    assert "1 pruned" in out


def test_a_file_of_an_earlier_run_stays_listed_while_kcm_could_not_prune_it(
    aws: Aws, org: dict[str, dict[str, Any]], tmp_path: Path, isolated: Path
) -> None:
    """team-b's profile fails: its file gets no cluster this run, but nothing of it may be pruned, so it
    stays in the line; a damaged record of the files is ignored with a warning."""
    folder = tmp_path / "eks"
    assert split_sync(folder)[0] == 0
    broken = role_profiles().replace(
        "role_arn = arn:aws:iam::222222222222:role/Admin\nsource_profile = base\n",
        "credential_process = false\n",
    )
    aws.profiles(broken, CREDENTIALS)
    before = (folder / "team-b.yaml").read_bytes()
    code, out, err = split_sync(folder, "--prune")
    assert code == 1 and "kcm: failed: profile team-b" in err
    assert (folder / "team-b.yaml").read_bytes() == before
    assert exported(out).split(os.pathsep) == [str(folder / name) for name in sorted(LAID_OUT)]
    [record] = (isolated / ".local/state/kcm/templates").iterdir()
    record.write_text("{not json")
    aws.profiles(role_profiles(), CREDENTIALS)
    code, out, err = split_sync(folder)
    assert code == 0 and f"kcm: warning: {record}: not kcm's record of the files" in err
    assert json.loads(record.read_text())["files"] == [str(folder / name) for name in sorted(LAID_OUT)]


# ---- hostile names -----------------------------------------------------------------------------------------
HOSTILE = ["../x", "a/b", "..", ".", "a:b", "-", " ", "$(touch pwned)"]


def test_an_account_name_cannot_make_a_path_outside_the_folder(aws: Aws, tmp_path: Path) -> None:
    orgs = aws.client("organizations")
    orgs.create_organization(FeatureSet="ALL")
    for number, name in enumerate(HOSTILE):
        status = orgs.create_account(Email=f"a{number}@example.com", AccountName=name)["CreateAccountStatus"]
        aws.cluster(f"c{number}", "eu-central-1", status["AccountId"])
    folder = tmp_path / "deep" / "eks"
    for template in ("{account_name}.yaml", "{account_name}/config", "{account_name}"):
        code, out, err = kcm(
            "sync",
            "--org-role",
            "OrganizationAccountAccessRole",
            "--region",
            "eu-central-1",
            "--kubeconfig-template",
            str(folder / template),
        )
        assert code == 0, err
        if template == "{account_name}.yaml":
            assert {path.name for path in folder.iterdir()} == {split.escaped(n) + ".yaml" for n in HOSTILE}
        written = sorted(p for p in tmp_path.rglob("*") if p.is_file() and aws.home not in p.parents)
        assert written and all(folder in path.parents for path in written), written
        listed = exported(out).split(os.pathsep)
        assert all(Path(path).parent == folder or Path(path).parent.parent == folder for path in listed)
        clusters = set().union(*(contexts(Path(path)) for path in listed))
        assert {name.split(".")[0] for name in clusters} == {f"c{n}" for n in range(len(HOSTILE))}
        shutil.rmtree(folder)
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()


@given(st.text())
def test_an_escaped_value_is_one_plain_path_component(value: str) -> None:
    name = split.escaped(value)
    assert name and name not in (".", "..") and not name.startswith(".")
    assert not set(name) & {"/", "\0", ":", "\n"} and name.isascii()


@given(st.text(), st.text())
def test_a_rendered_path_stays_below_the_templates_folder(account_name: str, cluster: str) -> None:
    template = split.parse("/base/{account_name}/{cluster}.{account_name}.yaml")
    found = Found(
        EksCluster(cluster, f"arn:aws:eks:us-east-1:1:cluster/{cluster}", "", "", "ACTIVE"),
        "1",
        account_name,
        None,
        None,
        "r",
    )
    path = template.path(found)
    assert path.parent.parent == Path("/base") and len(path.parts) == 4


# ---- files and modes -------------------------------------------------------------------------------------
def test_umask_000_gives_private_folders_and_files_and_an_existing_file_keeps_its_mode(
    org: dict[str, dict[str, Any]], tmp_path: Path, isolated: Path
) -> None:
    """Through the real `kcm` (its front door), under umask 000."""
    folder = tmp_path / "made" / "by" / "kcm"
    folder.parent.parent.mkdir(mode=0o755)
    existing = folder / "team-b" / "config"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(VENV_BIN / "kcm"), "sync", *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd=tmp_path,
            preexec_fn=lambda: os.umask(0),
        )

    done = run("--kubeconfig-template", str(folder / "{account_name}" / "config"), "--profile", "team-b")
    assert done.returncode == 0, done.stderr
    existing.chmod(0o640)
    done = run("--kubeconfig-template", str(folder / "{account_name}" / "config"), "--all-accounts")
    assert done.returncode == 0, done.stderr
    for name in ("team-a", "team-c"):
        assert stat.S_IMODE((folder / name / "config").stat().st_mode) == 0o600
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o700
    assert stat.S_IMODE(existing.stat().st_mode) == 0o640
    for made in (folder, folder.parent):
        assert stat.S_IMODE(made.stat().st_mode) == 0o700
    assert stat.S_IMODE(folder.parent.parent.stat().st_mode) == 0o755  # not kcm's: left as it was
    record = isolated / ".local/state/kcm/templates"
    assert stat.S_IMODE(record.stat().st_mode) == 0o700
    assert [stat.S_IMODE(path.stat().st_mode) for path in record.iterdir()] == [0o600]


def test_a_linked_file_stays_a_link(org: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    """As with --kubeconfig: a link the user made is followed, and stays a link."""
    folder = tmp_path / "eks"
    folder.mkdir()
    real = tmp_path / "elsewhere.yaml"
    real.write_text(HAND_WRITTEN)
    (folder / "team-b.yaml").symlink_to(real)
    assert split_sync(folder)[0] == 0
    assert (folder / "team-b.yaml").is_symlink()
    assert contexts(real) == {"on-prem", "batch.us-west-2.222222222222"}


def test_two_names_for_one_file_are_written_once(org: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    """team-b.yaml a link to team-a.yaml: one file with both groups, and --prune never takes one group's
    contexts out for the other's."""
    folder = tmp_path / "eks"
    folder.mkdir()
    (folder / "team-b.yaml").symlink_to("team-a.yaml")
    code, out, err = split_sync(folder, "--prune")
    assert code == 0, err
    assert f"{folder / 'team-b.yaml'} is {folder / 'team-a.yaml'} (a link): written once" in err
    assert contexts(folder / "team-a.yaml") == LAID_OUT["team-a.yaml"] | LAID_OUT["team-b.yaml"]
    assert exported(out).split(os.pathsep) == [str(folder / "team-a.yaml"), str(folder / "team-c.yaml")]
    before = snapshot(folder)
    code, out, err = split_sync(folder, "--prune")
    assert code == 0 and "0 pruned" in out and snapshot(folder) == before


# ---- a file that fails -----------------------------------------------------------------------------------
def test_one_file_failing_is_reported_and_the_others_are_written(
    org: dict[str, dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "eks"
    folder.mkdir()
    (folder / "team-c.yaml").mkdir()  # a directory in the way
    lock = folder / "team-b.yaml.lock"  # a live process's lock
    holder = subprocess.Popen(["sleep", "120"])
    lock.write_text(f"{holder.pid}\n{socket.gethostname()}\n")
    monkeypatch.setenv("KCM_LOCK_TIMEOUT", "0")
    try:
        code, out, err = split_sync(folder, "-o", "json")
        again = split_sync(folder)
    finally:
        holder.kill()
        holder.wait()
    assert code == 1
    data = json.loads(out)
    status = {Path(item["kubeconfig"]).name: (item["status"], item["error"]) for item in data["files"]}
    assert status["team-a.yaml"] == ("written", None)
    assert status["team-b.yaml"][0] == "failed" and f"{lock}: locked by" in status["team-b.yaml"][1]
    assert status["team-c.yaml"] == (
        "failed",
        f"{folder / 'team-c.yaml'}: is a directory, not a kubeconfig file",
    )
    assert contexts(folder / "team-a.yaml") == LAID_OUT["team-a.yaml"]
    assert not (folder / "team-b.yaml").exists() and lock.exists()
    # the line leaves out what kubectl could not read (the directory), not a file that is only late
    assert data["kubeconfigs"] == [str(folder / "team-a.yaml"), str(folder / "team-b.yaml")]
    assert len(data["failures"]) == 2
    assert {row["name"] for row in data["contexts"] if row["status"] == "failed"} == (
        LAID_OUT["team-b.yaml"] | LAID_OUT["team-c.yaml"]
    )
    code, out, err = again
    assert code == 1
    assert f"kcm: failed: {lock}: locked by" in err
    assert f"kcm: failed: {folder / 'team-c.yaml'}: is a directory" in err
    assert "3 files: 0 unchanged, 2 failed" not in out and "3 files: 1 unchanged, 2 failed" in out


def test_a_file_kubectl_cannot_read_fails_alone(org: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    folder = tmp_path / "eks"
    folder.mkdir()
    (folder / "team-a.yaml").write_text("clusters: [\n")
    code, out, err = split_sync(folder)
    assert code == 1
    [failure] = [line for line in err.splitlines() if line.startswith("kcm: failed: ")]
    assert failure.startswith(f"kcm: failed: {folder / 'team-a.yaml'}:")
    assert (folder / "team-a.yaml").read_text() == "clusters: [\n"
    assert exported(out).split(os.pathsep) == [str(folder / "team-b.yaml"), str(folder / "team-c.yaml")]


# ---- bad templates ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("~/.kube/eks.yaml", "names no field, so every cluster would go to one file"),
        ("", "names no field"),
        ("{account}.yaml", "unknown field {account} (fields: {cluster}, {region}, {account_id},"),
        ("{}.yaml", "unknown field {}"),
        ("{cluster[0]}.yaml", "unknown field {cluster[0]}"),
        ("{cluster!r}.yaml", "{cluster} takes no format or conversion"),
        ("{cluster:>9}.yaml", "{cluster} takes no format or conversion"),
        ("{cluster.yaml", "expected '}' before end of string"),
        ("{cluster}}.yaml", "Single '}' encountered"),
        ("eks/{cluster}/", "names a folder"),
        ("eks/{cluster}\0.yaml", "holds a NUL character"),
    ],
)
def test_a_bad_template_is_one_line_and_changes_nothing(
    org: dict[str, dict[str, Any]], tmp_path: Path, isolated: Path, template: str, message: str
) -> None:
    before = snapshot(isolated)
    code, out, err = kcm("sync", "--all-accounts", "--kubeconfig-template", template)
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith(f"kcm: --kubeconfig-template {template!r}: ")
    assert message in err
    assert snapshot(isolated) == before and sorted(tmp_path.iterdir()) == [isolated]


def test_kubeconfig_and_a_template_together_are_an_error(
    org: dict[str, dict[str, Any]], tmp_path: Path, isolated: Path
) -> None:
    code, out, err = kcm(
        "sync", "--all-accounts", "--kubeconfig", "x", "--kubeconfig-template", "{account_name}.yaml"
    )
    assert (code, out) == (2, "")
    assert err == (
        "kcm: --kubeconfig and --kubeconfig-template: give one (kubeconfig is one file, the template one "
        "file per group of clusters)\n"
    )
    settings = isolated / ".config" / "kcm" / "config.toml"
    settings.parent.mkdir(parents=True)
    settings.write_text('[sync]\nkubeconfig = "x"\nkubeconfig-template = "{account_name}.yaml"\n')
    code, out, err = kcm("sync", "--all-accounts")
    assert code == 2 and err.startswith(f"kcm: {settings}: [sync] sets kubeconfig and kubeconfig-template")
    assert sorted(tmp_path.iterdir()) == [isolated]


def test_set_current_must_name_a_context_of_the_files(org: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    folder = tmp_path / "eks"
    code, out, err = split_sync(folder, "--set-current", "nope")
    assert (code, out) == (2, "") and err == "kcm: --set-current 'nope': no such context after this sync\n"
    assert not folder.exists()


def test_set_current_goes_to_the_first_file_as_kubectl_writes_it(
    org: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    """Another file of the line sets a current-context: kcm writes the new one where `kubectl config
    use-context` would, the first file, whose current-context kubectl then reads first."""
    folder = tmp_path / "eks"
    assert split_sync(folder)[0] == 0
    team_b = folder / "team-b.yaml"
    team_b.write_text(
        team_b.read_text().replace("current-context: ''", "current-context: batch.us-west-2.222222222222")
    )
    before = team_b.read_bytes()
    code, out, err = split_sync(folder, "--set-current", "web.eu-west-1.111111111111")
    assert code == 0, err
    assert read(folder / "team-a.yaml")["current-context"] == "web.eu-west-1.111111111111"
    assert team_b.read_bytes() == before
    if KUBECTL is not None:
        assert kubectl_view(exported(out))["current-context"] == "web.eu-west-1.111111111111"
    assert split_sync(folder, "--set-current", "web.eu-west-1.111111111111")[1].count("wrote") == 0


# ---- adoption ---------------------------------------------------------------------------------------------
def test_adoption_happens_only_within_each_file(org: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    folder = tmp_path / "eks"
    add = ("add", "batch", "--region", "us-west-2", "--profile", "team-b")
    assert kcm(*add, "--alias", "batch", "--kubeconfig", str(folder / "team-b.yaml"))[0] == 0
    assert kcm(*add, "--alias", "batch-elsewhere", "--kubeconfig", str(folder / "team-a.yaml"))[0] == 0
    code, out, err = split_sync(folder)
    assert code == 0, err
    assert "1 adopted" in out
    assert contexts(folder / "team-b.yaml") == {"batch"}  # taken over in its own file
    team_a = by_name(read(folder / "team-a.yaml"), "contexts")
    assert set(team_a) == LAID_OUT["team-a.yaml"] | {"batch-elsewhere"}  # another file's: left alone
    assert "extensions" not in team_a["batch-elsewhere"]["context"]
