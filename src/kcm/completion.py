"""Shell completion. `kcm completion bash|zsh|fish` prints a script; the script runs
`kcm __complete WORD...` with the words after `kcm` up to the cursor (the last one the word being
typed, empty after a space), and kcm answers as kubectl's `__complete` does: the candidates one a line
(`value<TAB>description` where there is one to show), then `:N`, cobra's directives: 4, the shell must
not offer file names instead; 0, it may (a path option, merge's files).

Candidates come from kcm.options (commands, options, fixed choices) and from what the user has:
context names (kcm.quick: a read of the kubeconfig), namespaces (as `kcm ns` last listed them), AWS
profiles and IAM Identity Center sessions (the AWS config files), regions (botocore's data file, read
without importing botocore).
Completion never prints an error: a file it cannot read offers nothing.
"""

from __future__ import annotations

import os

from kcm import options
from kcm.options import Command, Option

NO_FILES = 4
FILES = 0


def answer(words: list[str]) -> str:
    """What `kcm __complete WORDS` prints."""
    candidates, directive = complete(words or [""])
    return "".join(f"{candidate}\n" for candidate in candidates) + f":{directive}\n"


def complete(words: list[str]) -> tuple[list[str], int]:
    """The candidates for the last of `words` (the words after `kcm`), and the directive."""
    *before, word = words
    leading = 0
    while leading < len(before) and before[leading] in ("--debug",):
        leading += 1
    if leading == len(before):  # the command's name is being typed
        if word.startswith("-"):
            return _matching([name for opt in options.GLOBAL for name in opt.names], word), NO_FILES
        from kcm.main import COMMANDS

        return [f"{name}\t{summary}" for name, summary in COMMANDS.items() if name.startswith(word)], NO_FILES
    name, *given = before[leading:]
    command = options.COMMANDS.get(name)
    if command is None:
        return [], NO_FILES
    return _for_command(command, given, word)


def _for_command(command: Command, given: list[str], word: str) -> tuple[list[str], int]:
    pending: Option | None = None
    positional = 0
    after_dashes = False
    kubeconfig: str | None = None
    for item in given:
        if pending is not None:
            if pending.key == "kubeconfig":
                kubeconfig = item
            pending = None
        elif after_dashes or item == "-" or not item.startswith("-"):
            positional += 1
        elif item == "--":
            after_dashes = True
        else:
            option_name, equals, value = item.partition("=")
            found = command.find(option_name)
            if found is not None and found.key == "kubeconfig" and equals:
                kubeconfig = value
            if found is not None and found.takes_value() and not equals:
                pending = found
    if after_dashes:
        return [], FILES  # `kcm exec -- COMMAND`: the shell completes the command
    if pending is not None:
        return _values(pending.values, word, kubeconfig)
    if word.startswith("--") and "=" in word:
        option_name, _, value = word.partition("=")
        found = command.find(option_name)
        if found is None or not found.takes_value():
            return [], NO_FILES
        candidates, directive = _values(found.values, value, kubeconfig)
        return [f"{option_name}={candidate}" for candidate in candidates], directive
    if word.startswith("-") and word != "-":
        names = [name for opt in command.options for name in (*opt.names, opt.negative) if name]
        return _matching([*names, "--help"], word), NO_FILES
    if positional < len(command.args):
        return _values(command.args[positional], word, kubeconfig)
    if command.repeat and command.args:
        return _values(command.args[-1], word, kubeconfig)
    return [], NO_FILES


def _matching(candidates: list[str], word: str) -> list[str]:
    return [candidate for candidate in dict.fromkeys(candidates) if candidate.startswith(word)]


def _values(kind: options.Values, word: str, kubeconfig: str | None) -> tuple[list[str], int]:
    if isinstance(kind, tuple):
        return _matching(list(kind), word), NO_FILES
    if kind == "file":
        return [], FILES
    if kind == "context":
        return _parts(_contexts(kubeconfig), word), NO_FILES
    if kind == "namespace":
        return _matching(_namespaces(kubeconfig), word), NO_FILES
    if kind in ("profile", "sso-session"):
        return _matching(_aws_sections(kind), word), NO_FILES
    if kind == "region":
        return _matching(_regions(), word), NO_FILES
    return [], NO_FILES


def _parts(names: list[str], word: str) -> list[str]:
    """Names that start with `word`; when none does, those that hold it, case aside (`kcm use` takes a
    part of a name, and a shell puts a single candidate in place of the word)."""
    starting = _matching(names, word)
    if starting or not word:
        return starting
    return [name for name in names if word.lower() in name.lower()]


def _contexts(kubeconfig: str | None) -> list[str]:
    from kcm import quick
    from kcm.errors import KcmError

    try:
        # a name with a line break or a tab in it cannot be one line of the answer (nor be typed)
        return [name for name in quick.View(kubeconfig).names() if name.isprintable()]
    except (KcmError, OSError):
        return []


def _namespaces(kubeconfig: str | None) -> list[str]:
    """The current context's namespaces, as `kcm ns` last listed them (kept 5 minutes); none when it
    has not: completion never asks the cluster."""
    from kcm import namespaces, quick
    from kcm.errors import KcmError

    try:
        current = quick.View(kubeconfig).current
    except (KcmError, OSError):
        return []
    found = namespaces.cached_namespaces(current, kubeconfig) if current else None
    return [name for name in found or [] if name.isprintable()]


