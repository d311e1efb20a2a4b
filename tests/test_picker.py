"""`kcm use` with no name, on a pseudo-terminal: kcm's own list and fzf's, the pick, a cancel, a
signal, a small terminal, a thousand names; and the names one a line when no one is at a terminal."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import VENV_BIN
from tests.terminal import Terminal, raw, write_config

NAMES = ["payments-prod", "payments-staging", "search-prod", "lab"]


def env_for(tmp_path: Path, config: Path, **extra: str) -> dict[str, str]:
    """The test's environment, with no fzf on PATH (unless a test puts its fake one first)."""
    path = [part for part in os.environ["PATH"].split(os.pathsep) if not (Path(part) / "fzf").exists()]
    return {
        **os.environ,
        "PATH": os.pathsep.join(path),
        "KUBECONFIG": str(config),
        "TERM": "xterm",
        "LANG": "C.UTF-8",
        **extra,
    }


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config"
    write_config(path, NAMES, current="search-prod")
    return path


def test_the_list_marks_the_current_context_filters_as_you_type_and_enter_picks(
    tmp_path: Path, config: Path
) -> None:
    with Terminal("use", env=env_for(tmp_path, config)) as term:
        first = term.wait_for(lambda screen: any("payments-prod" in line for line in screen))
        assert raw(term.mode())
        assert first[0] == "Context>"
        assert first[1].startswith("  4/4")
        assert first[2:6] == ["    payments-prod", "    payments-staging", "> * search-prod", "    lab"]
        term.press("STAG")  # a part, case aside, as `kcm use PART` matches
        term.wait_for(lambda screen: screen[0] == "Context> STAG" and len(screen) == 3)
        assert term.screen()[2] == ">   payments-staging"
        term.press("\r")
        assert term.finish() == 0
        assert term.stdout == 'Switched to context "payments-staging".\n'  # stdout has that and nothing else
        assert term.mode() == term.mode_before
    assert "current-context: payments-staging" in config.read_text()


def test_arrows_and_ctrl_keys_move_and_the_previous_context_is_remembered(
    tmp_path: Path, config: Path
) -> None:
    env = env_for(tmp_path, config)
    with Terminal("use", env=env) as term:
        term.wait_for(lambda screen: "> * search-prod" in screen)
        term.press("\x1b[A")  # up
        term.wait_for(lambda screen: ">   payments-staging" in screen)
        term.press("\x0e\x0e")  # Ctrl-N twice: down past search-prod to lab
        term.wait_for(lambda screen: ">   lab" in screen)
        term.press("\x10")  # Ctrl-P
        term.wait_for(lambda screen: "> * search-prod" in screen)
        term.press("\x1b[B\r")  # down, Enter
        assert term.finish() == 0
        assert term.stdout == 'Switched to context "lab".\n'
    back = subprocess.run([str(VENV_BIN / "kcm"), "use", "-"], env=env, capture_output=True, text=True)
    assert back.stdout == 'Switched to context "search-prod".\n'


@pytest.mark.parametrize("key", ["\x1b", "\x03"])  # Esc, Ctrl-C
def test_esc_or_ctrl_c_cancels_with_130_and_changes_nothing(tmp_path: Path, config: Path, key: str) -> None:
    before = config.read_text()
    with Terminal("use", env=env_for(tmp_path, config)) as term:
        term.wait_for(lambda screen: "> * search-prod" in screen)
        term.press("pay\x1b[B")  # a query and a move, then given up
        term.wait_for(lambda screen: ">   payments-staging" in screen)
        term.press(key)
        assert term.finish() == 130
        assert term.mode() == term.mode_before
        assert term.stdout == ""
        assert "kcm: no context picked; nothing changed" in term.screen_bytes.decode()
    assert config.read_text() == before


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_puts_the_terminal_back_before_it_ends_kcm(
    tmp_path: Path, config: Path, number: signal.Signals
) -> None:
    before = config.read_text()
    with Terminal("use", env=env_for(tmp_path, config)) as term:
        term.wait_for(lambda screen: "> * search-prod" in screen)
        assert raw(term.mode())
        term.process.send_signal(number)
        assert term.finish() == -number  # ended by the signal, as if kcm had not caught it
        assert term.mode() == term.mode_before
        assert term.screen_bytes.endswith(b"\x1b[?1049l")  # the shell's screen is back
    assert config.read_text() == before


