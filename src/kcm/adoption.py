"""Taking over what other tools wrote: a context for the same cluster, reached with the same identity,
that `aws eks update-kubeconfig`, eksctl, `kcm add` or a hand wrote before kcm's first sync. Pure.

The same cluster: the context's cluster entry is named by the cluster's ARN (as the AWS CLI names it) or
points at its endpoint (eksctl names it `NAME.REGION.eksctl.io`). The same identity: the user entry
runs the AWS CLI, aws-iam-authenticator or kcm with the same profile (AWS_PROFILE in its env, or
`--profile`; none is the default profile) and the same role (`--role`, `--role-arn`, `-r`). A context
for the cluster with another identity is another way in: it stays as it is, and the plan says so.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from kcm.eks import Entries
from kcm.schema import name_of

Identity = tuple[str, str]  # (profile, role ARN or "")
_RUNNERS = ("aws", "aws-iam-authenticator", "kcm")


def _body(entry: dict[str, Any] | None, key: str) -> dict[str, Any]:
    body = (entry or {}).get(key)
    return body if isinstance(body, dict) else {}


def identity(user: dict[str, Any] | None) -> Identity | None:
    """Who a user entry is to AWS, when its exec says: None for a token, a certificate, another plugin."""
    exec_ = _body(user, "user").get("exec")
    if not isinstance(exec_, dict) or os.path.basename(str(exec_.get("command") or "")) not in _RUNNERS:
        return None
    args = [str(arg) for arg in exec_.get("args") or []] if isinstance(exec_.get("args"), list) else []
    env = {
        str(item.get("name")): str(item.get("value") or "")
        for item in exec_.get("env") or []
        if isinstance(item, dict)
    }
    profile = env.get("AWS_PROFILE") or _argument(args, "--profile") or "default"
    return profile, _argument(args, "--role", "--role-arn", "-r")


def _argument(args: list[str], *names: str) -> str:
    for index, word in enumerate(args):
        if word in names and index + 1 < len(args):
            return args[index + 1]
        for name in names:
            if word.startswith(name + "="):
                return word[len(name) + 1 :]
    return ""


def describe(found: Identity | None) -> str:
    if found is None:
        return "a user kcm cannot tell the identity of (a token, a certificate, another plugin)"
    profile, role = found
    return f"role {role} (profile {profile})" if role else f"profile {profile}"


def _server(cluster: dict[str, Any] | None) -> str:
    return str(_body(cluster, "cluster").get("server") or "").rstrip("/").lower()


@dataclass(frozen=True)
class Taken:
    context: str  # its name, which stays
    source: str  # who most likely wrote it, for the plan
    entries: frozenset[tuple[str, str]]  # (section, name) of what kcm takes over


class Candidates:
    """The contexts another tool wrote, for `take` to pick from, each at most once."""

    def __init__(self, existing: dict[str, dict[str, dict[str, Any]]]) -> None:
        from kcm.reconcile import origin

        self.clusters = existing["clusters"]
        self.users = existing["users"]
        self.contexts = {
            name: context
            for name, context in existing["contexts"].items()
            if name and origin("contexts", context) is None
        }
        self.taken: set[str] = set()

    def take(self, wanted: Entries, notes: list[str]) -> Taken | None:
        """The context to take over for `wanted`'s cluster and identity, if another tool wrote one;
        what was left alone, and why, goes to `notes`."""
        arn = str(wanted.cluster["name"])
        server = _server(wanted.cluster)
        mine = identity(wanted.user)
        same: list[str] = []
        for name, context in self.contexts.items():
            if name in self.taken:
                continue
            cluster_name = str(_body(context, "context").get("cluster") or "")
            user = self.users.get(str(_body(context, "context").get("user") or ""))
            if not self._same_cluster(cluster_name, user, arn, server, name_of(wanted.cluster)):
                continue
            theirs = identity(user)
            if theirs == mine:
                same.append(name)
            else:
                notes.append(
                    f"context '{name}' reaches {arn} as {describe(theirs)}, not as {describe(mine)}: "
                    "another way in, left as it is"
                )
        if not same:
            return None
        chosen, *others = same
        notes += [
            f"context '{other}' also reaches {arn} as {describe(mine)}: left as it is (kcm takes over "
            f"'{chosen}')"
            for other in others
        ]
        self.taken.add(chosen)
        body = _body(self.contexts[chosen], "context")
        cluster_name, user_name = str(body.get("cluster") or ""), str(body.get("user") or "")
        entries = {("contexts", chosen)}
        if cluster_name in self.clusters:
            entries.add(("clusters", cluster_name))
        if user_name in self.users and self._only_for(user_name, cluster_name, arn):
            entries.add(("users", user_name))
        return Taken(chosen, _source(chosen, cluster_name, self.users.get(user_name)), frozenset(entries))

    def _same_cluster(
        self, cluster_name: str, user: dict[str, Any] | None, arn: str, server: str, wanted_name: str
    ) -> bool:
        """By the ARN the cluster entry is named by, else by its server; never when the entry names
        another cluster's ARN, or the user's get-token names another cluster."""
        if cluster_name == arn:
            return True
        if cluster_name.startswith("arn:") and ":eks:" in cluster_name:
            return False
        named = _token_cluster(user)
        if named and named != arn.rsplit("/", 1)[-1]:
            return False
        return bool(server) and _server(self.clusters.get(cluster_name)) == server

    def _only_for(self, user_name: str, cluster_name: str, arn: str) -> bool:
        """Whether every context naming this user is for this cluster: a user entry shared with another
        cluster's context stays as it is (kcm's own user is written beside it)."""
        return all(
            str(_body(context, "context").get("cluster") or "") in (cluster_name, arn)
            for context in self.contexts.values()
            if _body(context, "context").get("user") == user_name
        )


def _token_cluster(user: dict[str, Any] | None) -> str:
    """The cluster a user's get-token (or aws-iam-authenticator) asks a token for, if it says."""
    exec_ = _body(user, "user").get("exec")
    args = [str(arg) for arg in exec_.get("args") or []] if isinstance(exec_, dict) else []
    return _argument(args, "--cluster-name", "-i", "--cluster-id")


def _source(context: str, cluster: str, user: dict[str, Any] | None) -> str:
    """Who most likely wrote these entries, from their shape."""
    exec_ = _body(user, "user").get("exec")
    command = os.path.basename(str(exec_.get("command") or "")) if isinstance(exec_, dict) else ""
    if cluster.endswith(".eksctl.io") or context.endswith(".eksctl.io"):
        return "eksctl"
    if command == "aws-iam-authenticator":
        return "aws-iam-authenticator's setup"
    if command == "aws" and name_of(user or {}).startswith("arn:") and cluster.startswith("arn:"):
        return "aws eks update-kubeconfig"
    return "another tool, or by hand"
