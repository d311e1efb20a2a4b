"""What the benchmarks of `make bench` share: running a tool, timing it, and saying on what machine.

Every tool runs as a real process in an environment of its own: HOME, the XDG dirs and the AWS config
files in a temporary directory, nothing of the caller's AWS_*, XDG_* or KUBECONFIG.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class BenchError(RuntimeError):
    """A tool failed or did not do what it was asked: the benchmark stops rather than time a failure."""


@dataclass(frozen=True)
class Finished:
    """One process run to its end: wall clock, CPU time and peak memory of its own, what it printed."""

    seconds: float
    cpu_seconds: float  # user + system time of the command (wait4, children included)
    max_rss_kb: int | None  # the command's own peak RSS in KiB (GNU time's %M); None without GNU time
    stdout: str


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def executable(name: str, where: Path | None = None) -> str:
    found = shutil.which(name, path=str(where)) if where else shutil.which(name)
    if not found:
        raise BenchError(f"{name} not found {'in ' + str(where) if where else 'on PATH'}")
    return found


def clean_env(home: Path) -> dict[str, str]:
    """The caller's environment minus AWS_*, XDG_*, BOTO_* and KUBECONFIG; HOME and the rest under `home`.

    Also minus PYTHONDONTWRITEBYTECODE (set in some sandboxes): a Python tool as users install it runs
    from compiled bytecode (pip compiles it at install time); run.py compiles kcm's source before any part.
    """
    keep = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "XDG_", "KUBECONFIG", "BOTO_", "PYTHONDONTWRITEBYTECODE"))
    }
    return {
        **keep,
        "HOME": str(home),
        "XDG_STATE_HOME": str(home / "state"),  # kcm's backups (platformdirs.user_state_dir)
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_CACHE_HOME": str(home / "cache"),  # kcm sync's regions cache
        "AWS_CONFIG_FILE": str(home / ".aws" / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / ".aws" / "credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def moto_env(home: Path, url: str, region: str) -> dict[str, str]:
    """`clean_env(home)` pointed at the embedded AWS at `url` with moto's fake keys; `home` gets an AWS
    config whose default region is `region`."""
    (home / ".aws").mkdir(parents=True, exist_ok=True)
    (home / ".aws" / "config").write_text(f"[default]\nregion = {region}\n")
    return {
        **clean_env(home),
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",  # moto's fake credentials
    }


@contextmanager
def process_env(env: Mapping[str, str]) -> Iterator[None]:
    """This process's own boto3 (creating clusters) sees the same isolated environment."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run_checked(argv: list[str], env: Mapping[str, str], cwd: Path) -> float:
    """Run one command; its wall clock in seconds, or BenchError with its stderr."""
    start = time.perf_counter()
    result = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise BenchError(f"{' '.join(argv)} exited {result.returncode}: {result.stderr.strip()[-2000:]}")
    return elapsed


@functools.cache
def gnu_time() -> str | None:
    """/usr/bin/time, if it is GNU time (`-f %M -o FILE`); else None and no peak RSS is measured.

    Not ru_maxrss from wait4 on our own child: on Linux a child's high-water mark starts at that of the
    process it was forked from, and this one holds hundreds of MB of boto3 clients and kubeconfigs. GNU
    time is a small process: what it reports is the command's own.
    """
    path = Path("/usr/bin/time")
    if not path.exists():
        return None
    with tempfile.TemporaryDirectory() as temp:
        out = Path(temp) / "rss"
        result = subprocess.run(
            [str(path), "-f", "%M", "-o", str(out), "true"], capture_output=True, check=False
        )
        ok = result.returncode == 0 and out.exists() and out.read_text().strip().isdigit()
    return str(path) if ok else None


def run_measured(argv: list[str], env: Mapping[str, str], cwd: Path) -> Finished:
    """Like run_checked, and the command's CPU time and peak RSS (through GNU time when there is one)."""
    timer = gnu_time()
    with tempfile.TemporaryDirectory() as temp:
        rss = Path(temp) / "rss"
        full = [timer, "-f", "%M", "-o", str(rss), *argv] if timer else argv
        with (Path(temp) / "out").open("w+b") as out, (Path(temp) / "err").open("w+b") as err:
            start = time.perf_counter()
            process = subprocess.Popen(full, env=env, cwd=cwd, stdout=out, stderr=err)
            _, status, usage = os.wait4(process.pid, 0)
            elapsed = time.perf_counter() - start
            process.returncode = os.waitstatus_to_exitcode(status)
            out.seek(0)
            err.seek(0)
            stdout, stderr = out.read().decode(), err.read().decode()
        if process.returncode != 0:
            raise BenchError(f"{' '.join(argv)} exited {process.returncode}: {stderr.strip()[-2000:]}")
        max_rss = int(rss.read_text().split()[-1]) if timer else None
    return Finished(elapsed, usage.ru_utime + usage.ru_stime, max_rss, stdout)


# ---- the machine -------------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _first_line(argv: list[str], env: Mapping[str, str]) -> str:
    result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    lines = (result.stdout + result.stderr).strip().splitlines()
    return lines[0] if lines else "unknown"


def _filesystem(path: Path) -> str:
    """The type of the filesystem that holds `path` (kcm and kubectl fsync there)."""
    best, kind = "", "unknown"
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return kind
    resolved = str(path.resolve())
    for line in mounts:
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1]
        inside = resolved == point or resolved.startswith(point.rstrip("/") + "/")
        if inside and len(point) > len(best):
            best, kind = point, fields[2]
    return kind


def kcm_source() -> str:
    """The kcm source measured: its git commit, and a digest of src/ that tells a change in mid-run."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "src").rglob("*.py")):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())

    def git(*args: str) -> str:
        result = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False)
        return result.stdout.strip() if result.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown commit"
    dirty = " + uncommitted changes in src/" if git("status", "--porcelain", "--", "src") else ""
    return f"git {commit}{dirty}, src/ digest {digest.hexdigest()[:12]}"


def machine(kubectl: str | None, aws: str, kcm: str, env: Mapping[str, str], work: Path) -> list[str]:
    """The machine and tool versions, as a markdown list (kubectl left out when a part does not use it)."""
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"- Date: {now}",
        f"- CPU: {_cpu_model()}, {os.cpu_count()} cores ({affinity} usable by this process)",
        f"- OS: {platform.system()} {platform.release()}; temporary files on {_filesystem(work)}",
        f"- Python: {platform.python_version()} ({sys.executable})",
    ]
    if kubectl:
        lines.append(
            f"- kubectl: {_first_line([kubectl, 'version', '--client'], env)} ({os.path.realpath(kubectl)})"
        )
    return [
        *lines,
        f"- aws: {_first_line([aws, '--version'], env)}",
        f"- kcm: {_first_line([kcm, '--version'], env)} ({kcm_source()})",
    ]
