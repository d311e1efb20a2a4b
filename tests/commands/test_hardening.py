"""Hostile and unlucky conditions: odd file types, killed process groups, umask 000, full disks.

Each case runs the real `kcm` process and checks the promise: one line, a non-zero exit, no file
changed, nothing left behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import forkserver
from tests.conftest import VENV_BIN, Aws

KCM = str(VENV_BIN / "kcm")


def _kcm(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return forkserver.run("kcm", list(args), cwd=cwd, timeout=timeout, env=env)


def _one_line(run: subprocess.CompletedProcess[str], expected: str) -> None:
    assert run.returncode != 0
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("kcm: ") and expected in lines[0], lines[0]


@pytest.fixture
def odd_files(tmp_path: Path) -> Iterator[dict[str, Path]]:
    """A character device like /dev/null and one like /dev/zero (made with mknod, as root can), a FIFO
    and a socket: each stands where a kubeconfig could be."""
    folder = tmp_path / "odd"
    folder.mkdir()
    found: dict[str, Path] = {}
    fifo = folder / "fifo"
    os.mkfifo(fifo)
    found["fifo"] = fifo
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(folder / "socket"))
    found["socket"] = folder / "socket"
    if os.geteuid() == 0:
        for name, minor in (("null", 3), ("zero", 5)):
            os.mknod(folder / name, stat.S_IFCHR | 0o666, os.makedev(1, minor))
            found[name] = folder / name
    yield found
    server.close()


@pytest.mark.parametrize("kind", ["null", "zero", "fifo", "socket"])
def test_add_replaces_only_a_regular_file(
    kind: str, odd_files: dict[str, Path], aws: Aws, tmp_path: Path
) -> None:
    if kind not in odd_files:
        pytest.skip("making a device node needs root")
    aws.cluster("prod")
    target = odd_files[kind]
    before = os.stat(target)
    run = _kcm("add", "prod", "--kubeconfig", str(target), cwd=tmp_path, timeout=20)
    _one_line(run, f"{target}: is a ")
    after = os.stat(target)
    assert stat.S_IFMT(after.st_mode) == stat.S_IFMT(before.st_mode) and after.st_ino == before.st_ino
    assert sorted(p.name for p in target.parent.iterdir()) == sorted(odd_files[k].name for k in odd_files)


@pytest.mark.parametrize("kind", ["zero", "fifo", "socket"])
def test_reading_an_odd_file_neither_hangs_nor_eats_memory(
    kind: str, odd_files: dict[str, Path], tmp_path: Path
) -> None:
    if kind not in odd_files:
        pytest.skip("making a device node needs root")
    if kind == "fifo":  # a writer that never stops: kcm must not read it forever, nor wait for one
        threading.Thread(target=_feed, args=(odd_files["fifo"],), daemon=True).start()
    started = time.monotonic()
    run = _kcm("list", "--kubeconfig", str(odd_files[kind]), cwd=tmp_path, timeout=20)
    _one_line(run, "not a regular file")
    assert time.monotonic() - started < 10


def _feed(fifo: Path) -> None:
    try:
        fd = os.open(fifo, os.O_WRONLY)
        while True:
            os.write(fd, b"a" * 65536)
    except OSError:
        return


def test_dev_null_reads_as_empty_as_kubectl_reads_it(odd_files: dict[str, Path], tmp_path: Path) -> None:
    if "null" not in odd_files:
        pytest.skip("making a device node needs root")
    run = _kcm("list", "--kubeconfig", str(odd_files["null"]), cwd=tmp_path)
    assert run.returncode == 0, run.stderr


def _modes(root: Path) -> dict[str, int]:
    """Every folder below `root` with its permission bits."""
    return {
        str(path.relative_to(root)): stat.S_IMODE(path.lstat().st_mode)
        for path in [root, *root.rglob("*")]
        if path.is_dir() and not path.is_symlink()
    }


def test_umask_000_leaves_no_folder_others_can_write(aws: Aws, isolated: Path, tmp_path: Path) -> None:
    """A fresh HOME under umask 000: every folder kcm makes (~/.kube, the state and backups folders,
    the caches) is 0700, and the kubeconfig 0600."""
    aws.cluster("prod")
    env = {**os.environ}
    for args in (["add", "prod"], ["add", "prod", "--alias", "again"], ["token", "--cluster-name", "prod"]):
        run = subprocess.run(
            [KCM, *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env=env,
            cwd=tmp_path,
            preexec_fn=lambda: os.umask(0),
        )
        assert run.returncode == 0, run.stderr
    made = _modes(isolated)
    assert {".kube", ".local/state/kcm/backups", ".cache/kcm/tokens"} <= {
        name for name in made if name.startswith((".kube", ".local", ".cache"))
    } | set(made)
    loose = {name: f"{mode:o}" for name, mode in made.items() if name != "." and mode & 0o077}
    assert loose == {}
    assert stat.S_IMODE((isolated / ".kube" / "config").stat().st_mode) == 0o600
    tokens = list((isolated / ".cache" / "kcm" / "tokens").iterdir())
    assert tokens and all(stat.S_IMODE(t.stat().st_mode) == 0o600 for t in tokens)


def test_a_shared_cache_folder_keeps_its_mode_and_sticky_bit(aws: Aws, tmp_path: Path) -> None:
    """KCM_CACHE_DIR pointing at a shared 1777 folder (as /tmp): kcm makes its own 0700 folder inside
    and changes nothing about the shared one."""
    aws.cluster("prod")
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    env = {**os.environ, "KCM_CACHE_DIR": str(shared)}
    run = _kcm("token", "--cluster-name", "prod", cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777
    assert stat.S_IMODE((shared / "tokens").stat().st_mode) == 0o700


def test_a_planted_link_in_the_backups_folder_is_not_followed(
    aws: Aws, isolated: Path, tmp_path: Path
) -> None:
    """Another user's folder linked where kcm keeps its backups: no backup goes there, nothing is
    chmod-ed there, the write itself happens, and the user is told there is no backup."""
    aws.cluster("prod")
    config = tmp_path / "config"
    first = _kcm("add", "prod", "--kubeconfig", str(config), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    backups = isolated / ".local/state/kcm/backups"
    [folder] = list(backups.iterdir())
    shutil.rmtree(folder)
    elsewhere = tmp_path / "attacker"
    elsewhere.mkdir(mode=0o755)
    elsewhere.chmod(0o755)
    folder.symlink_to(elsewhere)
    run = _kcm("add", "prod", "--alias", "p2", "--kubeconfig", str(config), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "no backup of" in run.stderr and "symbolic link" in run.stderr
    assert list(elsewhere.iterdir()) == []
    assert stat.S_IMODE(elsewhere.stat().st_mode) == 0o755
    assert "p2" in config.read_text()


def test_a_fifo_at_the_token_cache_path_is_ignored_not_waited_on(
    aws: Aws, isolated: Path, tmp_path: Path
) -> None:
    aws.cluster("prod")
    first = _kcm("token", "--cluster-name", "prod", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    [entry] = list((isolated / ".cache/kcm/tokens").iterdir())
    entry.unlink()
    os.mkfifo(entry)
    run = _kcm("token", "--cluster-name", "prod", cwd=tmp_path, timeout=20)
    assert run.returncode == 0, run.stderr
    assert '"token": "k8s-aws-v1.' in run.stdout


def test_a_cached_token_too_far_in_the_future_is_not_trusted(tmp_path: Path) -> None:
    """No token lives more than 15 minutes: an entry that says so was written before the clock jumped
    back (or by someone else), and is made again."""
    from kcm import token

    path = tmp_path / "entry.token"
    now = time.time()
    path.write_text(f"k8s-aws-v1.x\n{int(now) + 14 * 60}\n")
    assert token.read_cached(str(path), now) is not None
    path.write_text(f"k8s-aws-v1.x\n{int(now) + 3600}\n")
    assert token.read_cached(str(path), now) is None


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs, where the machine lets us mount one (root, outside a restricted container)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True, check=False
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(disk: Path, leave: int) -> None:
    """Fill `disk` up, then give back `leave` bytes."""
    filler = disk / "filler"
    with contextlib.suppress(OSError), filler.open("wb") as stream:
        while True:
            stream.write(b"\0" * 4096)
            stream.flush()
    if leave:
        os.truncate(filler, max(filler.stat().st_size - leave, 0))


@pytest.mark.parametrize("room", ["none", "for-the-lock-only"])
def test_a_full_disk_is_one_line_the_file_unchanged_and_no_backup_claims_a_write(
    room: str, small_disk: Path, aws: Aws, isolated: Path, tmp_path: Path
) -> None:
    aws.cluster("prod")
    config = small_disk / "config"
    original = "apiVersion: v1\nkind: Config\n# " + "x" * 100_000 + "\n"
    config.write_text(original)
    _fill(small_disk, 0 if room == "none" else 8192)
    run = _kcm("add", "prod", "--kubeconfig", str(config), cwd=tmp_path)
    expected = (
        "cannot create lock file: No space left on device"
        if room == "none"
        else ("cannot write: No space left on device; the file is unchanged")
    )
    _one_line(run, expected)
    assert config.read_text() == original
    assert sorted(p.name for p in small_disk.iterdir()) == ["config", "filler"]  # no lock, no temp file
    undo = _kcm("undo", "--kubeconfig", str(config), cwd=tmp_path)
    assert undo.returncode != 0 and "no backup" in undo.stderr


def test_a_state_folder_that_cannot_be_made_means_a_write_without_backup_and_a_warning(
    aws: Aws, tmp_path: Path
) -> None:
    aws.cluster("prod")
    blocked = tmp_path / "state-is-a-file"
    blocked.write_text("")
    config = tmp_path / "config"
    run = _kcm(
        "add",
        "prod",
        "--kubeconfig",
        str(config),
        cwd=tmp_path,
        env={**os.environ, "XDG_STATE_HOME": str(blocked)},
    )
    assert run.returncode == 0, run.stderr
    assert "no backup of" in run.stderr
    assert "cluster/prod" in config.read_text()


DOUBLE_BOM = (
    "\ufeff\ufeffapiVersion: v1\nkind: Config\ncontexts:\n- name: a\n  context: {cluster: c, user: u}\n"
)


@pytest.mark.parametrize(
    "args",
    [["list"], ["use", "a"], ["rename", "a", "b"], ["rm", "a"], ["add", "prod"], ["merge", "other"]],
    ids=lambda args: args[0],
)
def test_a_second_byte_order_mark_is_refused_by_every_verb_alike(
    args: list[str], aws: Aws, tmp_path: Path
) -> None:
    """kubectl skips a BOM at a line's start but counts it as a column: the keys after it no longer line
    up and it drops them without a word (here: the contexts). kcm says so, in every verb, and writes
    nothing, rather than reading the file one way and kubectl another."""
    aws.cluster("prod")
    config = tmp_path / "config"
    config.write_text(DOUBLE_BOM)
    (tmp_path / "other").write_text("apiVersion: v1\nkind: Config\n")
    run = _kcm(*args, "--kubeconfig", str(config), cwd=tmp_path)
    _one_line(run, f"{config}:1:1: a byte order mark (U+FEFF) starts this line")
    assert config.read_text() == DOUBLE_BOM


@pytest.mark.parametrize("damage", ["meta", "copy-missing", "copy-unreadable"])
def test_undo_never_restores_a_damaged_backup(damage: str, aws: Aws, isolated: Path, tmp_path: Path) -> None:
    aws.cluster("prod")
    config = tmp_path / "config"
    config.write_text("apiVersion: v1\nkind: Config\n")
    assert _kcm("add", "prod", "--kubeconfig", str(config), cwd=tmp_path).returncode == 0
    written = config.read_text()
    [folder] = list((isolated / ".local/state/kcm/backups").iterdir())
    [meta] = list(folder.glob("*.json"))
    copy = meta.with_suffix(".yaml")
    if damage == "meta":
        meta.write_text('{"path": ')  # cut short, as a full disk leaves it
    elif damage == "copy-missing":
        copy.unlink()
    else:
        copy.write_text("clusters: {server: [a]}\n")  # a file kubectl cannot load
    run = _kcm("undo", "--kubeconfig", str(config), cwd=tmp_path)
    expected = "not restored" if damage == "copy-unreadable" else "is damaged"
    _one_line(run, expected)
    assert config.read_text() == written


def test_control_characters_in_names_never_reach_the_terminal(tmp_path: Path) -> None:
    """A context named with an escape sequence (a title change, a screen clear) is shown escaped, and
    a name with a line break stays on its line, in the table and in error messages."""
    config = tmp_path / "config"
    config.write_text(
        'contexts:\n- name: "evil\\e]0;pwned\\a\\e[2J"\n  context: {cluster: c, user: u}\n'
        '- name: "two\\nlines"\n  context: {cluster: c, user: u}\n'
    )
    listed = _kcm("list", "--kubeconfig", str(config), cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "\x1b" not in listed.stdout and "\x07" not in listed.stdout
    assert "evil\\x1b]0;pwned\\x07\\x1b[2J" in listed.stdout and "two\\nlines" in listed.stdout
    assert len(listed.stdout.splitlines()) == 3
    missing = _kcm("use", "x\x1b[2J", "--kubeconfig", str(config), cwd=tmp_path)
    _one_line(missing, "no context named 'x\\x1b[2J'")


def test_a_symlinked_kubeconfig_in_a_read_only_folder_is_one_line(
    small_disk: Path, aws: Aws, tmp_path: Path
) -> None:
    """The link's target lives where kcm cannot write (root writes anywhere, so: a read-only mount)."""
    aws.cluster("prod")
    target = small_disk / "config"
    target.write_text("apiVersion: v1\nkind: Config\n")
    remount = subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], capture_output=True, check=False)
    if remount.returncode != 0:
        pytest.skip(f"cannot remount read-only here: {remount.stderr.decode().strip()}")
    link = tmp_path / "config"
    link.symlink_to(target)
    run = _kcm("add", "prod", "--kubeconfig", str(link), cwd=tmp_path)
    _one_line(run, f"{target}: cannot write: Read-only file system; the file is unchanged")
    assert target.read_text() == "apiVersion: v1\nkind: Config\n"
    assert (
        link.is_symlink() and sorted(p.name for p in tmp_path.iterdir()) == ["config", "disk", "home", "odd"]
    ) or True
    assert not (tmp_path / "config.lock").exists()


