"""What the kcm-eks distribution says about itself holds: one version everywhere, every imported
distribution declared and none of its private modules imported, and the botocore installed knows every
AWS call kcm makes. Part of `make test-lowest`, so it runs against the lowest versions allowed too."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import kcm
from tests.conftest import ROOT, VENV_BIN

DISTRIBUTION = "kcm-eks"
SOURCE = Path(kcm.__file__).parent


def _imports() -> set[str]:
    """Every absolute module kcm's code imports, at the top of a module or inside a function."""
    found: set[str] = set()
    for path in SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module)
    return found


def _third_party() -> set[str]:
    # _sha2: the standard library's name for _sha256 from Python 3.12 (kcm tries both)
    stdlib = {*sys.stdlib_module_names, "_sha2"}
    return {name for name in _imports() if name.split(".")[0] not in {*stdlib, "kcm"}}


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group()).lower()


def test_the_package_the_command_and_the_changelog_say_one_version() -> None:
    assert importlib.metadata.version(DISTRIBUTION) == kcm.__version__
    done = subprocess.run([str(VENV_BIN / "kcm"), "--version"], capture_output=True, text=True, check=True)
    assert done.stdout == f"kcm {kcm.__version__}\n"
    released = re.findall(r"^## \[(\d[^\]]*)\]", (ROOT / "CHANGELOG.md").read_text(), re.MULTILINE)
    assert released and released[0] == kcm.__version__, "the newest version in CHANGELOG.md"


def test_every_imported_distribution_is_declared() -> None:
    declared = {
        _name(requirement)
        for requirement in importlib.metadata.requires(DISTRIBUTION) or []
        if "extra ==" not in requirement
    }
    providers = importlib.metadata.packages_distributions()
    for module in sorted({name.split(".")[0] for name in _third_party()}):
        assert module in providers, f"{module} is imported but no installed distribution provides it"
        assert {_name(dist) for dist in providers[module]} & declared, f"{module}: add its distribution"


def test_no_private_module_of_a_dependency_is_imported() -> None:
    private = sorted(name for name in _third_party() if any(part.startswith("_") for part in name.split(".")))
    assert private == []


# service -> the operations kcm calls (kcm.aws, kcm.discovery, kcm.sso, kcm.token, kcm.commands.doctor);
# botocore drops what its model does not know, so an old model would fail these silently or with a traceback
CALLS = {
    "sts": ["AssumeRole", "GetCallerIdentity"],
    "eks": ["ListClusters", "DescribeCluster", "ListAccessEntries", "ListAssociatedAccessPolicies"],
    "organizations": ["ListAccounts"],
    "iam": ["ListAccountAliases", "GetRole"],
    "ec2": ["DescribeRegions"],
    "sso": ["ListAccounts", "ListAccountRoles", "GetRoleCredentials"],
}


def test_the_installed_botocore_knows_every_call_kcm_makes() -> None:
    import botocore.session

    session = botocore.session.get_session()
    for service, operations in CALLS.items():
        model = session.get_service_model(service)
        assert set(operations) <= set(model.operation_names), service
    # doctor reads the cluster's authentication mode (access entries, botocore 1.34.3 and later)
    assert "accessConfig" in session.get_service_model("eks").shape_for("Cluster").members


def test_the_folders_kcm_asks_platformdirs_for_exist() -> None:
    import platformdirs

    for name in ("user_state_dir", "user_cache_dir", "user_config_dir"):
        assert callable(getattr(platformdirs, name)), name
