"""The KUBECONFIG list as kubectl sees it: one merged config, and which file holds each entry.

kubectl's rules: the first file that names a cluster, user or context wins the whole entry; the first
non-empty current-context wins; missing files are skipped. An edit goes back to the file holding the
entry; current-context is written to the first file that sets one, else to the first file that exists.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

from kcm import kubeconfig, store
from kcm.errors import InputError
from kcm.kubeconfig import SECTIONS, Document
from kcm.schema import name_of

# File references kubectl resolves against the directory of the file that holds them.
REFERENCES = {
    "clusters": ("certificate-authority",),
    "users": ("client-certificate", "client-key", "tokenFile"),
}
# Those that `--flatten` (kubectl config view --flatten) inlines, and the field that takes the bytes.
INLINED = {
    "certificate-authority": "certificate-authority-data",
    "client-certificate": "client-certificate-data",
    "client-key": "client-key-data",
}


class View:
    """The files of a KUBECONFIG list (None: missing) and what kubectl makes of them."""

    def __init__(self, docs: list[tuple[Path, Document | None]]) -> None:
        self.docs = docs
        self.data: dict[str, Any] = {"current-context": "", **{section: [] for section in SECTIONS}}
        self._holder: dict[tuple[str, str], int] = {}
        self._current_file: int | None = None
        for index, (_, doc) in enumerate(docs):
            if doc is None:
                continue
            if self._current_file is None and doc.data.get("current-context"):
                self._current_file = index
                self.data["current-context"] = doc.data["current-context"]
            for section in SECTIONS:
                for entry in doc.entries(section):
                    if (section, name_of(entry)) not in self._holder:
                        self._holder[(section, name_of(entry))] = index
                        self.data[section].append(entry)

    def find(self, section: str, name: str) -> dict[str, Any] | None:
        held = self.holder(section, name)
        return held.find(section, name) if held else None

    def holder(self, section: str, name: str) -> Document | None:
        index = self._holder.get((section, name))
        return self.docs[index][1] if index is not None else None

    def path_of(self, section: str, name: str) -> Path | None:
        index = self._holder.get((section, name))
        return self.docs[index][0] if index is not None else None

    def current_holder(self) -> Document | None:
        """Where current-context is written: the file that sets it, else the first that exists."""
        if self._current_file is not None:
            return self.docs[self._current_file][1]
        return next((doc for _, doc in self.docs if doc is not None), None)

    def context(self, name: str) -> dict[str, Any]:
        """The context named `name`, or the one-line error that names the files looked in."""
        if not name:
            where = self.path_of("contexts", "") or ", ".join(str(path) for path, _ in self.docs)
            raise InputError(f"a context without a name cannot be used: give it a name in {where}")
        found = self.find("contexts", name)
        if found is None:
            where = ", ".join(str(path) for path, _ in self.docs)
            import difflib  # only on the way to an error

            names = [name_of(entry) for entry in self.data["contexts"] if name_of(entry)]
            near = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(repr(n) for n in near)}?" if near else ""
            raise InputError(f"no context named '{name}' in {where}{hint}")
        return found

    def match(self, part: str) -> str:
        """The context `kcm use PART` means: one named exactly so; else the one whose name holds PART,
        case aside (several: listed, none: the nearest names)."""
        if not part or self.find("contexts", part) is not None:
            return part
        names = [name_of(entry) for entry in self.data["contexts"] if name_of(entry)]
        holding = [name for name in names if part.lower() in name.lower()]
        if len(holding) == 1:
            return holding[0]
        if holding:
            shown = ", ".join(holding[:10]) + (f" and {len(holding) - 10} more" if len(holding) > 10 else "")
            raise InputError(f"'{part}' is part of {len(holding)} context names: {shown}; give more of one")
        self.context(part)  # the error, with the nearest names
        return part


def read(paths: list[Path]) -> View:
    """The files as they are on disk now, read without a lock (as kubectl reads)."""
    return load(paths, [store.read_text(path) for path in paths])


def load(paths: list[Path], texts: list[str | None]) -> View:
    return View(
        [
            (path, kubeconfig.loads(text, str(path)) if text is not None else None)
            for path, text in zip(paths, texts, strict=True)
        ]
    )


def resolved(section: str, entry: dict[str, Any], base: Path) -> dict[str, Any]:
    """`entry` with its relative file references made absolute against `base`, as kubectl does (an
    exec command is one only when it names a path, `./bin/auth`, not a command on PATH)."""
    key = section[:-1]
    body = entry.get(key)
    if not isinstance(body, dict):
        return entry
    changed = dict(body)
    for field in REFERENCES.get(section, ()):
        value = body.get(field)
        if isinstance(value, str) and value and not os.path.isabs(value):
            changed[field] = str(base / value)
    command = body.get("exec", {}).get("command") if isinstance(body.get("exec"), dict) else None
    if isinstance(command, str) and os.sep in command and not os.path.isabs(command):
        changed["exec"] = {**body["exec"], "command": str(base / command)}
    return {**entry, key: changed} if changed != body else entry


def flattened(section: str, entry: dict[str, Any], source: str) -> dict[str, Any]:
    """`entry` with the files it references read into their `*-data` fields, in the same place."""
    key = section[:-1]
    body = entry.get(key)
    if not isinstance(body, dict) or not any(body.get(field) for field in INLINED):
        return entry
    inlined: dict[str, Any] = {}
    for field, value in body.items():
        if field in INLINED and isinstance(value, str) and value:
            try:
                data = Path(value).read_bytes()
            except OSError as exc:
                raise InputError(
                    f"{source}: {key} '{entry['name']}': {field} {value}: cannot read: {exc.strerror}"
                ) from None
            inlined[INLINED[field]] = base64.b64encode(data).decode("ascii")
        elif field not in INLINED.values() or field not in inlined:
            inlined[field] = value
    return {**entry, key: inlined}
