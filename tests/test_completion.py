"""Shell completion: `kcm __complete` answers, and the scripts of `kcm completion` in real shells."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kcm.main import COMMANDS

KCM = str(Path(sys.executable).parent / "kcm")
ARN = "arn:aws:eks:eu-west-1:111111111111:cluster/web"
CONFIG = f"""apiVersion: v1
kind: Config
contexts:
- name: {ARN}
  context: {{cluster: c, user: u}}
- name: payments-prod
  context: {{cluster: c, user: u}}
- name: payments-staging
  context: {{cluster: c, user: u}}
current-context: payments-prod
"""


@pytest.fixture
def config(tmp_path: Path, isolated: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "config"
    path.write_text(CONFIG)
    monkeypatch.setenv("KUBECONFIG", str(path))
    aws = isolated / ".aws"
    aws.mkdir()
    (aws / "config").write_text(
        "[default]\nregion = us-east-1\n[profile prod-admin]\nregion = eu-west-1\n"
        "[sso-session corp]\nsso_region = us-east-1\n[profile  lab ]\n"
    )
    (aws / "credentials").write_text("[ci-bot]\naws_access_key_id = x\n[default]\n")
    return path


def complete(*words: str) -> tuple[list[str], str]:
    done = subprocess.run([KCM, "__complete", *words], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == ""
    *candidates, directive = done.stdout.splitlines()
    return candidates, directive


@pytest.mark.usefixtures("config")
@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (
            ["us"],
            (
                ["use\t" + COMMANDS["use"]],
                ":4",
            ),
        ),
        (["--"], (["--debug", "--version", "--help"], ":4")),
        (["use", "pay"], (["payments-prod", "payments-staging"], ":4")),
        (["use", "arn:aws:eks:eu"], ([ARN], ":4")),
        (["use", "STAGING"], (["payments-staging"], ":4")),  # no name starts so: the names that hold it
        (["rm", "payments-prod", "pay"], (["payments-prod", "payments-staging"], ":4")),
        (["use", "x", "y"], ([], ":4")),  # use takes one context
        (["rename", "payments-prod", ""], ([], ":4")),  # a new name: nothing to offer
        (["doctor", "--context", "payments-s"], (["payments-staging"], ":4")),
        (["doctor", "--context=payments-s"], (["--context=payments-staging"], ":4")),
        (["sync", "--set-current", "pay"], (["payments-prod", "payments-staging"], ":4")),
        (["sync", "--prun"], (["--prune"], ":4")),
        (["sync", "--no-"], (["--no-prune", "--no-write-profiles", "--no-adopt"], ":4")),
        (["sync", "-o", ""], (["text", "json"], ":4")),
        (["list", "--output", "n"], (["name"], ":4")),
        (["sync", "--profile", ""], (["default", "prod-admin", "lab", "ci-bot"], ":4")),
        (["add", "--profile", "p"], (["prod-admin"], ":4")),
        (["sync", "--sso-session", ""], (["corp"], ":4")),
        (["sync", "--region", "eu-west-"], (["eu-west-1", "eu-west-2", "eu-west-3"], ":4")),
        (["sync", "--kubeconfig", ""], ([], ":0")),  # a path: the shell completes files
        (["merge", ""], ([], ":0")),
        (["merge", "--on-conflict", "t"], (["theirs"], ":4")),
        (["exec", "--context", "payments-prod", "--", "kub"], ([], ":0")),
        (["completion", ""], (["bash", "zsh", "fish"], ":4")),
        (["env", "--format", ""], (["sh", "github"], ":4")),
        (["add", "--token-helper", ""], (["aws", "kcm"], ":4")),
        (["sync", "--discovery", "r"], (["resource-explorer"], ":4")),
        (
            ["--debug", "lis"],
            (
                ["list\t" + COMMANDS["list"]],
                ":4",
            ),
        ),
        (["no-such-command", ""], ([], ":4")),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else "",
)
def test_complete_answers_commands_options_and_values(
    words: list[str], expected: tuple[list[str], str]
) -> None:
    assert complete(*words) == expected


def test_contexts_come_from_the_kubeconfig_the_command_line_names(config: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.write_text(CONFIG.replace("payments", "search"))
    assert complete("use", "--kubeconfig", str(other), "sea")[0] == ["search-prod", "search-staging"]
    assert complete("use", f"--kubeconfig={other}", "pay")[0] == []
    assert complete("use", "pay")[0] == ["payments-prod", "payments-staging"]


def test_a_name_that_cannot_be_one_line_is_not_offered(config: Path) -> None:
    config.write_text(CONFIG.replace("payments-staging", '"payments-\\nstaging"'))
    assert complete("use", "pay")[0] == ["payments-prod"]


def test_a_broken_kubeconfig_completes_nothing_and_says_nothing(config: Path, tmp_path: Path) -> None:
    config.write_text("contexts: [\n")
    assert complete("use", "") == ([], ":4")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert complete("use", "--kubeconfig", str(fifo), "") == ([], ":4")


@pytest.mark.usefixtures("config")
def test_completing_a_context_imports_neither_typer_nor_yaml_nor_aws(tmp_path: Path) -> None:
    complete("use", "")  # the first read of the file parses it and keeps what it found
    code = (
        "import sys; sys.argv = ['kcm', '__complete', 'use', 'pay']\n"
        "from kcm import main\nmain.fast(sys.argv[1:])\nsys.stderr.write(' '.join(sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout == "payments-prod\npayments-staging\n:4\n"
    assert not {"typer", "yaml", "boto3", "botocore", "kcm.kubeconfig"} & set(done.stderr.split())


# ---- the scripts, in real shells ----------------------------------------------------------------------
BASH = shutil.which("bash")


def _bash_complete(line: str, env: dict[str, str]) -> list[str]:
    """COMPREPLY after bash's completion of `line` (the cursor at its end), through the script."""
    script = subprocess.run([KCM, "completion", "bash"], capture_output=True, text=True, check=True).stdout
    program = f"""
{script}
complete -p kcm
line=$1
COMP_LINE=$line
COMP_POINT=${{#line}}
# split as readline does: at spaces, and at the COMP_WORDBREAKS characters : and =
COMP_WORDS=()
word=""
for (( i = 0; i < ${{#line}}; i++ )); do
    c=${{line:i:1}}
    if [[ $c == " " ]]; then [[ -n $word ]] && COMP_WORDS+=("$word"); word=""
    elif [[ $c == ":" || $c == "=" ]]; then
        [[ -n $word ]] && COMP_WORDS+=("$word"); COMP_WORDS+=("$c"); word=""
    else word+=$c; fi
done
if [[ -n $word ]]; then COMP_WORDS+=("$word"); elif [[ $line == *" " ]]; then COMP_WORDS+=(""); fi
COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
_kcm kcm "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    path = f"{Path(KCM).parent}{os.pathsep}{env.get('PATH', '')}"
    assert BASH is not None
    done = subprocess.run(
        [BASH, "--norc", "--noprofile", "-c", program, "bash", line],
        capture_output=True,
        text=True,
        env={**env, "PATH": path},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    registered, *replies = done.stdout.splitlines()
    assert registered == "complete -F _kcm kcm"
    return [reply for reply in replies if reply]


@pytest.mark.skipif(BASH is None, reason="bash is not on PATH")
def test_bash_completes_through_the_script(config: Path) -> None:
    env = dict(os.environ)
    assert _bash_complete("kcm us", env) == ["use"]
    assert _bash_complete("kcm use pay", env) == ["payments-prod", "payments-staging"]
    assert _bash_complete("kcm use STAG", env) == ["payments-staging"]
    # bash replaces only the piece after the last `:`: the script offers the rest of the name from there
    assert _bash_complete("kcm use arn:aws:eks:eu", env) == ["eu-west-1:111111111111:cluster/web"]
    # the cursor right after a `:`: that `:` is the piece replaced
    assert _bash_complete("kcm use arn:aws:", env) == [":eks:eu-west-1:111111111111:cluster/web"]
    assert _bash_complete("kcm sync --output=j", env) == ["json"]
    assert _bash_complete("kcm sync --prune ", env) == []


@pytest.mark.skipif(BASH is None, reason="bash is not on PATH")
def test_bash_quotes_what_it_puts_on_the_command_line(config: Path, tmp_path: Path) -> None:
    """A context name is data: completed, it is one quoted word, and pressing Enter runs nothing in it."""
    planted = tmp_path / "PWNED"
    name = f"pwn$(touch {planted});x y"
    config.write_text(CONFIG.replace("payments-staging", "'" + name + "'"))
    [reply] = _bash_complete("kcm use pwn", dict(os.environ))
    assert reply != name and not planted.exists()
    assert BASH is not None
    # what the shell then runs: the line with the reply in place of the word
    words = subprocess.run(
        [BASH, "-c", f"printf '%s\\n' {reply}"], capture_output=True, text=True, check=True
    )
    assert words.stdout == name + "\n" and not planted.exists()


ZSH, FISH = shutil.which("zsh"), shutil.which("fish")


@pytest.mark.skipif(ZSH is None, reason="zsh is not on PATH (Debian: apt install zsh)")
def test_the_zsh_script_parses() -> None:
    script = subprocess.run([KCM, "completion", "zsh"], capture_output=True, text=True, check=True).stdout
    assert script.startswith("#compdef kcm\n")
    assert ZSH is not None
    done = subprocess.run([ZSH, "-n", "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


@pytest.mark.skipif(FISH is None, reason="fish is not on PATH (Debian: apt install fish)")
def test_fish_completes_through_the_script(config: Path, tmp_path: Path) -> None:
    script = subprocess.run([KCM, "completion", "fish"], capture_output=True, text=True, check=True).stdout
    assert FISH is not None
    parsed = subprocess.run([FISH, "--no-execute", "-c", script], capture_output=True, text=True, timeout=60)
    assert parsed.returncode == 0, parsed.stderr
    saved = tmp_path / "kcm.fish"
    saved.write_text(script)
    env = {**os.environ, "PATH": f"{Path(KCM).parent}{os.pathsep}{os.environ['PATH']}"}
    asked = f"source {saved}; complete -C 'kcm use pay'; complete -C 'kcm sync --region eu-west-'"
    done = subprocess.run(
        [FISH, "--no-config", "-c", asked], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["payments-prod", "payments-staging", "eu-west-1", "eu-west-2", "eu-west-3"]
