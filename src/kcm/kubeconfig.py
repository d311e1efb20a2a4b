"""The kubeconfig document: read as data, changed as data, written back as minimal text edits.

The text is parsed once with libyaml for node positions. Operations change a plain-data model; `dump`
turns the difference between the original data and the model into splices of the original text, so
every byte outside a changed entry stays as it was. The result is parsed again and must mean exactly
the model, or nothing is written.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import copy
import gc
import math
import re
from collections.abc import Callable, Iterator
from typing import Any

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from kcm import goyaml, schema, yamltext
from kcm.errors import InputError, KcmError
from kcm.yamltext import Style

SECTIONS = ("clusters", "contexts", "users")
_INVALID = object()
_TAG = "tag:yaml.org,2002:"
_ALIAS_BUDGET = 100_000  # nodes reached through aliases: far above any real file, far below a bomb


def new_config() -> dict[str, Any]:
    """What `aws eks update-kubeconfig` starts a new (or empty) file with."""
    return {
        "apiVersion": "v1",
        "clusters": [],
        "contexts": [],
        "current-context": "",
        "kind": "Config",
        "preferences": {},
        "users": [],
    }


class _Builder:
    """Node tree -> plain data, as kubectl (YAML 1.1) reads it; counts shared nodes."""

    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.source = source
        self.refs: dict[int, int] = {}
        self.shared: dict[int, Node] = {}  # nodes reached more than once: anchors with aliases
        self.alias_nodes = 0
        self.path: set[int] = set()

    def error(self, node: Node, message: str) -> InputError:
        mark = node.start_mark
        return InputError(f"{self.source}:{mark.line + 1}:{mark.column + 1}: {message}")

    def build(self, node: Node, aliased: bool = False) -> Any:
        key = id(node)
        if key in self.path:
            raise self.error(node, "recursive YAML alias")
        seen = self.refs.get(key, 0)
        self.refs[key] = seen + 1
        aliased = aliased or seen > 0
        if seen:
            self.shared[key] = node
        if aliased:
            self.alias_nodes += 1
            if self.alias_nodes > _ALIAS_BUDGET:
                raise self.error(node, "YAML aliases expand too far (an alias bomb?)")
        if isinstance(node, ScalarNode):
            return self.scalar(node)
        self.path.add(key)
        try:
            if isinstance(node, SequenceNode):
                return [self.build(item, aliased) for item in node.value]
            assert isinstance(node, MappingNode)
            return self.mapping(node, aliased)
        finally:
            self.path.discard(key)

    def scalar(self, node: ScalarNode) -> Any:
        value: str = node.value
        if self._explicit_tag(node):
            value = self._tagged(node)
        elif not node.style:
            value = yamltext.resolve_plain(value)
        if isinstance(value, float) and not math.isfinite(value):
            raise self.error(node, _NOT_JSON.format(node.value))
        return value

    def _explicit_tag(self, node: Node) -> bool:
        """Whether the text gives `node` a tag (`!!str 12`, `&a !!int "5"`), not only an anchor."""
        index = node.start_mark.index
        if self.text.startswith("&", index):  # an anchor comes first: the tag, if any, follows it
            while index < len(self.text) and not self.text[index].isspace():
                index += 1
            while self.text.startswith((" ", "\t"), index):
                index += 1
        return self.text.startswith("!", index)

    def _tagged(self, node: ScalarNode) -> Any:
        """A scalar with an explicit tag, as go-yaml decodes it into plain data."""
        tag, value = node.tag, node.value
        if tag == _TAG + "binary":
            try:
                return base64.b64decode("".join(value.split()), validate=True).decode("utf-8", "replace")
            except (binascii.Error, ValueError):
                raise self.error(node, "!!binary value contains invalid base64 data") from None
        kinds: dict[str, type | tuple[type, ...]] = {
            "null": type(None),
            "bool": bool,
            "int": int,
            "float": (int, float),
        }
        kind = tag.removeprefix(_TAG) if tag.startswith(_TAG) else None
        if kind not in kinds:  # !!str, !!timestamp, and tags of the user's own: the text as written
            return value
        resolved = yamltext.resolve_plain(value)
        if not isinstance(resolved, kinds[kind]) or (kind in ("int", "float") and isinstance(resolved, bool)):
            raise self.error(node, f"cannot read {value!r} as a !!{kind}")
        return float(resolved) if kind == "float" and isinstance(resolved, int) else resolved

    def mapping(self, node: MappingNode, aliased: bool) -> dict[Any, Any]:
        """As go-yaml fills a map: a later key replaces an earlier one, and a `<<` merge, where it
        stands, sets the keys of its mapping (of the first of a list of them) over those before it."""
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                raise self.error(key_node, "a mapping key must be a plain value")
            key = self.scalar(key_node)
            if key is None:
                raise self.error(key_node, "a mapping key cannot be null (kubectl cannot read it)")
            value = self.build(value_node, aliased)
            if key == "<<" and not key_node.style:
                parts = value if isinstance(value, list) else [value]
                for part in reversed(parts):
                    if not isinstance(part, dict):
                        raise self.error(value_node, "a YAML merge (<<) must name a mapping")
                    result.update(part)
                continue
            result[key] = value
        return result


_NOT_JSON = "kubectl cannot read `{}` (JSON has no infinity or NaN): quote it"


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """Parsing allocates ~50 nodes per cluster, none in cycles: the collector's passes over them are
    more than half of a 1,000-cluster parse, and find nothing. Afterwards they are frozen (moved where
    the collector never looks; reference counting still frees them), or the first allocation after the
    parse would pay for one full pass over them all (30 ms at 1,000 clusters)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


