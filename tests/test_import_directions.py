"""The import directions of STYLE.md, read from the source with `ast` so a wrong import fails here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Our top-level packages; anything else (pandas, dash, the standard library) is not ours.
OURS = {"bench", "dashboard", "db", "etl", "geo", "tests"}
# What each layer may import of ours (itself included). `tests` and `bench` are free.
ALLOWED = {
    "dashboard": {"dashboard", "db", "geo"},
    "etl": {"etl", "db", "geo"},
    "db": {"db"},
    "geo": {"geo"},
}
# The one lazy exception: the CLI starts the dashboard, so its `serve` command may import it.
LAZY_EXCEPTIONS = {("etl/cli.py", "dashboard", "serve")}


def imported_packages(tree: ast.AST) -> list[tuple[str, int, str | None]]:
    """(top-level package, line, qualified name of the enclosing function or None) per import.

    Only absolute imports count: a relative one stays inside its own package.
    """
    found: list[tuple[str, int, str | None]] = []

    def visit(node: ast.AST, scope: str, function: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = scope + child.name
                inner = function or (None if isinstance(child, ast.ClassDef) else name)
                visit(child, name + ".", inner)
                continue
            if isinstance(child, ast.Import):
                found.extend((a.name.split(".")[0], child.lineno, function) for a in child.names)
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                found.append((child.module.split(".")[0], child.lineno, function))
            visit(child, scope, function)

    visit(tree, "", None)
    return found


def violations(layer: str, source: str, filename: str) -> list[str]:
    """Every import in one module of `layer` that runs against the allowed directions."""
    problems = []
    for package, line, function in imported_packages(ast.parse(source, filename)):
        if package not in OURS or package in ALLOWED[layer]:
            continue
        if (filename, package, function) in LAZY_EXCEPTIONS:
            continue
        where = f"inside {function}()" if function else "at module level"
        problems.append(f"{filename}:{line}: {layer} imports {package} {where}")
    return problems


def test_every_layer_imports_only_in_the_allowed_directions() -> None:
    problems = []
    for layer in ALLOWED:
        for path in sorted((ROOT / layer).rglob("*.py")):
            relative = str(path.relative_to(ROOT))
            problems += violations(layer, path.read_text(encoding="utf-8"), relative)
    assert problems == []


def test_the_cli_imports_the_dashboard_only_inside_serve() -> None:
    tree = ast.parse((ROOT / "etl" / "cli.py").read_text(encoding="utf-8"))
    functions = {
        function for package, _, function in imported_packages(tree) if package == "dashboard"
    }
    assert functions <= {"serve"}


@pytest.mark.parametrize(
    ("layer", "source", "expected"),
    [
        ("db", "from dashboard.data import current\n", "db imports dashboard at module level"),
        ("geo", "import db.models\n", "geo imports db at module level"),
        ("dashboard", "def f():\n    from etl import cli\n", "dashboard imports etl inside f()"),
        ("etl", "def status():\n    from dashboard import queries\n", "inside status()"),
        ("etl", "class C:\n    def serve(self):\n        import dashboard\n", "inside C.serve()"),
    ],
)
def test_a_wrong_direction_is_reported(layer: str, source: str, expected: str) -> None:
    (problem,) = violations(layer, source, "example.py")
    assert expected in problem


def test_allowed_directions_and_the_serve_exception_pass() -> None:
    allowed = "import pandas\nfrom db import queries\nfrom geo.states import x\n"
    assert violations("dashboard", allowed, "example.py") == []
    serve = "def serve():\n    from dashboard.app import create_app\n"
    assert violations("etl", serve, "etl/cli.py") == []
    # The exception is the CLI's own command, not any function called `serve` elsewhere in etl/.
    assert violations("etl", serve, "etl/pipeline.py") != []
