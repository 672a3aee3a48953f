"""Every third-party package the shipped code imports is declared in ``pyproject.toml`` (a
transitive install is no promise)."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import distribution, packages_distributions
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ("service", "workers", "providers", "emulators", "local_gpu", "tuneforge_cli")
OURS = set(SHIPPED) | {"alembic_env"}


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared(groups: list[list[str]]) -> set[str]:
    names = set()
    for group in groups:
        for requirement in group:
            names.add(_normalise(re.split(r"[\[<>=!~;\s]", requirement, maxsplit=1)[0]))
    return names


def _imported_modules(folders: tuple[str, ...]) -> set[str]:
    found: set[str] = set()
    for folder in folders:
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    found |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    found.add(node.module.split(".")[0])
    return found - OURS - set(sys.stdlib_module_names) - {"__future__"}


def test_every_import_of_the_shipped_code_is_a_declared_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = _declared([project["dependencies"], project["optional-dependencies"]["local"]])
    distributions = packages_distributions()
    undeclared = {}
    for module in _imported_modules(SHIPPED):
        owners = {_normalise(d) for d in distributions.get(module, [module])}
        if not owners & declared:
            undeclared[module] = sorted(owners)
    assert undeclared == {}


def test_pyyaml_is_shipped_only_for_study_specs() -> None:
    """``tuneforge study run spec.yaml`` reads YAML (safe_load); nothing else of ours does."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "pyyaml" in _declared([project["dependencies"]])
    readers = {
        path.relative_to(ROOT).as_posix()
        for folder in SHIPPED
        for path in (ROOT / folder).rglob("*.py")
        if "yaml" in _imported_modules_of(path)
    }
    assert readers == {"tuneforge_cli/study.py"}


def _imported_modules_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def _pinned() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if "==" in line and not line.lstrip().startswith("#"):
            name, version = line.split("==", 1)
            pins[_normalise(name.split("[")[0])] = version.strip()
    return pins


def test_constraints_pin_every_package_an_install_resolves() -> None:
    """scripts/setup.sh and the Dockerfile install with ``-c constraints.txt``; a package the
    install pulls in (directly or through another) that the file does not name is resolved to
    whatever is newest that day."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    wanted = [*project["dependencies"], *extras["local"], *extras["dev"]]
    pins = _pinned()
    todo = [Requirement(text) for text in wanted]
    seen: set[str] = set()
    unpinned = set()
    while todo:
        requirement = todo.pop()
        name = _normalise(requirement.name)
        if name in seen:
            continue
        seen.add(name)
        if name not in pins:
            unpinned.add(name)
            continue
        requested = {"", *requirement.extras}
        for text in distribution(name).requires or []:
            child = Requirement(text)
            if child.marker is None or any(child.marker.evaluate({"extra": e}) for e in requested):
                todo.append(child)
    assert unpinned == set()
    assert len(seen) > 100  # the walk reached the transitive closure