_Parsed = tuple[Node | None, Any, dict[int, int], dict[int, Node]]


def _compose(text: str, source: str) -> _Parsed:
    with _no_gc():
        return _compose_nodes(text, source)


def _compose_nodes(text: str, source: str) -> _Parsed:
    if text.startswith("\ufeff") or "\n\ufeff" in text:
        # go-yaml skips a byte order mark at the start of a line and counts it as a column, so the
        # keys after it no longer line up: kubectl then silently drops what follows it
        index = 0 if text.startswith("\ufeff") else text.index("\n\ufeff") + 1
        line = text.count("\n", 0, index) + 1
        raise InputError(
            f"{source}:{line}:1: a byte order mark (U+FEFF) starts this line: kubectl would drop keys "
            "after it; remove it"
        )
    root = goyaml.compose(text, source)
    if root is None:
        return None, None, {}, {}
    if "\\u" in text or "\\U" in text:
        _refuse_surrogates(root, source)
    builder = _Builder(text, source)
    try:
        if not any(mark in text for mark in _SLOW_MARKS):
            return root, _plain_build(root, builder.error), {}, {}
        data = builder.build(root)
    except RecursionError as exc:  # goyaml allows 10,000 levels, and the limit is raised for them
        raise InputError(f"{source}: YAML nested too deeply") from exc
    return root, data, builder.refs, builder.shared


def _refuse_surrogates(root: Node, source: str) -> None:
    """go-yaml refuses a `\\uD800`-`\\uDFFF` escape in a double-quoted scalar (a pair too: YAML escapes
    name code points, not UTF-16 units); PyYAML keeps it as a lone surrogate, which no file can hold."""
    stack, found = [root], []
    while stack:
        node = stack.pop()
        if isinstance(node, ScalarNode):
            if any(0xD800 <= ord(ch) <= 0xDFFF for ch in node.value):
                found.append(node.start_mark)
        elif isinstance(node, MappingNode):
            stack.extend(item for pair in node.value for item in pair)
        elif isinstance(node, SequenceNode):
            stack.extend(node.value)
    if found:
        mark = min(found, key=lambda mark: mark.index)  # the first, as go-yaml stops at it
        raise InputError(
            f"{source}:{mark.line + 1}:{mark.column + 1}: invalid YAML: found invalid Unicode "
            "character escape code (a UTF-16 surrogate)"
        )


