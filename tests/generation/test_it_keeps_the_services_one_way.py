"""The generation services import one way: tasks -> services. Services send tasks by name and never import them."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

SERVICES = Path(__file__).resolve().parents[2] / "generation" / "services"


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = ("." * node.level) + (node.module or "")
            names |= {f"{base}.{alias.name}" if node.module is None else base for alias in node.names}
    return names


def service_files() -> list[Path]:
    single = SERVICES.with_suffix(".py")
    return [single] if single.exists() else sorted(SERVICES.glob("*.py"))


def test_no_service_module_imports_the_tasks():
    """Not even inside a function: a lazy import is still a cycle (tasks -> services -> tasks)."""
    offenders = {}
    for path in service_files():
        bad = {m for m in imported_modules(path) if m.split(".")[-1] == "tasks"}
        if bad:
            offenders[path.name] = bad
    assert offenders == {}, "send the tasks by name instead"


def test_each_service_module_has_one_job():
    assert SERVICES.is_dir(), "generation/services is one module doing four jobs: split it"
    assert {p.stem for p in service_files()} >= {"rows", "training", "jobs", "pools", "archive"}
    assert all(len(p.read_text().splitlines()) < 400 for p in service_files())


def test_importing_the_services_does_not_import_the_tasks():
    code = ("import django, os, sys; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings.test'); "
            "django.setup(); import generation.services; print('generation.tasks' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=SERVICES.parents[1],
                         check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"
