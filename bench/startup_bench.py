"""The `startup` part of `make bench` (`.venv/bin/python bench/run.py startup` alone): the commands people
run dozens of times a day, beside kubectl's, on a small kubeconfig.

`kcm list` vs `kubectl config get-contexts`, `kcm use` vs `kubectl config use-context` (each run switches
to the other of two contexts, so both tools write every time), `kcm --help` vs `kubectl --help`; and the
Python interpreter alone (`python -c pass`), the floor under every kcm command. Each command runs ROUNDS
times, the tools taking turns; wall clock and peak RSS of the process (GNU time), medians.
"""

from __future__ import annotations

import shutil
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from common import clean_env, gnu_time, log, machine, run_measured
from generate import fake_clusters, write_kubeconfig

CLUSTERS = 10  # "a small kubeconfig"
ROUNDS = 21
TARGET = 2.0  # kcm at most 2x kubectl (issue 7)


@dataclass
class Pair:
    label: str  # what is compared
    kcm: list[str]
    kubectl: list[str]
    seconds: dict[str, list[float]] = field(default_factory=lambda: {"kcm": [], "kubectl": []})
    rss: dict[str, list[int]] = field(default_factory=lambda: {"kcm": [], "kubectl": []})

    def median(self, tool: str) -> float:
        return statistics.median(self.seconds[tool])

    def ratio(self) -> float:
        return self.median("kcm") / self.median("kubectl")


def run(work: Path, kcm: str, kubectl: str, python: str) -> str:
    home = work / "startup-home"
    home.mkdir()
    config = write_kubeconfig(work / "startup-kubeconfig", CLUSTERS, seed=7)
    names = [cluster.context_name or cluster.arn for cluster in fake_clusters(CLUSTERS, seed=7)][:2]
    env = {**clean_env(home), "KUBECONFIG": str(config)}
    pairs = [
        Pair("list the contexts", [kcm, "list"], [kubectl, "config", "get-contexts"]),
        Pair(
            "switch the current context", [kcm, "use", "{next}"], [kubectl, "config", "use-context", "{next}"]
        ),
        Pair("top-level help", [kcm, "--help"], [kubectl, "--help"]),
    ]
    floor: list[float] = []
    turn = 0
    for round_ in range(ROUNDS + 1):  # round 0: untimed warm-up (page cache, kubectl's first start)
        for pair in pairs:
            for tool in ("kcm", "kubectl") if round_ % 2 else ("kubectl", "kcm"):
                turn += 1
                argv = [names[turn % 2] if word == "{next}" else word for word in getattr(pair, tool)]
                finished = run_measured(argv, env, work)
                if round_:
                    pair.seconds[tool].append(finished.seconds)
                    if finished.max_rss_kb is not None:
                        pair.rss[tool].append(finished.max_rss_kb)
        finished = run_measured([python, "-c", "pass"], env, work)
        if round_:
            floor.append(finished.seconds)
    log(", ".join(f"{pair.label}: {pair.ratio():.2f}x" for pair in pairs))
    return _section(
        pairs, statistics.median(floor), machine(kubectl, shutil.which("aws") or "aws", kcm, env, work)
    )


def _section(pairs: list[Pair], floor: float, about: list[str]) -> str:
    lines = [
        "## Start-up: the everyday commands vs kubectl",
        "",
        *about,
        "",
        f"A generated kubeconfig of {CLUSTERS} EKS clusters (`bench/generate.py`, seed 7), named by",
        f"`KUBECONFIG`. Each command runs {ROUNDS} times after one untimed round, kcm and kubectl",
        "taking turns; `kcm use` and `kubectl config use-context` switch between two contexts, so each run",
        "writes the file.",
        "Median wall clock of the whole process; peak RSS from GNU time. kcm runs from compiled bytecode, as",
        "a pip install leaves it (run.py compiles `src/` first; PYTHONDONTWRITEBYTECODE is not passed on).",
        "Reproduce: `.venv/bin/python bench/run.py startup`.",
        "",
        "| what | kcm | kubectl | kcm s | kubectl s | kcm / kubectl | kcm peak RSS | kubectl peak RSS |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for pair in pairs:
        rss = {
            tool: f"{statistics.median(values) / 1024:.0f} MiB" if values else "-"
            for tool, values in pair.rss.items()
        }
        shown = {
            tool: " ".join(Path(word).name if i == 0 else word for i, word in enumerate(argv)).replace(
                "{next}", "CONTEXT"
            )
            for tool, argv in (("kcm", pair.kcm), ("kubectl", pair.kubectl))
        }
        lines.append(
            f"| {pair.label} | `{shown['kcm']}` | `{shown['kubectl']}` | {pair.median('kcm'):.3f} | "
            f"{pair.median('kubectl'):.3f} | {pair.ratio():.2f}x | {rss['kcm']} | {rss['kubectl']} |"
        )
    lines += [
        "",
        f"The Python interpreter alone (`python -c pass`, the floor under any kcm command): {floor:.3f} s.",
        "`kcm list`, `use`, `--help` and `--version` run from `kcm.main` without importing typer (and the",
        "pydantic it brings), boto3 or botocore; `tests/commands/test_list.py` fails if they do.",
        "",
        f"Target, each at most {TARGET:.0f}x kubectl:",
        "",
    ]
    for pair in pairs:
        verdict = "**holds**" if pair.ratio() <= TARGET else "**does not hold**"
        lines.append(
            f"- {pair.label}: {verdict} (measured {pair.ratio():.2f}x: "
            f"{pair.median('kcm'):.3f} s vs {pair.median('kubectl'):.3f} s)."
        )
    if gnu_time() is None:
        lines += ["", "No GNU time on this machine: peak RSS not measured."]
    return "\n".join(lines) + "\n"
