"""Which tier a collected test falls into, from its parameters (conftest applies the markers)."""

from __future__ import annotations


def runs_on_postgresql(params: dict) -> bool:
    """Whether a test's parameters pick the PostgreSQL backend, through any backend fixture."""
    # database_url, or a module's own world fixture parametrised over the backends: all name it "postgresql".
    return any(value == "postgresql" for value in params.values() if isinstance(value, str))