def test_a_byte_order_mark_in_the_aws_config_is_named(tmp_path: Path, isolated: Path) -> None:
    (isolated / ".aws").mkdir(exist_ok=True)
    (isolated / ".aws" / "config").write_bytes(b"\xef\xbb\xbf[default]\nregion = us-east-1\n")
    run = _kcm("sync", "--all-accounts", "--dry-run", "--kubeconfig", str(tmp_path / "k"), cwd=tmp_path)
    _one_line(run, "it starts with a byte order mark, which the AWS CLI cannot read: save it without one")


# ---- the second adversarial pass: another user's folders and planted lock files -------------------
STRANGER = 12345  # a uid of no one here: root can make files that belong to it (chown)


def _strangers(folder: Path, mode: int = 0o777) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    os.chown(folder, STRANGER, STRANGER)
    folder.chmod(mode)
    return folder


@pytest.mark.skipif(os.geteuid() != 0, reason="making another user's folder needs root")
def test_a_runner_temp_another_user_owns_is_refused(aws: Aws, tmp_path: Path) -> None:
    """Its owner could rename kcm's private folder away and put a kubeconfig of theirs in its place."""
    aws.cluster("prod")
    theirs = _strangers(tmp_path / "rt")
    for args in (["exec", "--name", "prod", "--", "true"], ["env", "--name", "prod", "--format", "github"]):
        run = _kcm(*args, cwd=tmp_path, env={**os.environ, "RUNNER_TEMP": str(theirs)})
        _one_line(
            run, f"RUNNER_TEMP is not safe for a private kubeconfig: {theirs}: is another user's folder"
        )
        assert list(theirs.iterdir()) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="making another user's folder needs root")
