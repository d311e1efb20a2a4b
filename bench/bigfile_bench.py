"""The `bigfile` part of `make bench` (`.venv/bin/python bench/run.py bigfile` alone): kcm's everyday
edits on kubeconfigs of 1,000 and 5,000 EKS clusters, beside kubectl doing the same.

"The same operation" is the same change to the file:
- add one cluster: `kcm add` writes a cluster, a user and a context; kubectl needs three commands
  (`set-cluster`, `set-credentials` with the exec plugin, `set-context`), timed as one (their sum). kcm
  also asks AWS (moto) for the cluster; kubectl is handed the values.
- switch the current context: `kcm use` / `kubectl config use-context`.
- remove one context with its cluster and user: `kcm rm` / kubectl's `delete-context`,
  `delete-cluster`, `delete-user` (their sum).
- a sync that changes nothing: `kcm sync --region us-east-1` over a file that already holds the 4
  clusters it finds there / `kubectl config use-context` of the current context, kubectl's edit that
  changes nothing. Both read the file and write nothing.

For the two-and-three command rows the single kubectl command that does the most (set-context,
delete-context) is shown too. Each run on a fresh copy of the file; the tools take turns; medians.
Peak RSS: the largest of a tool's processes for the operation (GNU time).
"""

from __future__ import annotations

import shutil
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from common import BenchError, log, machine, moto_env, run_measured
from embedded_aws import embedded_aws
from generate import fake_clusters, write_kubeconfig

# clusters in the file, timed rounds, and whether the file holds a line that C libyaml refuses and
# kubectl reads (kcm's exact, pure-Python YAML path then reads the whole file)
SIZES = ((1000, 5, False), (5000, 3, False), (1000, 3, True))
GO_YAML_ONLY = (  # a kubelogin user with a Windows cache path: `C:]` ends the flow list for go-yaml
    "- name: oidc\n  user: {exec: {command: kubectl, args: [oidc-login, get-token, --token-cache-dir=C:]}}\n"
)
REGION = "us-east-1"
SEED = 7
TARGET_TIME, TARGET_RSS = 1.0, 2.0
EKS_ROLE = "arn:aws:iam::123456789012:role/eks"


@dataclass
class Measured:
    seconds: list[float] = field(default_factory=list)
    rss_kb: list[int] = field(default_factory=list)

    def median(self) -> float:
        return statistics.median(self.seconds)

    def peak_mb(self) -> float:
        return max(self.rss_kb) / 1024 if self.rss_kb else float("nan")


@dataclass
class Operation:
    label: str
    kcm: Callable[[Path], list[list[str]]]
    kubectl: Callable[[Path], list[list[str]]]  # one or more commands: timed as their sum
    single: str | None = None  # the kubectl command shown alone too, by its verb
    timed: dict[str, Measured] = field(default_factory=dict)

    def ratio(self) -> float:
        return self.timed["kcm"].median() / self.timed["kubectl"].median()

    def rss_ratio(self) -> float:
        return self.timed["kcm"].peak_mb() / self.timed["kubectl"].peak_mb()


def _run(commands: list[list[str]], env: dict[str, str], cwd: Path) -> tuple[float, int | None, list[float]]:
    total, peak, each = 0.0, None, []
    for argv in commands:
        finished = run_measured(argv, env, cwd)
        total += finished.seconds
        each.append(finished.seconds)
        if finished.max_rss_kb is not None:
            peak = max(peak or 0, finished.max_rss_kb)
    return total, peak, each


