"""Hypothesis strategies for kubeconfig TEXT, in every style YAML allows, with the data it means.

A kubeconfig is drawn in two steps: a data model (what kubectl must read: clusters, users, contexts,
extensions, unknown fields, YAML 1.1 words), then a rendering of that model as text, every layout
choice drawn too (block or flow, scalar styles, comments, indentation, CRLF, BOM, anchors, merge
keys, document markers). Most examples are valid for kubectl; a minority carry one deliberate defect
(`Example.defect` names it) that kubectl must refuse.

`Example.model` is the data as kubectl reads it (scalars resolved the way go-yaml v2 resolves them),
so a test can check the generator itself against kubectl as well as kcm against kubectl.
"""

from __future__ import annotations

import base64
import copy
import functools
import math
import re
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st


@functools.cache
def _sampled_cached(options: tuple[Any, ...]) -> st.SearchStrategy[Any]:
    return st.sampled_from(options)


def _sampled(options: Any) -> st.SearchStrategy[Any]:
    """st.sampled_from, built once per list of options (building strategies is most of the cost);
    mutable options are copied for each draw."""
    try:
        return _sampled_cached(tuple(options))
    except TypeError:
        return st.sampled_from(list(options)).map(copy.deepcopy)


@functools.cache
def _ints(low: int, high: int) -> st.SearchStrategy[int]:
    return st.integers(low, high)


_BOOLS = st.booleans()

# ---- go-yaml v2 (sigs.k8s.io/yaml), the YAML kubectl reads with: how a plain scalar resolves ------------
_GO_MAP: dict[str, Any] = {
    **dict.fromkeys(("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"), True),
    **dict.fromkeys(("n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"), False),
    **dict.fromkeys(("", "~", "null", "Null", "NULL"), None),
    **dict.fromkeys((".nan", ".NaN", ".NAN"), math.nan),
    **dict.fromkeys((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), math.inf),
    **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), -math.inf),
}
_GO_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_GO_DOT_FLOAT = re.compile(r"^\.[0-9]+([eE][-+]?[0-9]+)?$")
_TIMESTAMP_HEAD = re.compile(r"^[0-9]{4}-")


def _go_parse_int(text: str) -> int | None:
    """Go's strconv.ParseInt/ParseUint with base 0 (0x, 0o, 0b, 0 prefixes), in int64/uint64 range."""
    found = re.fullmatch(r"([-+]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)", text)
    if not found:
        return None
    sign, digits = found.groups()
    lower = digits.lower()
    if lower.startswith(("0x", "0o", "0b")):
        value = int(lower[2:], {"x": 16, "o": 8, "b": 2}[lower[1]])
    elif digits.startswith("0") and len(digits) > 1:
        value = int(digits, 8)
    else:
        value = int(digits)
    value = -value if sign == "-" else value
    return value if -(2**63) <= value < 2**64 else None


def go_resolve(plain: str) -> Any:
    """What go-yaml v2 makes of an unquoted scalar when decoding into interface{} (kubectl's view).

    Timestamps stay strings (go-yaml v2 keeps them as text for interface{}); integers outside int64 and
    uint64 become floats; a float that overflows stays a string; `1:20` is a string (no sexagesimal).
    """
    if plain in _GO_MAP:
        return _GO_MAP[plain]
    if not plain:
        return None
    head = plain[0]
    if head == ".":
        return float(plain) if _GO_DOT_FLOAT.match(plain) else plain
    if not (head.isdigit() and head.isascii()) and head not in "+-":
        return plain
    if _TIMESTAMP_HEAD.match(plain) and _is_timestamp(plain):
        return plain
    stripped = plain.replace("_", "")
    value = _go_parse_int(stripped)
    if value is not None:
        return value
    if _GO_FLOAT.match(stripped):
        number = float(stripped)
        return number if math.isfinite(number) else plain
    return plain


def _is_timestamp(text: str) -> bool:
    return bool(
        re.fullmatch(
            r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}"
            r"(?:(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(?:\.[0-9]*)?"
            r"(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?)?)?",
            text,
        )
    )


# ---- the data model ----------------------------------------------------------------------------------
@dataclass
class Example:
    """One generated kubeconfig: its text, and what kubectl must make of it."""

    text: str
    model: Any  # the parsed document as kubectl reads it (before its schema), or None when invalid YAML
    defect: str | None = None  # why kubectl must refuse it; None: kubectl must accept it
    features: list[str] = field(default_factory=list)

    def __repr__(self) -> str:  # hypothesis prints this for a falsifying example: the text is what matters
        return f"Example(defect={self.defect!r}, features={self.features!r}, text={self.text!r})"


