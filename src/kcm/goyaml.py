"""YAML text -> node tree, accepting exactly what kubectl's YAML reader (go-yaml v2) accepts.

libyaml (PyYAML's C parser) reads ordinary kubeconfigs fast. Where it and go-yaml disagree, a
pure-Python scanner with go-yaml's rules decides: libyaml refuses `[a:]` and nesting past 1,000
levels, which go-yaml reads; libyaml reads a `?` inside a flow plain scalar and `%YAML 1.2`,
which go-yaml refuses. Only the first document is read, as kubectl reads it: what follows its end
is never looked at. Nodes keep their positions, so `kubeconfig` can edit the text around them.
"""

from __future__ import annotations

import sys
from typing import Any, ClassVar

from yaml.composer import Composer
from yaml.error import MarkedYAMLError, YAMLError
from yaml.nodes import CollectionNode, MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader, ReaderError
from yaml.resolver import BaseResolver
from yaml.scanner import Scanner, ScannerError
from yaml.tokens import ScalarToken

from kcm.errors import InputError

_CLoader: Any = None
try:
    from yaml import CBaseLoader

    class _CLoader(CBaseLoader):  # type: ignore[no-redef]
        _TAGS: ClassVar[dict[type, str]] = {
            ScalarNode: BaseResolver.DEFAULT_SCALAR_TAG,
            SequenceNode: BaseResolver.DEFAULT_SEQUENCE_TAG,
            MappingNode: BaseResolver.DEFAULT_MAPPING_TAG,
        }

        def resolve(self, kind: type, value: Any, implicit: Any) -> str:
            # libyaml asks this of every untagged node; BaseResolver has no rules, so its answer is
            # always the kind's default, found here without its checks (a tenth of a big parse)
            return self._TAGS[kind]

except ImportError:  # PyYAML built without libyaml: every file takes the exact path
    pass

MAX_DEPTH = 10_000  # go-yaml's flow and indent limits; Go's JSON decoder allows as many levels
_BLANKZ = "\0 \t\r\n\x85\u2028\u2029"
_FLOW_END = ",?[]{}"


class _GoScanner(Reader, Scanner):
    """PyYAML's scanner with go-yaml's rules where the two differ."""

    def scan_plain(self) -> ScalarToken:
        # go-yaml ends a plain scalar at `: ` and, in a flow collection, at any of `,?[]{}`; a `:`
        # followed by anything else is part of the scalar (`[a:]` is "a:", `[--url=https://x]` a URL).
        chunks: list[str] = []
        start_mark = self.get_mark()
        end_mark = start_mark
        indent = self.indent + 1
        spaces: list[str] = []
        while self.peek() != "#":
            length = 0
            while True:
                ch = self.peek(length)
                if ch in _BLANKZ or (ch == ":" and self.peek(length + 1) in _BLANKZ):
                    break
                if self.flow_level and ch in _FLOW_END:
                    break
                length += 1
            if length == 0:
                break
            self.allow_simple_key = False
            chunks.extend(spaces)
            chunks.append(self.prefix(length))
            self.forward(length)
            end_mark = self.get_mark()
            spaces = self.scan_plain_spaces(indent, start_mark) or []
            if not spaces or self.peek() == "#" or (not self.flow_level and self.column < indent):
                break
        return ScalarToken("".join(chunks), True, start_mark, end_mark)

    # PyYAML walks every possible simple key for every token: at 10,000 nested `[` that is minutes.
    # The keys are kept in the order they were saved, which is also the order of their positions
    # and token numbers: the stale ones are a prefix, and the first is the nearest.
    def next_possible_simple_key(self) -> int | None:
        for key in self.possible_simple_keys.values():
            return int(key.token_number)
        return None

    def stale_possible_simple_keys(self) -> None:
        keys = self.possible_simple_keys
        while keys:
            level, key = next(iter(keys.items()))
            if key.line == self.line and self.index - key.index <= 1024:
                return
            if key.required:
                raise ScannerError(
                    "while scanning a simple key", key.mark, "could not find expected ':'", self.get_mark()
                )
            del keys[level]

    def check_printable(self, data: str) -> None:
        try:
            super().check_printable(data)
        except ReaderError as exc:  # go-yaml's words for it
            exc.reason = "control characters are not allowed"
            raise

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:
        if self.flow_level >= MAX_DEPTH:
            raise ScannerError(
                "while increasing flow level", None, f"exceeded max depth of {MAX_DEPTH}", self.get_mark()
            )
        super().fetch_flow_collection_start(TokenClass)

    def add_indent(self, column: int) -> bool:
        if self.indent < column and len(self.indents) >= MAX_DEPTH:
            raise ScannerError(
                "while increasing indent level", None, f"exceeded max depth of {MAX_DEPTH}", self.get_mark()
            )
        return bool(super().add_indent(column))


class _GoParser(Parser):
    def process_directives(self) -> Any:
        result = super().process_directives()  # type: ignore[no-untyped-call]
        if self.yaml_version is not None and self.yaml_version != (1, 1):
            raise YAMLError("found incompatible YAML document (only %YAML 1.1 is read)")
        return result