def run(work: Path, kcm: str, kubectl: str) -> str:
    with embedded_aws(log=work / "moto.log") as url:
        env = moto_env(work / "home", url, REGION)
        eks: Any = boto3.client(
            "eks",
            endpoint_url=url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 (moto's fake credentials)
        )
        bench = eks.create_cluster(name="bench", roleArn=EKS_ROLE, resourcesVpcConfig={"subnetIds": []})[
            "cluster"
        ]
        for index in range(3):  # what the no-op sync finds, already in the file
            eks.create_cluster(name=f"synced-{index}", roleArn=EKS_ROLE, resourcesVpcConfig={"subnetIds": []})
        about = machine(kubectl, shutil.which("aws") or "aws", kcm, env, work)
        results = [
            (n, rounds, slow, _size(n, rounds, slow, bench, kcm, kubectl, env, work))
            for n, rounds, slow in SIZES
        ]
    return _section(results, about)


def _size(
    n: int,
    rounds: int,
    slow: bool,
    bench: dict[str, Any],
    kcm: str,
    kubectl: str,
    env: dict[str, str],
    work: Path,
) -> list[Operation]:
    folder = work / f"n{n}{'-go-yaml-only' if slow else ''}"
    folder.mkdir()
    base = write_kubeconfig(folder / "generated", n, seed=SEED)
    if slow:
        with base.open("a") as file:
            file.write(GO_YAML_ONLY)
    clusters = fake_clusters(n, seed=SEED)
    current = clusters[0].context_name or clusters[0].arn
    other = clusters[1].context_name or clusters[1].arn
    gone = clusters[2]  # removed by rm: its context is named by its ARN or alias
    gone_context = gone.context_name or gone.arn
    synced = folder / "synced"  # the generated file plus what `kcm sync --region` finds: a no-op after
    shutil.copy(base, synced)
    finished = run_measured([kcm, "sync", "--region", REGION, "--kubeconfig", str(synced)], env, folder)
    if "4 added" not in finished.stdout:  # bench and synced-0..2
        raise BenchError(f"seeding the no-op sync: {finished.stdout}")
    ca = folder / "ca.crt"
    ca.write_text(bench["certificateAuthority"]["data"])
    args = ["--region", REGION, "eks", "get-token", "--cluster-name", "bench", "--output", "json"]
    operations = [
        Operation(
            "add one cluster",
            lambda f: [[kcm, "add", "--name", "bench", "--region", REGION, "--kubeconfig", str(f)]],
            lambda f: [
                [
                    kubectl,
                    "--kubeconfig",
                    str(f),
                    "config",
                    "set-cluster",
                    bench["arn"],
                    f"--server={bench['endpoint']}",
                    f"--certificate-authority={ca}",
                    "--embed-certs=true",
                ],
                [
                    kubectl,
                    "--kubeconfig",
                    str(f),
                    "config",
                    "set-credentials",
                    bench["arn"],
                    "--exec-command=aws",
                    "--exec-api-version=client.authentication.k8s.io/v1beta1",
                    *(f"--exec-arg={a}" for a in args),
                ],
                [
                    kubectl,
                    "--kubeconfig",
                    str(f),
                    "config",
                    "set-context",
                    bench["arn"],
                    f"--cluster={bench['arn']}",
                    f"--user={bench['arn']}",
                ],
            ],
            single="set-context",
        ),
        Operation(
            "switch the current context",
            lambda f: [[kcm, "use", other, "--kubeconfig", str(f)]],
            lambda f: [[kubectl, "--kubeconfig", str(f), "config", "use-context", other]],
        ),
        Operation(
            "remove a context with its cluster and user",
            lambda f: [[kcm, "rm", gone_context, "--kubeconfig", str(f)]],
            lambda f: [
                [kubectl, "--kubeconfig", str(f), "config", "delete-context", gone_context],
                [kubectl, "--kubeconfig", str(f), "config", "delete-cluster", gone.arn],
                [kubectl, "--kubeconfig", str(f), "config", "delete-user", gone.arn],
            ],
            single="delete-context",
        ),
        Operation(
            "a sync that changes nothing",
            lambda f: [[kcm, "sync", "--region", REGION, "--kubeconfig", str(f)]],
            lambda f: [[kubectl, "--kubeconfig", str(f), "config", "use-context", current]],
        ),
    ]
    singles: dict[str, list[float]] = {}
    for round_ in range(rounds + 1):  # round 0: untimed warm-up
        for operation in operations:
            source = synced if operation.label.startswith("a sync") else base
            for tool in ("kcm", "kubectl") if round_ % 2 else ("kubectl", "kcm"):
                target = folder / f"{tool}-copy"
                shutil.copy(source, target)
                commands = getattr(operation, tool)(target)
                seconds, peak, each = _run(commands, env, folder)
                if (
                    tool == "kcm"
                    and operation.label.startswith("a sync")
                    and target.read_bytes() != source.read_bytes()
                ):
                    raise BenchError("the no-op sync changed the file")
                if not round_:
                    continue
                timed = operation.timed.setdefault(tool, Measured())
                timed.seconds.append(seconds)
                if peak is not None:
                    timed.rss_kb.append(peak)
                if tool == "kubectl" and operation.single:
                    verbs = [argv[4] for argv in commands]
                    singles.setdefault(operation.label, []).append(each[verbs.index(operation.single)])
    for operation in operations:
        if operation.single:
            operation.timed["single"] = Measured(singles[operation.label])
    log(
        f"bigfile {n}{' (slow path)' if slow else ''}: "
        + ", ".join(f"{op.label} {op.ratio():.2f}x" for op in operations)
    )
    return operations


def _label(n: int, slow: bool) -> str:
    return f"{n:,}" + (" (+1 line only go-yaml reads)" if slow else "")


def _section(results: list[tuple[int, int, bool, list[Operation]]], about: list[str]) -> str:
    lines = [
        "## Big kubeconfigs: kcm's edits vs kubectl's",
        "",
        *about,
        "",
        "Generated kubeconfigs (`bench/generate.py`, seed 7: EKS entries with ~1.5 KB of CA data and `#`",
        "comments) of 1,000 clusters (2.3 MB) and 5,000 (11.7 MB). The same change to the file, by each",
        "tool (kubectl needs three commands to add or remove a cluster with its user and context: their",
        "times add up); each run on a fresh copy, the tools taking turns, one untimed round first; medians.",
        "A sync that changes nothing: `kcm sync --region us-east-1` over a file that already holds the 4",
        "clusters it finds"
        " (it writes nothing), beside kubectl's edit that changes nothing, `use-context` of the current",
        "context (it writes nothing either). Peak RSS: the largest process of the operation.",
        "The last rows: the 1,000-cluster file plus one kubelogin user, `args: [..., --token-cache-dir=C:]`,",
        "which C libyaml refuses and kubectl (go-yaml) reads: kcm then reads the whole file with its exact,",
        "pure-Python YAML scanner; this is what that path costs.",
        "Reproduce: `.venv/bin/python bench/run.py bigfile`.",
        "",
        "| clusters | operation | rounds | kcm s | kubectl s | kcm / kubectl | kubectl's one command alone s "
        "| kcm peak RSS | kubectl peak RSS | RSS kcm / kubectl |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n, rounds, slow, operations in results:
        for op in operations:
            single = op.timed.get("single")
            alone = f"{single.median():.2f} ({op.single})" if single else "-"
            lines.append(
                f"| {_label(n, slow)} | {op.label} | {rounds} | {op.timed['kcm'].median():.2f} | "
                f"{op.timed['kubectl'].median():.2f} | "
                f"{op.ratio():.2f}x | {alone} | {op.timed['kcm'].peak_mb():.0f} MiB | "
                f"{op.timed['kubectl'].peak_mb():.0f} MiB | {op.rss_ratio():.2f}x |"
            )
    lines += [
        "",
        f"Targets: time at most {TARGET_TIME:.1f}x kubectl, peak RSS at most {TARGET_RSS:.0f}x kubectl's.",
        "",
    ]
    for n, _, slow, operations in results:
        for op in operations:
            holds = op.ratio() <= TARGET_TIME and op.rss_ratio() <= TARGET_RSS
            verdict = "**holds**" if holds else "**does not hold**"
            if slow:
                verdict = "measured (the slow path has no target)"
            lines.append(
                f"- {_label(n, slow)} clusters, {op.label}: {verdict} "
                f"(time {op.ratio():.2f}x, peak RSS {op.rss_ratio():.2f}x)."
            )
    return "\n".join(lines) + "\n"
