"""The store against real peers: kubectl's lock, crashes at any moment, many writers at once."""

from __future__ import annotations

import contextlib
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
import yaml

from kcm import store
from tests.conftest import VENV_BIN, Aws

KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not on PATH")
START = "# shared by kcm and kubectl\napiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n"


def kcm(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(VENV_BIN / "kcm"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def kubectl_until_done(config: Path, *args: str) -> subprocess.Popen[str]:
    """kubectl fails at once on a held lock; a script around it retries, as CI scripts do."""
    steps = " ".join(args).split(" && ")
    script = "".join(
        f"for i in $(seq 1 600); do out=$({KUBECTL} --kubeconfig {config} {step} 2>&1) && break;"
        ' case "$out" in *"file exists"*) sleep 0.02;; *) echo "$out" >&2; exit 1;; esac; done;'
        for step in steps
    )
    return subprocess.Popen(["bash", "-c", script + " exit 0"], stderr=subprocess.PIPE, text=True)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith((".lock", ".tmp")))


@needs_kubectl
def test_kubectl_cannot_write_while_kcm_holds_the_lock(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(START)
    with store.edit(config) as current:
        assert current.text == START
        blocked = subprocess.run(
            [str(KUBECTL), "--kubeconfig", str(config), "config", "set-context", "x", "--cluster=y"],
            capture_output=True,
            text=True,
            check=False,
        )
        current.new_text = START + "# kcm\n"
    assert blocked.returncode != 0
    assert "config.lock: file exists" in blocked.stderr
    assert config.read_text() == START + "# kcm\n"
    assert leftovers(tmp_path) == []


def test_kcm_waits_for_a_lock_held_by_another_writer(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(START)
    lock = tmp_path / "config.lock"
    lock.write_text("")  # what kubectl leaves while it writes: an empty file
    releaser = subprocess.Popen(["bash", "-c", f"sleep 0.5; rm -f {lock}"])
    started = time.monotonic()
    with store.edit(config) as current:
        waited = time.monotonic() - started
        current.new_text = START + "# after the wait\n"
    releaser.wait()
    assert waited >= 0.4
    assert config.read_text().endswith("# after the wait\n")


def test_a_lock_whose_holder_is_dead_is_reclaimed(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(START)
    dead = subprocess.Popen(["true"])
    dead.wait()
    (tmp_path / "config.lock").write_text(f"{dead.pid}\n{os.uname().nodename}\n")
    with store.edit(config, timeout=5) as current:
        current.new_text = START + "# reclaimed\n"
    assert config.read_text().endswith("# reclaimed\n")
    assert leftovers(tmp_path) == []


def test_a_holder_seen_dead_only_after_it_released_costs_the_next_holder_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A waiter reads who holds the lock, and is descheduled (a loaded machine) while that holder
    releases it, ends and is reaped, and another kcm takes the lock. Its late verdict "dead" must not
    move the new holder's lock away, not even for the moment before linking it back: a third writer
    (kubectl, another kcm) would get in there beside the holder and write over its change."""
    from kcm import lock as kcm_lock
    from kcm.errors import LockError

    lock_path = tmp_path / "config.lock"
    host = os.uname().nodename
    first = subprocess.Popen(["true"])  # the holder the waiter read: ended by the time it is judged
    first.wait()
    lock_path.write_text(f"{first.pid}\n{host}\n")
    live = subprocess.Popen(["sleep", "30"])  # the kcm that took the lock meanwhile
    real_alive, real_rename = kcm_lock.alive, os.rename
    intruders: list[str] = []

    def late_alive(pid: int) -> bool:
        if pid == first.pid and f"{live.pid}\n" not in lock_path.read_text():
            lock_path.unlink()  # the first holder's release, then the next one's lock
            (tmp_path / "next").write_text(f"{live.pid}\n{host}\n")
            os.link(tmp_path / "next", lock_path)
        return real_alive(pid)

    def rename(source: object, destination: object) -> None:
        real_rename(source, destination)  # type: ignore[arg-type]
        if Path(str(source)) == lock_path:  # what a kubectl starting right now would do
            try:
                os.close(os.open(lock_path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0))
            except FileExistsError:
                return
            intruders.append("a third writer took the lock while the live holder still held it")
            lock_path.unlink()

    monkeypatch.setattr(kcm_lock, "alive", late_alive)
    monkeypatch.setattr(os, "rename", rename)
    try:
        with pytest.raises(LockError, match=rf"PID {live.pid} on .*, running"):
            kcm_lock.Lock(lock_path).acquire(0.3)
        assert intruders == []
        assert lock_path.read_text() == f"{live.pid}\n{host}\n"
    finally:
        live.kill()
        live.wait()


def test_a_lock_held_too_long_is_named_in_one_line(aws: Aws, tmp_path: Path) -> None:
    aws.cluster("prod")
    config = tmp_path / "config"
    config.write_text(START)
    holder = subprocess.Popen(["sleep", "30"])
    try:
        (tmp_path / "config.lock").write_text(f"{holder.pid}\n{os.uname().nodename}\n")
        run = subprocess.run(
            [str(VENV_BIN / "kcm"), "add", "prod", "--kubeconfig", str(config)],
            capture_output=True,
            text=True,
            env={**os.environ, "KCM_LOCK_TIMEOUT": "1"},
            check=False,
        )
    finally:
        holder.kill()
        holder.wait()
    assert run.returncode == 4
    host = os.uname().nodename
    assert re.fullmatch(
        rf"kcm: {re.escape(str(config))}\.lock: locked by kcm \(PID {holder.pid} on {host}, running\) "
        r"for \ds; waited 1s \(`kcm unlock` removes it if no kcm or kubectl is running\)",
        run.stderr.strip(),
    ), run.stderr
    assert config.read_text() == START


@needs_kubectl
@pytest.mark.slow
def test_sigkill_at_any_moment_leaves_a_readable_file_and_nothing_else(aws: Aws, tmp_path: Path) -> None:
    for name in ("a", "b", "c"):
        aws.cluster(name)
    config = tmp_path / "config"
    config.write_text(START)
    rng = random.Random(7)  # noqa: S311 (kill times, not secrets)
    for attempt in range(24):
        process = kcm("add", "abc"[attempt % 3], "--alias", f"ctx{attempt}", "--kubeconfig", str(config))
        time.sleep(rng.uniform(0.0, 1.2))
        process.send_signal(signal.SIGKILL)
        process.wait()
        deadline = time.monotonic() + 2
        while leftovers(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.01)  # the watchdog wakes when the pipe closes
        assert leftovers(tmp_path) == [], f"attempt {attempt}"
        view = subprocess.run(
            [str(KUBECTL), "--kubeconfig", str(config), "config", "view", "-o", "json"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert view.returncode == 0, view.stderr
        assert config.read_text().startswith("# shared by kcm and kubectl\n")


@needs_kubectl
@pytest.mark.slow
def test_twelve_kcm_and_six_kubectl_writers_lose_no_entry(aws: Aws, tmp_path: Path) -> None:
    for index in range(12):
        aws.cluster(f"c{index}")
    config = tmp_path / "config"
    config.write_text(START)
    writers = [kcm("add", f"c{i}", "--alias", f"kcm-{i}", "--kubeconfig", str(config)) for i in range(12)]
    # The six kubectl writers run alongside kcm, one after another. kubectl (client-go ModifyConfig)
    # reads the file before its lock, and under the lock deletes whatever the file has that its first
    # read had not: a kcm write that lands between the two is taken for entries the user removed, and
    # undone whole. Two kubectls at once lose each other's entries that way (3 runs in 15 with kubectl
    # alone); one kubectl and kcm lose kcm's (about 1 run in 10 on a loaded 2-core machine). That race is
    # kubectl's: kcm reads under the lock, so it never drops anything kubectl (or another kcm) wrote.
    kubectls = [
        kubectl_until_done(
            config,
            *(f"config set-context kubectl-{i} --cluster=c{i} --user=u{i} &&" for i in range(5)),
            "config set-context kubectl-5 --cluster=c5 --user=u5",
        )
    ]
    for process in writers:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    for process in kubectls:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    text = config.read_text()
    data = yaml.safe_load(text)
    names = {context["name"] for context in data["contexts"]}
    assert {f"kubectl-{i}" for i in range(6)} <= names  # kcm lost nothing of kubectl's
    lost = {f"kcm-{i}" for i in range(12)} - names
    assert lost <= undone_by_kubectl(aws.home, text)  # kcm lost nothing of its own
    assert len(data["clusters"]) == 12 - len(lost)
    assert leftovers(tmp_path) == []


def undone_by_kubectl(home: Path, final: str) -> set[str]:
    """The contexts kcm wrote that a kubectl write removed, told from kcm's backups: in lock order, the
    text each kcm read under the lock, and its command, so what each kcm left is known (what it read,
    and its context). Between one kcm's write and the next kcm's read (or the end), a context kcm left
    can go only in a kubectl write, which brings a kubectl context of its own; gone without one, kcm
    itself lost it (two kcm writers in the lock at once)."""
    import json

    def contexts(text: str | None) -> set[str]:
        return {entry["name"] for entry in (yaml.safe_load(text or "") or {}).get("contexts") or []}

    (folder,) = (home / ".local/state/kcm/backups").iterdir()
    steps = []
    for meta_path in sorted(folder.glob("*.json")):
        words = json.loads(meta_path.read_text())["command"].split()
        before = meta_path.with_suffix(".yaml")
        steps.append(
            (contexts(before.read_text() if before.exists() else None), words[words.index("--alias") + 1])
        )
    undone: set[str] = set()
    for (read, added), seen in zip(steps, [read for read, _ in steps[1:]] + [contexts(final)], strict=True):
        left = read | {added}
        if gone := left - seen:
            assert any(name.startswith("kubectl-") for name in seen - left), (
                f"{sorted(gone)} lost between two kcm writes, with no kubectl write between them"
            )
            undone |= gone
    return undone


@needs_kubectl
@pytest.mark.slow
@pytest.mark.parametrize("watchdog", ["fork", "spawn"])
@pytest.mark.parametrize("number", [signal.SIGKILL, signal.SIGQUIT], ids=["KILL", "QUIT"])
def test_a_signal_to_the_whole_process_group_leaves_no_lock(
    number: int, watchdog: str, aws: Aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a cancelled CI job, `timeout -s KILL` or an OOM kill of the group do, sent while kcm holds
    the lock: the watchdog lives in a session of its own and cleans up; kubectl can write at once.
    Both watchdogs: forked (Linux, macOS) and spawned (Windows; forced here with KCM_WATCHDOG)."""
    monkeypatch.setenv("KCM_WATCHDOG", watchdog)
    aws.cluster("a")
    config = tmp_path / "config"
    # big enough that kcm holds the lock for a while (it parses and checks the file under it)
    config.write_text(START + "".join(f"# {'x' * 60}\n" for _ in range(20000)))
    lock = tmp_path / "config.lock"
    for attempt in range(6):
        process = subprocess.Popen(
            [str(VENV_BIN / "kcm"), "add", "a", "--alias", f"g{attempt}", "--kubeconfig", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own group, as a CI job's shell is: killpg reaches all of it
        )
        deadline = time.monotonic() + 30
        while not lock.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.001)
        held = lock.exists()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, number)
        process.wait()
        deadline = time.monotonic() + 3
        while leftovers(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert leftovers(tmp_path) == [], f"attempt {attempt} (killed {'in' if held else 'outside'} the lock)"
        edit = subprocess.run(
            [
                str(KUBECTL),
                "--kubeconfig",
                str(config),
                "config",
                "set-context",
                f"k{attempt}",
                "--cluster=x",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert edit.returncode == 0, edit.stderr
        config.write_text(START + "".join(f"# {'x' * 60}\n" for _ in range(20000)))


@pytest.mark.slow
def test_a_kcm_lock_is_never_seen_empty(aws: Aws, tmp_path: Path) -> None:
    """The lock file appears with its holder written in it (a hard link to a finished file): a reader
    never finds a kcm lock that names no one, so one left by a crash can always be reclaimed."""
    for index in range(6):
        aws.cluster(f"c{index}")
    config = tmp_path / "config"
    config.write_text(START)
    lock = tmp_path / "config.lock"
    seen: list[bytes] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            with contextlib.suppress(FileNotFoundError):
                seen.append(lock.read_bytes())

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        writers = [kcm("add", f"c{i}", "--alias", f"w{i}", "--kubeconfig", str(config)) for i in range(6)]
        for process in writers:
            _, err = process.communicate(timeout=120)
            assert process.returncode == 0, err
    finally:
        stop.set()
        watcher.join()
    assert seen, "the watcher saw no lock at all"
    assert all(re.fullmatch(rb"\d+\n[^\n]+\n", content) for content in seen), {c for c in seen}


def test_an_old_empty_lock_is_named_at_once_and_kcm_unlock_removes_it(aws: Aws, tmp_path: Path) -> None:
    aws.cluster("prod")
    config = tmp_path / "config"
    config.write_text(START)
    lock = tmp_path / "config.lock"
    lock.write_text("")
    old = time.time() - 300
    os.utime(lock, (old, old))
    started = time.monotonic()
    run = subprocess.run(
        [str(VENV_BIN / "kcm"), "add", "prod", "--kubeconfig", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert time.monotonic() - started < 10  # not the 30 s timeout
    assert run.returncode == 4
    assert re.fullmatch(
        rf"kcm: {re.escape(str(lock))}: an empty lock file left 30\ds ago, most likely by a kubectl that "
        r"crashed while writing; `kcm unlock` removes it",
        run.stderr.strip(),
    ), run.stderr
    unlock = subprocess.run(
        [str(VENV_BIN / "kcm"), "unlock", "--kubeconfig", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert unlock.returncode == 0, unlock.stderr
    assert "removed, it was held by kubectl (an empty lock file)" in unlock.stdout
    assert not lock.exists()
    assert config.read_text() == START


def test_kcm_unlock_never_removes_a_live_holders_lock(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(START)
    lock = tmp_path / "config.lock"
    holder = subprocess.Popen(["sleep", "30"])
    try:
        lock.write_text(f"{holder.pid}\n{os.uname().nodename}\n")
        run = subprocess.run(
            [str(VENV_BIN / "kcm"), "unlock", "--kubeconfig", str(config)],
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        holder.kill()
        holder.wait()
    assert run.returncode == 4
    assert "running) for" in run.stderr and "not removed" in run.stderr
    assert lock.exists()
    again = subprocess.run(
        [str(VENV_BIN / "kcm"), "unlock", "--kubeconfig", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert again.returncode == 0 and "no longer running" in again.stdout and not lock.exists()


@pytest.mark.parametrize("value", ["abc", "nan", "-1", "inf-ish"])
def test_a_bad_lock_timeout_is_one_line(value: str, aws: Aws, tmp_path: Path) -> None:
    aws.cluster("prod")
    config = tmp_path / "config"
    config.write_text(START)
    run = subprocess.run(
        [str(VENV_BIN / "kcm"), "add", "prod", "--kubeconfig", str(config)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "KCM_LOCK_TIMEOUT": value},
    )
    assert run.returncode == 2
    assert run.stderr == f"kcm: KCM_LOCK_TIMEOUT={value!r}: give a number of seconds, 0 or more\n"
    assert config.read_text() == START


def test_a_filesystem_without_hard_links_still_gets_a_lock_that_names_its_holder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Some FUSE, SMB and vfat mounts refuse link(): kcm then creates the lock as kubectl does."""
    import errno

    from kcm import lock as kcm_lock

    def no_links(*_: object) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(kcm_lock.os, "link", no_links)
    path = tmp_path / "config.lock"
    held = kcm_lock.Lock(path)
    held.acquire(1)
    assert path.read_text() == f"{os.getpid()}\n{socket.gethostname()}\n"
    other = kcm_lock.Lock(path)
    with pytest.raises(kcm_lock.LockError):
        other.acquire(0.1)
    held.release()
    assert not path.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["home"]  # no temporary file left either


def _steps_kept(config: Path, writes: int, padding: str = "") -> list[str]:
    for number in range(writes):
        with store.edit(config) as current:
            current.new_text = f"{START}{padding}# write {number}\n"
    copies = sorted(store._backup_folder(config).glob("*.yaml"), reverse=True)  # newest first
    return [copy.read_text() for copy in copies]


def test_twenty_steps_are_kept(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(START)
    kept = _steps_kept(config, 25)
    assert len(kept) == store.BACKUPS_KEPT == 20
    assert kept[0].endswith("# write 23\n") and kept[-1].endswith("# write 4\n")  # newest first


def test_past_five_steps_older_ones_go_once_the_backups_pass_the_size_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config"
    config.write_text(START)
    padding = f"# {'x' * 10_000}\n"  # a step: 10 KB of copy, a few hundred bytes of record
    monkeypatch.setattr(store, "BACKUP_BYTES", 85_000)
    assert len(_steps_kept(config, 12, padding)) == 8
    monkeypatch.setattr(store, "BACKUP_BYTES", 1)  # a file larger than the cap on its own
    assert len(_steps_kept(config, 3, padding)) == store.BACKUPS_MIN == 5


def test_a_write_without_backup_keeps_the_last_one_undoable(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(START)
    with store.edit(config) as current:
        current.new_text = START + "# a change\n"
    with store.edit(config, backup=False) as current:
        current.new_text = START + "# a change\n# a switch\n"
    assert len(list(store._backup_folder(config).glob("*.json"))) == 1
    store.undo(config)
    assert config.read_text() == START


def test_the_spawned_watchdog_runs_in_a_session_of_its_own_and_cleans_after_us(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Windows' watchdog (no fork there: `python -m kcm.watchdog`), run here on Linux."""
    from kcm import watchdog

    monkeypatch.setenv("KCM_WATCHDOG", "spawn")
    folder = tmp_path / "private"
    folder.mkdir()
    with watchdog.watching(("tree", str(folder))):
        spawned = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            with contextlib.suppress(OSError):
                words = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                if b"kcm.watchdog" in words and f"[{os.getpid()}, ".encode() in b" ".join(words):
                    spawned.append(int(pid))
        assert len(spawned) == 1
        assert os.getsid(spawned[0]) != os.getsid(0)  # out of our session: a signal to our group misses it
        assert folder.exists()
    assert not folder.exists()  # we let go of its pipe, as our death would: it cleaned up


def test_a_watchdog_that_cannot_start_stops_the_write_before_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without its watchdog a killed writer could leave the lock: no write goes ahead unwatched."""
    import sys

    from kcm.errors import WriteError

    config = tmp_path / "config"
    config.write_text(START)
    monkeypatch.setenv("KCM_WATCHDOG", "spawn")
    monkeypatch.setattr(sys, "executable", shutil.which("true"))  # a "Python" that ends at once
    refused = r"^cannot start kcm's watchdog \(.*true -m kcm.watchdog ended at once\)$"
    with pytest.raises(WriteError, match=refused), store.edit(config) as current:
        current.new_text = START + "# changed\n"
    assert config.read_text() == START and sorted(tmp_path.iterdir()) == [
        tmp_path / "config",
        tmp_path / "home",
    ]


def test_the_spawned_watchdog_never_runs_a_kcm_package_of_the_current_folder(tmp_path: Path) -> None:
    """`python -m` would look in the current folder first, where anyone may have put a `kcm/`."""
    planted = tmp_path / "kcm"
    planted.mkdir()
    marker = tmp_path / "ran"
    (planted / "__init__.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    config = tmp_path / "config"
    config.write_text(START.replace("contexts: []", "contexts:\n- name: a\n- name: b"))
    env = {**os.environ, "KCM_WATCHDOG": "spawn"}
    done = subprocess.run(
        [str(VENV_BIN / "kcm"), "use", "b", "--kubeconfig", "config"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, 'Switched to context "b".\n', "")
    assert not marker.exists()