class Anchor:
    """A value written once with `&name` and then again as `*name`."""

    def __init__(self, value: Any) -> None:
        self.value = value
        self.name: str | None = None


@dataclass
class Merge:
    """A mapping written as `<<: *base` plus its own keys; `merge_last` puts the `<<` after them.

    go-yaml v2 applies a merge where it stands: keys merged after an explicit key overwrite it.
    """

    base: Anchor
    own: dict[str, Any]
    merge_last: bool

    def value(self) -> dict[str, Any]:
        base = resolve(self.base)
        return {**self.own, **base} if self.merge_last else {**base, **self.own}


@dataclass
class Raw:
    """A scalar written exactly as `text` (plain, or with its own quotes); `value` is kubectl's reading."""

    text: str
    value: Any


def resolve(value: Any) -> Any:
    """The plain data a model value (with its Anchors, Merges and Raws) means."""
    if isinstance(value, Anchor):
        return resolve(value.value)
    if isinstance(value, Merge):
        return value.value()
    if isinstance(value, Raw):
        return value.value
    if isinstance(value, dict):
        return {resolve_key(k): resolve(v) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v) for v in value]
    return value


def resolve_key(key: Any) -> Any:
    return key.value if isinstance(key, Raw) else key


# Plain-scalar words with their go-yaml v2 reading: YAML 1.1 booleans and nulls, numbers in every base,
# sexagesimal-looking text, dates, and things that only look like numbers.
WORDS = [
    "yes", "no", "on", "off", "y", "n", "Y", "N", "true", "False", "NULL", "null", "~",
    "1.20", "012", "0x1F", "0o17", "0b101", "1_000", "1:20", "190:20:30", "1e3", "1E-2", "+12", "-7",
    ".5", "1.", "09", "0.1e-2", "1e", "2001-12-14", "2001-12-14T21:59:43.10-05:00", "2001-12-14 21:59:43",
    "12345678901234567890123", "18446744073709551615", "-9223372036854775809", "0", "-0", "3.14159",
    "1_0.5", "0x", "=", "<<x", "v1.32", "1.2.3", "08:00", "12:30:45.5", "+.5", "-.5e2",
]  # fmt: skip
# Values that kubectl refuses in the whole document, even in a field it ignores: JSON has no inf or nan.
NON_FINITE = [".inf", "-.Inf", ".NaN", "+.INF"]

_ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
_SPECIAL_STRINGS = [
    "https://h:6443/path",
    "arn:aws:eks:us-east-1:111111111111:cluster/x",
    "--oidc-issuer-url=https://issuer.example.com",
    "a:b",
    "a: b",
    "a #b",
    "a#b",
    "a,b",
    "[x]",
    "{x}",
    "-x",
    "- x",
    "?x",
    "? x",
    ":x",
    "x:",
    "#x",
    "&x",
    "*x",
    "!x",
    "%x",
    "@x",
    "`x",
    "|x",
    ">x",
    "'x'",
    '"x"',
    "it's",
    'say "hi"',
    "back\\slash",
    " lead",
    "trail ",
    "tab\there",
    "ünïcødé",
    "x\u2028y",
    "",
    "a\nb",
    "C:\\Users\\me\\.kube\\ca.crt",
    "http://[::1]:8080",
    "user@example.com",
    "${HOME}/x",
]
ARN_REGIONS = ["us-east-1", "eu-west-2", "ap-southeast-1"]


def one_in(draw: st.DrawFn, n: int) -> bool:
    """True once in `n` draws; shrinks to False (to the plainer file)."""
    return draw(_ints(0, n - 1)) == n - 1


@functools.cache
def _simple_name() -> st.SearchStrategy[str]:
    return st.text(_ALNUM + "-._", min_size=1, max_size=12).filter(lambda s: s[0].isalnum())


