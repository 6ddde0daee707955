"""Architecture rules that import-linter cannot say generically, checked on every service:

- a domain imports only the standard library and its own package;
- no service imports another service's package (services share no library).
"""

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = sorted(p.name for p in (ROOT / "services").iterdir() if (p / "src").is_dir())


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def package_dir(service: str) -> Path:
    return ROOT / "services" / service / "src" / f"oryx_{service}"


def test_there_are_services_to_check() -> None:
    assert "authorization" in SERVICES


@pytest.mark.parametrize("service", SERVICES)
def test_domain_imports_only_the_standard_library(service: str) -> None:
    package = f"oryx_{service}"
    offenders = []
    for path in sorted((package_dir(service) / "domain").rglob("*.py")):
        for root in imported_roots(path):
            if root not in sys.stdlib_module_names and root != package:
                offenders.append(f"{path.relative_to(ROOT)} imports {root}")
    assert not offenders, "\n".join(offenders)


@pytest.mark.parametrize("service", SERVICES)
def test_no_service_imports_another(service: str) -> None:
    others = {f"oryx_{s}" for s in SERVICES if s != service}
    offenders = []
    for path in sorted((ROOT / "services" / service).rglob("*.py")):
        if ".venv" in path.parts:
            continue
        for root in imported_roots(path) & others:
            offenders.append(f"{path.relative_to(ROOT)} imports {root}")
    assert not offenders, "\n".join(offenders)
