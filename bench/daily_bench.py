"""The `daily` part of `make bench` (`.venv/bin/python bench/run.py daily` alone): what a shell prompt,
a <TAB> and a switch back cost, beside kubectl's, on a 10- and a 1,000-cluster kubeconfig.

`kcm current` vs `kubectl config current-context` (a prompt runs it before every line), `kcm __complete
use PREFIX` vs `kubectl __complete config use-context PREFIX` (a <TAB>), `kcm use -` vs `kubectl config
use-context CONTEXT` (each run switches, so both write every time). Each tool has its own copy of the
kubeconfig, so that one's writes never make the other's file new to it. kcm's steady state is a file
it has read before (its cache matches the bytes); one more row measures `kcm current` on a file new to
it each time (the first prompt after kubectl or an editor changed the file), which parses it fully.
"""

from __future__ import annotations

import shutil
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from common import clean_env, log, machine, run_measured
from generate import fake_clusters, write_kubeconfig

SIZES = (10, 1000)
ROUNDS = 21
TARGET = 1.0  # issue 17: each at most 1.0x kubectl


@dataclass
class Pair:
    label: str
    kcm: list[str]
    kubectl: list[str]
    target: bool = True  # held to TARGET
    seconds: dict[str, list[float]] = field(default_factory=lambda: {"kcm": [], "kubectl": []})

    def median(self, tool: str) -> float:
        return statistics.median(self.seconds[tool])

    def ratio(self) -> float:
        return self.median("kcm") / self.median("kubectl")


def _measure(work: Path, kcm: str, kubectl: str, size: int) -> list[Pair]:
    home = work / f"home-{size}"
    home.mkdir()
    configs = {tool: write_kubeconfig(work / f"{tool}-{size}", size, seed=7) for tool in ("kcm", "kubectl")}
    names = [cluster.context_name or cluster.arn for cluster in fake_clusters(size, seed=7)][:2]
    prefix = names[1][: len(names[1]) - 3]
    envs = {tool: {**clean_env(home), "KUBECONFIG": str(path)} for tool, path in configs.items()}
    cache = home / "kcm-cache"
    pairs = [
        Pair("current context (a prompt)", [kcm, "current"], [kubectl, "config", "current-context"]),
        Pair(
            "complete a context name (a <TAB>)",
            [kcm, "__complete", "use", prefix],
            [kubectl, "__complete", "config", "use-context", prefix],
        ),
        Pair("switch back (kcm use -)", [kcm, "use", "-"], [kubectl, "config", "use-context", "{next}"]),
        Pair(
            "current context, file new to kcm",
            [kcm, "current"],
            [kubectl, "config", "current-context"],
            target=False,
        ),
    ]
    run_measured([kcm, "use", names[1]], envs["kcm"], work)  # so that `kcm use -` has somewhere to go
    turn = 0
    for round_ in range(ROUNDS + 1):  # round 0: untimed warm-up (page cache, kcm's cache of the file)
        for pair in pairs:
            for tool in ("kcm", "kubectl") if round_ % 2 else ("kubectl", "kcm"):
                turn += 1
                env = dict(envs[tool])
                if not pair.target and tool == "kcm":
                    shutil.rmtree(cache, ignore_errors=True)
                    env["KCM_CACHE_DIR"] = str(cache)
                argv = [names[turn % 2] if word == "{next}" else word for word in getattr(pair, tool)]
                finished = run_measured(argv, env, work)
                if round_:
                    pair.seconds[tool].append(finished.seconds)
    return pairs


def run(work: Path, kcm: str, kubectl: str) -> str:
    results = {size: _measure(work, kcm, kubectl, size) for size in SIZES}
    log(
        ", ".join(
            f"{size}: " + ", ".join(f"{p.ratio():.2f}x" for p in pairs) for size, pairs in results.items()
        )
    )
    env = clean_env(work)
    about = machine(kubectl, shutil.which("aws") or "aws", kcm, env, work)
    lines = [
        "## Daily use: prompt, completion and switching back vs kubectl",
        "",
        *about,
        "",
        "Generated kubeconfigs of 10 and 1,000 EKS clusters (`bench/generate.py`, seed 7; 24 KB and",
        f"2.3 MB), one copy per tool, named by `KUBECONFIG`. Each command runs {ROUNDS} times after one",
        'untimed round, the tools taking turns; median wall clock of the whole process. The rows "file',
        'new to kcm" run kcm with an empty cache each time: a file kcm has not seen (changed by another',
        "tool), which it parses fully once.",
        "Reproduce: `.venv/bin/python bench/run.py daily`.",
        "",
        "| clusters | what | kcm | kubectl | kcm s | kubectl s | kcm / kubectl |",
        "|---:|---|---|---|---:|---:|---:|",
    ]
    for size, pairs in results.items():
        for pair in pairs:
            shown = {
                tool: " ".join(Path(w).name if i == 0 else w for i, w in enumerate(argv)).replace(
                    "{next}", "CONTEXT"
                )
                for tool, argv in (("kcm", pair.kcm), ("kubectl", pair.kubectl))
            }
            lines.append(
                f"| {size:,} | {pair.label} | `{shown['kcm']}` | `{shown['kubectl']}` | "
                f"{pair.median('kcm'):.3f} | {pair.median('kubectl'):.3f} | {pair.ratio():.2f}x |"
            )
    lines += [
        "",
        "None of kcm's commands here imports typer, boto3, botocore or PyYAML when its cache matches the",
        "file (`tests/commands/test_current.py`, `tests/test_completion.py` fail if one does).",
        "",
        f"Target (issue 17), each at most {TARGET:.1f}x kubectl, at both sizes:",
        "",
    ]
    for size, pairs in results.items():
        for pair in pairs:
            if not pair.target:
                continue
            verdict = "**holds**" if pair.ratio() <= TARGET else "**does not hold**"
            lines.append(
                f"- {size:,} clusters, {pair.label}: {verdict} (measured {pair.ratio():.2f}x: "
                f"{pair.median('kcm'):.3f} s vs {pair.median('kubectl'):.3f} s)."
            )
    return "\n".join(lines) + "\n"