@functools.cache
def strings() -> st.SearchStrategy[str]:
    """Text values: simple names first (what shrinking reaches), then the hard cases."""
    return st.one_of(
        _simple_name(),
        _sampled(_SPECIAL_STRINGS),
        _sampled(WORDS),  # as strings: they must be quoted to stay strings
        st.builds(
            lambda region, account, name: f"arn:aws:eks:{region}:{account}:cluster/{name}",
            _sampled(ARN_REGIONS),
            _sampled(["111111111111", "123456789012"]),
            _simple_name(),
        ),
        st.text(min_size=0, max_size=8),
        _ints(150, 600).map(lambda n: (_ALNUM * 20)[:n]),  # long lines
    )


@functools.cache
def _b64() -> st.SearchStrategy[str]:
    return st.binary(min_size=0, max_size=48).map(lambda b: base64.b64encode(b).decode())


@st.composite
def scalar_values(draw: st.DrawFn) -> Any:
    """A value of any JSON type for extensions and unknown fields, often spelled as a YAML 1.1 word."""
    kind = draw(_sampled(["word", "string", "int", "float", "bool", "null"]))
    if kind == "word":
        word = draw(_sampled(WORDS))
        return Raw(word, go_resolve(word))
    if kind == "string":
        return draw(strings())
    if kind == "int":
        return draw(_ints(-(2**63), 2**63 - 1))
    if kind == "float":
        return draw(st.floats(allow_nan=False, allow_infinity=False, width=64))
    if kind == "bool":
        return draw(_BOOLS)
    return None


@functools.cache
def json_values(depth: int = 2) -> st.SearchStrategy[Any]:
    """Nested values of extensions (kubectl keeps them verbatim) and unknown fields (it drops them)."""
    if depth <= 0:
        return scalar_values()
    inner = json_values(depth - 1)
    keys = st.one_of(_simple_name(), _sampled(["1", "yes", "1.5", "a:b", "<<", "on"]))
    return st.one_of(
        scalar_values(),
        st.lists(inner, max_size=3),
        st.dictionaries(keys, inner, max_size=3),
    )


@st.composite
def extensions(draw: st.DrawFn) -> list[dict[str, Any]]:
    names = draw(st.lists(_simple_name(), min_size=1, max_size=2, unique=True))
    return [{"name": name, "extension": draw(json_values())} for name in names]


@st.composite
def unknown_fields(draw: st.DrawFn, non_finite: bool = False) -> dict[str, Any]:
    """Fields kubectl does not know (it drops them): any key, any value."""
    keys = st.one_of(_sampled(["x-note", "Server", "unknown", "foo_bar", "1", "yes"]), _simple_name())
    result = draw(st.dictionaries(keys, json_values(1), min_size=1, max_size=2))
    if non_finite:
        word = draw(_sampled(NON_FINITE))
        result["x-number"] = Raw(word, go_resolve(word))
    return result


@st.composite
def clusters(draw: st.DrawFn, name: Any) -> dict[str, Any]:
    body: dict[str, Any] = {}
    server = draw(
        _sampled(
            [
                "https://h:6443/path",
                "https://ABCDEF0123456789.gr7.us-east-1.eks.amazonaws.com",
                "https://10.0.0.1",
                "http://[::1]:8080",
                "",
            ]
        )
        | strings()
    )
    body["server"] = server
    optional = {
        "certificate-authority-data": _b64(),
        "insecure-skip-tls-verify": _BOOLS,
        "tls-server-name": strings(),
        "proxy-url": _sampled(["http://proxy.example.com:3128", "socks5://localhost:1080"]),
        "disable-compression": _BOOLS,
        "extensions": extensions(),
    }
    for key, strategy in optional.items():
        if one_in(draw, 4):
            body[key] = draw(strategy)
    if one_in(draw, 6):
        body.update(draw(unknown_fields()))
    entry: dict[str, Any] = {"cluster": body} if draw(_ints(0, 9)) else {}
    if name is not _NAMELESS:
        entry["name"] = name
    if draw(_BOOLS):
        entry = dict(reversed(list(entry.items())))
    return entry


_NAMELESS = object()


