"""Dependencies point one way: engine <- app <- worker. The engine never pulls in the web stack
(workers and the web app share it), and the app never imports the worker package."""

import ast
import subprocess
import sys
import pytest
from pathlib import Path

FORBIDDEN = ("fastapi", "starlette", "sqlalchemy", "alembic", "celery", "redis", "jinja2", "uvicorn", "app", "worker")
ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.processes
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


def test_every_runner_keeps_the_runner_contract():
    """The written Protocol (app.jobs.runners.Runner) is what each runner class implements, method by method."""
    import inspect

    from app.jobs.runners import Runner
    from app.jobs.runners.celery_runner import CeleryRunner
    from app.jobs.runners.embedded import ProcessRunner, ThreadRunner

    wanted = {name for name, member in inspect.getmembers(Runner) if inspect.isfunction(member) and not name.startswith("_")}
    assert wanted == {"start", "stop", "new_work"}  # start, stop and "there is new work": nothing per kind of job
    for runner in (ThreadRunner, ProcessRunner, CeleryRunner):
        missing = {name for name in wanted if not callable(getattr(runner, name, None))}
        assert not missing, f"{runner.__name__} lacks {sorted(missing)}"
        for name in wanted:  # same parameters, so a caller written against the Protocol works with each
            expected = list(inspect.signature(getattr(Runner, name)).parameters)
            assert list(inspect.signature(getattr(runner, name)).parameters) == expected, f"{runner.__name__}.{name}"