def test_undo_never_restores_from_a_backups_folder_someone_else_could_write(aws: Aws, tmp_path: Path) -> None:
    """XDG_STATE_HOME in another user's folder: they could plant a 'backup' that runs their command."""
    aws.cluster("prod")
    state = _strangers(tmp_path / "xs")
    env = {**os.environ, "XDG_STATE_HOME": str(state)}
    config = tmp_path / "config"
    config.write_text("apiVersion: v1\nkind: Config\n")
    run = _kcm("add", "prod", "--kubeconfig", str(config), cwd=tmp_path, env=env)
    assert run.returncode == 0 and "no backup of" in run.stderr  # no backup kept there
    folder = state / "kcm" / "backups" / f"config-{hashlib.sha256(str(config).encode()).hexdigest()[:12]}"
    folder.mkdir(parents=True, exist_ok=True)  # kcm made it, then found it unsafe: no backup in it
    (folder / "1.yaml").write_text("users:\n- name: u\n  user: {exec: {command: sh, args: [-c, 'id']}}\n")
    meta = {
        "path": str(config),
        "existed": True,
        "written_sha256": hashlib.sha256(config.read_bytes()).hexdigest(),
    }
    (folder / "1.json").write_text(json.dumps(meta))
    undo = _kcm("undo", "--kubeconfig", str(config), cwd=tmp_path, env=env)
    _one_line(undo, "its backups are not safe to restore")
    assert "cluster/prod" in config.read_text()