# Without these characters a text has no anchors (so no aliases: an alias must name an anchor), no
# explicit tags and no merge keys: every node is reached once and every scalar means what its text
# says, which `_plain_build` builds three to four times faster than `_Builder` (kubeconfigs written by
# kubectl and the AWS CLI never hold them).
_SLOW_MARKS = ("&", "!", "<<")
# The first characters of every plain scalar that YAML 1.1 resolves to a null, bool, int or float.
_NOT_ONLY_TEXT = frozenset("~nNyYtTfFoO-+.0123456789")


def _plain_build(node: Node, error: Callable[[Node, str], InputError]) -> Any:
    """Node tree -> plain data, for a text with no anchors, aliases, tags or merge keys."""
    if type(node) is ScalarNode:  # exact types: the C composer makes no subclasses; faster than isinstance
        value: str = node.value
        if node.style or (value and value[0] not in _NOT_ONLY_TEXT):
            return value
        resolved = yamltext.resolve_plain(value)
        if isinstance(resolved, float) and not math.isfinite(resolved):
            raise error(node, _NOT_JSON.format(value))
        return resolved
    if type(node) is SequenceNode:
        return [_plain_build(item, error) for item in node.value]
    result: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        if type(key_node) is not ScalarNode:
            raise error(key_node, "a mapping key must be a plain value")
        key = _plain_build(key_node, error)
        if key is None:
            raise error(key_node, "a mapping key cannot be null (kubectl cannot read it)")
        result[key] = _plain_build(value_node, error)  # a repeated key: the last one wins, as in go-yaml
    return result


def _validate(root: Node | None, data: Any, source: str) -> None:
    """kubectl's refusals (`schema.check`), as one-line errors with a position. A null entry in a
    list becomes an empty one: kubectl reads both as an entry with no name."""

    def where(path: schema.Path) -> tuple[str, str | None]:
        node = root
        for part in path:  # through merges and aliases, the nearest node that holds the value
            if isinstance(node, MappingNode):
                node = next((v for k, v in reversed(node.value) if k.value == part), node)
            elif isinstance(node, SequenceNode) and isinstance(part, int) and part < len(node.value):
                node = node.value[part]
        if node is None:
            return source, None
        plain = node.value if isinstance(node, ScalarNode) and not node.style else None
        return f"{source}:{node.start_mark.line + 1}:{node.start_mark.column + 1}", plain

    if data is None:
        return
    if not isinstance(data, dict) or not isinstance(root, MappingNode):
        kind = type(data).__name__
        raise InputError(f"{where(())[0]}: not a kubeconfig: the top level is a {kind}, not a mapping")
    _null_entries_as_empty(data)
    schema.check(data, where)


def _null_entries_as_empty(data: Any) -> None:
    """kubectl reads a null entry in a list as an entry with no name: `{}` in kcm's data."""
    if not isinstance(data, dict):
        return
    for section in SECTIONS:
        entries = data.get(section)
        if isinstance(entries, list) and None in entries:
            data[section] = [{} if entry is None else entry for entry in entries]


def _detect_style(text: str, root: Node | None) -> Style:
    newline = "\r\n" if "\r\n" in text else "\n"
    indent: int | None = None
    seq_indent: int | None = None
    stack = [root] if isinstance(root, MappingNode) else []
    while stack and (indent is None or seq_indent is None):
        node = stack.pop()
        if not isinstance(node, MappingNode) or node.flow_style:
            continue
        for key, value in node.value:
            column = key.start_mark.column
            nested = isinstance(value, MappingNode) and not value.flow_style and value.value
            if nested and indent is None and value.start_mark.line > key.start_mark.line:
                indent = value.start_mark.column - column
            if isinstance(value, SequenceNode) and not value.flow_style and value.value:
                dash = text.rfind("-", 0, value.value[0].start_mark.index)
                dash_column = dash - (text.rfind("\n", 0, dash) + 1)
                if seq_indent is None and value.start_mark.line > key.start_mark.line:
                    seq_indent = max(dash_column - column, 0)
                stack.extend(value.value)
            elif isinstance(value, MappingNode):
                stack.append(value)
    return Style(indent=indent if indent and indent > 0 else 2, seq_indent=seq_indent or 0, newline=newline)