class _GoLoader(_GoScanner, _GoParser, Composer, BaseResolver):
    def __init__(self, text: str) -> None:
        Reader.__init__(self, text)
        Scanner.__init__(self)
        _GoParser.__init__(self)
        Composer.__init__(self)
        BaseResolver.__init__(self)


def _position(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index)
    return line + 1, index - (text.rfind("\n", 0, index) + 1) + 1


def _error(exc: YAMLError, text: str, source: str) -> InputError:
    if isinstance(exc, MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        return InputError(f"{where}: invalid YAML: {problem}")
    position = getattr(exc, "position", None)
    where = source
    if isinstance(position, int):
        line, column = _position(text, position)
        where = f"{source}:{line}:{column}"
    reason = getattr(exc, "reason", None) or str(exc).splitlines()[0]
    return InputError(f"{where}: invalid YAML: {reason}")


def _flow_question(root: Node) -> bool:
    """A plain scalar holding `?` inside a flow collection: libyaml reads it, go-yaml does not."""
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, in_flow = stack.pop()
        if isinstance(node, ScalarNode):
            if in_flow and not node.style and "?" in node.value:
                return True
            continue
        assert isinstance(node, CollectionNode)
        inner = in_flow or bool(node.flow_style)
        if isinstance(node, MappingNode):
            stack.extend((part, inner) for pair in node.value for part in pair)
        else:
            stack.extend((item, inner) for item in node.value)
    return False


def _depth(root: Node) -> int:
    deepest = 0
    stack: list[tuple[Node, int]] = [(root, 1)]
    seen: set[int] = set()
    while stack:
        node, depth = stack.pop()
        if isinstance(node, ScalarNode) or id(node) in seen:
            continue
        seen.add(id(node))
        deepest = max(deepest, depth)
        if isinstance(node, MappingNode):
            stack.extend((part, depth + 1) for pair in node.value for part in pair)
        else:
            stack.extend((item, depth + 1) for item in node.value)
    return deepest


# kubectl reads 10,000 levels of nesting. The composer and kcm's builders recurse once per level, and
# so do `==`, copy and json on the data: the process's limit is raised once, here, for all of them
# (their C frames take about 4 MB of stack at 10,000 levels, within a thread's 8 MB).
sys.setrecursionlimit(max(sys.getrecursionlimit(), 4 * MAX_DEPTH))


def _exact(text: str, source: str) -> Node | None:
    try:
        loader = _GoLoader(text)
        try:
            return loader.get_node() if loader.check_node() else None
        finally:
            loader.dispose()
    except YAMLError as exc:
        raise _error(exc, text, source) from exc


def _libyaml(text: str) -> Node | None:
    """The node tree libyaml reads where it reads as go-yaml does; raises where it may not.

    libyaml refuses a `:` that a flow plain scalar holds before one of `,?[]{}` (`[C:]`), which
    go-yaml keeps in the scalar. Each such colon is masked with a character the text lacks, of the
    same length (so every position stays), until libyaml reads the text; the scalars get it back."""
    mask = ""  # chosen when first needed: a search of the whole text
    masked = text
    for _ in range(_MASKS):
        try:
            root = _CLoader(masked).get_single_node()
        except MarkedYAMLError as exc:
            colon = exc.problem_mark.index if exc.problem_mark else -1
            if exc.problem != "found unexpected ':'" or masked[colon : colon + 1] != ":":
                raise
            mask = mask or next(chr(code) for code in range(0xE000, 0xF900) if chr(code) not in text)
            masked = masked[:colon] + mask + masked[colon + 1 :]
            continue
        if masked is not text and root is not None:
            _unmask(root, mask)
        return root if root is None or "?" not in text or not _flow_question(root) else _exact_needed()
    return _exact_needed()


_MASKS = 32  # colons masked before the exact scanner reads the file instead


def _exact_needed() -> Node:
    raise YAMLError("libyaml and go-yaml may read this text differently")


def _unmask(root: Node, mask: str) -> None:
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, ScalarNode):
            if mask in node.value:
                node.value = node.value.replace(mask, ":")
        elif isinstance(node, MappingNode):
            stack.extend(part for pair in node.value for part in pair)
        else:
            stack.extend(node.value)


def compose(text: str, source: str) -> Node | None:
    """The first document's node tree (None for an empty one), or a one-line `InputError`."""
    if _CLoader is not None and "%YAML" not in text:
        try:
            return _libyaml(text)
        except Exception:  # noqa: S110 (libyaml's refusals, and its crash on a second document)
            pass
    root = _exact(text, source)
    if root is not None and _depth(root) > MAX_DEPTH:
        mark = root.start_mark
        raise InputError(
            f"{source}:{mark.line + 1}:{mark.column + 1}: nested deeper than {MAX_DEPTH:,} levels "
            "(kubectl's limit)"
        )
    return root
