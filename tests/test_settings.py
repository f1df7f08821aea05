"""Settings come from HYPERQUEST_* environment variables."""

import pytest
from pydantic import ValidationError

from app.settings import Settings, load_settings


def test_defaults_are_embedded_mode(monkeypatch):
    for name in ("HYPERQUEST_DATABASE_URL", "HYPERQUEST_REDIS_URL", "HYPERQUEST_DATASET_SIZE"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.embedded and settings.database_url.startswith("sqlite")
    assert settings.dataset_size == "small"


def test_environment_overrides(monkeypatch):
    monkeypatch.setenv("HYPERQUEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1/test")
    monkeypatch.setenv("HYPERQUEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("HYPERQUEST_DATASET_SIZE", "tiny")
    settings = load_settings()
    assert not settings.embedded
    assert settings.dataset_size == "tiny" and settings.database_url.startswith("postgresql")


def test_bad_size_is_rejected(monkeypatch):
    monkeypatch.setenv("HYPERQUEST_DATASET_SIZE", "huge")
    with pytest.raises(ValidationError):
        load_settings()


def test_every_setting_is_in_the_operations_table():
    from pathlib import Path

    doc = Path(__file__).resolve().parent.parent.joinpath("docs", "operations.md").read_text(encoding="utf-8")
    table = doc.split("\n## Settings", 1)[1].split("\n## ", 1)[0]
    missing = [name for name in Settings.model_fields if f"`HYPERQUEST_{name.upper()}`" not in table]
    assert not missing, f"settings missing from docs/operations.md's table: {missing}"