def _aws_sections(kind: str) -> list[str]:
    """Profile names (`[profile NAME]`, `[default]` in the config file, `[NAME]` in the credentials
    file) or IAM Identity Center session names (`[sso-session NAME]`), as the AWS CLI reads them."""
    config = os.environ.get("AWS_CONFIG_FILE") or "~/.aws/config"
    credentials = os.environ.get("AWS_SHARED_CREDENTIALS_FILE") or "~/.aws/credentials"
    found: list[str] = []
    for path, in_config in ((config, True), (credentials, False)):
        if kind == "sso-session" and not in_config:
            continue
        for section in _sections(os.path.expanduser(path)):
            words = section.split(None, 1)
            if kind == "sso-session":
                if len(words) == 2 and words[0] == "sso-session":
                    found.append(words[1])
            elif not in_config or section == "default":
                found.append(section)
            elif len(words) == 2 and words[0] == "profile":
                found.append(words[1])
    return list(dict.fromkeys(found))


def _sections(path: str) -> list[str]:
    from kcm import regular
    from kcm.errors import KcmError

    try:
        data = regular.read_bytes(path)
    except KcmError:
        return []
    text = (data or b"").decode("utf-8", "replace")
    return [
        line.strip()[1:-1].strip()
        for line in text.splitlines()
        if line.strip().startswith("[") and line.strip().endswith("]")
    ]


def _regions() -> list[str]:
    """Every region botocore knows, the `aws` partition's first, from its endpoints file."""
    import importlib.util
    import json

    spec = importlib.util.find_spec("botocore")
    if spec is None or not spec.submodule_search_locations:
        return []
    folder = next(iter(spec.submodule_search_locations))
    try:
        with open(os.path.join(folder, "data", "endpoints.json"), encoding="utf-8") as stream:
            partitions = json.load(stream)["partitions"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    return [region for partition in partitions for region in partition.get("regions", {})]


_BASH = r"""# kcm completion for bash. Load it in this shell:  source <(kcm completion bash)
# or for every new one:  kcm completion bash > ~/.local/share/bash-completion/completions/kcm
_kcm() {
    local line=${COMP_LINE:0:COMP_POINT}
    local -a args
    read -r -a args <<< "$line"
    [[ $line =~ [[:space:]]$ ]] && args+=("")
    local out
    out=$(kcm __complete "${args[@]:1}" 2>/dev/null) || return 0
    local directive=${out##*:}
    out=${out%:*}
    # bash splits words at : and = (COMP_WORDBREAKS) and replaces only the last piece: trim the rest
    local cur=${COMP_WORDS[COMP_CWORD]}
    local full=${args[-1]}
    local trim=""
    [[ $full == *"$cur" ]] && trim=${full%"$cur"}
    COMPREPLY=()
    local candidate
    while IFS= read -r candidate; do
        candidate=${candidate%%$'\t'*}
        [[ -z $candidate ]] && continue
        [[ -n $trim && $candidate != "$trim"* ]] && continue
        # quoted for the command line: a name holding $(...), ; or a space stays one word, never code
        printf -v candidate '%q' "${candidate#"$trim"}"
        COMPREPLY+=("$candidate")
    done <<< "$out"
    if (( ${#COMPREPLY[@]} == 0 && (directive & 4) == 0 )); then
        compopt -o default 2>/dev/null
    fi
    return 0
}
complete -F _kcm kcm
"""

_ZSH = r"""#compdef kcm
# kcm completion for zsh. Load it in this shell:  source <(kcm completion zsh)
# or for every new one:  kcm completion zsh > "${fpath[1]}/_kcm"  (then restart zsh)
_kcm() {
    local out directive line value description
    local -a lines described plain
    out=$(kcm __complete "${(@)words[2,CURRENT]}" 2>/dev/null) || return 1
    lines=("${(@f)out}")
    directive=${lines[-1]#:}
    for line in "${(@)lines[1,-2]}"; do
        [[ -z $line ]] && continue
        if [[ $line == *$'\t'* ]]; then
            value=${line%%$'\t'*}
            description=${line#*$'\t'}
            described+=("${value//:/\\:}:${description}")
        else
            plain+=("$line")
        fi
    done
    (( ${#described} )) && _describe -t commands 'kcm command' described
    (( ${#plain} )) && compadd -- "${plain[@]}"  # compadd quotes each for the command line
    if (( ${#described} + ${#plain} == 0 && (directive & 4) == 0 )); then
        _files
    fi
}
if [[ "${funcstack[1]}" == "_kcm" ]]; then
    _kcm "$@"
else
    compdef _kcm kcm
fi
"""

_FISH = r"""# kcm completion for fish. Load it in this shell:  kcm completion fish | source
# or for every new one:  kcm completion fish > ~/.config/fish/completions/kcm.fish
function __kcm_complete
    set -l words (commandline -opc) (commandline -ct)
    set -l out (kcm __complete $words[2..-1] 2>/dev/null)
    or return
    set -l directive (string replace -r '^:' '' -- $out[-1])
    set -e out[-1]
    for candidate in $out
        test -n "$candidate"; and echo $candidate
    end
    if test (count $out) -eq 0; and test (math "$directive & 4") -eq 0
        __fish_complete_path (commandline -ct)
    end
end
complete -c kcm -f -a '(__kcm_complete)'
"""

_SCRIPTS = {"bash": _BASH, "zsh": _ZSH, "fish": _FISH}


def script(shell: str) -> str:
    return _SCRIPTS[shell]
