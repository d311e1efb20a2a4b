"""The real kubectl as an oracle, and kcm's data projected into what kubectl prints for it.

`kubectl_view(path)` runs `kubectl config view -o json --raw` on one file, offline and in an isolated
HOME. `as_kubectl_sees(data)` takes the plain data kcm read from a file and returns exactly what that
command prints for a file meaning that data, or raises `KubectlRefuses` when kubectl's own rules refuse
such a file. The rules, each checked by experiment against kubectl v1.32:

1. The whole document is converted from YAML to JSON first (sigs.k8s.io/yaml): mapping keys become
   strings (booleans `true`/`false`, integers in decimal, floats in Go's shortest 32-bit form); a null,
   list or mapping key, or a NaN or infinite number anywhere (even in a field kubectl ignores), refuses
   the file. Keys that collide once stringified are left ambiguous (Go map order): refused here too.
2. The JSON is decoded into kubectl's v1 Config types (case-sensitive field names): unknown fields are
   dropped; `null` leaves a field's zero value; a value of the wrong JSON type refuses the file; `*-data`
   fields are standard base64 (padding required; `\r` and `\n` ignored) and are printed re-encoded.
3. `kind` must be "" or "Config" and `apiVersion` "" or "v1"; the output always says Config and v1.
4. The lists become maps keyed by name (a missing or null name is ""): a name used twice in one list
   (extensions included) refuses the file; they are printed sorted by name (bytewise), `null` when empty.
5. Printing: fields without `omitempty` always appear (`server`, a context's `cluster` and `user`,
   `preferences`, `current-context`, an exec's `command`, `args`, `env`, `provideClusterInfo`, an
   auth-provider's `name` and `config`, an extension's `extension`); `omitempty` fields are left out when
   "", false, empty or null. An exec with apiVersion v1alpha1 or v1beta1 and no interactiveMode gets
   "IfAvailable". An extension's value is kept verbatim (any JSON).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
import shutil
import struct
import subprocess
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

KUBECTL = shutil.which("kubectl")
# The gcloud build of kubectl (a "dispatcher") asks the current context's API server for its version
# before any command: a --context that names no context stops that; `config view` ignores --context.
NO_SUCH_CONTEXT = "kcm-parity-no-such-context"
_HOME: Path | None = None

View = tuple[Literal["ok"], dict[str, Any]] | tuple[Literal["error"], str]


def _home() -> Path:
    global _HOME
    if _HOME is None:
        _HOME = Path(tempfile.mkdtemp(prefix="kcm-parity-home-"))
        (_HOME / "no-bin").mkdir()
    return _HOME


def kubectl_view(path: str | os.PathLike[str]) -> View:
    """`kubectl config view -o json --raw` of one file: ("ok", json) or ("error", its message)."""
    assert KUBECTL is not None, "kubectl is not on PATH"
    home = _home()
    result = subprocess.run(
        [KUBECTL, "config", "view", "-o", "json", "--raw", "--context", NO_SUCH_CONTEXT],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        # GOGC=off: a run this short never needs Go's collector, a quarter of its CPU (measured)
        env={"HOME": str(home), "PATH": str(home / "no-bin"), "KUBECONFIG": str(path), "GOGC": "off"},
    )
    if result.returncode != 0:
        return "error", result.stderr.strip()
    return "ok", json.loads(result.stdout)


class KubectlRefuses(Exception):
    """kubectl's rules refuse a file that means this data; the message says which rule."""


# ---- rule 1: YAML -> JSON ----------------------------------------------------------------------------
def _go_float32_key(value: float) -> str:
    """strconv.FormatFloat(f, 'g', -1, 32): the shortest digits that round-trip through float32, in
    exponent form when the exponent is below -4 or at least 6."""
    if math.isnan(value):
        return ".nan"
    if math.isinf(value) or abs(value) > 3.4028234663852886e38:
        return ".inf" if value > 0 else "-.inf"
    f32 = struct.unpack("f", struct.pack("f", value))[0]
    if f32 == 0:
        return "-0" if math.copysign(1, f32) < 0 else "0"
    for precision in range(0, 10):
        text = f"{f32:.{precision}e}"
        if struct.unpack("f", struct.pack("f", float(text)))[0] == f32:
            break
    mantissa, exponent = text.split("e")
    exp = int(exponent)
    if "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
    if exp < -4 or exp >= 6:
        return f"{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    negative = mantissa.startswith("-")
    digits = mantissa.lstrip("-").replace(".", "")
    point = exp + 1
    if point <= 0:
        fixed = "0." + "0" * -point + digits
    elif point >= len(digits):
        fixed = digits + "0" * (point - len(digits))
    else:
        fixed = digits[:point] + "." + digits[point:]
    return ("-" if negative else "") + fixed


