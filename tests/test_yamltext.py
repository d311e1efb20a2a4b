"""Strings kcm writes read back as the same strings, in YAML 1.1 (kubectl, PyYAML) and in kcm."""

from __future__ import annotations

import subprocess
import sys

import yaml
from hypothesis import given
from hypothesis import strategies as st

from kcm import yamltext
from kcm.kubeconfig import loads

names = st.text(min_size=0, max_size=40) | st.sampled_from(
    ["no", "on", "Y", "1.20", "0x1F", "12:30", "~", "null", "2024-01-01", "<<", "=", "-", "- a", "a: b", "#x"]
)


@given(names)
def test_block_scalars_read_back_as_the_same_string(value: str) -> None:
    text = f"name: {yamltext.scalar(value)}\n"
    assert yaml.safe_load(text) == {"name": value}
    assert loads(text).data == {"name": value}


@given(names)
def test_flow_scalars_read_back_as_the_same_string(value: str) -> None:
    text = f"args: [{yamltext.scalar(value, flow=True)}, x]\n"
    assert yaml.safe_load(text) == {"args": [value, "x"]}
    assert loads(text).data == {"args": [value, "x"]}


@given(st.dictionaries(st.text(min_size=1, max_size=10), names, min_size=1, max_size=5))
def test_a_rendered_entry_reads_back_as_the_entry(entry: dict[str, str]) -> None:
    lines = yamltext.sequence([entry], 0, yamltext.Style())
    text = "users:\n" + "\n".join(lines) + "\n"
    assert yaml.safe_load(text) == {"users": [entry]}


def test_plain_words_stay_plain() -> None:
    for value in ("arn:aws:eks:us-east-1:1:cluster/x", "https://a.example.com/", "--region", "v1"):
        assert yamltext.scalar(value) == value


def test_the_pure_core_imports_no_io_library() -> None:
    code = (
        "import sys; import kcm.kubeconfig, kcm.eks, kcm.yamltext;"
        "print(sorted(m for m in ('boto3', 'botocore', 'typer', 'filelock') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
