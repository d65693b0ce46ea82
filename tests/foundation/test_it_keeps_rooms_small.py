"""Rooms stay small: no function over 80 lines and no module over 500 lines, so each one can be read as one job.

Every .py file of the repository counts except the virtual environment, migrations (generated), the built docs
site and var/. Tests count for their functions (a long test is hard to read too) but not for their modules (a test
file is a list of cases). A function's size runs from its first decorator to its last line; a nested function
counts inside its parent and on its own."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_FUNCTION_LINES = 80
MAX_MODULE_LINES = 500
SKIPPED = {".venv", "venv", "migrations", "site", "var", "node_modules", ".git"}

# "path" for a module, "path::qualified.name" for a function, each with why it may stay over the limit.
ALLOW: dict[str, str] = {}


def python_files() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.py") if not SKIPPED & set(p.relative_to(ROOT).parts))


def long_functions(path: Path, limit: int = MAX_FUNCTION_LINES) -> dict[str, int]:
    """Qualified name -> lines, for each function (or method) of the file over `limit` lines."""
    found: dict[str, int] = {}

    def walk(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    first = min([child.lineno, *(d.lineno for d in child.decorator_list)])
                    if (lines := child.end_lineno - first + 1) > limit:
                        found[name] = lines
                walk(child, f"{name}.")
            else:
                walk(child, prefix)

    walk(ast.parse(path.read_text(), filename=str(path)), "")
    return found


def oversized() -> dict[str, int]:
    """Every room over its limit: "path" (module lines) or "path::function" (function lines)."""
    found: dict[str, int] = {}
    for path in python_files():
        rel = path.relative_to(ROOT).as_posix()
        lines = len(path.read_text().splitlines())
        if not rel.startswith("tests/") and lines > MAX_MODULE_LINES:
            found[rel] = lines
        found |= {f"{rel}::{name}": n for name, n in long_functions(path).items()}
    return found


def test_the_measure_sees_long_functions_and_methods(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(80))
    source = f"@decorator\ndef long():\n{body}\n\nclass Room:\n    def short(self):\n        pass\n\n" \
             f"    def method(self):\n    {body.replace(chr(10), chr(10) + '    ')}\n"
    (module := tmp_path / "m.py").write_text(source)
    assert long_functions(module) == {"long": 82, "Room.method": 81}


def test_no_function_over_80_lines_and_no_module_over_500():
    over = {name: lines for name, lines in oversized().items() if name not in ALLOW}
    listing = "\n".join(f"  {name}: {lines} lines" for name, lines in sorted(over.items()))
    assert not over, (f"over {MAX_FUNCTION_LINES} lines a function or {MAX_MODULE_LINES} a module (split where a step "
                      f"has a name, or add it to ALLOW with its reason):\n{listing}")


def test_the_allow_list_is_short_and_each_entry_still_needed():
    assert len(ALLOW) <= 5, "at most five rooms may stay large"
    assert all(reason.strip() for reason in ALLOW.values()), "each allowed room says why"
    stale = sorted(set(ALLOW) - set(oversized()))
    assert not stale, f"no longer over the limit, take them off ALLOW: {stale}"