def _go_json_float(value: float, where: str) -> Any:
    """encoding/json prints a float64 in its shortest round-trip digits, without an exponent from 1e-6
    to 1e21: so 1.0 is printed `1` (read back as an integer) and 2.952484474120561e16 `29524844741205610`."""
    if not math.isfinite(value):
        raise KubectlRefuses(f"{where}: json: unsupported value: {value}")
    if value == 0 or not 1e-6 <= abs(value) < 1e21:
        return value
    return json.loads(format(Decimal(repr(value)), "f"))


def _json_key(key: Any, where: str) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int):
        return str(key)
    if isinstance(key, float):
        return _go_float32_key(key)
    if key is None:
        raise KubectlRefuses(f"{where}: a null mapping key")
    raise KubectlRefuses(f"{where}: a {type(key).__name__} as a mapping key")


def to_json(value: Any, where: str = "$") -> Any:
    """Rule 1: the data as sigs.k8s.io/yaml turns it into JSON."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = _json_key(key, where)
            if name in out:
                raise KubectlRefuses(f"{where}: keys {name!r} collide once made strings (ambiguous)")
            out[name] = to_json(item, f"{where}.{name}")
        return out
    if isinstance(value, list):
        return [to_json(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, float):
        return _go_json_float(value, where)
    if value is None or isinstance(value, str | bool | int | float):
        return value
    raise KubectlRefuses(f"{where}: a {type(value).__name__} has no JSON form")


# ---- rule 2: JSON -> kubectl's types -----------------------------------------------------------------
def type_name(value: Any) -> str:
    """A value's JSON type, as Go's errors name it."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _string(value: Any, where: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise KubectlRefuses(f"{where}: cannot unmarshal {type_name(value)} into a string")
    return value


