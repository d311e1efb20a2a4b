"""An installed kcm works as a user gets it: `kcm --version`, `kcm --help` and every command's `--help`.

Run by the Python of the environment kcm is installed in, from outside the checkout, so that only the
installed copy can be imported: `make dist-check` (a clean venv with the built wheel, and `uv tool install`
of it) and `make test-lowest` (the lowest versions pyproject.toml allows). Also checks that the
distribution carries its license and kcm's own AWS model. Exit status 1 and one line per failure.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import tempfile
from pathlib import Path

DISTRIBUTION = "kcm-eks"


def check(kcm: str) -> list[str]:
    """What went wrong running the `kcm` at that path: nothing when all is well."""
    import kcm as package
    from kcm.main import COMMANDS

    failures: list[str] = []
    if Path(package.__file__).resolve().is_relative_to(Path(__file__).resolve().parents[1] / "src"):
        failures.append(f"kcm imported from the checkout ({package.__file__}), not an installed copy")
    version = importlib.metadata.version(DISTRIBUTION)
    runs = [["--version"], ["--help"], *([name, "--help"] for name in COMMANDS)]
    with tempfile.TemporaryDirectory() as home:  # nothing of the user's is read or written
        env = {"PATH": os.environ.get("PATH", ""), "HOME": home, "LANG": "C.UTF-8", "TERM": "dumb"}
        for argv in runs:
            done = subprocess.run([kcm, *argv], capture_output=True, text=True, env=env, cwd=home)
            if done.returncode != 0 or not done.stdout:
                last = (done.stderr.strip().splitlines() or ["no output"])[-1]
                failures.append(f"kcm {' '.join(argv)}: exit {done.returncode}: {last}")
            elif argv == ["--version"] and done.stdout != f"kcm {version}\n":
                failures.append(f"kcm --version says {done.stdout.strip()!r}, the distribution {version}")
    files = [str(file) for file in importlib.metadata.files(DISTRIBUTION) or []]
    if not any(file.endswith("licenses/LICENSE") for file in files):
        failures.append(f"{DISTRIBUTION} carries no LICENSE")
    if not (Path(package.__file__).parent / "models/ec2/2016-11-15/service-2.json").is_file():
        failures.append("kcm's own EC2 model is missing (package data)")
    return failures


def main() -> int:
    kcm = sys.argv[1] if len(sys.argv) > 1 else str(Path(sys.executable).with_name("kcm"))
    failures = check(kcm)
    for failure in failures:
        print(f"check_install: {failure}", file=sys.stderr)
    if not failures:
        print(f"check_install: {kcm}: --version, --help and every command's --help run")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