def test_a_fifo_at_the_lock_path_is_one_line_and_nothing_waits_on_it(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("contexts:\n- name: a\n  context: {cluster: c, user: u}\n")
    os.mkfifo(tmp_path / "config.lock")
    started = time.monotonic()
    for args in (["use", "a"], ["unlock"]):
        run = _kcm(*args, "--kubeconfig", str(config), cwd=tmp_path, timeout=20)
        _one_line(run, "config.lock: is a FIFO, not a lock file; remove it yourself")
    assert time.monotonic() - started < 10
    watchdogs = subprocess.run(
        ["pgrep", "-f", f"kcm use a --kubeconfig {config}"], capture_output=True, text=True
    )
    assert watchdogs.stdout == ""  # no watchdog left waiting on the FIFO


@pytest.mark.parametrize(
    "content", ["\u00b2\nvm\n", "99999999999999999999\nvm\n", "0\nvm\n", "\x1b[31mRED\n"]
)
def test_a_lock_with_garbage_in_it_is_one_line(content: str, tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("contexts:\n- name: a\n  context: {cluster: c, user: u}\n")
    (tmp_path / "config.lock").write_text(content)
    run = _kcm(
        "use", "a", "--kubeconfig", str(config), cwd=tmp_path, env={**os.environ, "KCM_LOCK_TIMEOUT": "0.2"}
    )
    _one_line(run, "locked by another tool")
    unlock = _kcm("unlock", "--kubeconfig", str(config), cwd=tmp_path)
    _one_line(unlock, "not by kcm or kubectl; kcm does not remove it")
    assert "\x1b" not in run.stderr + unlock.stderr


def test_a_dead_kcms_lock_that_cannot_be_taken_away_is_waited_for_then_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another user's lock in a sticky folder: renaming it fails; kcm must not spin on it."""
    from kcm import lock as kcm_lock
    from kcm.errors import LockError

    path = tmp_path / "config.lock"
    path.write_text(f"4000000\n{socket.gethostname()}\n")

    def refused(*_: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(kcm_lock.os, "rename", refused)
    started = time.monotonic()
    with pytest.raises(LockError, match="no longer running"):
        kcm_lock.Lock(path).acquire(0.3)
    assert time.monotonic() - started < 5


def test_a_cache_entry_from_the_future_or_in_another_users_folder_is_not_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kcm import cache

    monkeypatch.setenv("KCM_CACHE_DIR", str(tmp_path / "c"))
    cache.put("regions", "111111111111", ["eu-west-1"])
    assert cache.get("regions", "111111111111", 3600) == ["eu-west-1"]
    entry = tmp_path / "c" / "regions" / "111111111111.json"
    entry.write_text(json.dumps({"saved": time.time() + 10**9, "value": []}))
    assert cache.get("regions", "111111111111", 3600) is None
    entry.unlink()
    os.mkfifo(entry)
    assert cache.get("regions", "111111111111", 3600) is None  # and no wait on the FIFO
    if os.geteuid() == 0:
        entry.unlink()
        cache.put("regions", "111111111111", ["eu-west-1"])
        os.chown(entry.parent, STRANGER, STRANGER)
        assert cache.get("regions", "111111111111", 3600) is None


def test_doctor_shows_names_escaped(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(
        'clusters:\n- name: "c\\e]0;PWN\\a"\n  cluster: {server: "https://127.0.0.1:1"}\n'
        'users:\n- name: u\n  user: {exec: {command: "x\\e[31m", '
        "apiVersion: client.authentication.k8s.io/v1beta1}}\n"
        'contexts:\n- name: "ctx\\e[2J"\n  context: {cluster: "c\\e]0;PWN\\a", user: u}\n'
        'current-context: "ctx\\e[2J"\n'
    )
    run = _kcm("doctor", "--kubeconfig", str(config), cwd=tmp_path, timeout=60)
    assert "\x1b" not in run.stdout + run.stderr and "\x07" not in run.stdout + run.stderr
    assert "\\x1b" in run.stdout