def _bool(value: Any, where: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise KubectlRefuses(f"{where}: cannot unmarshal {type_name(value)} into a bool")
    return value


def _bytes(value: Any, where: str) -> str:
    """A []byte field: base64 in, base64 out (standard alphabet, padded; CR and LF are skipped)."""
    text = _string(value, where)
    cleaned = text.replace("\r", "").replace("\n", "")
    if len(cleaned) % 4:
        raise KubectlRefuses(f"{where}: illegal base64 data (length)")
    try:
        raw = base64.b64decode(cleaned, validate=True)
    except binascii.Error as exc:
        raise KubectlRefuses(f"{where}: illegal base64 data ({exc})") from exc
    return base64.b64encode(raw).decode()


def _object(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise KubectlRefuses(f"{where}: cannot unmarshal {type_name(value)} into an object")
    return value


def _array(value: Any, where: str) -> list[Any] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise KubectlRefuses(f"{where}: cannot unmarshal {type_name(value)} into an array")
    return value


def _strings(value: Any, where: str) -> list[str] | None:
    items = _array(value, where)
    return None if items is None else [_string(item, f"{where}[{i}]") for i, item in enumerate(items)]


def _put(out: dict[str, Any], key: str, value: Any) -> None:
    """An `omitempty` field: left out when "", false, empty or null."""
    if value not in ("", False, None, [], {}):
        out[key] = value


def _named(value: Any, where: str, body_key: str, body: Any) -> list[dict[str, Any]] | None:
    """Rule 4: a list of named entries, as kubectl prints it (sorted by name, null when empty)."""
    entries = _array(value, where)
    seen: dict[str, dict[str, Any]] = {}
    for i, item in enumerate(entries or []):
        entry = _object(item, f"{where}[{i}]")
        name = _string(entry.get("name"), f"{where}[{i}].name")
        converted = body(entry.get(body_key), f"{where}[{i}].{body_key}")
        if name in seen:
            raise KubectlRefuses(f"{where}: duplicate name {name!r} in list")
        seen[name] = {"name": name, body_key: converted}
    if not seen:
        return None
    return [seen[name] for name in sorted(seen, key=lambda n: n.encode("utf-8", "surrogatepass"))]


def _extensions(value: Any, where: str) -> list[dict[str, Any]] | None:
    return _named(value, where, "extension", lambda v, w: v)


def _cluster(value: Any, where: str) -> dict[str, Any]:
    data = _object(value, where)
    out: dict[str, Any] = {"server": _string(data.get("server"), f"{where}.server")}
    _put(out, "tls-server-name", _string(data.get("tls-server-name"), where))
    _put(out, "insecure-skip-tls-verify", _bool(data.get("insecure-skip-tls-verify"), where))
    _put(out, "certificate-authority", _string(data.get("certificate-authority"), where))
    _put(out, "certificate-authority-data", _bytes(data.get("certificate-authority-data"), where))
    _put(out, "proxy-url", _string(data.get("proxy-url"), where))
    _put(out, "disable-compression", _bool(data.get("disable-compression"), where))
    _put(out, "extensions", _extensions(data.get("extensions"), f"{where}.extensions"))
    return out


def _exec(value: Any, where: str) -> dict[str, Any] | None:
    if value is None:
        return None
    data = _object(value, where)
    env = _array(data.get("env"), f"{where}.env")
    out: dict[str, Any] = {
        "command": _string(data.get("command"), f"{where}.command"),
        "args": _strings(data.get("args"), f"{where}.args"),
        "env": None
        if env is None
        else [
            {
                "name": _string(_object(item, f"{where}.env[{i}]").get("name"), f"{where}.env[{i}].name"),
                "value": _string(_object(item, f"{where}.env[{i}]").get("value"), f"{where}.env[{i}].value"),
            }
            for i, item in enumerate(env)
        ],
    }
    api_version = _string(data.get("apiVersion"), f"{where}.apiVersion")
    _put(out, "apiVersion", api_version)
    _put(out, "installHint", _string(data.get("installHint"), f"{where}.installHint"))
    out["provideClusterInfo"] = _bool(data.get("provideClusterInfo"), f"{where}.provideClusterInfo")
    mode = _string(data.get("interactiveMode"), f"{where}.interactiveMode")
    if not mode and api_version in (
        "client.authentication.k8s.io/v1alpha1",
        "client.authentication.k8s.io/v1beta1",
    ):
        mode = "IfAvailable"
    _put(out, "interactiveMode", mode)
    return out


def _auth_provider(value: Any, where: str) -> dict[str, Any] | None:
    if value is None:
        return None
    data = _object(value, where)
    config = data.get("config")
    if config is not None:
        config = {k: _string(v, f"{where}.config.{k}") for k, v in _object(config, f"{where}.config").items()}
    return {"name": _string(data.get("name"), f"{where}.name"), "config": config}


def _user(value: Any, where: str) -> dict[str, Any]:
    data = _object(value, where)
    out: dict[str, Any] = {}
    for key in ("client-certificate", "client-certificate-data", "client-key", "client-key-data", "token"):
        convert = _bytes if key.endswith("-data") else _string
        _put(out, key, convert(data.get(key), f"{where}.{key}"))
    for key in ("tokenFile", "as", "as-uid"):
        _put(out, key, _string(data.get(key), f"{where}.{key}"))
    _put(out, "as-groups", _strings(data.get("as-groups"), f"{where}.as-groups"))
    extra = data.get("as-user-extra")
    if extra is not None:
        extra = {
            k: _strings(v, f"{where}.as-user-extra.{k}")
            for k, v in _object(extra, f"{where}.as-user-extra").items()
        }
    _put(out, "as-user-extra", extra)
    for key in ("username", "password"):
        _put(out, key, _string(data.get(key), f"{where}.{key}"))
    _put(out, "auth-provider", _auth_provider(data.get("auth-provider"), f"{where}.auth-provider"))
    _put(out, "exec", _exec(data.get("exec"), f"{where}.exec"))
    _put(out, "extensions", _extensions(data.get("extensions"), f"{where}.extensions"))
    return out


def _context(value: Any, where: str) -> dict[str, Any]:
    data = _object(value, where)
    out = {
        "cluster": _string(data.get("cluster"), f"{where}.cluster"),
        "user": _string(data.get("user"), f"{where}.user"),
    }
    _put(out, "namespace", _string(data.get("namespace"), f"{where}.namespace"))
    _put(out, "extensions", _extensions(data.get("extensions"), f"{where}.extensions"))
    return out


def _preferences(value: Any, where: str) -> dict[str, Any]:
    data = _object(value, where)
    out: dict[str, Any] = {}
    _put(out, "colors", _bool(data.get("colors"), f"{where}.colors"))
    _put(out, "extensions", _extensions(data.get("extensions"), f"{where}.extensions"))
    return out


def as_kubectl_sees(data: Any) -> dict[str, Any]:
    """What `kubectl config view -o json --raw` prints for a file that means `data` (kcm's reading:
    `kcm.kubeconfig.plain_data(text)` or `loads(text).data`); `KubectlRefuses` when kubectl refuses it."""
    doc = _object(to_json(data), "$") if data is not None else {}
    kind = _string(doc.get("kind"), "$.kind")
    api_version = _string(doc.get("apiVersion"), "$.apiVersion")
    if kind not in ("", "Config") or api_version not in ("", "v1"):
        raise KubectlRefuses(f'no kind "{kind}" is registered for version "{api_version}"')
    out: dict[str, Any] = {
        "kind": "Config",
        "apiVersion": "v1",
        "preferences": _preferences(doc.get("preferences"), "$.preferences"),
        "clusters": _named(doc.get("clusters"), "$.clusters", "cluster", _cluster),
        "users": _named(doc.get("users"), "$.users", "user", _user),
        "contexts": _named(doc.get("contexts"), "$.contexts", "context", _context),
        "current-context": _string(doc.get("current-context"), "$.current-context"),
    }
    _put(out, "extensions", _extensions(doc.get("extensions"), "$.extensions"))
    return out
