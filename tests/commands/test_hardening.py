"""Hostile and unlucky conditions: odd file types, killed process groups, umask 000, full disks.

Each case runs the real `kcm` process and checks the promise: one line, a non-zero exit, no file
changed, nothing left behind.
"""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import VENV_BIN, Aws

KCM = str(VENV_BIN / "kcm")


def _kcm(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [KCM, *args], capture_output=True, text=True, cwd=cwd, timeout=timeout, check=False, env=env
    )


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
