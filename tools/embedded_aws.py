"""The embedded AWS for tests, demo and benchmarks: moto_server on a free loopback port.

A dev/test tool only; kcm itself never imports it.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _moto_server() -> str:
    beside = Path(sys.executable).with_name("moto_server")
    return str(beside) if beside.exists() else (shutil.which("moto_server") or "moto_server")


def _listens(pid: int, port: int) -> bool | None:
    """Whether process `pid` holds the socket listening on 127.0.0.1:`port`; None where Linux's /proc
    cannot tell. Another server already on the port would answer the readiness probe for ours."""
    try:
        table = Path("/proc/net/tcp").read_text().splitlines()[1:]
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return None
    suffix = f":{port:04X}"
    inodes = {f[9] for f in (line.split() for line in table) if f[1].endswith(suffix) and f[3] == "0A"}
    if not inodes:
        return None
    for fd in fds:
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/fd/{fd}").removeprefix("socket:[").removesuffix("]") in inodes:
                return True
    return False


@contextlib.contextmanager
def embedded_aws(
    log: Path | None = None, *, quick_eks: bool = False, settings: Mapping[str, str] | None = None
) -> Iterator[str]:
    """Start moto_server, yield its URL, stop it; the caller points AWS_ENDPOINT_URL at the URL.

    `quick_eks` serves moto's EKS without re-reading botocore's partition list on every CreateCluster
    (moto builds a new boto3 Session to check each role ARN: ~0.1 s a cluster), finds the account of a
    request's access key without trying every account (`_quick_account_lookup`) and the service of a
    request without listing moto's folder (`_quick_dispatch`); same answers, and one more path,
    EKS_CLUSTERS (`every_eks_cluster`). `settings`: moto's own (MOTO_...) for this server.
    """
    sink: Any = log.open("wb") if log else subprocess.DEVNULL
    try:
        for _attempt in range(3):  # a port taken between choosing it and moto binding it: choose again
            port = _free_port()
            url = f"http://127.0.0.1:{port}"
            command = [sys.executable, __file__] if quick_eks else [_moto_server()]
            process = subprocess.Popen(
                [*command, "-H", "127.0.0.1", "-p", str(port)],
                stdout=sink,
                stderr=subprocess.STDOUT,
                env={**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "false", **(settings or {})},
            )
            try:
                if _started(process, url, port):
                    yield url
                    return
            finally:
                _stop(process)
        raise RuntimeError(f"moto_server did not start on a free port (last tried {url})")
    finally:
        if log:
            sink.close()


def _started(process: subprocess.Popen[bytes], url: str, port: int) -> bool:
    """Wait until `process` serves `url`; False when it exited first or another process holds the port."""
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{url}/moto-api/", timeout=1):  # noqa: S310 (loopback)
                return process.poll() is None and _listens(process.pid, port) is not False
        except OSError:
            if process.poll() is not None:
                return False
            if time.monotonic() > deadline:
                raise RuntimeError(f"moto_server did not start on {url}") from None
            time.sleep(0.05)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def reset(url: str) -> None:
    """Forget every resource, so each test starts from an empty AWS."""
    request = urllib.request.Request(f"{url}/moto-api/reset", method="POST")  # noqa: S310 (loopback)
    with urllib.request.urlopen(request, timeout=5):  # noqa: S310 (loopback)
        pass


EKS_CLUSTERS = "/moto-api/kcm/eks-clusters"  # served by the quick_eks server only


def every_eks_cluster(url: str) -> list[tuple[str, str, str]]:
    """(account, region, name) of every EKS cluster the quick_eks server at `url` holds, in one request:
    for a stand-in that answers for a whole organisation (20,000 ListClusters would take minutes)."""
    with urllib.request.urlopen(f"{url}{EKS_CLUSTERS}", timeout=30) as answer:  # noqa: S310 (loopback)
        return [(account, region, name) for account, region, name in json.load(answer)]


def _with_cluster_list(app: Any) -> Any:
    """moto's WSGI app, and EKS_CLUSTERS read from its EKS backends (read-only)."""
    from moto.eks.models import eks_backends

    def serve(environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") != EKS_CLUSTERS:
            return app(environ, start_response)
        found = sorted(
            [account, region, name]
            for account, region, backend in list(eks_backends.iter_backends())
            for name in list(backend.clusters)
        )
        body = json.dumps(found).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    return serve


def _quick_account_lookup() -> None:
    """moto finds the account of each request's access key by trying every account and partition in
    turn (iam.models.get_account_id_from): ~6 ms a request at 1,000 accounts. The same answer from
    where each key was found (checked again before use) and the keys found nowhere (forgotten whenever
    IAM makes a key, the only way a key comes to be)."""
    from moto.iam import models

    found: dict[str, tuple[str, str]] = {}
    nowhere: set[str] = set()

    def get_account_id_from(access_key: str) -> str:
        if access_key in nowhere:
            return models.DEFAULT_ACCOUNT_ID
        where = found.get(access_key)
        if where:  # dict.get: a moto BackendDict's own [] would create what is missing
            backend = dict.get(dict.get(models.iam_backends, where[0]) or {}, where[1])
            if backend is not None and access_key in backend.access_keys:
                return where[0]
        for account_id, backends in list(models.iam_backends.items()):
            for partition in models.PARTITION_NAMES:
                if access_key in backends[partition].access_keys:
                    found[access_key] = (account_id, partition)
                    return account_id
        nowhere.add(access_key)
        return models.DEFAULT_ACCOUNT_ID

    def forgetting(make: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(make)
        def made(*args: Any, **kwargs: Any) -> Any:
            key = make(*args, **kwargs)
            nowhere.clear()
            return key

        return made

    for name in ("create_access_key", "create_temp_access_key"):
        setattr(models.IAMBackend, name, forgetting(getattr(models.IAMBackend, name)))
    models.get_account_id_from = get_account_id_from  # moto.core.responses imports it per request


def _quick_dispatch() -> None:
    """moto's server finds the service of each request by listing moto's own package folder (a stat of
    each of its 180-odd subfolders, twice a request: a third of the server's time for a small request).
    The folder does not change while the server runs: listed once."""
    from moto import backends

    modules = frozenset(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules  # type: ignore[assignment,return-value]


def _quick_eks_server() -> None:
    """moto_server (same argv) with the partition list of moto's EKS role-ARN check read once, the
    service of a request found without listing moto's folder, and EKS_CLUSTERS."""
    import boto3
    from moto import server
    from moto.eks import utils

    partitions = boto3.Session().get_available_partitions()

    class _Partitions:
        def get_available_partitions(self) -> list[str]:
            return list(partitions)

    utils.Session = _Partitions  # type: ignore[assignment,misc]
    _quick_account_lookup()
    _quick_dispatch()
    serve = server.run_simple

    def run_simple(host: str, port: int, app: Any, **options: Any) -> None:
        serve(host, port, _with_cluster_list(app), **options)

    server.run_simple = run_simple  # type: ignore[assignment]
    server.main(sys.argv[1:])


if __name__ == "__main__":
    _quick_eks_server()
