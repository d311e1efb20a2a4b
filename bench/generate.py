"""Realistic, deterministic kubeconfig files for benchmarks and tests.

The layout is what `aws eks update-kubeconfig` leaves behind after many runs (PyYAML block style, keys
sorted, lists not indented under their key), plus the hand-written `# comments` real files collect.
Each cluster carries a ~1.5 KB certificate-authority-data: base64 of a PEM certificate, as EKS returns it.

    from generate import generate_kubeconfig
    text = generate_kubeconfig(1000, seed=7)   # about 2.3 MB, the same text on every call
"""

from __future__ import annotations

import base64
import random
import textwrap
from dataclasses import dataclass
from pathlib import Path

REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2")
TEAMS = ("payments", "search", "platform", "data", "ml", "identity", "checkout", "edge")
STAGES = ("dev", "staging", "prod")
EXEC_API_VERSION = "client.authentication.k8s.io/v1beta1"
_CERT_DER_BYTES = 800  # a typical EKS CA certificate; its PEM in base64 is ~1.5 KB


@dataclass(frozen=True)
class FakeCluster:
    """One EKS cluster as it appears in a kubeconfig written by the AWS CLI."""

    name: str
    region: str
    account: str
    team: str
    profile: str
    endpoint: str
    certificate_authority: str
    context_name: str  # the ARN, or an --alias for some clusters
    namespace: str | None  # set by hand on some contexts

    @property
    def arn(self) -> str:
        return f"arn:aws:eks:{self.region}:{self.account}:cluster/{self.name}"


def _certificate(rng: random.Random) -> str:
    der = base64.b64encode(rng.randbytes(_CERT_DER_BYTES)).decode()
    body = "\n".join(textwrap.wrap(der, 64))
    pem = f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"
    return base64.b64encode(pem.encode()).decode()


def fake_clusters(n: int, seed: int = 0) -> list[FakeCluster]:
    """`n` distinct clusters; the same list for the same `n` and `seed`."""
    rng = random.Random(seed)  # noqa: S311 (test data, not cryptography)
    accounts = [f"{rng.randrange(10**11, 10**12):012d}" for _ in range(6)]
    clusters: list[FakeCluster] = []
    for index in range(n):
        team = rng.choice(TEAMS)
        stage = rng.choice(STAGES)
        region = rng.choice(REGIONS)
        name = f"{team}-{stage}-{index:04d}"
        host = f"{rng.randbytes(16).hex().upper()}.{rng.choice(('gr7', 'yl4', 'sk1'))}"
        aliased = rng.random() < 0.3
        clusters.append(
            FakeCluster(
                name=name,
                region=region,
                account=rng.choice(accounts),
                team=team,
                profile=f"{team}-{stage}",
                endpoint=f"https://{host}.{region}.eks.amazonaws.com",
                certificate_authority=_certificate(rng),
                context_name=name if aliased else "",
                namespace=team if rng.random() < 0.2 else None,
            )
        )
    return clusters


def _context_name(cluster: FakeCluster) -> str:
    return cluster.context_name or cluster.arn


def _comment(rng: random.Random, index: int, cluster: FakeCluster) -> list[str]:
    """Now and then a hand-written comment line before an entry, as people leave them."""
    if index == 0 or rng.random() < 0.08:
        return [f"# --- {cluster.team} ({cluster.region}) ---"]
    return []


def generate_kubeconfig(n: int, seed: int = 0) -> str:
    """A kubeconfig with `n` EKS clusters, contexts and users, and some `# comment` lines."""
    clusters = fake_clusters(n, seed)
    rng = random.Random(seed + 1)  # noqa: S311 (test data, not cryptography)
    lines = [
        f"# kubeconfig of the platform team: {n} EKS clusters.",
        "# Entries come from `aws eks update-kubeconfig`; comments were added by hand.",
        "apiVersion: v1",
        "clusters:",
    ]
    for index, cluster in enumerate(clusters):
        lines += _comment(rng, index, cluster)
        lines += [
            "- cluster:",
            f"    certificate-authority-data: {cluster.certificate_authority}",
            f"    server: {cluster.endpoint}",
            f"  name: {cluster.arn}",
        ]
    lines.append("contexts:")
    for index, cluster in enumerate(clusters):
        lines += _comment(rng, index, cluster)
        lines += ["- context:", f"    cluster: {cluster.arn}"]
        if cluster.namespace:
            lines.append(f"    namespace: {cluster.namespace}  # set with kubectl config set-context")
        lines += [f"    user: {cluster.arn}", f"  name: {_context_name(cluster)}"]
    current = _context_name(clusters[0]) if clusters else '""'
    lines += [f"current-context: {current}", "kind: Config", "preferences: {}", "users:"]
    for index, cluster in enumerate(clusters):
        lines += _comment(rng, index, cluster)
        lines += [
            f"- name: {cluster.arn}",
            "  user:",
            "    exec:",
            f"      apiVersion: {EXEC_API_VERSION}",
            "      args:",
            "      - --region",
            f"      - {cluster.region}",
            "      - eks",
            "      - get-token",
            "      - --cluster-name",
            f"      - {cluster.name}",
            "      - --output",
            "      - json",
            "      command: aws",
            "      env:",
            "      - name: AWS_PROFILE",
            f"        value: {cluster.profile}",
        ]
    if not clusters:
        lines[3] = "clusters: []"
        lines[lines.index("contexts:")] = "contexts: []"
        lines[-1] = "users: []"
    return "\n".join(lines) + "\n"


def write_kubeconfig(path: Path, n: int, seed: int = 0) -> Path:
    """Write `generate_kubeconfig(n, seed)` to `path` (mode 0600, as kubectl keeps it)."""
    path.write_text(generate_kubeconfig(n, seed), encoding="utf-8")
    path.chmod(0o600)
    return path
