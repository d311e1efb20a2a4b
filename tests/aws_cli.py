"""The real AWS CLI for the oracle tests, served by tests/forkserver.py: its modules imported once, each
run a process of its own that reads its configuration, credentials, HOME and endpoint as a fresh `aws`
does (tests/test_forkserver.py checks the answers are a fresh `aws` process's, byte for byte)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests import forkserver

AWS = str(forkserver.BIN / "aws")


def run(
    args: list[str], env: dict[str, str], cwd: str | Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`aws ARGS...` in `env` and `cwd`: its exit status and output, as subprocess.run gives them."""
    return forkserver.run("aws", args, env=env, cwd=cwd, timeout=timeout)
