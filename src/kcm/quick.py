"""What the everyday commands need of the kubeconfig, at the cost of reading it: the context names,
the current context, and where current-context's value is written.

A file is parsed fully (kcm.kubeconfig, with every check kubectl makes) once per version of it; what
that found is kept in kcm's cache folder (0600, in a 0700 folder), under the file's path, with a
digest of its exact bytes. A file changed in any way, by any tool, no longer matches its digest and is
parsed again. `kcm current`, `kcm __complete` and `kcm use` read from here: on a match nothing imports
PyYAML, typer or botocore, and `kcm use` writes its one changed value where the parse found it, as
the full edit would (tests hold the two byte for byte equal).
"""

from __future__ import annotations

import contextlib
import marshal
import os

from kcm import folders, paths, regular
from kcm.errors import InputError, KcmError

try:  # CPython's own BLAKE2, without loading OpenSSL as hashlib does
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - a Python built without it
    from hashlib import blake2b

FORMAT = 1  # of the cached record; a record of another format is ignored
_LIMIT = 64 << 20
_CHECK = 16  # bytes of the record's own checksum, before it
_KEPT_FOR = 30 * 24 * 3600


class Facts:
    """One file's findings: its digest, its current-context ("" when unset), the span of that value's
    text (None: kcm.kubeconfig must make the edit), and its contexts by name, in file order:
    (cluster, user, namespace, the name as a YAML scalar)."""

    __slots__ = ("contexts", "current", "digest", "span")

    def __init__(
        self,
        digest: bytes,
        current: str,
        span: tuple[int, int] | None,
        contexts: dict[str, tuple[str, str, str, str]],
    ) -> None:
        self.digest = digest
        self.current = current
        self.span = span
        self.contexts = contexts


def digest(data: bytes) -> bytes:
    return blake2b(data, digest_size=20).digest()


def _record_path(path: str) -> str:
    name = blake2b(path.encode("utf-8", "surrogateescape"), digest_size=10).hexdigest()
    return os.path.join(folders.user_cache(), "kubeconfigs", name)


def of(path: str, data: bytes) -> Facts:
    """The findings for `data`, the bytes just read from `path`: from the cache when it holds these
    very bytes, else from a full parse (whose errors are the file's: InputError), then kept."""
    key = digest(data)
    found = _cached(path, key)
    if found is None:
        found = _parse(path, data, key)
        keep(path, found, tidy=True)
    return found


def _cached(path: str, key: bytes) -> Facts | None:
    from pathlib import Path

    raw = folders.read_private(Path(_record_path(path)), limit=_LIMIT)
    if not raw:
        return None
    check, payload = raw[:_CHECK], raw[_CHECK:]
    if blake2b(payload, digest_size=_CHECK).digest() != check:
        return None  # a damaged record never reaches marshal, which is not made for bad input
    try:
        record = marshal.loads(payload)  # noqa: S302 - our own record, checked, in a private folder
    except (EOFError, ValueError, TypeError):
        return None
    if not (isinstance(record, tuple) and len(record) == 5 and record[:2] == (FORMAT, key)):
        return None
    _, _, current, span, contexts = record
    return Facts(key, current, span, contexts)


def _parse(path: str, data: bytes, key: bytes) -> Facts:
    from kcm import kubeconfig, yamltext
    from kcm.schema import name_of

    doc = kubeconfig.loads(regular.decode(data, path), path)
    current = doc.data.get("current-context")
    span = doc.scalar_span("current-context") if regular.codec(data) == "utf-8" else None
    contexts: dict[str, tuple[str, str, str, str]] = {}
    for entry in doc.entries("contexts"):
        body = entry.get("context")
        body = body if isinstance(body, dict) else {}
        name = name_of(entry)
        fields = tuple(str(body.get(field) or "") for field in ("cluster", "user", "namespace"))
        contexts.setdefault(name, (*fields, yamltext.flow(name)))  # type: ignore[arg-type]
    return Facts(key, current if isinstance(current, str) else "", span, contexts)


