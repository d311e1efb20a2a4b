"""kcm reads every kubeconfig exactly as kubectl does: a differential test against the real kubectl.

For each generated kubeconfig text (tests/kubeconfig_gen.py) and each kept divergence
(fixtures/kubectl-parity/): kcm and `kubectl config view` must agree on accept/refuse, and when both
accept, kcm's data projected as kubectl prints it (tests/kubectl_oracle.py) must equal kubectl's view.
Then an in-process `kcm add` (an EKS cluster, user and context, and current-context) must give a file
kubectl reads as the projection of kcm's new data, keeping every original line outside the changed
entries, in order; kcm may refuse the edit (`EditError`), and the rate is reported.

The generator is checked too: kubectl must read each valid example as the generator's model, and
refuse each example with a defect ("generator:" failures are bugs in the test, not in kcm).

`make test` runs a few hundred derandomized examples; `make fuzz` (KCM_FUZZ_EXAMPLES=5000) runs
thousands with a random seed and an example database, and prints what it ran and found.
KCM_PARITY_SAVE=<dir> keeps the shortest input of each divergence class found there.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis.database import DirectoryBasedExampleDatabase
from yaml.nodes import CollectionNode, MappingNode, Node, ScalarNode, SequenceNode

from kcm import kubeconfig
from kcm.errors import InputError
from kcm.kubeconfig import EditError
from tests.kubeconfig_gen import Example, kubeconfigs
from tests.kubectl_oracle import KUBECTL, KubectlRefuses, View, as_kubectl_sees, kubectl_view, type_name

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "kubectl-parity"
FUZZ_EXAMPLES = int(os.environ.get("KCM_FUZZ_EXAMPLES", "0") or 0)
SAVE = os.environ.get("KCM_PARITY_SAVE")

pytestmark = pytest.mark.skipif(
    KUBECTL is None, reason="kubectl is not on PATH: the oracle is the real kubectl"
)

_HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
settings.register_profile(
    "kubectl-parity",
    max_examples=int(os.environ.get("KCM_PARITY_EXAMPLES", "200")),
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=_HEALTH,
    print_blob=True,
)
settings.register_profile(
    "kubectl-parity-fuzz",
    max_examples=max(FUZZ_EXAMPLES, 1),
    derandomize=False,
    database=DirectoryBasedExampleDatabase(str(ROOT / ".hypothesis" / "kubectl-parity")),
    deadline=None,
    suppress_health_check=_HEALTH,
    print_blob=True,
)
PROFILE = settings.get_profile("kubectl-parity-fuzz" if FUZZ_EXAMPLES else "kubectl-parity")

# The entries `kcm add` writes for an EKS cluster (src/kcm/eks.py), with names no generated file uses.
ADDED_ARN = "arn:aws:eks:us-west-2:999999999999:cluster/kcm-parity-added"
ADDED = {
    "clusters": {
        "cluster": {
            "certificate-authority-data": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==",
            "server": "https://0123456789ABCDEF.gr7.us-west-2.eks.amazonaws.com",
        },
        "name": ADDED_ARN,
    },
    "users": {
        "name": ADDED_ARN,
        "user": {
            "exec": {
                "apiVersion": "client.authentication.k8s.io/v1beta1",
                "args": ["--region", "us-west-2", "eks", "get-token", "--cluster-name", "kcm-parity-added"],
                "command": "aws",
                "env": [{"name": "AWS_PROFILE", "value": "parity"}],
            }
        },
    },
    "contexts": {"context": {"cluster": ADDED_ARN, "user": ADDED_ARN}, "name": ADDED_ARN},
}

_POOL = ThreadPoolExecutor(max_workers=4)  # kubectl runs
_CHECKS = ThreadPoolExecutor(max_workers=2)  # examples being checked while the next ones are drawn
_LOCK = threading.Lock()


@dataclass
class Stats:
    examples: int = 0
    matrix: Counter[str] = field(default_factory=Counter)  # "kcm ok / kubectl error" and so on
    edits: int = 0
    edit_refused: int = 0
    divergences: Counter[str] = field(default_factory=Counter)
    first: dict[str, str] = field(default_factory=dict)  # class -> one detail
    shortest: dict[str, str] = field(default_factory=dict)  # class -> the shortest input showing it

    def summary(self) -> str:
        lines = [
            f"kubectl parity: {self.examples} examples (kcm/kubectl: "
            + ", ".join(f"{k} {v}" for k, v in sorted(self.matrix.items()))
            + ")",
            f"  edits: {self.edits} tried, {self.edit_refused} refused by kcm (EditError)"
            + (f", {100 * self.edit_refused / self.edits:.1f}%" if self.edits else ""),
            f"  divergences: {sum(self.divergences.values())} in {len(self.divergences)} classes",
        ]
        lines += [
            f"    {n:5d}  {k}\n           e.g. {self.first[k]}" for k, n in self.divergences.most_common()
        ]
        return "\n".join(lines)


STATS = Stats()


class Divergence(AssertionError):
    """kcm and kubectl disagree; a subclass per class, so hypothesis shrinks each class on its own."""


_CLASSES: dict[str, type[Divergence]] = {}


def _divergence(klass: str) -> type[Divergence]:
    if klass not in _CLASSES:
        name = "Divergence_" + re.sub(r"\W+", "_", klass)[:80]
        _CLASSES[klass] = type(name, (Divergence,), {})
    return _CLASSES[klass]


# ---- classifying a disagreement ------------------------------------------------------------------------
def _normalise(message: str) -> str:
    """A message without its file, position, quoted values and numbers: what makes a class."""
    message = re.sub(r"^error: error loading config file \"[^\"]*\": ", "", message.strip().splitlines()[0])
    message = re.sub(r"^(/|<)\S*?(:\d+:\d+)?:\s+", "", message)  # kcm's file:line:column
    message = re.sub(r"(also on line )\d+", r"\1N", message)
    message = re.sub(r"'[^']*'|\"[^\"]*\"|`[^`]*`", "…", message)
    message = re.sub(r"\[[^\]]*\]$", "[…]", message)
    message = re.sub(r"\b\d+\b", "N", message)
    message = re.sub(r"\$[\w.\[\]…-]*?([\w-]*):", r"…\1:", message)  # a path: its last field
    return message[:120]


def _kind(value: Any) -> str:
    return "null" if value is None else type_name(value)


def _first_difference(ours: Any, theirs: Any, path: str = "$") -> tuple[str, Any, Any]:
    if isinstance(ours, dict) and isinstance(theirs, dict):
        if set(ours) != set(theirs):
            return path + ".{keys}", sorted(set(ours) - set(theirs)), sorted(set(theirs) - set(ours))
        for key in ours:
            if ours[key] != theirs[key]:
                return _first_difference(ours[key], theirs[key], f"{path}.{key}")
    if isinstance(ours, list) and isinstance(theirs, list) and len(ours) == len(theirs):
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            if a != b:
                return _first_difference(a, b, f"{path}[{i}]")
    return path, ours, theirs


def _shape(path: str) -> str:
    path = re.sub(r"\[\d+\]", "[]", path)
    return re.sub(r"(extension)\..*", r"\1.…", path)


def _reading_class(ours: Any, theirs: Any) -> tuple[str, str]:
    path, a, b = _first_difference(ours, theirs)
    if path.endswith(".{keys}"):
        return f"reading: different keys at {_shape(path)}", f"{path}: kcm has {a}, kubectl has {b}"
    if isinstance(a, list) and isinstance(b, list):
        return f"reading: different entries at {_shape(path)}", f"{path}: kcm {a!r} kubectl {b!r}"[:300]
    return (
        f"reading: kcm {_kind(a)}, kubectl {_kind(b)}",
        f"{path}: kcm reads {a!r}, kubectl {b!r}"[:300],
    )


# ---- which original lines an add may change --------------------------------------------------------------
def _last_line(node: Node) -> int:
    if isinstance(node, ScalarNode):
        end = node.end_mark
        return end.line - 1 if end.column == 0 and end.line > node.start_mark.line else end.line
    assert isinstance(node, CollectionNode)
    if node.flow_style or not node.value:
        return int(node.end_mark.line)
    children = [p for pair in node.value for p in pair] if isinstance(node, MappingNode) else node.value
    return max(_last_line(child) for child in children)


def _changeable_lines(text: str, current_context_changes: bool) -> set[int] | None:
    """Lines of the original an append-only add may rewrite: the current-context value, a section that is
    null or empty (it becomes a list), the closing line of a flow list or mapping that gains items.
    None when PyYAML cannot compose the text (the check is then made on the whole file)."""
    try:
        root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError:
            return None
    if not isinstance(root, MappingNode) or not root.value:
        # `~`, `null`, `{}` or no document: kcm writes the whole new config in place of that node
        return set() if root is None else set(range(root.start_mark.line, _last_line(root) + 1))
    lines: set[int] = {root.end_mark.line} if root.flow_style else set()
    if root.flow_style:
        lines |= set(range(root.start_mark.line, root.end_mark.line + 1))
    for key, value in root.value:
        if key.value == "current-context" and current_context_changes:
            lines |= set(range(key.start_mark.line, _last_line(value) + 1))
        elif key.value in ("clusters", "users", "contexts"):
            if isinstance(value, SequenceNode) and value.value:
                if value.flow_style:
                    lines.add(value.end_mark.line)
            else:
                lines |= set(range(key.start_mark.line, _last_line(value) + 1))
    return lines


def _lost_lines(original: str, edited: str, changeable: set[int]) -> list[str]:
    """Original lines (outside `changeable`) missing from `edited`, in order."""
    old = original.removeprefix("\ufeff").split("\n")
    new = edited.removeprefix("\ufeff").split("\n")
    if old and not original.endswith("\n"):  # a last line without its newline gains one: CR and all
        new = [line.removesuffix("\r") if line == old[-1] + "\r" else line for line in new]
    lost: list[str] = []
    position = 0
    for number, line in enumerate(old):
        if number in changeable:
            continue
        try:
            position = new.index(line, position) + 1
        except ValueError:
            lost.append(f"{number + 1}: {line!r}")
    return lost


# ---- one example -----------------------------------------------------------------------------------------
@dataclass
class Outcome:
    kubectl: View
    kcm: tuple[str, Any]  # ("ok", data) or ("error", message)
    divergences: list[tuple[str, str]] = field(default_factory=list)
    edit: str = "none"  # none | refused | done


def _write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    return path


def examine(text: str, directory: Path, model: Any = None, defect: str | None = None) -> Outcome:
    """Compare kcm with kubectl on one text, then add into it; every disagreement found, classified."""
    source = _write(directory, "config", text)
    theirs_future: Future[View] = _POOL.submit(kubectl_view, source)
    try:
        doc = kubeconfig.loads(text, str(source))
        ours: tuple[str, Any] = ("ok", doc.original)
    except InputError as exc:
        doc, ours = None, ("error", str(exc))
    except Exception as exc:  # a traceback is a divergence too: kubectl never crashes on a file
        doc, ours = None, ("crash", f"{type(exc).__name__}: {exc}")
    edited_text: str | None = None
    edited_future: Future[View] | None = None
    outcome_edit = "none"
    edit_crash: str | None = None
    if doc is not None:
        try:
            for section, entry in ADDED.items():
                doc.upsert(section, entry)
            doc.set("current-context", ADDED_ARN)
            edited_text = doc.dump()
            outcome_edit = "done"
            edited_future = _POOL.submit(kubectl_view, _write(directory, "edited", edited_text))
        except EditError:
            outcome_edit = "refused"
        except Exception as exc:
            edit_crash = f"{type(exc).__name__}: {exc}"
    theirs = theirs_future.result()
    outcome = Outcome(kubectl=theirs, kcm=ours, edit=outcome_edit)
    found = outcome.divergences

    # the generator's own promise (its model, as kubectl must read it)
    if model is not None or defect is not None:
        try:
            expected: View = ("ok", as_kubectl_sees(model))
        except KubectlRefuses as exc:
            expected = ("error", str(exc))
        if defect is not None and theirs[0] == "ok":
            found.append((f"generator: kubectl accepts the defect {defect}", "kubectl read it"))
        elif defect is None and expected[0] != theirs[0]:
            found.append(
                (f"generator: model says {expected[0]}, kubectl {theirs[0]}", f"{expected[1]!s:.300}")
            )
        elif defect is None and theirs[0] == "ok" and expected[1] != theirs[1]:
            klass, detail = _reading_class(expected[1], theirs[1])
            found.append(("generator: " + klass, detail))

    if ours[0] == "crash":
        found.append(("kcm crashes", ours[1][:300]))
    elif ours[0] == "error" and theirs[0] == "ok":
        found.append((f"kcm refuses, kubectl accepts: {_normalise(ours[1])}", ours[1][:300]))
    elif ours[0] == "ok":
        try:
            projected: View = ("ok", as_kubectl_sees(ours[1]))
        except KubectlRefuses as exc:
            projected = ("error", str(exc))
        if theirs[0] == "error" and projected[0] == "ok":
            found.append((f"kcm accepts, kubectl refuses: {_normalise(theirs[1])}", theirs[1][:300]))
        elif theirs[0] == "error":
            found.append(
                (
                    f"kcm accepts what kubectl's schema refuses: {_normalise(str(projected[1]))}",
                    theirs[1][:300],
                )
            )
        elif projected[0] == "error":
            found.append(
                (
                    f"reading: kcm's data is refused by kubectl's rules: {_normalise(projected[1])}",
                    projected[1],
                )
            )
        elif projected[1] != theirs[1]:
            found.append(_reading_class(projected[1], theirs[1]))

    if edit_crash is not None:
        found.append(("edit crashes", edit_crash[:300]))
    if edited_future is not None and edited_text is not None and doc is not None:
        after = edited_future.result()
        if ours[0] == "ok" and theirs[0] == "ok":
            try:
                wanted: View = ("ok", as_kubectl_sees(doc.data))
            except KubectlRefuses as exc:
                wanted = ("error", str(exc))
            if after[0] == "error":
                found.append((f"edit: kubectl refuses the result: {_normalise(after[1])}", after[1][:300]))
            elif (
                wanted[0] == "ok"
                and wanted[1] != after[1]
                and not any(k.startswith("reading") for k, _ in found)
            ):
                klass, detail = _reading_class(wanted[1], after[1])
                found.append(("edit: " + klass, detail))
            cc_changes = (
                not isinstance(doc.original, dict) or doc.original.get("current-context") != ADDED_ARN
            )
            changeable = _changeable_lines(text.removeprefix("\ufeff"), cc_changes)
            lost = _lost_lines(text, edited_text, changeable or set())
            if lost:
                found.append(("edit: original lines lost", "; ".join(lost)[:300]))
    return outcome


def _record(outcome: Outcome, text: str) -> None:
    with _LOCK:
        STATS.examples += 1
        STATS.matrix[f"{outcome.kcm[0]}/{outcome.kubectl[0]}"] += 1
        if outcome.edit in ("done", "refused"):
            STATS.edits += 1
        if outcome.edit == "refused":
            STATS.edit_refused += 1
        for klass, detail in outcome.divergences:
            STATS.divergences[klass] += 1
            STATS.first.setdefault(klass, detail)
            shortest = STATS.shortest.get(klass)
            if shortest is None or len(text) < len(shortest):
                STATS.shortest[klass] = text


def _classes(text: str, directory: Path) -> set[str]:
    return {klass for klass, _ in examine(text, directory).divergences}


def minimise(text: str, klass: str, directory: Path, budget: int = 150) -> str:
    """The input cut down, line by line and then chunk by chunk, while it still shows `klass`."""
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = text.split(newline)
    calls = 0
    chunk = max(len(lines) // 2, 1)
    while chunk >= 1 and calls < budget:
        index = 0
        changed = False
        while index < len(lines) and calls < budget:
            candidate = lines[:index] + lines[index + chunk :]
            calls += 1
            if candidate and klass in _classes(newline.join(candidate), directory):
                lines = candidate
                changed = True
            else:
                index += chunk
        if not changed:
            chunk //= 2
    short = newline.join(lines)
    chunk = max(len(short) // 4, 1)
    while chunk >= 1 and calls < budget * 2:  # then characters: a one-line flow document shrinks too
        index = 0
        changed = False
        while index < len(short) and calls < budget * 2:
            cut = short[:index] + short[index + chunk :]
            calls += 1
            if cut.strip() and klass in _classes(cut, directory):
                short = cut
                changed = True
            else:
                index += chunk
        if not changed:
            chunk //= 2
    return short


def _report_and_save(directory: Path) -> str:
    report = STATS.summary()
    if SAVE:
        folder = Path(SAVE)
        folder.mkdir(parents=True, exist_ok=True)
        index: dict[str, Any] = {}
        for number, (klass, _) in enumerate(STATS.divergences.most_common(), start=1):
            text = minimise(STATS.shortest[klass], klass, directory)
            outcome = examine(text, directory)
            slug = re.sub(r"\W+", "-", klass.lower()).strip("-")[:70]
            name = f"{number:03d}-{slug}.yaml"
            (folder / name).write_bytes(text.encode("utf-8", "surrogatepass"))
            detail = next((d for k, d in outcome.divergences if k == klass), STATS.first[klass])
            index[name] = {
                "class": klass,
                "count": STATS.divergences[klass],
                "detail": detail,
                "kcm": list(outcome.kcm),
                "kubectl": list(outcome.kubectl),
                "text": text,
            }
        (folder / "index.json").write_text(json.dumps(index, indent=1, default=repr) + "\n")
    return report


def _fail(outcome: Outcome, text: str) -> None:
    if outcome.divergences:
        klass, detail = outcome.divergences[0]
        raise _divergence(klass)(
            f"{klass}\n  {detail}\n  kcm: {outcome.kcm[0]}: {str(outcome.kcm[1])[:300]}\n"
            f"  kubectl: {outcome.kubectl[0]}: {str(outcome.kubectl[1])[:300]}\n  text: {text!r}"
        )


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield tmp_path_factory.mktemp("kcm-parity")


def test_kcm_reads_and_edits_as_kubectl_does(workdir: Path) -> None:
    """Every example is run and every divergence collected (not only the first): the failure lists them
    all by class, with the shortest input of each; KCM_PARITY_SAVE also cuts each one down and keeps it."""
    counter = iter(range(10**9))

    pending: list[Future[None]] = []

    def check(example: Example, directory: Path) -> None:
        _record(examine(example.text, directory, example.model, example.defect), example.text)

    @PROFILE
    @given(kubeconfigs())
    def run(example: Example) -> None:
        # Generating is CPU in this thread, kubectl is another process: the check runs while the next
        # example is drawn (every divergence is collected, so nothing needs to fail inside hypothesis).
        directory = workdir / str(next(counter))
        directory.mkdir()
        pending.append(_CHECKS.submit(check, example, directory))

    run()
    for future in pending:
        future.result()
    scratch = workdir / "minimise"
    scratch.mkdir(exist_ok=True)
    report = _report_and_save(scratch)
    print("\n" + report)
    if os.environ.get("KCM_PARITY_REPORT"):
        Path(os.environ["KCM_PARITY_REPORT"]).write_text(report + "\n")
    assert not STATS.divergences, (
        report
        + "\n"
        + "\n".join(f"  {klass}: {STATS.shortest[klass]!r}"[:400] for klass in STATS.divergences)
    )


FIXTURE_FILES = sorted(FIXTURES.glob("*.yaml")) if FIXTURES.is_dir() else []


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=[p.name for p in FIXTURE_FILES])
def test_kept_divergence_is_gone(path: Path, tmp_path: Path) -> None:
    """Every divergence the fuzzer found, kept as its minimal input: kcm must now agree with kubectl."""
    text = path.read_bytes().decode("utf-8", "surrogatepass")
    outcome = examine(text, tmp_path)
    _fail(outcome, text)
