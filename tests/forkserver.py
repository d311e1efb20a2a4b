"""Python commands (the real `aws`, `kcm` itself) run for the tests without starting Python and importing
them each time.

Most of a short run of `aws` or `kcm` is the interpreter starting and importing botocore (a quarter to
half a second of CPU; hundreds of runs a suite). Here a server imports a command's modules once, then
for each run forks a runner, which forks the run: the run takes the caller's environment, folder, umask,
arguments and standard input, writes its output to files of its own, and does what the command's script
does. The runner waits for it (killing it at the caller's timeout) and answers with its exit status and
output, as `subprocess.run` gives them. The server runs one thread, so nothing it forks inherits a lock
another thread held; it ends with the test process, however that ends (it watches a pipe only the test
process holds), and removes its folder.

What a served run cannot be told from a fresh process: it is not the test process's child (nothing here
signals it, or waits for it by pid), and the modules its server imported are already imported (a test of
what a command imports runs the command itself). What a module reads from the environment when it is
imported is read at the server's start: such names are each command's `STARTUP`, left out of the server's
environment, and a run whose environment sets one runs as a fresh process instead. tests/test_forkserver.py
checks each command's answers are a fresh process's, byte for byte.

One server per command and interpreter environment per test process, on a Unix socket in a private folder.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
# What each served command's modules read from the environment when imported (read at the server's start).
STARTUP = {
    "aws": frozenset(),  # awscli's AWS_DATA_PATH: read again in each run (the module is reloaded)
    "kcm": frozenset(
        {"TYPER_USE_RICH", "TERMINAL_WIDTH", "_TYPER_FORCE_DISABLE_TERMINAL", "GITHUB_ACTIONS", "FORCE_COLOR"}
        | {"PY_COLORS"}
    ),
}
# What Python itself reads when it starts and only changes how it runs, not what it imports: a run is
# served by a server started with the same values of these (one is started for each set of values).
INTERPRETER = frozenset({"LANG", "LC_ALL", "LC_CTYPE", "PYTHONIOENCODING", "PYTHONUTF8"}) | {
    "PYTHONUNBUFFERED",
    "PYTHONDONTWRITEBYTECODE",
}
# A run whose environment sets a name of STARTUP, has no HOME, or differs from the test process's in any
# other PYTHON... name (PYTHONPATH: what it imports) runs as a fresh process.

# Standard input up to this size is a pipe, as subprocess.run(input=...) gives; more, a file.
_PIPE_BYTES = 32_768


# The server side: run as `python -P tests/forkserver.py ADDRESS COMMAND`.


def _preload(command: str) -> None:
    if command == "aws":
        sys.path.insert(0, str(BIN))  # the script's folder, first, as for the aws script
        # what the aws script imports (the run calls what it calls), and its plugins with every
        # customization, which each run would import again
        import awscli.clidriver
        import awscli.handlers  # noqa: F401
    else:
        # What kcm's runs import, found by comparing sys.modules before and after runs of each kind:
        # botocore for AWS; typer, with the pydantic, rich and typer._click parts it imports lazily,
        # for every command the fast door (kcm.main) does not serve; kcm's command modules.
        import zoneinfo  # noqa: F401

        import boto3  # noqa: F401 (kcm's commands import what they need when they run)
        import botocore.session  # noqa: F401
        import pydantic.json_schema
        import pydantic.main
        import pydantic.plugin._schema_validator
        import pydantic.type_adapter  # noqa: F401
        import rich._emoji_codes
        import rich.console
        import rich.markdown
        import rich.panel
        import rich.table  # noqa: F401
        import typer._adapters
        import typer._click._textwrap
        import typer._click.decorators
        import typer.rich_utils  # noqa: F401

        import kcm.cli
        import kcm.commands.add
        import kcm.commands.ci
        import kcm.commands.doctor
        import kcm.commands.merge
        import kcm.commands.sync
        import kcm.commands.undo
        import kcm.main
        import kcm.token  # noqa: F401


Places = list[tuple[Any, str, "int | None"]]


def _places(home: str) -> Places:
    """Where the imported modules hold a value made from HOME when they were imported (botocore's SSO
    and credential cache folders, the AWS CLI's ~/.kube/config): (holder, attribute, index of a
    function's default or None). The server runs with HOME a path of its own, found here."""
    found: Places = []

    def look(holder: Any, names: Any) -> None:
        for name, value in list(names.items()):
            if isinstance(value, str) and home in value:
                found.append((holder, name, None))
            elif isinstance(value, types.FunctionType):
                for index, default in enumerate(value.__defaults__ or ()):
                    if isinstance(default, str) and home in default:
                        found.append((value, "__defaults__", index))

    for module in list(sys.modules.values()):
        names = getattr(module, "__dict__", None)
        if not isinstance(names, dict):
            continue
        look(module, names)
        for value in list(names.values()):
            if isinstance(value, type) and getattr(value, "__module__", None) == module.__name__:
                look(value, vars(value))
    return found


def _rehome(places: Places, server_home: str) -> None:
    """The run's HOME where the server's was."""
    home = os.environ["HOME"]
    for holder, name, index in places:
        if index is None:
            setattr(holder, name, getattr(holder, name).replace(server_home, home))
        else:
            defaults = list(holder.__defaults__)
            defaults[index] = defaults[index].replace(server_home, home)
            holder.__defaults__ = tuple(defaults)


def _command(command: str, program: str, args: list[str]) -> int:
    """What the command's script does, in the run's process; its exit status."""
    sys.argv = [program, *args]
    if command == "aws":
        import importlib

        import awscli.clidriver

        if os.environ.get("LC_CTYPE", "") == "UTF-8":  # as the aws script does
            os.environ["LC_CTYPE"] = "en_US.UTF-8"
        importlib.reload(awscli)  # its import sets AWS_DATA_PATH from the environment
        return int(awscli.clidriver.main() or 0)
    import kcm.main

    kcm.main.main()  # ends the process itself
    return 0


def _run(command: str, request: dict[str, Any], stdin: int, out: int, err: int, places: Places) -> None:
    """The run's process: never returns."""
    code = 1
    try:
        os.chdir(request["cwd"])
        os.umask(request["umask"])
        server_home = os.environ["HOME"]
        os.environ.clear()
        os.environ.update(request["env"])
        _rehome(places, server_home)
        for fd, target in ((stdin, 0), (out, 1), (err, 2)):
            os.dup2(fd, target)
        os.closerange(3, 1 << 16)  # a fresh process has only its standard streams
        # the server's own streams, now on the run's files: made by its Python at its start from the
        # same environment (PYTHONIOENCODING, PYTHONUNBUFFERED, the locale), as the run's would be
        sys.stdin, sys.stdout, sys.stderr = sys.__stdin__, sys.__stdout__, sys.__stderr__
        try:
            code = _command(command, request["program"], request["args"])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
        except BaseException:
            import traceback

            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


def _runner(command: str, connection: socket.socket, places: Places) -> None:
    """The runner's process: one run, from request to answer; never returns."""
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        reader = connection.makefile("rb")
        request = json.loads(reader.readline())
        given = request["input"]
        data = given.encode("latin-1") if given is not None else None
        # The runner's own files, open until it ends (os._exit, below)
        out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()  # noqa: SIM115
        if data is None:
            stdin = os.open(os.devnull, os.O_RDONLY)
        elif len(data) <= _PIPE_BYTES:
            stdin, feed = os.pipe()
            os.write(feed, data)
            os.close(feed)
        else:
            held = tempfile.TemporaryFile()  # noqa: SIM115
            held.write(data)
            held.seek(0)
            stdin = held.fileno()
        pid = os.fork()
        if pid == 0:
            _run(command, request, stdin, out.fileno(), err.fileno(), places)
        killed: list[bool] = []

        def kill(*_: object) -> None:
            killed.append(True)
            os.kill(pid, signal.SIGKILL)

        signal.signal(signal.SIGALRM, kill)
        if request["timeout"]:
            signal.setitimer(signal.ITIMER_REAL, request["timeout"])
        _, status = os.waitpid(pid, 0)  # retried by Python across the alarm (PEP 475)
        signal.setitimer(signal.ITIMER_REAL, 0)
        out.seek(0)
        err.seek(0)
        answer = {
            "code": os.waitstatus_to_exitcode(status),
            "timed_out": bool(killed),
            "out": out.read().decode("latin-1"),
            "err": err.read().decode("latin-1"),
        }
        connection.sendall(json.dumps(answer).encode() + b"\n")
    finally:
        os._exit(0)


def _serve(address: str, command: str) -> None:
    _preload(command)
    places = _places(os.environ["HOME"])
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # runners are reaped as they end
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(address)
        listener.listen(64)
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        events = selectors.DefaultSelector()
        events.register(listener, selectors.EVENT_READ)
        events.register(0, selectors.EVENT_READ)  # the test process's end: EOF when it is gone
        try:
            while True:
                for key, _ in events.select():
                    if key.fileobj == 0:
                        if not os.read(0, 1 << 12):
                            return
                        continue
                    connection, _ = listener.accept()
                    if os.fork() == 0:
                        events.close()
                        listener.close()
                        _runner(command, connection, places)
                    connection.close()
        finally:
            for path in (address, os.path.dirname(address)):
                with contextlib.suppress(OSError):
                    os.unlink(path) if path == address else os.rmdir(path)


# The test process's side.

_lock = threading.Lock()
# (command, what Python reads from the environment) -> (the test process's pid, the server's address):
# a server per interpreter environment, so a run in an environment built from nothing is served too
_servers: dict[tuple[str, frozenset[tuple[str, str]]], tuple[int, str]] = {}


def _interpreter(env: Mapping[str, str]) -> dict[str, str]:
    return {key: value for key, value in env.items() if key in INTERPRETER}


def _imports(env: Mapping[str, str]) -> dict[str, str]:
    """The PYTHON... names that may change what Python imports (PYTHONPATH, PYTHONHOME, ...)."""
    return {key: value for key, value in env.items() if key.startswith("PYTHON") and key not in INTERPRETER}


def _servable(command: str, env: Mapping[str, str], imports: Mapping[str, str]) -> bool:
    """Whether a run in `env` can be served by a server whose Python imports as `imports` say."""
    return not (STARTUP[command] & env.keys()) and "HOME" in env and _imports(env) == imports


def _server(command: str, interpreter: dict[str, str]) -> str:
    """The address of the server of `command` whose Python read `interpreter` from its environment."""
    key = (command, frozenset(interpreter.items()))
    with _lock:
        pid, address = _servers.get(key, (None, ""))
        if pid != os.getpid():  # none yet, or a forked test process's parent's
            folder = tempfile.mkdtemp(prefix=f"kcm-{command}-served-")  # 0700
            address = os.path.join(folder, "socket")
            env = {
                key: value
                for key, value in os.environ.items()
                if key not in STARTUP[command] and key not in INTERPRETER
            }
            env.update(interpreter)
            env["HOME"] = os.path.join(folder, "home")  # a path no run has: where imports used it, _places
            server = subprocess.Popen(
                [sys.executable, "-P", __file__, address, command],
                stdin=subprocess.PIPE,  # its end of the test process: closed however that ends
                stdout=subprocess.PIPE,
                env=env,
                text=True,
            )
            assert server.stdout is not None and server.stdout.readline() == "ready\n"

            def stop() -> None:
                assert server.stdin is not None
                server.stdin.close()
                server.wait(timeout=30)

            atexit.register(stop)
            _servers[key] = (os.getpid(), address)
        return address


def run(
    command: str,
    args: list[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    input: str | None = None,
    timeout: float | None = None,
    check: bool = False,
) -> subprocess.CompletedProcess[str]:
    """`COMMAND ARGS...` as subprocess.run(capture_output=True, text=True) runs it; served where it can be."""
    program = str(BIN / command)
    environment = dict(os.environ if env is None else env)
    if not _servable(command, environment, _imports(os.environ)):
        return subprocess.run(
            [program, *args], env=environment, cwd=cwd, input=input, timeout=timeout, check=check,
            capture_output=True, text=True,
        )  # fmt: skip
    address = _server(command, _interpreter(environment))
    data = input.encode() if input is not None else None
    answer = _ask(address, program, args, environment, str(cwd or os.getcwd()), data, timeout)
    out, err = (_text(answer[key].encode("latin-1")) for key in ("out", "err"))
    if answer["timed_out"]:
        raise subprocess.TimeoutExpired([program, *args], timeout or 0, out, err)
    done = subprocess.CompletedProcess([program, *args], answer["code"], out, err)
    if check:
        done.check_returncode()
    return done


def _ask(
    address: str,
    program: str,
    args: list[str],
    env: Mapping[str, str],
    cwd: str,
    data: bytes | None,
    timeout: float | None,
) -> dict[str, Any]:
    """The server's answer to one run: its exit status, whether it timed out, its output."""
    umask = os.umask(0o77)
    os.umask(umask)
    request = {
        "program": program,
        "args": args,
        "env": dict(env),
        "cwd": cwd,
        "umask": umask,
        "input": data.decode("latin-1") if data is not None else None,
        "timeout": timeout,
    }
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.connect(address)
        connection.sendall(json.dumps(request).encode() + b"\n")
        reply = b""
        while not reply.endswith(b"\n"):
            received = connection.recv(1 << 16)
            if not received:
                break
            reply += received
    answer: dict[str, Any] = json.loads(reply)
    return answer


# A served command on PATH, for a program that runs the command itself: kubectl runs its exec plugin
# (`aws eks get-token`), kcm doctor runs `aws --version`.

_RELAY = """#!{python} -IS
import sys
sys.path.insert(0, {root!r})
from tests.forkserver import relay
relay({command!r}, {address!r}, {interpreter!r}, {imports!r})
"""


def on_path(command: str, folder: Path) -> str:
    """A PATH entry that holds `command` served by this test process's server: `folder`/COMMAND, a
    script that sends the server its arguments, environment, folder and umask, and answers with the
    run's output and exit status. Where run() would run a fresh process (the environment a server
    cannot serve), the script becomes the real command instead. Standard input is not passed: the run
    reads /dev/null (kubectl gives a non-interactive plugin nothing to read either)."""
    interpreter = _interpreter(os.environ)
    address = _server(command, interpreter)
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / command
    root = str(Path(__file__).resolve().parents[1])
    text = _RELAY.format(
        python=sys.executable, root=root, command=command, address=address,
        interpreter=interpreter, imports=_imports(os.environ),
    )  # fmt: skip
    script.write_text(text)
    script.chmod(0o755)
    return str(folder)


def relay(command: str, address: str, interpreter: dict[str, str], imports: dict[str, str]) -> None:
    """The script of on_path: `command` with this process's arguments, served by the server at
    `address`, which was started for `interpreter` and `imports`; never returns."""
    program = str(BIN / command)
    env = dict(os.environ)
    if not _servable(command, env, imports) or _interpreter(env) != interpreter:
        os.execv(program, [program, *sys.argv[1:]])  # noqa: S606 (the real command, as it was asked)
    answer = _ask(address, program, sys.argv[1:], env, os.getcwd(), None, None)
    for fd, key in ((1, "out"), (2, "err")):
        data = answer[key].encode("latin-1")
        while data:
            data = data[os.write(fd, data) :]
    code = answer["code"]
    os._exit(code if code >= 0 else 128 - code)  # ended by a signal: what a shell reports


def _text(data: bytes) -> str:
    """As subprocess.run(text=True) decodes output: UTF-8 here, universal newlines."""
    return data.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n")


if __name__ == "__main__":
    _serve(sys.argv[1], sys.argv[2])
