"""`make bench`: kcm add side by side with kubectl and the AWS CLI; writes bench/results.md.

Every number in results.md is measured here: wall clock of the whole process, each run on a fresh copy of
the same generated kubeconfig, against moto_server (the embedded AWS). HOME, XDG dirs, the AWS config files
and kcm's backups all live in a temporary directory; KUBECONFIG is never inherited.
"""

from __future__ import annotations

import datetime
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "bench"))

from embedded_aws import embedded_aws  # noqa: E402 (found through the sys.path entry above)
from generate import fake_clusters, write_kubeconfig  # noqa: E402

RESULTS = ROOT / "bench" / "results.md"
SIZES = ((100, 7), (1000, 5))  # clusters in the file, timed runs per tool
LOOP_CLUSTERS = 50
SEED = 7
TARGET_SIZE, TARGET_RATIO = 1000, 1.5
REGION = "us-east-1"
ROLE_ARN = "arn:aws:iam::123456789012:role/eks"
BIN = Path(sys.executable).parent  # make bench runs .venv/bin/python: aws and kcm sit beside it

Argv = Callable[[Path], list[str]]


class BenchError(RuntimeError):
    """A tool failed or did not do what it was asked: the benchmark stops rather than time a failure."""


@dataclass(frozen=True)
class Tool:
    label: str
    argv: Argv
    expect: str  # text the file holds after a successful run


@dataclass
class SizeResult:
    clusters: int
    size_bytes: int
    runs: int
    seconds: dict[str, list[float]]

    def median(self, label: str) -> float:
        return statistics.median(self.seconds[label])


@dataclass(frozen=True)
class LoopResult:
    clusters: int
    aws_seconds: float
    kcm_seconds: float
    same_data: bool


def _log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def _executable(name: str, where: Path | None = None) -> str:
    found = shutil.which(name, path=str(where)) if where else shutil.which(name)
    if not found:
        raise BenchError(f"{name} not found {'in ' + str(where) if where else 'on PATH'}")
    return found


