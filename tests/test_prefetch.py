"""The early parse of a big kubeconfig in a forked child: used only when it parsed exactly the text."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from kcm import kubeconfig, prefetch

ENTRY = """- name: c{n}
  cluster: {{server: 'https://c{n}.example', certificate-authority-data: {pad}}}
"""


def big(tmp_path: Path, clusters: int = 200, head: str = "") -> tuple[Path, str]:
    text = head + "apiVersion: v1\nkind: Config\nclusters:\n"
    text += "".join(ENTRY.format(n=n, pad="QUJD" * 400) for n in range(clusters))
    text += "current-context: c1  # a comment\n"
    path = tmp_path / "config"
    path.write_text(text)
    assert path.stat().st_size >= prefetch.MIN_BYTES
    return path, text


def test_the_childs_data_is_what_loads_reads(tmp_path: Path) -> None:
    path, text = big(tmp_path)
    with prefetch.prefetch(path) as early:
        assert early.data(text) == kubeconfig.loads(text).original
        assert early.data(text) is not None  # asked again: the same answer, no second read


def test_a_byte_order_mark_and_anchors_parse_as_in_loads(tmp_path: Path) -> None:
    path, text = big(tmp_path, head="\ufeff")
    text += "users:\n- name: a\n  user: &shared {token: x}\n- name: b\n  user: *shared\n"
    path.write_text(text)
    with prefetch.prefetch(path) as early:
        assert early.data(text) == kubeconfig.loads(text).original


def test_text_changed_since_the_child_read_it_means_no_data(tmp_path: Path) -> None:
    path, text = big(tmp_path)
    with prefetch.prefetch(path) as early:
        assert early.data(text.replace("c1  #", "c2  #")) is None
    with prefetch.prefetch(path) as early:
        assert early.data(None) is None  # the file is gone by the time the lock is held


def test_bad_yaml_means_no_data_so_the_caller_reports_it(tmp_path: Path) -> None:
    path, text = big(tmp_path)
    path.write_text(text + "clusters: [duplicate\n")
    with prefetch.prefetch(path) as early:
        assert early.data(path.read_text()) is None


def test_small_or_missing_files_start_no_child(tmp_path: Path) -> None:
    small = tmp_path / "small"
    small.write_text("apiVersion: v1\nkind: Config\n")
    for path in (small, tmp_path / "missing"):
        with prefetch.prefetch(path) as early:
            assert early._pid is None
            assert early.data(small.read_text()) is None


def test_a_child_whose_data_is_never_asked_for_is_ended_and_reaped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As when the AWS scan fails: the child is killed, not waited for, and leaves no zombie."""
    path, _ = big(tmp_path, clusters=2000)
    killed: list[tuple[int, int]] = []
    kill = os.kill
    monkeypatch.setattr(os, "kill", lambda pid, number: killed.append((pid, number)) or kill(pid, number))
    with prefetch.prefetch(path) as early:
        pid = early._pid
        assert pid is not None
    assert killed == [(pid, signal.SIGKILL)]
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def test_a_child_whose_data_was_read_is_reaped_not_killed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, text = big(tmp_path)
    monkeypatch.setattr(os, "kill", lambda pid, number: pytest.fail("killed a child that had finished"))
    with prefetch.prefetch(path) as early:
        pid = early._pid
        assert pid is not None and early.data(text) is not None
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