def test_a_thousand_names_on_a_small_terminal_show_a_window_that_follows_the_selection(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config"
    names = [f"cluster-{n:04d}-with-a-long-name-that-does-not-fit" for n in range(1000)]
    write_config(config, names, current="cluster-0500-with-a-long-name-that-does-not-fit")
    with Terminal("use", env=env_for(tmp_path, config), rows=8, columns=30) as term:
        screen = term.wait_for(lambda screen: any(line.startswith("> *") for line in screen))
        assert len(screen) == 8 and all(len(line) < 30 for line in screen)
        assert screen[1].startswith("  1000/1000")
        assert screen[-1].startswith("> * cluster-0500") and screen[-1].endswith("…")
        term.press("\x1b[6~")  # page down: six names on
        term.wait_for(lambda screen: screen[-1].startswith(">   cluster-0506"))
        term.press("07")  # names holding "07": the selection moves to the first
        screen = term.wait_for(lambda screen: screen[0] == "Context> 07")
        holding = sum("07" in name for name in names)  # 0007, 0070-0079, 0107, 0207, ..., 0700-0799
        assert screen[1].startswith(f"  {holding}/1000")
        assert screen[2].startswith(">   cluster-0007")
        term.press("\x7f\x7f" + "0999")  # Backspace twice, then one name's number
        term.wait_for(
            lambda screen: screen[0] == "Context> 0999" and screen[2].startswith(">   cluster-0999")
        )
        term.press("\r")
        assert term.finish() == 0
        assert term.stdout == 'Switched to context "cluster-0999-with-a-long-name-that-does-not-fit".\n'
        assert term.mode() == term.mode_before


def test_a_query_nothing_matches_shows_no_names_and_enter_waits(tmp_path: Path, config: Path) -> None:
    with Terminal("use", env=env_for(tmp_path, config)) as term:
        term.wait_for(lambda screen: "> * search-prod" in screen)
        term.press("zzz")
        term.wait_for(lambda screen: screen[0] == "Context> zzz" and screen[1].startswith("  0/4"))
        term.press("\r")  # nothing to pick: still there
        term.press("\x15lab")  # Ctrl-U clears the query
        term.wait_for(lambda screen: screen[0] == "Context> lab" and ">   lab" in screen)
        term.press("\r")
        assert term.finish() == 0 and term.stdout == 'Switched to context "lab".\n'


def test_a_name_with_escape_sequences_is_shown_escaped_and_picked_as_it_is(tmp_path: Path) -> None:
    config = tmp_path / "config"
    contexts = '- name: "evil\\e[2Jname"\n  context: {cluster: c, user: u}\n'
    config.write_text(f"apiVersion: v1\nkind: Config\ncontexts:\n{contexts}")
    with Terminal("use", env=env_for(tmp_path, config)) as term:
        term.wait_for(lambda screen: ">   evil\\x1b[2Jname" in screen)
        term.press("\r")
        assert term.finish() == 0
    assert yaml.safe_load(config.read_text())["current-context"] == "evil\x1b[2Jname"


def fake_fzf(folder: Path, pick: str, status: int = 0) -> Path:
    """An fzf that records how it was run and what it was given, then prints `pick`."""
    folder.mkdir(exist_ok=True)
    script = folder / "fzf"
    script.write_text(
        "#!/bin/sh\n"
        f'printf "%s\\n" "$@" > "{folder}/args"\n'
        f'cat > "{folder}/input"\n'
        f"printf '%s\\n' '{pick}'\n"
        f"exit {status}\n"
    )
    script.chmod(0o755)
    return folder


def test_fzf_on_path_is_run_as_kubectx_runs_it_and_its_pick_is_used(tmp_path: Path, config: Path) -> None:
    bin_dir = fake_fzf(tmp_path / "bin", "payments-staging")
    env = env_for(tmp_path, config)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    with Terminal("use", env=env) as term:
        assert term.finish() == 0
        assert term.stdout == 'Switched to context "payments-staging".\n'
    assert (bin_dir / "args").read_text() == "--ansi\n--no-preview\n"
    given = (bin_dir / "input").read_text()
    assert (
        given == "payments-prod\npayments-staging\n\x1b[1;32msearch-prod\x1b[0m\nlab\n"
    )  # the current one bold green
    assert "current-context: payments-staging" in config.read_text()


@pytest.mark.parametrize("status", [130, 1])  # Esc or Ctrl-C in fzf; no line matched
def test_fzf_cancelled_changes_nothing(tmp_path: Path, config: Path, status: int) -> None:
    before = config.read_text()
    bin_dir = fake_fzf(tmp_path / "bin", "", status)
    env = env_for(tmp_path, config)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    with Terminal("use", env=env) as term:
        assert term.finish() == 130
        assert term.stdout == ""
    assert config.read_text() == before


def test_kcm_ignore_fzf_uses_kcms_own_list(tmp_path: Path, config: Path) -> None:
    bin_dir = fake_fzf(tmp_path / "bin", "lab")
    env = env_for(tmp_path, config, KCM_IGNORE_FZF="1")
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    with Terminal("use", env=env) as term:
        term.wait_for(lambda screen: "> * search-prod" in screen)
        term.press("\r")
        assert term.finish() == 0
        assert term.stdout == 'Switched to context "search-prod".\n'
    assert not (bin_dir / "args").exists()


def test_not_on_a_terminal_the_names_one_a_line(tmp_path: Path, config: Path) -> None:
    bin_dir = fake_fzf(tmp_path / "bin", "lab")  # on PATH, yet not run: no one to pick
    env = env_for(tmp_path, config)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    before = config.read_text()
    done = subprocess.run([str(VENV_BIN / "kcm"), "use"], env=env, capture_output=True, text=True)
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout == "".join(f"{name}\n" for name in NAMES)
    assert (
        done.stdout
        == subprocess.run(
            [str(VENV_BIN / "kcm"), "list", "-o", "name"], env=env, capture_output=True, text=True
        ).stdout
    )
    assert config.read_text() == before and not (bin_dir / "args").exists()


def test_no_contexts_to_pick_from_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("apiVersion: v1\nkind: Config\n")
    with Terminal("use", env=env_for(tmp_path, config)) as term:
        assert term.finish() == 1
        assert (
            term.screen_bytes.decode().replace("\r\n", "\n") == f"kcm: no contexts to pick from in {config}\n"
        )


def test_no_fzf_on_this_path() -> None:
    """The tests of kcm's own list run without fzf: env_for takes it off PATH."""
    assert shutil.which("fzf", path=env_for(Path("/"), Path("/"))["PATH"]) is None


@pytest.mark.parametrize(
    ("rows", "expected"), [(1, ["Context>   -> search-prod"]), (2, ["Context>", "> * search-prod"])]
)
def test_a_terminal_of_one_or_two_lines_still_shows_what_enter_picks(
    tmp_path: Path, config: Path, rows: int, expected: list[str]
) -> None:
    with Terminal("use", env=env_for(tmp_path, config), rows=rows, columns=40) as term:
        assert term.wait_for(lambda screen: "search-prod" in screen[-1]) == expected
        term.press("\x1b[A\r")
        assert term.finish() == 0 and term.stdout == 'Switched to context "payments-staging".\n'
