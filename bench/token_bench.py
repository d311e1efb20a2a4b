"""The `token` part of `make bench` (`.venv/bin/python bench/run.py token` alone): what kubectl runs
before every command against an EKS cluster, `aws eks get-token` vs `kcm token`.

Both against the embedded AWS, with the same static credentials, for the same cluster and region, as
kubectl runs them (a process each, KUBERNETES_EXEC_INFO set). `kcm token` warm: its cache holds a token
(what every kubectl call after the first in 13 minutes finds); cold: `--no-cache`, a token minted as
`aws eks get-token` mints one; and with `--role-arn`, where both assume the role first. The tools take
turns; medians; peak RSS from GNU time.
"""

from __future__ import annotations

import json
import shutil
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from common import BenchError, gnu_time, log, machine, moto_env, run_measured
from embedded_aws import embedded_aws

ROUNDS = 15
TARGET = 10.0  # warm kcm token at least 10x faster than aws eks get-token (issue 8)
REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/bench-deployer"
EXEC_INFO = json.dumps(
    {
        "kind": "ExecCredential",
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "spec": {"interactive": False},
    }
)


@dataclass
class Timed:
    label: str
    argv: list[str]
    seconds: list[float] = field(default_factory=list)
    rss_kb: list[int] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def run(work: Path, aws: str, kcm: str) -> str:
    import boto3

    with embedded_aws(log=work / "moto.log") as url:
        env = {**moto_env(work / "home", url, REGION), "KUBERNETES_EXEC_INFO": EXEC_INFO}
        iam = boto3.client(
            "iam",
            endpoint_url=url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 (moto's fake credentials)
        )
        iam.create_role(RoleName="bench-deployer", AssumeRolePolicyDocument="{}")
        about = machine(shutil.which("kubectl") or "kubectl", aws, kcm, env, work)
        ask = ["--cluster-name", "bench", "--region", REGION]
        runs = [
            Timed("aws eks get-token", [aws, "eks", "get-token", *ask, "--output", "json"]),
            Timed("kcm token, cached (warm)", [kcm, "token", *ask]),
            Timed("kcm token --no-cache (cold)", [kcm, "token", *ask, "--no-cache"]),
            Timed("aws eks get-token --role-arn", [aws, "eks", "get-token", *ask, "--role-arn", ROLE]),
            Timed("kcm token --role-arn, cached (warm)", [kcm, "token", *ask, "--role-arn", ROLE]),
        ]
        for round_ in range(ROUNDS + 1):  # round 0: untimed; it also fills kcm's cache
            for timed in runs if round_ % 2 else reversed(runs):
                finished = run_measured(timed.argv, env, work)
                answer = json.loads(finished.stdout)
                if not answer["status"]["token"].startswith("k8s-aws-v1."):
                    raise BenchError(f"{timed.label}: no token in {finished.stdout[:200]}")
                if round_:
                    timed.seconds.append(finished.seconds)
                    if finished.max_rss_kb is not None:
                        timed.rss_kb.append(finished.max_rss_kb)
    ratio = runs[0].median / runs[1].median
    role_ratio = runs[3].median / runs[4].median
    log(f"token: warm kcm token {ratio:.1f}x faster than aws eks get-token ({role_ratio:.1f}x, --role-arn)")
    return _section(runs, ratio, role_ratio, about)


def _section(runs: list[Timed], ratio: float, role_ratio: float, about: list[str]) -> str:
    lines = [
        "## kcm token vs aws eks get-token: what kubectl runs before every command",
        "",
        *about,
        "",
        "Against the embedded AWS, static credentials, `KUBERNETES_EXEC_INFO` set as kubectl sets it; each",
        f"command {ROUNDS} times after one untimed round (which also fills kcm's cache), the tools taking",
        "turns; median wall clock of the whole process. Warm: kcm's cache holds a token, as for every",
        "kubectl call after the first in 13 minutes. Cold: `--no-cache`, minted as `aws eks get-token`",
        "mints.",
        "Reproduce: `.venv/bin/python bench/run.py token`.",
        "",
        "| command | median s | min - max s | vs aws eks get-token | peak RSS |",
        "|---|---:|---:|---:|---:|",
    ]
    for index, timed in enumerate(runs):
        reference = runs[3] if "role" in timed.label else runs[0]
        rss = f"{statistics.median(timed.rss_kb) / 1024:.0f} MiB" if timed.rss_kb else "-"
        versus = "-" if index in (0, 3) else f"{reference.median / timed.median:.1f}x faster"
        spread = f"{min(timed.seconds):.3f} - {max(timed.seconds):.3f}"
        lines.append(f"| `{timed.label}` | {timed.median:.3f} | {spread} | {versus} | {rss} |")
    verdict = "**holds**" if ratio >= TARGET else "**does not hold**"
    lines += [
        "",
        f"Target: warm `kcm token` at least {TARGET:.0f}x faster than `aws eks get-token`: {verdict} "
        f"(measured {ratio:.1f}x; {role_ratio:.1f}x with `--role-arn`).",
    ]
    if gnu_time() is None:
        lines += ["", "No GNU time on this machine: peak RSS not measured."]
    return "\n".join(lines) + "\n"
