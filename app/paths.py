"""Where the project's non-Python files live.

Next to the ``app`` package in both layouts: the repository root in a checkout (or an editable
install), site-packages in an installed wheel, which carries templates/, static/, migrations/ and
docs/export-schema.md for exactly this reason (see pyproject.toml's package data;
tests/test_shipped_install.py checks the installed layout).
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"
STATIC = ROOT / "static"
MIGRATIONS = ROOT / "migrations"
