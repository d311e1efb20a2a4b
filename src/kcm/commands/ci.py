"""`kcm exec` and `kcm env`: a private, temporary kubeconfig for one job, never the user's own.

The file holds the entries `kcm add` writes for the same options (or one context exported from the
user's kubeconfig with `--context`), in a directory only its owner can enter (0700, file 0600). `exec`
removes it when the command ends, when kcm is interrupted (SIGINT, SIGTERM, SIGHUP: forwarded to the
command first), and, through a watchdog process, even when kcm itself is killed. `env` leaves it for the
shell that evals its output; `env --clean` removes those whose shell session has ended.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kcm import folders, kubeconfig, lock, store, watchdog
from kcm.errors import InputError, KcmError

ENV_PREFIX = "kcm-env-"
EXEC_PREFIX = "kcm-exec-"
_OWNER = "owner.json"
_FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@dataclass(frozen=True)
class JobOptions:
    """What goes into the file: `kcm add`'s options for one cluster, or a context of the user's."""

    name: str | None = None
    region: str | None = None
    profile: str | None = None
    role_arn: str | None = None
    assume_role_arn: str | None = None
    alias: str | None = None
    namespace: str | None = None
    context: str | None = None  # taken from the user's kubeconfig instead (read-only)
    kubeconfig: str | None = None  # where --context is read
    exec_plugin: str | None = None  # aws (the default) or kcm


def text(options: JobOptions) -> str:
    """The kubeconfig's text: one context, its cluster and user, current."""
    if options.context is not None:
        given = [flag for flag, value in _cluster_flags(options).items() if value is not None]
        if given:
            raise InputError(f"--context takes the context as it is: drop {', '.join(given)}")
        from kcm.commands import contexts

        exported = kubeconfig.loads(contexts.export([options.context], options.kubeconfig), "<export>")
        if options.namespace is not None:
            entry = exported.find("contexts", options.context)
            assert entry is not None
            exported.upsert("contexts", _in_namespace(entry, options.namespace))
        return exported.dump()
    if options.name is None:
        raise InputError("name the cluster (--name) or a context of your kubeconfig (--context)")
    from kcm.commands import add  # botocore: only for a cluster described on AWS

    _, entries = add.entries(
        add.AddOptions(
            name=options.name,
            region=options.region,
            profile=options.profile,
            role_arn=options.role_arn,
            assume_role_arn=options.assume_role_arn,
            alias=options.alias,
            exec_plugin=options.exec_plugin or "aws",
        )
    )
    context = (
        entries.context if options.namespace is None else _in_namespace(entries.context, options.namespace)
    )
    doc = kubeconfig.loads("", "<job>")
    for section, entry in (("clusters", entries.cluster), ("users", entries.user), ("contexts", context)):
        doc.upsert(section, entry)
    doc.set("current-context", context["name"])
    return doc.dump()


def _cluster_flags(options: JobOptions) -> dict[str, str | None]:
    return {
        "--name": options.name,
        "--region": options.region,
        "--profile": options.profile,
        "--role-arn": options.role_arn,
        "--assume-role-arn": options.assume_role_arn,
        "--token-helper": options.exec_plugin,
        "--alias": options.alias,
    }


def _in_namespace(context: dict[str, Any], namespace: str) -> dict[str, Any]:
    return {**context, "context": {**context["context"], "namespace": namespace}}


def base_dir() -> Path:
    """Where the private directories go: the CI runner's temp dir ($RUNNER_TEMP), else the platform's."""
    given = os.environ.get("RUNNER_TEMP")
    if not given:
        return _shared(Path(tempfile.gettempdir()), "the temporary folder")
    if not os.path.isdir(given):
        raise InputError(f"RUNNER_TEMP={given!r}: no such folder (the runner sets it; unset it to use /tmp)")
    return _shared(Path(given), "RUNNER_TEMP")


def _shared(base: Path, name: str) -> Path:
    """A base that no other user can rename kcm's private folder in (folders.shared_base)."""
    try:
        return folders.shared_base(base)
    except OSError as exc:
        raise InputError(f"{name} is not safe for a private kubeconfig: {exc}") from None


def _private_folder(prefix: str) -> Path:
    try:
        return Path(tempfile.mkdtemp(prefix=prefix, dir=base_dir()))  # 0700, a name no one can guess
    except OSError as exc:
        raise InputError(f"{base_dir()}: cannot make a private folder: {exc.strerror}") from None


def _private_file(folder: Path, content: str) -> Path:
    path = folder / "kubeconfig"
    store.write_atomic(path, content, mode=0o600)
    return path


def run(options: JobOptions, command: list[str]) -> int:
    """Run `command` with KUBECONFIG pointing at a private file; its exit status (128+N for signal N)."""
    if not command:
        raise InputError("name the command to run after --, e.g. kcm exec --name demo -- kubectl get pods")
    content = text(options)
    folder = _private_folder(EXEC_PREFIX)
    child: subprocess.Popen[bytes] | None = None
    early: list[int] = []  # signals that came before `child` was known: forwarded once it is

    def forward(number: int, _: Any) -> None:
        if child is None:
            early.append(number)
        elif child.poll() is None:
            child.send_signal(number)

    previous = {number: signal.signal(number, forward) for number in _FORWARDED}
    try:
        # the watchdog (in a session of its own) removes the folder if kcm's whole group is killed:
        # it is running before the file is written
        with watchdog.watching(("tree", str(folder))):
            path = _private_file(folder, content)
            if early:  # asked to stop before the command started: it is not started
                return 128 + early[0]
            try:
                child = subprocess.Popen(command, env={**os.environ, "KUBECONFIG": str(path)})
            except OSError as exc:
                failed = KcmError(f"{command[0]}: cannot run: {exc.strerror}")
                failed.exit_code = 127 if isinstance(exc, FileNotFoundError) else 126  # as a shell says
                raise failed from None
            # a signal that came while the command was being started (it may already be running, its
            # pid not yet known here: on a loaded machine, long enough for it to do its work) is its too
            while early:
                child.send_signal(early.pop(0))
            code = child.wait()
            return code if code >= 0 else 128 - code
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        for number, handler in previous.items():
            signal.signal(number, handler)


def env(options: JobOptions, *, shell_owned: bool = True) -> Path:
    """Write the file for a shell to use (`eval "$(kcm env ...)"`). It belongs to that shell's session
    (its terminal, its ssh login, its CI step), whose leader `clean` checks: a session's processes all
    share it, however kcm was started (directly or through pipx, uv, a wrapper script). Not
    `shell_owned` (GitHub's $GITHUB_ENV, read by later steps): left to the runner, which empties
    $RUNNER_TEMP after the job."""
    path = _private_file(_private_folder(ENV_PREFIX), text(options))
    if not shell_owned and ("\n" in str(path) or "\r" in str(path)):  # one line of $GITHUB_ENV each
        shutil.rmtree(path.parent, ignore_errors=True)
        raise InputError(f"{path.parent}: a line break in the path would split $GITHUB_ENV's line")
    owner = {"session": os.getsid(0) if shell_owned else None}
    store.write_atomic(path.parent / _OWNER, json.dumps(owner), mode=0o600)
    return path


def clean() -> list[Path]:
    """Remove the files `kcm env` wrote whose session has ended; the folders removed."""
    removed = []
    for folder in sorted(base_dir().glob(f"{ENV_PREFIX}*")):
        try:
            if folder.stat().st_uid != os.getuid() or not folder.is_dir():
                continue
            pid = json.loads((folder / _OWNER).read_text())["session"]
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not one of ours, or being written: left alone
        if isinstance(pid, int) and not lock.alive(pid):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed
