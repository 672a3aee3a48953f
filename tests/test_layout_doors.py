"""The layout's doors, read from the code itself: each top-level package imports only what
DESIGN.md's layout table lets it (every ``import`` statement, lazy ones inside functions too,
walked with ``ast``); the engine (``service.lifecycle``) knows no kind; ``service`` reaches only
the torch-free parts of ``local_gpu``, and importing those loads no torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OURS = frozenset(
    {"service", "workers", "providers", "emulators", "local_gpu", "tuneforge_cli", "tests"}
)
MAY_IMPORT: dict[str, frozenset[str]] = {
    "providers": frozenset({"providers"}),
    "emulators": frozenset({"emulators"}),
    "local_gpu": frozenset({"local_gpu"}),
    "service": frozenset({"service", "providers", "local_gpu"}),
    "workers": frozenset({"workers", "service", "providers", "local_gpu"}),
    "tuneforge_cli": OURS - {"tests"},
}
NEVER = {
    "service": frozenset({"celery", "kombu", "billiard", "torch"}),
    "providers": frozenset({"sqlalchemy", "celery", "kombu", "fastapi"}),
    "emulators": frozenset({"sqlalchemy", "celery", "kombu"}),
    "local_gpu": frozenset({"sqlalchemy", "celery", "kombu", "fastapi"}),
}
TORCH_FREE_LOCAL_GPU = frozenset({"local_gpu", "local_gpu.estimate", "local_gpu.config"})
"""What ``service`` may name in ``local_gpu``: its package root (config dataclasses, errors,
callback types, re-exported without torch) and the estimate table. ``run_training`` is
imported lazily, inside the gpu task's step, and loads torch only there."""


def _imports(path: Path) -> Iterator[tuple[str, int]]:
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module, node.lineno


def _files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def test_every_package_goes_only_through_its_doors() -> None:
    broken = []
    for package, allowed in MAY_IMPORT.items():
        files = _files(package)
        assert files, package
        for path in files:
            for module, line in _imports(path):
                top = module.split(".")[0]
                where = f"{path.relative_to(ROOT)}:{line} imports {module}"
                if top in OURS and top not in allowed:
                    broken.append(where)
                if top in NEVER.get(package, frozenset()):
                    broken.append(where)
    assert broken == []


def test_the_engine_knows_no_kind() -> None:
    broken = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in _files("service/lifecycle")
        for module, line in _imports(path)
        if module.startswith(("service.jobs", "service.evals", "service.studies"))
    ]
    assert broken == []


def test_service_reaches_only_the_torch_free_parts_of_local_gpu() -> None:
    named = {
        (module, str(path.relative_to(ROOT)))
        for path in _files("service")
        for module, _ in _imports(path)
        if module.split(".")[0] == "local_gpu"
    }
    assert {module for module, _ in named} <= TORCH_FREE_LOCAL_GPU, named
    code = f"import sys; import {', '.join(sorted(TORCH_FREE_LOCAL_GPU))}; " + (
        "sys.exit(1 if 'torch' in sys.modules else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()


def test_progress_rows_are_built_by_the_one_progress_writer() -> None:
    """Events, metrics and checkpoints of a run are constructed only in
    ``service/lifecycle/progress.py`` (``ProgressWriter``): no second writer beside it."""
    built = [
        f"{path.relative_to(ROOT)}:{node.lineno} builds {name}"
        for package in ("service", "workers")
        for path in _files(package)
        if path.relative_to(ROOT).as_posix() != "service/lifecycle/progress.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.Call)
        and (name := getattr(node.func, "id", getattr(node.func, "attr", "")))
        in ("JobEvent", "Metric", "Checkpoint")
    ]
    assert built == []


def test_a_study_row_is_built_by_its_one_constructor() -> None:
    """``service/studies/rows.py``'s ``new_study`` is the only ``Study(...)`` in the code: a
    standalone study and a job's evaluation start alike."""
    built = [
        f"{path.relative_to(ROOT)}:{node.lineno} builds Study"
        for package in ("service", "workers")
        for path in _files(package)
        if path.relative_to(ROOT).as_posix() != "service/studies/rows.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", getattr(node.func, "attr", "")) == "Study"
    ]
    assert built == []


def test_the_studies_sql_lives_in_its_repository() -> None:
    """STYLE.md: SQL lives in repositories. No module of ``service/studies`` but
    ``repository.py`` imports sqlalchemy's query builders."""
    builders = {"select", "update", "delete", "insert", "exists", "text", "func", "or_", "and_"}
    broken = [
        f"{path.relative_to(ROOT)}:{node.lineno} imports {alias.name} from {node.module}"
        for path in _files("service/studies")
        if path.name != "repository.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sqlalchemy"
        for alias in node.names
        if alias.name in builders
    ]
    assert broken == []
