"""The text engine, where an entry gains or loses a key (`kcm ns`'s edit): only those bytes change."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from kcm import kubeconfig

BLOCK = """contexts:
- name: lab   # a comment on the entry's first line
  context:
    cluster: lab
    user: carol   # and on its last
- name: other
  context: {cluster: lab, user: carol}  # a flow one
"""


def edited(text: str, name: str, body: dict[str, Any]) -> str:
    doc = kubeconfig.loads(text)
    entry = doc.find("contexts", name)
    assert entry is not None
    doc.upsert("contexts", {**entry, "context": body})
    out = doc.dump()
    assert yaml.safe_load(out)["contexts"] == doc.data["contexts"]
    return out


@pytest.mark.parametrize(
    ("name", "body", "before", "after"),
    [
        (
            "lab",
            {"cluster": "lab", "user": "carol", "namespace": "web"},
            "    user: carol   # and on its last\n",
            "    user: carol   # and on its last\n    namespace: web\n",
        ),
        (
            "other",
            {"cluster": "lab", "user": "carol", "namespace": "web"},
            "{cluster: lab, user: carol}",
            "{cluster: lab, user: carol, namespace: web}",
        ),
        ("lab", {"cluster": "lab"}, "    user: carol   # and on its last\n", ""),
        ("other", {"cluster": "lab"}, "{cluster: lab, user: carol}", "{cluster: lab}"),
        ("other", {"user": "carol"}, "{cluster: lab, user: carol}", "{user: carol}"),
    ],
)
def test_a_key_added_or_removed_changes_only_its_own_text(
    name: str, body: dict[str, Any], before: str, after: str
) -> None:
    assert edited(BLOCK, name, body) == BLOCK.replace(before, after)


def test_a_key_added_then_removed_gives_the_file_back() -> None:
    added = edited(BLOCK, "other", {"cluster": "lab", "user": "carol", "namespace": "web"})
    assert edited(added, "other", {"cluster": "lab", "user": "carol"}) == BLOCK


def test_a_key_that_shares_the_dash_line_is_written_with_its_whole_entry() -> None:
    text = "contexts:\n- context: {cluster: c}\n  name: first\n"
    doc = kubeconfig.loads(text)
    doc.upsert("contexts", {"name": "first"})
    assert yaml.safe_load(doc.dump()) == {"contexts": [{"name": "first"}]}