def isolated_env(home: Path, url: str) -> dict[str, str]:
    """The environment of every process: the caller's, minus AWS_*, KUBECONFIG and XDG_*, plus ours."""
    keep = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "XDG_", "KUBECONFIG", "BOTO_"))
    }
    return {
        **keep,
        "HOME": str(home),
        "XDG_STATE_HOME": str(home / "state"),  # kcm's backups (platformdirs.user_state_dir)
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "AWS_CONFIG_FILE": str(home / ".aws" / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / ".aws" / "credentials"),
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
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


def create_clusters(url: str, names: list[str]) -> dict[str, str]:
    """The clusters in moto; their ARNs by name."""
    eks: Any = boto3.client(
        "eks",
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 (moto's fake credentials)
    )
    arns: dict[str, str] = {}
    for name in names:
        response = eks.create_cluster(name=name, roleArn=ROLE_ARN, resourcesVpcConfig={"subnetIds": []})
        arns[name] = response["cluster"]["arn"]
    return arns


def tools(kubectl: str, aws: str, kcm: str, bench_arn: str, existing_arn: str) -> list[Tool]:
    return [
        Tool(
            "kubectl config set-context",
            lambda f: [
                kubectl,
                "--kubeconfig",
                str(f),
                "config",
                "set-context",
                "bench-ctx",
                f"--cluster={existing_arn}",
                f"--user={existing_arn}",
            ],
            "name: bench-ctx",
        ),
        Tool(
            "aws eks update-kubeconfig",
            lambda f: [aws, "eks", "update-kubeconfig", "--name", "bench", "--kubeconfig", str(f)],
            f"name: {bench_arn}",
        ),
        Tool(
            "kcm add",
            lambda f: [kcm, "add", "--name", "bench", "--kubeconfig", str(f)],
            f"name: {bench_arn}",
        ),
    ]


def time_size(
    clusters: int, runs: int, toolset: list[Tool], env: Mapping[str, str], work: Path
) -> SizeResult:
    """Median-ready timings: one untimed warm-up per tool, then `runs` rounds, tool order rotating."""
    folder = work / f"n{clusters}"
    folder.mkdir()
    source = write_kubeconfig(folder / "source.yaml", clusters, seed=SEED)
    seconds: dict[str, list[float]] = {tool.label: [] for tool in toolset}
    for round_ in range(-1, runs):
        shift = round_ % len(toolset)
        for index, tool in enumerate(toolset[shift:] + toolset[:shift]):
            target = folder / f"config-{index}"
            shutil.copyfile(source, target)
            target.chmod(0o600)
            elapsed = run_checked(tool.argv(target), env, folder)
            if tool.expect not in target.read_text(encoding="utf-8"):
                raise BenchError(f"{tool.label}: {target} lacks {tool.expect!r} after the run")
            if round_ >= 0:
                seconds[tool.label].append(elapsed)
        _log(f"N={clusters} round {round_ + 1}/{runs} done" if round_ >= 0 else f"N={clusters} warmed up")
    return SizeResult(clusters, source.stat().st_size, runs, seconds)


def time_loop(names: list[str], aws: str, kcm: str, env: Mapping[str, str], work: Path) -> LoopResult:
    """`LOOP_CLUSTERS` adds one by one into one fresh file, for each tool; no shell in between."""
    folder = work / "loop"
    folder.mkdir()
    totals: dict[str, float] = {}
    files: dict[str, Path] = {}

    def aws_argv(name: str, f: Path) -> list[str]:
        return [aws, "eks", "update-kubeconfig", "--name", name, "--kubeconfig", str(f)]

    def kcm_argv(name: str, f: Path) -> list[str]:
        return [kcm, "add", "--name", name, "--kubeconfig", str(f)]

    for label, argv in (("aws", aws_argv), ("kcm", kcm_argv)):
        target = files[label] = folder / f"config-{label}"
        start = time.perf_counter()
        for name in names:
            run_checked(argv(name, target), env, folder)
        totals[label] = time.perf_counter() - start
        _log(f"{len(names)} x {label}: {totals[label]:.1f} s")
    data = {label: yaml.safe_load(path.read_text(encoding="utf-8")) for label, path in files.items()}
    return LoopResult(len(names), totals["aws"], totals["kcm"], data["aws"] == data["kcm"])


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


def machine(kubectl: str, aws: str, kcm: str, env: Mapping[str, str], work: Path) -> list[str]:
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return [
        f"- Date: {now}",
        f"- CPU: {_cpu_model()}, {os.cpu_count()} cores ({affinity} usable by this process)",
        f"- OS: {platform.system()} {platform.release()}; temporary files on {_filesystem(work)}",
        f"- Python: {platform.python_version()} ({sys.executable})",
        f"- kubectl: {_first_line([kubectl, 'version', '--client'], env)} ({os.path.realpath(kubectl)})",
        f"- aws: {_first_line([aws, '--version'], env)}",
        f"- kcm: {_first_line([kcm, '--version'], env)}",
    ]


# ---- the report --------------------------------------------------------------------------------------


def _mb(size: int) -> str:
    return f"{size / 1_000_000:.2f} MB"


def report(sizes: list[SizeResult], loop: LoopResult, toolset: list[Tool], about: list[str]) -> str:
    kubectl, aws, kcm = (tool.label for tool in toolset)
    lines = [
        "# kcm add vs kubectl and the AWS CLI",
        "",
        "Written by `make bench` (`bench/run.py`); every number below is measured by that run.",
        "",
        *about,
        "",
        "## One command on an existing kubeconfig",
        "",
        "Median wall clock of the whole process, in seconds; each run on a fresh copy of the same generated",
        f"file (`bench/generate.py`, seed {SEED}: EKS entries with ~1.5 KB CA data and `# comment` lines).",
        "One untimed warm-up per tool first; the tools take turns within each round. AWS is moto_server.",
        "",
        f"| clusters in file | file size | runs | `{kubectl}` | `{aws}` | `{kcm}` "
        f"| {kcm} / kubectl | {kcm} / aws |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in sizes:
        k, a, c = (result.median(label) for label in (kubectl, aws, kcm))
        lines.append(
            f"| {result.clusters:,} | {_mb(result.size_bytes)} | {result.runs} | {k:.3f} | {a:.3f} "
            f"| {c:.3f} | {c / k:.2f}x | {c / a:.2f}x |"
        )
    lines += ["", "Spread (min - max seconds):", ""]
    lines += [f"| clusters in file | `{kubectl}` | `{aws}` | `{kcm}` |", "|---:|---:|---:|---:|"]
    for result in sizes:
        cells = [f"{min(result.seconds[t]):.3f} - {max(result.seconds[t]):.3f}" for t in (kubectl, aws, kcm)]
        lines.append(f"| {result.clusters:,} | " + " | ".join(cells) + " |")
    per_aws, per_kcm = loop.aws_seconds / loop.clusters, loop.kcm_seconds / loop.clusters
    lines += [
        "",
        f"## {loop.clusters} clusters one by one",
        "",
        f"{loop.clusters} clusters in moto, added one call at a time (no shell) into one fresh file",
        "per tool.",
        "",
        "| | total s | per call s |",
        "|---|---:|---:|",
        f"| `aws eks update-kubeconfig` x {loop.clusters} | {loop.aws_seconds:.2f} | {per_aws:.3f} |",
        f"| `kcm add` x {loop.clusters} | {loop.kcm_seconds:.2f} | {per_kcm:.3f} |",
        f"| kcm / aws | {loop.kcm_seconds / loop.aws_seconds:.2f}x | |",
        "",
        "The two resulting files hold the same data (PyYAML): " + ("yes." if loop.same_data else "**no**."),
    ]
    target = next(result for result in sizes if result.clusters == TARGET_SIZE)
    ratio = target.median(kcm) / target.median(kubectl)
    verdict = "holds" if ratio <= TARGET_RATIO else "does not hold"
    lines += [
        "",
        "## Target",
        "",
        f"kcm add into the {TARGET_SIZE:,}-cluster file <= {TARGET_RATIO}x kubectl config set-context: "
        f"**{verdict}** (measured {ratio:.2f}x: {target.median(kcm):.3f} s vs "
        f"{target.median(kubectl):.3f} s).",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    kubectl = _executable("kubectl")
    aws = _executable("aws", BIN)
    kcm = _executable("kcm", BIN)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kcm-bench-") as temp:
        work = Path(temp)
        home = work / "home"
        (home / ".aws").mkdir(parents=True)
        with embedded_aws(log=work / "moto.log") as url:
            env = isolated_env(home, url)
            with process_env(env):
                loop_names = [f"loop-{index:02d}" for index in range(LOOP_CLUSTERS)]
                arns = create_clusters(url, ["bench", *loop_names])
            existing = fake_clusters(1, seed=SEED)[0].arn  # the first cluster of every generated file
            toolset = tools(kubectl, aws, kcm, arns["bench"], existing)
            about = machine(kubectl, aws, kcm, env, work)
            sizes = [time_size(n, runs, toolset, env, work) for n, runs in SIZES]
            loop = time_loop(loop_names, aws, kcm, env, work)
    RESULTS.write_text(report(sizes, loop, toolset, about), encoding="utf-8")
    _log(f"wrote {RESULTS.relative_to(ROOT)} in {time.perf_counter() - started:.0f} s")
    print(RESULTS.read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        _log(str(exc))
        sys.exit(1)
