"""`kcm current` and the cache behind it and `kcm use` (kcm.quick): right after any change by any tool,
and at the cost of a file read when nothing changed."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kcm import kubeconfig, quick
from tests import forkserver

from .test_contexts import MANY

KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not on PATH")
KCM = str(Path(sys.executable).parent / "kcm")


def kcm(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return forkserver.run("kcm", list(args), env=env, timeout=60)


def imported(*args: str) -> set[str]:
    """The modules a kcm command imports (it runs in a process of its own)."""
    code = (
        "import sys, runpy; sys.argv = ['kcm', *sys.argv[1:]]\n"
        "from kcm import main\n"
        "try:\n    main.fast(sys.argv[1:])\nfinally:\n    sys.stderr.write(' '.join(sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60)
    return set(done.stderr.split())


HEAVY = {"yaml", "typer", "boto3", "botocore", "kcm.kubeconfig", "dataclasses", "typing"}


def test_current_prints_the_current_context_and_its_namespace(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(MANY + "current-context: prod\n")
    assert kcm("current", "--kubeconfig", str(config)).stdout == "prod\n"
    assert kcm("current", "--namespace", "--kubeconfig", str(config)).stdout == "default\n"
    with_namespace = MANY.replace(
        "- name: prod\n  context: {cluster: c, user: u}",
        "- name: prod\n  context: {cluster: c, user: u, namespace: shop}",
    )
    config.write_text(with_namespace + "current-context: prod\n")
    assert kcm("current", "--namespace", "--kubeconfig", str(config)).stdout == "shop\n"
    config.write_text(MANY)
    unset = kcm("current", "--kubeconfig", str(config))
    assert (unset.returncode, unset.stdout, unset.stderr) == (1, "", "kcm: current-context is not set\n")


def test_current_follows_the_kubeconfig_list_as_kubectl_does(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.write_text(MANY)  # no current-context: the next file's wins
    second.write_text(MANY + "current-context: search-prod\n")
    env = {**os.environ, "KUBECONFIG": f"{tmp_path / 'missing'}:{first}:{second}"}
    assert kcm("current", env=env).stdout == "search-prod\n"
    if KUBECTL:
        view = subprocess.run([KUBECTL, "config", "current-context"], capture_output=True, text=True, env=env)
        assert view.stdout == "search-prod\n"


def test_current_is_right_after_any_change_and_costs_a_read_when_there_is_none(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(MANY + "current-context: prod\n")
    args = ("current", "--kubeconfig", str(config))
    assert kcm(*args).stdout == "prod\n"  # parsed, and kept
    assert not HEAVY & imported(*args)  # the same bytes: read, not parsed
    # the same size and the same modification time: only the bytes tell
    stamp = os.stat(config)
    config.write_text(MANY + "current-context: dev1\n")
    os.utime(config, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert os.stat(config).st_size == stamp.st_size
    assert kcm(*args).stdout == "dev1\n"


def test_a_damaged_or_foreign_cache_is_never_believed(tmp_path: Path, isolated: Path) -> None:
    config = tmp_path / "config"
    config.write_text(MANY + "current-context: prod\n")
    args = ("current", "--kubeconfig", str(config))
    assert kcm(*args).stdout == "prod\n"
    [record] = (isolated / ".cache/kcm/kubeconfigs").iterdir()
    assert oct(record.stat().st_mode & 0o777) == "0o600"
    assert oct(record.parent.stat().st_mode & 0o777) == "0o700"
    data = bytearray(record.read_bytes())
    for position in (0, 20, len(data) // 2, len(data) - 1):  # any byte changed: a checksum mismatch
        damaged = bytearray(data)
        damaged[position] ^= 0xFF
        record.write_bytes(bytes(damaged))
        assert kcm(*args).stdout == "prod\n"
    record.write_bytes(data[:10])
    assert kcm(*args).stdout == "prod\n"
    record.parent.chmod(0o777)  # a folder others can write: its records are not read
    record.write_bytes(data)
    config.write_text(MANY + "current-context: dev1\n")
    assert kcm(*args).stdout == "dev1\n"


def test_current_runs_no_exec_plugin_and_reports_a_broken_file_in_one_line(tmp_path: Path) -> None:
    ran = tmp_path / "ran"
    config = tmp_path / "config"
    api = "client.authentication.k8s.io/v1beta1"
    plugin = f"users:\n- name: u\n  user: {{exec: {{apiVersion: {api}, command: touch, args: ['{ran}']}}}}\n"
    config.write_text(MANY + plugin + "current-context: prod\n")
    assert kcm("current", "--kubeconfig", str(config)).stdout == "prod\n"
    assert not ran.exists()
    config.write_text("clusters: [\n")
    broken = kcm("current", "--kubeconfig", str(config))
    assert broken.returncode == 2 and broken.stderr.count("\n") == 1 and str(config) in broken.stderr
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    done = kcm("current", "--kubeconfig", str(fifo))
    assert done.returncode == 2 and "FIFO" in done.stderr


# ---- kcm use, by the cache ------------------------------------------------------------------------
NAMES = [
    "prod",
    "a: b",
    "yes",
    "on",
    "123",
    "0x1F",
    "- x",
    "#hash",
    "it's",
    'say "hi"',
    "arn:aws:eks:eu-west-1:111111111111:cluster/web",
    "ünï cödé",
    "tab\there",
    "[x]",
    "{y}",
    "a,b",
    "~",
    "",
]
LAYOUTS = [
    "current-context: {current}\n",
    "current-context: {current}  # where we are\n",
    "current-context: '{current}'\n",
    'current-context: "{current}"\n',
    "current-context:   {current}\n",
    "current-context: {current}\r\n",
]


def _file(current: str, names: list[str], layout: str, flow_root: bool) -> str:
    flow = kubeconfig.yamltext.flow
    if flow_root:
        inner = ", ".join(f"{{name: {flow(n)}, context: {{cluster: c, user: u}}}}" for n in names)
        return f"{{apiVersion: v1, kind: Config, contexts: [{inner}], current-context: {flow(current)}}}\n"
    contexts = "".join(f"- name: {flow(n)}\n  context: {{cluster: c, user: u}}\n" for n in names)
    value = flow(current)
    if "'{current}'" in layout and current.isprintable():
        value = current.replace("'", "''")
    elif '"{current}"' in layout and current.isprintable() and not set(current) & set('"\\'):
        value = current
    else:
        layout = layout.replace("'{current}'", "{current}").replace('"{current}"', "{current}")
    return f"apiVersion: v1\nkind: Config\ncontexts:\n{contexts}" + layout.format(current=value)


@pytest.mark.parametrize("flow_root", [False, True], ids=["block", "flow"])
def test_the_cached_edit_is_byte_for_byte_the_full_edit(flow_root: bool) -> None:
    """What `kcm use` writes from the cache equals what kcm.kubeconfig's edit writes, for names that
    need every kind of quoting, in every layout of the current-context line."""
    rng = random.Random(17)  # noqa: S311 - a fixed sample of cases, not a secret
    names = [name for name in NAMES if name]
    checked = 0
    for layout in LAYOUTS:
        for _ in range(12):
            current, wanted = rng.sample(names, 2)
            text = _file(current, names, layout, flow_root)
            facts = quick._parse("t", text.encode(), quick.digest(text.encode()))
            doc = kubeconfig.loads(text, "t")
            assert facts.current == current
            doc.set("current-context", wanted)
            full = doc.dump()
            if facts.span is None:
                continue
            start, end = facts.span
            assert text[:start] + facts.contexts[wanted][3] + text[end:] == full, (layout, current, wanted)
            checked += 1
    assert checked >= 40


@pytest.mark.parametrize(
    "text",
    [
        "contexts: [{name: a, context: {}}]\ncurrent-context: &x a\nx: *x\n",  # an anchor
        "contexts: [{name: a, context: {}}]\ncurrent-context:\n",  # empty: an insertion, not a swap
        "contexts: [{name: a, context: {}}]\ncurrent-context: |\n  a\n",  # a block scalar
        "contexts: [{name: a, context: {}}]\ncurrent-context: 'a\n  b'\n",  # two lines
        "contexts: [{name: a, context: {}}]\n",  # no current-context at all
        "contexts: [{name: a, context: {}}]\ncurrent-context: b\ncurrent-context: a\n",  # twice
        "\ufeffcontexts: [{name: a, context: {}}]\ncurrent-context: a\n",  # a byte order mark
        "contexts: [{name: a, context: {}}]\ncurrent-context: !!str a\n",  # a tag
    ],
)
def test_unusual_layouts_are_left_to_the_full_edit(text: str) -> None:
    assert quick._parse("t", text.encode(), b"").span is None


def test_use_and_use_dash_switch_from_the_cache_and_kubectl_reads_the_result(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("# mine\n" + MANY + "current-context: prod  # keep this\n")
    args = ("--kubeconfig", str(config))
    assert kcm("use", "search-prod", *args).stdout == 'Switched to context "search-prod".\n'
    for expected in ("prod", "search-prod", "prod"):
        modules = imported("use", "-", *args)
        assert not HEAVY & modules, HEAVY & modules
        assert kcm("current", *args).stdout == f"{expected}\n"
    assert config.read_text() == "# mine\n" + MANY + "current-context: prod  # keep this\n"
    if KUBECTL:
        env = {**os.environ, "KUBECONFIG": str(config)}
        view = subprocess.run([KUBECTL, "config", "current-context"], capture_output=True, text=True, env=env)
        assert view.stdout == "prod\n"
        subprocess.run(
            [KUBECTL, "config", "use-context", "search-prod"], check=True, env=env, capture_output=True
        )
        assert kcm("current", *args).stdout == "search-prod\n"  # kubectl's write: parsed again
        assert kcm("use", "-", *args).stdout == 'Switched to context "prod".\n'


def test_use_from_the_cache_takes_kubectls_lock_and_no_undo_step(tmp_path: Path, isolated: Path) -> None:
    config = tmp_path / "config"
    config.write_text(MANY + "current-context: prod\n")
    args = ("--kubeconfig", str(config))
    assert kcm("use", "search-prod", *args).returncode == 0
    assert kcm("current", *args).stdout == "search-prod\n"
    lock = tmp_path / "config.lock"
    lock.write_text("")  # kubectl holds it
    env = {**os.environ, "KCM_LOCK_TIMEOUT": "0.3"}
    held = kcm("use", "-", *args, env=env)
    assert held.returncode == 4 and "locked by kubectl" in held.stderr
    assert kcm("current", *args).stdout == "search-prod\n"
    lock.unlink()
    assert kcm("use", "-", *args).returncode == 0
    assert not lock.exists()
    assert not list(tmp_path.glob(".config*"))  # no temporary file left
    backups = isolated / ".local/state/kcm/backups"
    assert not backups.exists() or not any(backups.rglob("*.json"))


def test_a_file_changed_under_the_cache_is_edited_from_its_new_text(tmp_path: Path) -> None:
    """Another tool rewrites the file (the cache no longer matches): the full edit runs, on its text."""
    config = tmp_path / "config"
    config.write_text(MANY + "current-context: prod\n")
    args = ("--kubeconfig", str(config))
    assert kcm("use", "search-prod", *args).returncode == 0
    config.write_text(
        "# added by hand\n"
        + config.read_text().replace("current-context: search-prod", "current-context: 'dev1'")
    )
    # dev1 was set by another tool after kcm's switch to search-prod: `-` goes back to that
    assert kcm("use", "-", *args).stdout == 'Switched to context "search-prod".\n'
    text = config.read_text()
    assert text.startswith("# added by hand\n") and "current-context: search-prod\n" in text


def test_the_cache_tidies_itself_when_it_parses(tmp_path: Path, isolated: Path) -> None:
    """A record not read for a month, and a temporary file whose writer died, go at the next parse."""
    config = tmp_path / "config"
    config.write_text(MANY + "current-context: prod\n")
    assert kcm("current", "--kubeconfig", str(config)).stdout == "prod\n"
    folder = isolated / ".cache/kcm/kubeconfigs"
    old, temp, fresh = folder / ("0" * 20), folder / ".x.999999999.tmp", folder / ("1" * 20)
    for path in (old, temp, fresh):
        path.write_bytes(b"x")
    month = 31 * 24 * 3600
    os.utime(old, (os.stat(old).st_atime - month, os.stat(old).st_mtime - month))
    config.write_text(MANY + "current-context: dev1\n")  # new bytes: a parse
    assert kcm("current", "--kubeconfig", str(config)).stdout == "dev1\n"
    assert not old.exists() and not temp.exists() and fresh.exists()


# ---- found by an adversarial pass ---------------------------------------------------------------------
def test_use_dash_is_exactly_the_context_remembered_never_a_part_of_a_name(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(MANY + "current-context: payments-prod\n")
    args = ("--kubeconfig", str(config))
    assert kcm("use", "prod", *args).returncode == 0
    assert kcm("use", "search-prod", *args).returncode == 0  # remembered: prod
    config.write_text(config.read_text().replace("- name: prod\n", "- name: prod-gone\n"))
    gone = kcm("use", "-", *args)
    assert gone.returncode == 2 and "no context named 'prod'" in gone.stderr
    assert "current-context: search-prod" in config.read_text()


def test_names_with_line_breaks_survive_the_memory_of_use_dash(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(
        MANY.replace("- name: prod\n", '- name: "pr\\nod\\\\n"\n') + "current-context: search-prod\n"
    )
    args = ("--kubeconfig", str(config))
    assert kcm("use", "pr\nod\\n", *args).returncode == 0
    assert kcm("use", "-", *args).stdout == 'Switched to context "search-prod".\n'
    back = kcm("use", "-", *args)
    assert back.returncode == 0 and back.stdout == 'Switched to context "pr\\nod\\n".\n'  # escaped
    assert kcm("current", *args).stdout == "pr\nod\\n\n"  # the name itself, as data


def test_a_surrogate_escape_is_refused_as_kubectl_refuses_it(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text('contexts:\n- name: "x\\ud800"\n  context: {}\ncurrent-context: "x\\ud800"\n')
    done = kcm("current", "--kubeconfig", str(config))
    assert done.returncode == 2
    reason = "invalid YAML: found invalid Unicode character escape code (a UTF-16 surrogate)"
    assert done.stderr == f"kcm: {config}:2:9: {reason}\n"
    if KUBECTL:
        view = subprocess.run(
            [KUBECTL, "config", "view", "--context", "nonexistent", "--kubeconfig", str(config)],
            capture_output=True,
            text=True,
        )
        assert view.returncode != 0 and "invalid Unicode character escape code" in view.stderr


def test_a_fifo_among_the_backups_never_holds_a_switch(tmp_path: Path, isolated: Path) -> None:
    config = tmp_path / "config"
    config.write_text(MANY + "current-context: prod\n")
    args = ("--kubeconfig", str(config))
    assert kcm("rename", "search-prod", "search", *args).returncode == 0  # a change: one backup
    [record] = (isolated / ".local/state/kcm/backups").glob("*/*.json")
    record.unlink()
    os.mkfifo(record)
    assert kcm("use", "search", *args).returncode == 0  # under the lock: must not wait on the FIFO
    listed = kcm("undo", "--list", *args)
    assert listed.returncode == 0 and "damaged" in listed.stdout
    assert not (tmp_path / "config.lock").exists()


def test_a_temporary_file_a_killed_switch_left_in_the_state_folder_goes(
    tmp_path: Path, isolated: Path
) -> None:
    config = tmp_path / "config"
    config.write_text(MANY + "current-context: prod\n")
    args = ("--kubeconfig", str(config))
    assert kcm("use", "search-prod", *args).returncode == 0
    [remembered] = (isolated / ".local/state/kcm/previous").iterdir()
    stale = remembered.with_name(f".{remembered.name}.kcm-999999999-00000000.tmp")
    stale.write_text("x")
    assert kcm("use", "-", *args).returncode == 0
    assert not stale.exists()