class EditError(KcmError):
    """The model asks for a change the text engine cannot make without risk."""


class Document:
    """One kubeconfig file's text and the data it means."""

    def __init__(self, text: str, source: str) -> None:
        self.source = source
        self.bom = "\ufeff" if text.startswith("\ufeff") else ""
        self.text = text[len(self.bom) :]
        self.root, original, self._refs, self._nodes = _compose(self.text, source)
        _validate(self.root, original, source)
        self.style = _detect_style(self.text, self.root)
        self.empty = not isinstance(original, dict)
        self.original: dict[str, Any] = original if not self.empty else new_config()
        # The model shares unchanged entries with the original: an entry changed is a new object.
        self.data: dict[str, Any] = dict(self.original)
        self._renamed: dict[tuple[str, str], str] = {}  # (section, original name) -> its name now
        for section in SECTIONS:
            if isinstance(self.original.get(section), list):
                self.data[section] = list(self.original[section])

    # ---- the model -------------------------------------------------------------------------
    def entries(self, section: str) -> list[dict[str, Any]]:
        entries = self.data.get(section)
        return entries if isinstance(entries, list) else []

    def find(self, section: str, name: str) -> dict[str, Any] | None:
        return next((entry for entry in self.entries(section) if entry.get("name") == name), None)

    def upsert(self, section: str, entry: dict[str, Any]) -> None:
        """Put `entry` in place of the entry with its name, or append it."""
        entries = self.data.get(section)
        if not isinstance(entries, list):
            entries = self.data[section] = []
        new = copy.deepcopy(entry)
        for index, existing in enumerate(entries):
            if existing.get("name") == entry["name"]:
                if existing != new:
                    entries[index] = new
                return
        entries.append(new)

    def remove(self, section: str, name: str) -> bool:
        """Drop the entry named `name`; False when there is none."""
        entries = self.entries(section)
        kept = [entry for entry in entries if entry.get("name") != name]
        if len(kept) == len(entries):
            return False
        self.data[section] = kept
        return True

    def rename(self, section: str, old: str, new: str) -> None:
        """Give the entry named `old` the name `new`, in place: only its name changes in the text."""
        entries = self.entries(section)
        if any(entry.get("name") == new for entry in entries):
            raise KcmError(f"{self.source}: a {section[:-1]} named {new!r} already exists")
        for index, entry in enumerate(entries):
            if entry.get("name") == old:
                entries[index] = {**entry, "name": new}
                first = next((k for k, v in self._renamed.items() if k[0] == section and v == old), None)
                self._renamed[first or (section, old)] = new
                return
        raise KcmError(f"{self.source}: no {section[:-1]} named {old!r}")

    def set(self, key: str, value: Any) -> None:
        self.data[key] = value

    @property
    def changed(self) -> bool:
        return self.data != self.original

    def scalar_span(self, key: str) -> tuple[int, int] | None:
        """Where the text of top-level `key`'s value sits, when it is a one-line scalar that `dump` would
        replace, given a new string, by exactly `yamltext.flow(new)` there and nothing else; None when
        an edit could be any more than that (anchors, tags or merge keys anywhere, a block scalar, a
        value left empty, a byte order mark, a repeated key)."""
        root = self.root
        if self.empty or self.bom or not isinstance(root, MappingNode):
            return None
        if any(mark in self.text for mark in _SLOW_MARKS):
            return None
        found = [value for name, value in root.value if isinstance(name, ScalarNode) and name.value == key]
        if len(found) != 1 or not isinstance(found[0], ScalarNode):
            return None
        node = found[0]
        if node.style in ("|", ">") or node.start_mark.line != node.end_mark.line or self._empty_plain(node):
            return None
        return int(node.start_mark.index), self._end(node)

    # ---- the text ----------------------------------------------------------------------------
    def dump(self) -> str:
        """The file's text with the model's changes spliced in; verified by parsing it again."""
        if not self.changed:
            return self.bom + self.text
        text = self._render()
        try:
            root, data, _, _ = _compose(text, self.source)
            _null_entries_as_empty(data)
        except InputError:
            root, data = None, _INVALID
        if data != self.data:
            raise EditError(
                f"{self.source}: kcm could not edit this file's YAML without changing other data "
                "(anchors or an unusual layout); nothing was written"
            )
        try:  # what kcm writes, kubectl must load: never a file it cannot (a bad merged entry)
            _validate(root, data, self.source)
        except InputError as exc:
            raise InputError(f"{exc} (in the file as kcm would write it; nothing was written)") from None
        return self.bom + text

    def _render(self) -> str:
        if self.empty:
            return self._render_whole()
        edits: list[tuple[int, int, str]] = []
        root = self.root
        assert isinstance(root, MappingNode)
        keys = {key.value: (key, value) for key, value in root.value if isinstance(key, ScalarNode)}
        appended: list[str] = []
        for key, value in self.data.items():
            if key not in keys:
                appended.append(key)
                continue
            key_node, value_node = keys[key]
            if key in SECTIONS and isinstance(value, list):
                edits.extend(self._section_edits(key, key_node, value_node, value, bool(root.flow_style)))
            elif value != self.original.get(key):
                block = isinstance(value_node, MappingNode | SequenceNode) and not value_node.flow_style
                if block and not root.flow_style and (not isinstance(value, dict | list) or not value):
                    # a block list or mapping (which may start at the key's own column) becoming `[]`,
                    # `{}` or a scalar: written on the key's line
                    replacement = ": " + yamltext.flow(value)
                    edits.append((key_node.end_mark.index, self._end(value_node), replacement))
                else:
                    edits.append(self._replace(value_node, value, bool(root.flow_style)))
        if set(self.original) - set(self.data):
            raise EditError(f"{self.source}: removing top-level keys is not supported")
        if appended:
            edits.append(self._append_keys(root, appended))
        return self._splice(edits)

    def _render_whole(self) -> str:
        body = self.style.newline.join(yamltext.block(self.data, 0, self.style)) + self.style.newline
        root = self.root
        if isinstance(root, MappingNode | SequenceNode | ScalarNode) and not (
            isinstance(root, ScalarNode) and root.value == ""
        ):
            # `{}`, `null`, `~`: the document's only content, replaced by the new one.
            start, end = root.start_mark.index, self._end(root)
            return self.text[:start] + body.rstrip("\r\n") + self.text[end:]
        text = self.text
        if text and not text.endswith("\n"):
            text += self.style.newline
        return text + body

    def _splice(self, edits: list[tuple[int, int, str]]) -> str:
        out: list[str] = []
        position = 0
        for start, end, replacement in sorted(edits, key=lambda edit: (edit[0], edit[1])):
            if start < position:
                raise EditError(f"{self.source}: overlapping edits; nothing was written")
            out.append(self.text[position:start])
            out.append(replacement)
            position = end
        out.append(self.text[position:])
        return "".join(out)

    def _nl(self, lines: list[str]) -> str:
        return self.style.newline.join(lines)

    def _section_edits(
        self, section: str, key: Node, node: Node, entries: list[dict[str, Any]], in_flow: bool
    ) -> Iterator[tuple[int, int, str]]:
        original = self.original.get(section) or []
        items = node.value if isinstance(node, SequenceNode) else []
        now = {entry.get("name"): entry for entry in entries}

        def name_now(entry: dict[str, Any]) -> Any:
            name = entry.get("name")
            return self._renamed.get((section, name), name) if isinstance(name, str) else name

        kept = [name_now(entry) for entry in original if name_now(entry) in now]
        if [entry.get("name") for entry in entries[: len(kept)]] != kept:
            raise EditError(f"{self.source}: reordering entries is not supported")
        added = entries[len(kept) :]
        removed = [
            (item, old) for item, old in zip(items, original, strict=False) if name_now(old) not in now
        ]
        for item, old in removed:
            self._check_anchors(section, item, old)
        flow_list = isinstance(node, SequenceNode) and bool(node.flow_style)
        if removed and (flow_list or in_flow):
            # A flow list losing items is written again whole: its commas and layout are one line.
            yield node.start_mark.index, self._end(node), yamltext.flow(entries)
            return
        for item, _ in removed:
            yield self._delete_item(item)
        if removed and not entries:  # the key would be left empty, that is null: it becomes `[]`
            colon = self.text.index(":", key.end_mark.index)
            yield colon + 1, colon + 1, " []"
            return
        for item, old in zip(items, original, strict=False):
            new = now.get(name_now(old))
            if new is not None and new is not old and new != old:
                self._check_anchors(section, item, old)
                yield from self._update(item, old, new, flow_list)
        if not added:
            return
        if flow_list and (node.value or in_flow):
            close = node.end_mark.index - 1
            yield close, close, self._flow_separator(node) + ", ".join(yamltext.flow(e) for e in added)
        elif isinstance(node, SequenceNode) and node.value:
            last = node.value[-1]
            dash = self._dash(last)
            column = dash - (self.text.rfind("\n", 0, dash) + 1)
            # the entry's text after `- ` where it starts on the dash's line, else two columns in
            same_line = "\n" not in self.text[dash : last.start_mark.index]
            gap = max(last.start_mark.column - column, 2) if same_line else 2
            lines = [
                " " * column
                + "-"
                + " " * (gap - 1)
                + self._nl(yamltext.block(entry, column + gap, self.style))
                for entry in added
            ]
            yield self._after_line(self._end(last), lines)
        elif in_flow:
            yield node.start_mark.index, self._end(node), yamltext.flow(entries)
        else:
            # `clusters: []`, `clusters: null`, `clusters:`: the key takes a block list under it.
            colon = self.text.index(":", key.end_mark.index)
            empty_plain = self._empty_plain(node)
            end = colon + 1 if empty_plain else self._end(node)
            if not empty_plain:
                yield colon + 1, end, ""
            column = key.start_mark.column + self.style.seq_indent
            yield self._after_line(end, yamltext.sequence(added, column, self.style))

    def _delete_item(self, item: Node) -> tuple[int, int, str]:
        """The lines of one block-list item, from its dash to its last line (and that line's comment)."""
        dash = self._dash(item)
        line_start = self.text.rfind("\n", 0, dash) + 1
        if self.text[line_start:dash].strip():
            raise EditError(
                f"{self.source}:{item.start_mark.line + 1}: an entry shares its line; nothing was written"
            )
        newline = self.text.find("\n", self._end(item))
        return line_start, len(self.text) if newline < 0 else newline + 1, ""

    def _check_anchors(self, section: str, item: Node, entry: dict[str, Any]) -> None:
        """Rewriting an entry that defines an anchor used outside it would break the aliases."""
        start, end = item.start_mark.index, self._end(item)
        inside: dict[int, int] = {}
        stack = [item]
        while stack:
            node = stack.pop()
            inside[id(node)] = inside.get(id(node), 0) + 1
            if inside[id(node)] > 1:
                continue
            if isinstance(node, MappingNode):
                stack.extend(value for pair in node.value for value in pair)
            elif isinstance(node, SequenceNode):
                stack.extend(node.value)
        for key, count in inside.items():
            anchor = self._nodes.get(key)
            if anchor is None or self._refs.get(key, 0) <= count:
                continue
            if start <= anchor.start_mark.index < end:
                raise EditError(
                    f"{self.source}:{anchor.start_mark.line + 1}: '{section}' entry {entry.get('name')!r} "
                    "defines a YAML anchor that other entries use; kcm will not rewrite it "
                    "(expand the aliases by hand first); nothing was written"
                )

    def _empty_plain(self, node: Node) -> bool:
        """`key:` with nothing after it (a tagged `!!null` is not nothing: its tag must go too)."""
        return (
            isinstance(node, ScalarNode)
            and node.value == ""
            and not node.style
            and self.text[node.start_mark.index : node.start_mark.index + 1] != "!"
        )

    def _after_line(self, index: int, lines: list[str]) -> tuple[int, int, str]:
        """Insert whole lines after the line that holds `index`."""
        if index > 0 and self.text[index - 1] == "\n":  # `index` already starts a line (a `|+` block ended)
            return index, index, self._nl(lines) + self.style.newline
        newline = self.text.find("\n", index)
        body = self._nl(lines) + self.style.newline
        if newline < 0:  # the file has no final newline, and keeps having none
            return (
                len(self.text),
                len(self.text),
                self.style.newline + body[: -len(self.style.newline)],
            )
        return newline + 1, newline + 1, body

    def _append_keys(self, root: MappingNode, keys: list[str]) -> tuple[int, int, str]:
        return self._append_pairs(root, {key: self.data[key] for key in keys})

    def _append_pairs(self, node: MappingNode, values: dict[str, Any]) -> tuple[int, int, str]:
        """New keys after a mapping's last: before its `}`, or on lines of their own below it."""
        if node.flow_style:
            close = node.end_mark.index - 1
            return close, close, self._flow_separator(node) + yamltext.flow(values)[1:-1]
        column = node.start_mark.column
        lines = yamltext.block(values, column, self.style)
        lines[0] = " " * column + lines[0]
        return self._after_line(self._end(node), lines)

    def _delete_pair(self, node: MappingNode, index: int, in_flow: bool) -> list[tuple[int, int, str]] | None:
        """One key of a mapping, gone: in a flow mapping, with its comma (on one line, no comment
        between); in a block one, its lines, when it starts a line and its value ends one."""
        key, value = node.value[index]
        if in_flow:
            if index > 0:  # `, key: value` after the one before it
                start, end = self._end(node.value[index - 1][1]), self._end(value)
            elif len(node.value) > 1:  # `key: value, ` before the next
                start, end = key.start_mark.index, node.value[1][0].start_mark.index
            else:
                return None
            return None if re.search(r"[#\n]", self.text[start:end]) else [(start, end, "")]
        line_start = self.text.rfind("\n", 0, key.start_mark.index) + 1
        if self.text[line_start : key.start_mark.index].strip():
            return None
        end = self._end(value)
        newline = self.text.find("\n", end)
        rest = self.text[end:newline].strip() if newline >= 0 else "?"
        if rest and not rest.startswith("#"):  # the last line of a file without a final newline too
            return None
        return [(line_start, newline + 1, "")]

    def _dash(self, item: Node) -> int:
        """Where the `-` of a block-list item stands: on the item's line before it, or alone (with a
        comment, perhaps) on a line above it, blank and comment lines between."""
        start = item.start_mark.index
        line_start = self.text.rfind("\n", 0, start) + 1
        before = self.text[line_start:start].rstrip(" \t")
        if before.endswith("-"):
            return line_start + len(before) - 1
        while line_start > 0:
            end = line_start - 1
            line_start = self.text.rfind("\n", 0, end) + 1
            line = self.text[line_start:end].rstrip("\r")
            content = line.lstrip(" \t")
            if not content or content.startswith("#"):
                continue
            rest = content[1:].lstrip(" \t")
            if content.startswith("-") and (not rest or rest.startswith("#")):
                return line_start + len(line) - len(content)
            break
        raise EditError(f"{self.source}:{item.start_mark.line + 1}: kcm cannot find this entry's dash")

    def _flow_separator(self, node: Node) -> str:
        """What goes before items appended to a flow collection: a comma, unless it is empty or its
        last item already has one after it (`[a, b,]`)."""
        if not node.value:
            return ""
        last = node.value[-1]
        end = self._end(last[1] if isinstance(last, tuple) else last)
        between = re.sub(r"#[^\n]*", "", self.text[end : node.end_mark.index - 1])
        return " " if "," in between else ", "

    def _update(self, node: Node, old: Any, new: Any, in_flow: bool) -> list[tuple[int, int, str]]:
        """Change one entry: scalars in place where the shape is unchanged, else the whole entry."""
        patches = self._patch(node, old, new, in_flow)
        return patches if patches is not None else [self._replace(node, new, in_flow)]

    def _patch(self, node: Node, old: Any, new: Any, in_flow: bool) -> list[tuple[int, int, str]] | None:
        if old == new:
            return []
        if self._refs.get(id(node), 0) > 1:
            return None
        if isinstance(node, ScalarNode):
            single_line = node.start_mark.line == node.end_mark.line
            if node.style in ("|", ">") or not single_line or self._empty_plain(node):
                return None
            if isinstance(new, dict | list) or self.text[node.start_mark.index] in "!&":
                return None
            return [(node.start_mark.index, node.end_mark.index, yamltext.scalar(new, in_flow))]
        inner_flow = in_flow or bool(getattr(node, "flow_style", False))
        if isinstance(node, MappingNode) and isinstance(old, dict) and isinstance(new, dict):
            # keys kept in their order, some gone (their lines), some new (after the last)
            kept = [key for key in old if key in new]
            if list(new)[: len(kept)] != kept or len(node.value) != len(old) or not kept:
                return None
            patches: list[tuple[int, int, str]] = []
            for index, ((_, value_node), key) in enumerate(zip(node.value, old, strict=True)):
                found = (
                    self._patch(value_node, old[key], new[key], inner_flow)
                    if key in new
                    else self._delete_pair(node, index, inner_flow)
                )
                if found is None:
                    return None
                patches += found
            added = {key: new[key] for key in list(new)[len(kept) :]}
            if added:
                patches.append(self._append_pairs(node, added))
            return patches
        if isinstance(node, SequenceNode) and isinstance(old, list) and isinstance(new, list):
            if len(old) != len(new):
                return None
            patches = []
            for item_node, old_item, new_item in zip(node.value, old, new, strict=True):
                found = self._patch(item_node, old_item, new_item, inner_flow)
                if found is None:
                    return None
                patches += found
            return patches
        return None

    def _replace(self, node: Node, value: Any, in_flow: bool) -> tuple[int, int, str]:
        start, end = node.start_mark.index, self._end(node)
        if self._empty_plain(node) and not isinstance(value, dict | list):
            return start, start, " " + yamltext.scalar(value, in_flow)
        if in_flow or not isinstance(value, dict | list) or not value:
            return start, end, yamltext.flow(value)
        if isinstance(value, dict):
            return start, end, self._nl(yamltext.block(value, node.start_mark.column, self.style))
        lines = yamltext.sequence(value, node.start_mark.column, self.style)
        return start, end, self._nl(lines).lstrip(" ")

    def _end(self, node: Node) -> int:
        """Where a node's own text ends: after its last character, before trailing comments."""
        if isinstance(node, ScalarNode):
            if node.style in ("|", ">"):
                end = int(node.end_mark.index)
                header = self.text[node.start_mark.index : self.text.find("\n", node.start_mark.index)]
                if "+" in header:  # keep-chomping: trailing newlines are the value's own
                    return end
                return len(self.text[:end].rstrip())
            return int(node.end_mark.index)
        assert isinstance(node, MappingNode | SequenceNode)
        if node.flow_style or not node.value:
            return int(node.end_mark.index)
        if isinstance(node, MappingNode):
            key, last = node.value[-1]
            if last.start_mark.index < key.end_mark.index:
                return self._alias_end(key.end_mark.index)
            return self._end(last)
        last = node.value[-1]
        previous_end = node.value[-2].start_mark.index if len(node.value) > 1 else node.start_mark.index
        if last.start_mark.index < previous_end:
            raise EditError(f"{self.source}: an alias ends a list kcm must edit; nothing was written")
        return self._end(last)

    def _alias_end(self, index: int) -> int:
        """The end of `*name` in `key: *name`, where the node's marks point at its anchor."""
        star = self.text.index("*", index)
        end = star + 1
        while end < len(self.text) and not self.text[end].isspace() and self.text[end] not in ",]}":
            end += 1
        return end


def plain_data(text: str, source: str = "<kubeconfig>") -> dict[str, Any]:
    """What `loads(text, source).original` is, checked the same way, without the nodes an edit needs."""
    text = text.removeprefix("\ufeff")
    root, data, _, _ = _compose(text, source)
    _validate(root, data, source)
    return data if isinstance(data, dict) else new_config()


def loads(text: str, source: str = "<kubeconfig>") -> Document:
    """Parse kubeconfig text; raises `InputError` with file:line:column for bad input."""
    return Document(text, source)