def keep(path: str, facts: Facts, tidy: bool = False) -> None:
    """Keep `facts` for the next command; a cache that cannot hold them costs only the next parse.
    `tidy` (after a parse, which costs far more) also removes the records of files not read for
    `_KEPT_FOR` seconds and the temporary files of writers that died before their rename."""
    from pathlib import Path

    payload = marshal.dumps((FORMAT, facts.digest, facts.current, facts.span, facts.contexts))
    record = blake2b(payload, digest_size=_CHECK).digest() + payload
    target = _record_path(path)
    with contextlib.suppress(OSError):
        folder = folders.private(Path(target).parent, parents=2)  # kubeconfigs, kcm (the cache's)
        if tidy:
            _tidy(folder)
        temp = os.path.join(folder, f".{os.path.basename(target)}.{os.getpid()}.tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            try:
                if os.write(fd, record) != len(record):
                    raise OSError("short write")
            finally:
                os.close(fd)
            os.replace(temp, target)
        except OSError:
            os.unlink(temp)  # a full disk: no half record left behind
            raise


def _tidy(folder: os.PathLike[str]) -> None:
    import time

    from kcm import lock

    old = time.time() - _KEPT_FOR
    for entry in os.scandir(folder):
        with contextlib.suppress(OSError, ValueError):
            if entry.name.endswith(".tmp"):
                if not lock.alive(int(entry.name.rsplit(".", 2)[-2])):
                    os.unlink(entry.path)
            elif max(entry.stat(follow_symlinks=False).st_atime, entry.stat().st_mtime) < old:
                os.unlink(entry.path)


class View:
    """A KUBECONFIG list's findings as kubectl merges them: the first file naming a context wins it,
    the first non-empty current-context wins, and that file (else the first that exists) holds it."""

    def __init__(self, explicit: str | None = None) -> None:
        self.paths = paths.kubeconfig_files(explicit)
        self.files: list[Facts | None] = []
        self.contexts: dict[str, tuple[str, str, str, str]] = {}
        self.current = ""
        self.holder: int | None = None
        for index, path in enumerate(self.paths):
            data = regular.read_bytes(path)
            facts = of(path, data) if data is not None else None
            self.files.append(facts)
            if facts is None:
                continue
            if self.holder is None:
                self.holder = index
            if facts.current and not self.current:
                self.current, self.holder = facts.current, index
            for name, context in facts.contexts.items():
                self.contexts.setdefault(name, context)

    def names(self) -> list[str]:
        return [name for name in self.contexts if name]

    def match(self, part: str) -> str | None:
        """The context `kcm use PART` means when there is no doubt: the one named so, else the only one
        whose name holds PART, case aside; None for anything that needs explaining."""
        if not part:
            return None
        if part in self.contexts:
            return part
        holding = [name for name in self.names() if part.lower() in name.lower()]
        return holding[0] if len(holding) == 1 else None


def current(explicit: str | None = None, namespace: bool = False) -> str:
    """`kcm current`: the current context's name, or with `namespace` its namespace ("default" when
    it sets none, as kubectl then uses)."""
    view = View(explicit)
    if not view.current:
        raise KcmError("current-context is not set")
    if namespace:
        context = view.contexts.get(view.current)
        return (context[2] if context else "") or "default"
    return view.current


# ---- kcm use --------------------------------------------------------------------------------------
def _previous_file(explicit: str | None) -> str:
    """Where `kcm use -` finds the context before the last switch: one small file per kubeconfig
    (per KUBECONFIG list: its first file), in kcm's state folder."""
    first = paths.kubeconfig_files(explicit)[0]
    name = blake2b(first.encode("utf-8", "surrogateescape"), digest_size=6).hexdigest()
    return os.path.join(folders.user_state(), "previous", f"{os.path.basename(first)}-{name}")


def previous(explicit: str | None, current: str) -> str:
    """The context `kcm use -` goes back to from `current`: the one kcm's last switch left, or, when
    another tool (kubectl, kubectx) has switched since, the one kcm's last switch went to."""
    from pathlib import Path

    data = folders.read_private(Path(_previous_file(explicit)), limit=8192)
    left, _, went_to = (data or b"").decode("utf-8", "replace").partition("\n")
    left, went_to = _unescaped(left), _unescaped(went_to)
    name = went_to if went_to and went_to != current else left
    if not name:
        raise InputError("no previous context to go back to: kcm remembers one when `kcm use` switches")
    return name


def remember(explicit: str | None, left: str, went_to: str) -> None:
    """Keep the context we are leaving, and the one we go to, for `kcm use -`; a state folder that
    cannot hold them costs only that."""
    from pathlib import Path

    from kcm import store

    path = Path(_previous_file(explicit))
    with contextlib.suppress(OSError, KcmError, UnicodeError):
        folders.private(path.parent, parents=3)  # previous, kcm, the XDG state folder
        store.remove_stale_temps(path.parent, path.name)  # of a kcm killed right here before
        store.write_atomic(path, f"{_escaped(left)}\n{_escaped(went_to)}\n", mode=0o600)


def _escaped(name: str) -> str:
    """A context name on one line of the state file (a name may hold a line break)."""
    return name.replace("\\", "\\\\").replace("\n", "\\n")


def _unescaped(line: str) -> str:
    out: list[str] = []
    chars = iter(line.rstrip("\n"))
    for char in chars:
        if char == "\\":
            following = next(chars, "")
            out.append("\n" if following == "n" else following)
        else:
            out.append(char)
    return "".join(out)


def switched(full: str, wanted: str) -> str:
    """What a switch says; a name's control characters escaped (a message, not data to pipe)."""
    from kcm.errors import printable

    matched = f' (the one context whose name holds "{wanted}")' if full != wanted else ""
    return printable(f'Switched to context "{full}".{matched}')


def use(word: str, explicit: str | None = None) -> str | None:
    """`kcm use WORD` when the cache knows the files and the edit is one value: the message; None when
    kcm.commands.contexts must do it (an unknown or ambiguous name, a file new to the cache, an
    unusual layout), which also explains every error."""
    try:
        view = View(explicit)
    except KcmError:
        return None
    wanted = previous(explicit, view.current) if word == "-" else word
    # `-` is exactly the context remembered: one that is gone is an error (kcm.commands.contexts says it)
    full = (wanted if wanted in view.contexts else None) if word == "-" else view.match(wanted)
    if full is None or view.holder is None:
        return None
    facts = view.files[view.holder]
    assert facts is not None
    leaving = view.current
    if leaving != full:
        if facts.span is None:
            return None
        if not _write(view.paths[view.holder], facts, view.contexts[full][3], full):
            return None
        if leaving:
            remember(explicit, leaving, full)
    return switched(full, wanted)


def _write(path: str, facts: Facts, rendered: str, name: str) -> bool:
    """Put `rendered` in place of current-context's value, under the lock, if the file is still the
    one `facts` describe; False (nothing written) if it is not."""
    from pathlib import Path

    from kcm import store

    assert facts.span is not None
    start, end = facts.span
    with store.edit(Path(path), backup=False) as edit:
        text = edit.text
        if text is None or digest(text.encode("utf-8")) != facts.digest:
            return False
        edit.new_text = text[:start] + rendered + text[end:]
    written = edit.new_text.encode("utf-8")
    keep(path, Facts(digest(written), name, (start, start + len(rendered)), facts.contexts))
    return True
