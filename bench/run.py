"""`make bench`: kcm side by side with kubectl and the AWS CLI; writes bench/results.md.

Eight parts, each run alone with `.venv/bin/python bench/run.py startup`, `... daily`, `... add`,
`... bigfile`, `... sync`, `... org`, `... scale` or `... token` (no argument: all, which is what
`make bench` does); a part not run keeps its section of results.md as it was.
- startup: `kcm list`, `use`, `--help` vs kubectl's, on a small kubeconfig (startup_bench.py).
- daily: `kcm current`, `__complete use`, `use -` vs kubectl's, on 10 and 1,000 clusters (daily_bench.py).
- bigfile: add, use, rm and a no-op sync on 1,000 and 5,000 clusters vs kubectl (bigfile_bench.py).
- add: `kcm add` vs `kubectl config set-context` and `aws eks update-kubeconfig` (this file).
- sync: `kcm sync` vs a loop of `aws eks update-kubeconfig`, and at organisation scale (sync_bench.py).
- org: 2,000 clusters in 200 accounts x 4 regions, `--concurrency` swept 1..64 (org_bench.py).
- scale: 1,000 accounts x every enabled region through `--org-role`, first, second and a changed sync,
  and `--discovery resource-explorer` (scale_bench.py).
- token: `kcm token`, warm and cold, vs `aws eks get-token` (token_bench.py).

Every number in results.md is measured here: wall clock of the whole process, each run on a fresh copy of
the same generated kubeconfig, against moto_server (the embedded AWS). HOME, XDG dirs, the AWS config files
and kcm's backups all live in a temporary directory; KUBECONFIG is never inherited.
"""

from __future__ import annotations

import compileall
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "bench"))

import bigfile_bench  # noqa: E402 (found through the sys.path entries above)
import daily_bench  # noqa: E402
import org_bench  # noqa: E402
import scale_bench  # noqa: E402
import startup_bench  # noqa: E402
import sync_bench  # noqa: E402
import token_bench  # noqa: E402
from common import (  # noqa: E402
    BenchError,
    clean_env,
    executable,
    kcm_source,
    log,
    machine,
    process_env,
    run_checked,
)
from embedded_aws import embedded_aws  # noqa: E402
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


def isolated_env(home: Path, url: str) -> dict[str, str]:
    """The environment of every `add` process: isolated (common.clean_env), with keys for moto."""
    return {
        **clean_env(home),
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }


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
        log(f"N={clusters} round {round_ + 1}/{runs} done" if round_ >= 0 else f"N={clusters} warmed up")
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
        log(f"{len(names)} x {label}: {totals[label]:.1f} s")
    data = {label: yaml.safe_load(path.read_text(encoding="utf-8")) for label, path in files.items()}
    return LoopResult(len(names), totals["aws"], totals["kcm"], data["aws"] == data["kcm"])


# ---- the report --------------------------------------------------------------------------------------


def _mb(size: int) -> str:
    return f"{size / 1_000_000:.2f} MB"


def report(sizes: list[SizeResult], loop: LoopResult, toolset: list[Tool], about: list[str]) -> str:
    kubectl, aws, kcm = (tool.label for tool in toolset)
    lines = [
        "## kcm add vs kubectl and the AWS CLI",
        "",
        *about,
        "",
        "### One command on an existing kubeconfig",
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
        f"### {loop.clusters} clusters one by one",
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
        "### Target",
        "",
        f"kcm add into the {TARGET_SIZE:,}-cluster file <= {TARGET_RATIO}x kubectl config set-context: "
        f"**{verdict}** (measured {ratio:.2f}x: {target.median(kcm):.3f} s vs "
        f"{target.median(kubectl):.3f} s).",
        "",
    ]
    return "\n".join(lines)


def bench_add(work: Path) -> str:
    """The `add` part: its markdown section."""
    kubectl = executable("kubectl")
    aws = executable("aws", BIN)
    kcm = executable("kcm", BIN)
    work = work / "add"
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
    return report(sizes, loop, toolset, about)


def bench_sync(work: Path) -> str:
    """The `sync` part (sync_bench.py): its markdown section."""
    return sync_bench.run(work / "sync", executable("aws", BIN), executable("kcm", BIN))


# ---- results.md: one section per part ----------------------------------------------------------------


def bench_startup(work: Path) -> str:
    """The `startup` part (startup_bench.py): its markdown section."""
    folder = work / "startup"
    folder.mkdir()
    return startup_bench.run(folder, executable("kcm", BIN), executable("kubectl"), sys.executable)


