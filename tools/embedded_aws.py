"""The embedded AWS for tests, demo and benchmarks: moto_server on a free loopback port.

A dev/test tool only; kcm itself never imports it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _moto_server() -> str:
    beside = Path(sys.executable).with_name("moto_server")
    return str(beside) if beside.exists() else (shutil.which("moto_server") or "moto_server")


@contextlib.contextmanager
def embedded_aws(log: Path | None = None) -> Iterator[str]:
    """Start moto_server, yield its URL, stop it; the caller points AWS_ENDPOINT_URL at the URL."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    sink = log.open("wb") if log else subprocess.DEVNULL
    process = subprocess.Popen(
        [_moto_server(), "-H", "127.0.0.1", "-p", str(port)],
        stdout=sink,
        stderr=subprocess.STDOUT,
        env={**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "false"},
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/moto-api/", timeout=1):  # noqa: S310 (loopback)
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto_server did not start on {url}") from None
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if log and hasattr(sink, "close"):
            sink.close()


def reset(url: str) -> None:
    """Forget every resource, so each test starts from an empty AWS."""
    request = urllib.request.Request(f"{url}/moto-api/reset", method="POST")  # noqa: S310 (loopback)
    with urllib.request.urlopen(request, timeout=5):  # noqa: S310 (loopback)
        pass
