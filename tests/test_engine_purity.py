"""Dependencies point one way: engine <- app <- worker. The engine never pulls in the web stack
(workers and the web app share it), and the app never imports the worker package."""

import ast
import subprocess
import sys
from pathlib import Path

FORBIDDEN = ("fastapi", "starlette", "sqlalchemy", "alembic", "celery", "redis", "jinja2", "uvicorn", "app", "worker")
ROOT = Path(__file__).resolve().parent.parent


def test_engine_imports_no_web_stack():
    code = (
        "import sys, pkgutil, importlib, engine\n"
        "for m in pkgutil.walk_packages(engine.__path__, 'engine.'):\n"
        "    importlib.import_module(m.name)\n"
        f"bad = [m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}]\n"
        "print(','.join(sorted(bad)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"engine imported: {out.stdout.strip()}"


def imported_modules(path: Path) -> set[str]:
    """Every module a source file imports, at any depth (inside functions too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


def test_the_app_never_imports_the_worker_package():
    offenders = {str(path.relative_to(ROOT)): sorted(m for m in imported_modules(path) if m.split(".")[0] == "worker")
                 for path in (ROOT / "app").rglob("*.py")}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_engine_never_imports_the_app_or_the_worker():
    offenders = {str(path.relative_to(ROOT)): sorted(m for m in imported_modules(path) if m.split(".")[0] in ("app", "worker"))
                 for path in (ROOT / "engine").rglob("*.py")}
    assert {k: v for k, v in offenders.items() if v} == {}
