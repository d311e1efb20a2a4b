"""The real AWS CLI, run for the oracle tests without starting Python and importing it each time.

The `aws` command is a five-line script: `sys.exit(awscli.clidriver.main())`. Most of a run of it is
Python starting and importing awscli and botocore (a quarter of a second of CPU, a hundred runs a
suite). Here a server imports awscli once and forks for each run: the child takes the run's
environment, folder, arguments and standard streams, then does what the script does. Everything the
CLI reads (its configuration, credentials, HOME, the endpoint) it reads in the child, as a fresh
`aws` reads it; tests/test_aws_cli.py checks the answers are a fresh `aws` process's, byte for byte.

One server per test process, on a Unix socket in a private folder; it ends with the process, however
that ends (it waits on a pipe only the test process holds), and removes the folder.
"""

from __future__ import annotations

import atexit
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

AWS = str(Path(sys.executable).parent / "aws")
_SERVER = r"""
import importlib, json, os, socket, socketserver, sys, tempfile, threading, traceback
sys.path.insert(0, os.path.dirname(sys.argv[2]))  # the script's folder, first, as for the aws script
import awscli, awscli.clidriver  # what the aws script imports; the child runs what it runs

class Run(socketserver.StreamRequestHandler):
    def handle(self):
        request = json.loads(self.rfile.readline())
        out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.chdir(request["cwd"])
                os.environ.clear()
                os.environ.update(request["env"])
                if os.environ.get("LC_CTYPE", "") == "UTF-8":  # as the aws script does
                    os.environ["LC_CTYPE"] = "en_US.UTF-8"
                importlib.reload(awscli)  # its import sets AWS_DATA_PATH from the environment
                null = os.open(os.devnull, os.O_RDONLY)
                for fd, target in ((null, 0), (out.fileno(), 1), (err.fileno(), 2)):
                    os.dup2(fd, target)
                sys.stdin = open(0, closefd=False)
                sys.stdout = open(1, "w", closefd=False)
                sys.stderr = open(2, "w", closefd=False)
                sys.argv = [request["program"], *request["args"]]
                try:
                    code = awscli.clidriver.main()
                except SystemExit as exc:
                    code = exc.code
                except BaseException:
                    traceback.print_exc()
                    code = 1
                code = 0 if code is None else code if isinstance(code, int) else 1
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        answer = {"code": code, "out": out.read().decode("latin-1"), "err": err.read().decode("latin-1")}
        self.wfile.write(json.dumps(answer).encode() + b"\n")

class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

def orphaned():  # the test process gone, however it went (its end of our stdin closed): end too
    sys.stdin.buffer.read()
    for path in (sys.argv[1], os.path.dirname(sys.argv[1])):
        try:
            os.rmdir(path) if path != sys.argv[1] else os.unlink(path)
        except OSError:
            pass
    os._exit(0)

with Server(sys.argv[1], Run) as server:
    threading.Thread(target=orphaned, daemon=True).start()
    print("ready", flush=True)
    server.serve_forever()
"""
_lock = threading.Lock()
_state: dict[str, Any] = {}


def _address() -> str:
    with _lock:
        if _state.get("pid") != os.getpid():  # none yet, or a forked test process's parent's
            folder = tempfile.mkdtemp(prefix="kcm-aws-cli-")  # 0700
            address = os.path.join(folder, "socket")
            server = subprocess.Popen(
                [sys.executable, "-P", "-c", _SERVER, address, AWS],
                stdin=subprocess.PIPE,  # its end of the test process: closed however that ends
                stdout=subprocess.PIPE,
                text=True,
            )
            assert server.stdout is not None and server.stdout.readline() == "ready\n"

            def stop() -> None:
                assert server.stdin is not None
                server.stdin.close()
                server.wait(timeout=30)

            atexit.register(stop)
            _state.update(pid=os.getpid(), address=address)
        return str(_state["address"])


def run(
    args: list[str], env: dict[str, str], cwd: str | Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`aws ARGS...` in `env` and `cwd`: its exit status and output, as subprocess.run gives them."""
    request = {"program": AWS, "args": args, "env": env, "cwd": str(cwd or os.getcwd())}
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(timeout)
        connection.connect(_address())
        connection.sendall(json.dumps(request).encode() + b"\n")
        reply = b""
        try:
            while not reply.endswith(b"\n"):
                data = connection.recv(1 << 16)
                if not data:
                    break
                reply += data
        except TimeoutError:
            raise subprocess.TimeoutExpired([AWS, *args], timeout) from None
    answer = json.loads(reply)
    out, err = (_text(answer[key].encode("latin-1")) for key in ("out", "err"))
    return subprocess.CompletedProcess([AWS, *args], answer["code"], out, err)


def _text(data: bytes) -> str:
    """As subprocess.run(text=True) decodes output: UTF-8 here, universal newlines."""
    return data.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n")
