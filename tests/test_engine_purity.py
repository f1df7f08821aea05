"""The engine must never pull in the web stack: workers and the web app share it."""

import subprocess
import sys

FORBIDDEN = ("fastapi", "starlette", "sqlalchemy", "alembic", "celery", "redis", "jinja2", "uvicorn")


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