@st.composite
def exec_users(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(_sampled(["eks", "oidc", "other"]))
    if kind == "eks":
        region = draw(_sampled(ARN_REGIONS))
        cluster = draw(_simple_name())
        args: list[Any] = ["--region", region, "eks", "get-token", "--cluster-name", cluster]
        if draw(_BOOLS):
            args += ["--output", "json"]
        if draw(_BOOLS):
            args += ["--role", "arn:aws:iam::111111111111:role/admin"]
        exec_: dict[str, Any] = {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "args": args,
            "command": "aws",
        }
        if draw(_BOOLS):
            exec_["env"] = [{"name": "AWS_PROFILE", "value": draw(_sampled(["prod", "dev", "yes"]))}]
    elif kind == "oidc":
        exec_ = {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "kubectl",
            "args": [
                "oidc-login",
                "get-token",
                "--oidc-issuer-url=https://issuer.example.com",
                "--oidc-client-id=kubernetes",
                *draw(st.lists(_sampled(["--oidc-extra-scope=email", "-v1", "--grant-type=auto"]))),
            ],
            "interactiveMode": draw(_sampled(["IfAvailable", "Never", "Always"])),
        }
    else:
        exec_ = {
            "command": draw(strings()),
            "args": draw(st.none() | st.lists(strings(), max_size=3)),
            "env": draw(st.none() | st.lists(st.fixed_dictionaries({"name": strings(), "value": strings()}))),
            "apiVersion": draw(
                _sampled(["client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"])
            ),
            "provideClusterInfo": draw(_BOOLS),
        }
        if draw(_BOOLS):
            exec_["installHint"] = draw(strings())
        if exec_["apiVersion"].endswith("/v1"):
            exec_["interactiveMode"] = "Never"
    return {"exec": exec_}


@st.composite
def users(draw: st.DrawFn, name: Any) -> dict[str, Any]:
    kind = draw(_sampled(["exec", "token", "certs", "basic", "auth-provider", "empty"]))
    if kind == "exec":
        body = draw(exec_users())
    elif kind == "token":
        body = {"token": draw(strings())}
    elif kind == "certs":
        body = {"client-certificate-data": draw(_b64()), "client-key-data": draw(_b64())}
    elif kind == "basic":
        body = {"username": draw(strings()), "password": draw(strings())}
    elif kind == "auth-provider":
        body = {
            "auth-provider": {
                "name": "oidc",
                "config": draw(st.dictionaries(_simple_name(), strings(), max_size=3)),
            }
        }
    else:
        body = {}
    if one_in(draw, 6):
        body["as"] = draw(strings())
        body["as-groups"] = draw(st.lists(strings(), max_size=2))
    if one_in(draw, 6):
        body["extensions"] = draw(extensions())
    entry: dict[str, Any] = {"user": body}
    if name is not _NAMELESS:
        entry = {"name": name, **entry}
    return entry


@st.composite
def contexts(draw: st.DrawFn, name: Any, cluster_names: list[Any], user_names: list[Any]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "cluster": draw(_sampled(cluster_names)) if cluster_names else draw(strings()),
        "user": draw(_sampled(user_names)) if user_names else draw(strings()),
    }
    if draw(_BOOLS):
        body["namespace"] = draw(_sampled(["default", "kube-system", "yes", "1.20", "a:b"]))
    if one_in(draw, 7):
        body["extensions"] = draw(extensions())
    entry: dict[str, Any] = {"context": body}
    if name is not _NAMELESS:
        entry = {"name": name, **entry}
    return entry


def _name_list(draw: st.DrawFn, size: int) -> list[Any]:
    names = draw(st.lists(strings().filter(bool), min_size=size, max_size=size, unique=True))
    result: list[Any] = list(names)
    if result and one_in(draw, 8):
        result[draw(_ints(0, len(result) - 1))] = _NAMELESS  # at most one nameless entry: ""
    elif result and one_in(draw, 10):
        result[draw(_ints(0, len(result) - 1))] = None  # `name: null` is "" too
    return result


DEFECTS = [
    "name-not-a-string",
    "duplicate-name",
    "bool-in-string-field",
    "number-in-string-field",
    "section-not-a-list",
    "non-finite-number",
    "bad-base64",
    "unknown-kind",
    "top-level-list",
    "entry-not-a-mapping",
    "two-nameless",
]


@st.composite
def models(draw: st.DrawFn) -> tuple[dict[str, Any] | list[Any] | None, str | None]:
    """A kubeconfig's data model and the defect kubectl must refuse it for (None: a valid file)."""
    defect = draw(_sampled(DEFECTS)) if draw(_ints(0, 99)) >= 85 else None  # 15%, shrinks to valid
    if one_in(draw, 31) and defect is None:
        return draw(_sampled([None, {}])), None
    sizes = [draw(_ints(0, 3)) for _ in range(3)]
    cluster_names = _name_list(draw, sizes[0])
    user_names = _name_list(draw, sizes[1])
    context_names = _name_list(draw, sizes[2])
    # the names as kubectl reads them, which contexts refer to
    cluster_refs = ["" if n is _NAMELESS or n is None else n for n in cluster_names]
    user_refs = ["" if n is _NAMELESS or n is None else n for n in user_names]
    doc: dict[str, Any] = {}
    head = draw(_sampled(["both", "none", "kind", "api"]))
    if head in ("both", "api"):
        doc["apiVersion"] = "v1"
    if head in ("both", "kind"):
        doc["kind"] = "Config"
    sections: dict[str, Any] = {
        "clusters": [draw(clusters(n)) for n in cluster_names],
        "users": [draw(users(n)) for n in user_names],
        "contexts": [draw(contexts(n, cluster_refs, user_refs)) for n in context_names],
    }
    for key, entries in sections.items():
        shape = draw(_ints(0, 9))
        if entries or shape > 2:
            doc[key] = entries
        elif shape == 1:
            doc[key] = None
        elif shape == 2:
            doc[key] = []
    if draw(_BOOLS):
        names = [n for n in context_names if isinstance(n, str)]
        doc["current-context"] = draw(_sampled(names)) if names else ""
    if one_in(draw, 4):
        doc["preferences"] = draw(_sampled([{}, {"colors": True}, None]))
    if one_in(draw, 7):
        doc["extensions"] = draw(extensions())
    if one_in(draw, 4):
        doc.update(draw(unknown_fields()))
    _share(draw, doc)
    if draw(_BOOLS):
        items = list(doc.items())
        order = draw(st.permutations(range(len(items))))
        doc = dict(items[i] for i in order)
    if defect is not None:
        return _spoil(draw, doc, defect), defect
    return doc, None


def _share(draw: st.DrawFn, doc: dict[str, Any]) -> None:
    """Sometimes: a later cluster's body is an alias of, or merges, an earlier one's."""
    entries = doc.get("clusters")
    if not isinstance(entries, list) or len(entries) < 2 or draw(_ints(0, 5)):
        return
    first, later = entries[0], entries[-1]
    if not isinstance(first.get("cluster"), dict) or "cluster" not in later:
        return
    anchor = Anchor(first["cluster"])
    first["cluster"] = anchor
    if draw(_BOOLS):
        later["cluster"] = anchor
    else:
        own = {"server": draw(strings())}
        later["cluster"] = Merge(anchor, own, merge_last=draw(_BOOLS))


def _spoil(draw: st.DrawFn, doc: dict[str, Any], defect: str) -> Any:
    if defect == "top-level-list":
        return [doc]
    if defect == "unknown-kind":
        doc["kind"] = draw(_sampled(["Pod", "config", "KubeConfig"]))
        return doc
    if defect == "non-finite-number":
        doc.update(draw(unknown_fields(non_finite=True)))
        return doc
    section = draw(_sampled(["clusters", "users", "contexts"]))
    entries = doc.get(section)
    if not isinstance(entries, list) or not entries:
        entries = doc[section] = [
            {"name": "seed", **({"cluster": {"server": "s"}} if section == "clusters" else {})}
        ]
    body_key = {"clusters": "cluster", "users": "user", "contexts": "context"}[section]
    target = entries[-1]
    if defect == "name-not-a-string":
        word = draw(_sampled(["yes", "1", "1.5", "0x1F", "true", "no", "[a]", "{a: b}"]))
        target["name"] = Raw(word, _flow_value(word))
    elif defect == "duplicate-name":
        entries.append({**target})
    elif defect == "two-nameless":
        entries.append({body_key: {}})
        entries.append({body_key: {}})
    elif defect in ("bool-in-string-field", "number-in-string-field"):
        words = (
            ["yes", "off", "y", "true"] if defect.startswith("bool") else ["1.20", "012", "0x1F", "09", "1e3"]
        )
        word = draw(_sampled(words))
        field_name = {"clusters": "server", "users": "token", "contexts": "namespace"}[section]
        body = target.get(body_key)
        if not isinstance(body, dict):
            body = target[body_key] = {}
        body[field_name] = Raw(word, go_resolve(word))
    elif defect == "section-not-a-list":
        doc[section] = draw(_sampled([{"a": 1}, "text", 5]))
    elif defect == "bad-base64":
        key = {"clusters": "certificate-authority-data", "users": "client-key-data", "contexts": "namespace"}
        if section == "contexts":
            section, target, body_key = "clusters", None, "cluster"
            doc.setdefault("clusters", [])
            if not isinstance(doc["clusters"], list):
                doc["clusters"] = []
            doc["clusters"].append({"name": "b64", "cluster": {}})
            target = doc["clusters"][-1]
        body = target.get(body_key)
        if not isinstance(body, dict):
            body = target[body_key] = {}
        body[key[section]] = draw(_sampled(["aGVsbG8", "not base64!", "====", "a"]))
    elif defect == "entry-not-a-mapping":
        entries.append(draw(_sampled(["text", 5, ["a"]])))
    return doc


def _flow_value(word: str) -> Any:
    if word == "[a]":
        return ["a"]
    if word == "{a: b}":
        return {"a": "b"}
    return go_resolve(word)


# ---- the rendering -----------------------------------------------------------------------------------
_FLOW_INDICATORS = set(",[]{}")
# In flow context go-yaml v2 ends a plain scalar at a flow indicator and at any `?` (its scanner, from
# an older libyaml, does not need a blank after it): `{a: u?x}` is refused ("did not find expected ','").
_FLOW_PLAIN_STOPS = _FLOW_INDICATORS | {"?"}
_START_INDICATORS = set("-?:,[]{}#&*!|>'\"%@`")


def plain_ok(text: str, flow: bool) -> bool:
    """Whether `text` can be written unquoted (in block or flow context) and still be read as itself."""
    if not text or text != text.strip(" ") or any(not ch.isprintable() or ch == "\t" for ch in text):
        return False
    if "\u2028" in text or "\u2029" in text or "\ufeff" in text:
        return False
    first = text[0]
    if first in _START_INDICATORS:
        if first not in "-?:" or len(text) == 1 or text[1] == " " or (flow and text[1] in _FLOW_INDICATORS):
            return False
        if flow and first in "?:":
            return False
    if ": " in text or " #" in text or text.endswith(":"):
        return False
    if flow and (any(ch in _FLOW_PLAIN_STOPS for ch in text) or (":" in text and _colon_risky(text))):
        return False
    return isinstance(go_resolve(text), str) and go_resolve(text) == text and text != "<<"


def _colon_risky(text: str) -> bool:
    """In flow context a `:` followed by a flow indicator or the end ends a key."""
    return any(text[i] == ":" and (i + 1 == len(text) or text[i + 1] in ",[]{}") for i in range(len(text)))


def _double(text: str) -> str:
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif not ch.isprintable() or ch in "\u2028\u2029\ufeff":
            code = ord(ch)
            out.append(
                f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
            )
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _single_ok(text: str) -> bool:
    return all(ch.isprintable() and ch not in "\u2028\u2029\ufeff" for ch in text)


class Renderer:
    """Writes a model as YAML text, drawing every layout choice."""

    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw
        self.indent = draw(_sampled([2, 4, 2, 3]))
        self.seq_indent = draw(_sampled([0, 0, self.indent]))
        self.comments = draw(_ints(0, 3))  # 0: none; higher: more often
        self.flow_bias = draw(_ints(0, 4))  # how often collections are written in flow style
        self.anchors = 0
        self.features: set[str] = set()

    def pick(self, options: list[str]) -> str:
        value: str = self.draw(_sampled(options))
        return value

    def chance(self, weight: int, out_of: int = 10) -> bool:
        return weight > 0 and self.draw(_ints(0, out_of - 1)) >= out_of - weight  # shrinks to False

    def comment(self) -> str:
        if not self.chance(self.comments, 12):
            return ""
        self.features.add("comment")
        text = self.pick(["c", "a: b", "- x", "{[,]}", "#", "'\"", "name: other", ""])
        return " #" + (" " + text if text else "")

    def own_line_comments(self, column: int) -> list[str]:
        if not self.chance(self.comments, 15):
            return []
        self.features.add("comment-line")
        pad = " " * int(self.draw(_sampled([column, 0, column + 1])))
        return [pad + "# " + self.pick(["note", "clusters:", "- name: x", "}"])]

    # -- scalars --
    def scalar(self, value: Any, flow: bool, key: bool = False) -> str:
        if isinstance(value, Raw):
            self.features.add("raw-word")
            return value.text
        if value is None:
            return self.pick(["null", "~", "Null", "NULL"] if not key else ["null", "~"])
        if isinstance(value, bool):
            spellings = (
                ["true", "yes", "on", "True", "Y", "ON"] if value else ["false", "no", "off", "N", "OFF"]
            )
            return self.pick(spellings)
        if isinstance(value, int):
            spellings = [str(value)]
            if value >= 0:
                spellings += [hex(value), "0o" + format(value, "o"), "+" + str(value)]
                if value > 7:
                    spellings.append("0" + format(value, "o"))
            spelling = self.pick(spellings)
            assert go_resolve(spelling) == value, spelling
            return spelling
        if isinstance(value, float):
            spelling = repr(value)
            if go_resolve(spelling) != value:
                spelling = f"{value:.17e}"
            if go_resolve(spelling) != value:
                raise AssertionError(f"no plain spelling of {value!r}")  # finite floats always have one
            return spelling
        assert isinstance(value, str), value
        styles = ["plain"] * 6 if plain_ok(value, flow) else []
        styles += ["single", "single", "double", "double"] if _single_ok(value) else ["double"]
        if not key and not flow and value and "\n" not in value:
            styles.append("literal")
        style = self.pick(styles)
        if style == "plain":
            if ":" in value and flow:
                self.features.add("flow-plain-colon")
            return value
        if style == "literal" and _single_ok(value) and value == value.strip() and not value.startswith("#"):
            self.features.add("block-scalar")
            return "|-\n" + "\x00INDENT\x00" + value
        if style == "single" and _single_ok(value):
            return "'" + value.replace("'", "''") + "'"
        return _double(value)

    def key(self, key: Any, flow: bool) -> str:
        text = self.scalar(key, flow, key=True)
        if self.chance(1, 25) and not flow:
            self.features.add("explicit-key")
            return "? " + text + "\n:"  # explicit key; value follows after ':'
        return text

    # -- collections --
    def flow(self, value: Any) -> str:
        if isinstance(value, Anchor):
            return self.anchor_ref(value, lambda inner: self.flow(inner))
        if isinstance(value, Merge):
            self.features.add("merge")
            own = [f"{self.key(k, True)}: {self.flow(v)}" for k, v in value.own.items()]
            merge = "<<: " + self.alias(value.base)
            items = [*own, merge] if value.merge_last else [merge, *own]
            return "{" + ", ".join(items) + "}"
        if isinstance(value, dict):
            sep = self.pick([", ", ",", " , "])
            colon = self.pick([": ", ": ", ":  "])
            items = [f"{self.key(k, True)}{colon}{self.flow(v)}" for k, v in value.items()]
            trailing = "," if items and self.chance(1, 10) else ""
            inner = sep.join(items) + trailing
            return "{" + inner + "}" if not self.chance(1, 4) or not items else "{ " + inner + " }"
        if isinstance(value, list):
            sep = self.pick([", ", ",", " , "])
            items = [self.flow(v) for v in value]
            trailing = "," if items and self.chance(1, 10) else ""
            return "[" + sep.join(items) + trailing + "]"
        return self.scalar(value, True)

    def alias(self, anchor: Anchor) -> str:
        assert anchor.name is not None
        self.features.add("alias")
        return "*" + anchor.name

    def anchor_ref(self, anchor: Anchor, render: Any) -> str:
        if anchor.name is not None:
            return self.alias(anchor)
        self.anchors += 1
        anchor.name = f"a{self.anchors}"
        self.features.add("anchor")
        return f"&{anchor.name} " + str(render(anchor.value))

    def use_flow(self, value: Any) -> bool:
        if isinstance(value, dict | list) and not value:
            return True
        return self.chance(self.flow_bias, 10)

    def block_value(self, value: Any, column: int, in_sequence: bool = False) -> list[str]:
        """The lines of a value that follows `key:` at `column` (first line: the rest of the key's line),
        or `-` at `column` when `in_sequence`: a block list there must be indented past the dash (at the
        dash's own column it would continue the outer list, its items read as the outer list's)."""
        if isinstance(value, Anchor):
            if value.name is not None:
                return [" " + self.alias(value) + self.comment()]
            self.anchors += 1
            value.name = f"a{self.anchors}"
            self.features.add("anchor")
            lines = self.block_value(value.value, column, in_sequence)
            if lines[0] == "" and lines[1:]:
                return [f" &{value.name}", *lines[1:]]
            return [f" &{value.name}" + lines[0], *lines[1:]]
        if isinstance(value, Merge):
            self.features.add("merge")
            inner = column + self.indent
            pad = " " * inner
            merge = [pad + "<<: " + self.alias(value.base)]
            own = self.block_mapping(value.own, inner)
            return ["", *(own + merge if value.merge_last else merge + own)]
        if isinstance(value, dict | list) and self.use_flow(value):
            text = self.flow(value)
            if isinstance(value, dict | list) and value:
                self.features.add("flow-in-block")
            return [" " + text + self.comment()]
        if isinstance(value, dict):
            return ["" + self.comment(), *self.block_mapping(value, column + self.indent)]
        if isinstance(value, list):
            inner = column + (max(self.seq_indent, 2) if in_sequence else self.seq_indent)
            return ["" + self.comment(), *self.block_sequence(value, inner)]
        text = self.scalar(value, False)
        if "\x00INDENT\x00" in text:
            head, body = text.split("\n", 1)
            return [" " + head, body.replace("\x00INDENT\x00", " " * (column + self.indent))]
        return [" " + text + self.comment()]

    def block_mapping(self, mapping: dict[Any, Any], column: int) -> list[str]:
        lines: list[str] = []
        pad = " " * column
        for key, value in mapping.items():
            lines += self.own_line_comments(column)
            key_text = self.key(key, False)
            rest = self.block_value(value, column)
            if key_text.endswith("\n:"):
                lines.append(pad + key_text[:-2])
                lines.append(pad + ":" + rest[0])
            else:
                lines.append(pad + key_text + ":" + rest[0])
            lines += rest[1:]
        return lines

    def block_sequence(self, items: list[Any], column: int) -> list[str]:
        lines: list[str] = []
        pad = " " * column
        for item in items:
            lines += self.own_line_comments(column)
            if isinstance(item, dict) and item and not self.use_flow(item):
                gap: int = self.draw(_sampled([1, 1, 1, 3]))
                if self.chance(1, 12):  # the dash alone on its line
                    self.features.add("dash-own-line")
                    lines.append(pad + "-" + self.comment())
                    lines += self.block_mapping(item, column + 2)
                    continue
                body = self.block_mapping(item, column + 1 + gap)
                lines.append(pad + "-" + " " * gap + body[0].lstrip(" "))
                lines += body[1:]
            elif isinstance(item, list) and item and not self.use_flow(item):
                body = self.block_sequence(item, column + 2)
                lines.append(pad + "- " + body[0].lstrip(" "))
                lines += body[1:]
            else:
                rest = self.block_value(item, column, in_sequence=True)
                if isinstance(item, dict | list) and item:
                    self.features.add("flow-entry-in-block-list")
                lines.append(pad + "-" + rest[0])
                lines += rest[1:]
        return lines

    def document(self, model: Any) -> str:
        if model is None:
            body = self.pick(["", "null", "~", "# only a comment"])
            lines = [body] if body else []
        elif isinstance(model, dict) and model and self.chance(1, 12):
            self.features.add("flow-document")
            lines = [self.flow(model)]
        elif isinstance(model, dict) and model:
            lines = self.block_mapping(model, 0)
        elif isinstance(model, list):
            lines = self.block_sequence(model, 0) if model else ["[]"]
        else:
            lines = [self.flow(model)]
        if self.chance(1, 8):
            self.features.add("document-start")
            lines.insert(0, self.pick(["---", "--- # doc", "%YAML 1.1\n---"]))
        if self.chance(1, 12):
            self.features.add("document-end")
            lines.append("...")
        if self.chance(self.comments, 10):
            lines.insert(0, "# " + self.pick(["kubeconfig", "written by hand: a: b"]))
        text = "\n".join(lines)
        if self.chance(9, 10):
            text += "\n"
        if self.chance(1, 10):
            self.features.add("trailing-blank-lines")
            text += "\n\n"
        if self.chance(1, 8):
            self.features.add("crlf")
            text = text.replace("\n", "\r\n")
        if self.chance(1, 12):
            self.features.add("bom")
            text = "\ufeff" + text
        return text


@st.composite
def kubeconfigs(draw: st.DrawFn) -> Example:
    """A kubeconfig's text, the data kubectl must read from it, and the defect it must refuse it for."""
    model, defect = draw(models())
    renderer = Renderer(draw)
    text = renderer.document(model)
    features = sorted(renderer.features | ({f"defect:{defect}"} if defect else set()))
    return Example(text=text, model=resolve(model), defect=defect, features=features)