def bench_daily(work: Path) -> str:
    """The `daily` part (daily_bench.py): its markdown section."""
    folder = work / "daily"
    folder.mkdir()
    return daily_bench.run(folder, executable("kcm", BIN), executable("kubectl"))


def bench_bigfile(work: Path) -> str:
    """The `bigfile` part (bigfile_bench.py): its markdown section."""
    folder = work / "bigfile"
    folder.mkdir()
    return bigfile_bench.run(folder, executable("kcm", BIN), executable("kubectl"))


def bench_org(work: Path) -> str:
    """The `org` part (org_bench.py): its markdown section."""
    return org_bench.run(work / "org", executable("aws", BIN), executable("kcm", BIN))


def bench_scale(work: Path) -> str:
    """The `scale` part (scale_bench.py): its markdown section."""
    return scale_bench.run(work / "scale", executable("kcm", BIN), executable("aws", BIN))


def bench_token(work: Path) -> str:
    """The `token` part (token_bench.py): its markdown section."""
    folder = work / "token"
    folder.mkdir()
    return token_bench.run(folder, executable("aws", BIN), executable("kcm", BIN))


PARTS: dict[str, Callable[[Path], str]] = {
    "startup": bench_startup,
    "daily": bench_daily,
    "add": bench_add,
    "bigfile": bench_bigfile,
    "sync": bench_sync,
    "org": bench_org,
    "scale": bench_scale,
    "token": bench_token,
}
_MARK = "<!-- part: {} (written by bench/run.py; a run of other parts keeps it) -->"
_MARK_RE = re.compile(r"^<!-- part: (\w+) .*-->$", re.MULTILINE)


def previous_sections(text: str) -> dict[str, str]:
    """The sections of an earlier results.md, by part; none from a file without the part markers."""
    found = list(_MARK_RE.finditer(text))
    ends = [match.start() for match in found[1:]] + [len(text)] * bool(found)
    return {match[1]: text[match.end() : end].strip("\n") for match, end in zip(found, ends, strict=True)}


def compose(sections: Mapping[str, str]) -> str:
    lines = [
        "# kcm benchmarks",
        "",
        "Written by `make bench` (`bench/run.py`); every number below is measured by that run, on the",
        "machine its part lists. Reproduce: `make bench` (all parts), or one part alone with",
        "`.venv/bin/python bench/run.py startup`, `... daily`, `... add`, `... bigfile`, `... sync`,",
        "`... org`, `... scale` or `... token`",
        "(the other parts' sections are kept as they were).",
        "",
    ]
    for part in PARTS:
        body = (
            sections.get(part)
            or f"## {part}\n\nNot measured yet: run `.venv/bin/python bench/run.py {part}`."
        )
        lines += [_MARK.format(part), "", body.strip("\n"), ""]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    chosen = argv or list(PARTS)
    unknown = [part for part in chosen if part not in PARTS]
    if unknown:
        log(f"unknown part {unknown[0]!r}; usage: bench/run.py [{' | '.join(PARTS)} ...] (default: all)")
        return 2
    started = time.perf_counter()
    # kcm runs from bytecode, as a pip install leaves it (an editable one compiles on first import,
    # unless PYTHONDONTWRITEBYTECODE forbids it: then every run would compile its modules again).
    compileall.compile_dir(ROOT / "src", quiet=1)
    old = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else ""
    sections = {part: text for part, text in previous_sections(old).items() if part in PARTS}
    with tempfile.TemporaryDirectory(prefix="kcm-bench-") as temp:
        for part in PARTS:
            if part in chosen:
                log(f"part {part}")
                before = kcm_source()
                sections[part] = PARTS[part](Path(temp))
                after = kcm_source()
                if after != before:  # someone edited kcm while it was measured
                    warning = f"**kcm's source changed during this part's run ({before} -> {after}):"
                    warning += " its numbers may mix versions; run it again.**"
                    log(warning.strip("*"))
                    sections[part] = sections[part].rstrip("\n") + "\n\n" + warning + "\n"
    RESULTS.write_text(compose(sections), encoding="utf-8")
    log(f"wrote {RESULTS.relative_to(ROOT)} in {time.perf_counter() - started:.0f} s")
    print(RESULTS.read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except BenchError as exc:
        log(str(exc))
        sys.exit(1)
