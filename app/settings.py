"""Configuration from environment variables prefixed ``HYPERQUEST_`` (or a ``.env`` file)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting of HyperQuest; see README.md for what each one does."""

    model_config = SettingsConfigDict(env_prefix="HYPERQUEST_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///var/hyperquest.sqlite3",
        description="SQLAlchemy URL; postgresql+psycopg://… for the scaled-out mode.",
    )
    redis_url: str | None = Field(
        default=None,
        description="Redis URL for Celery; unset means embedded mode (in-process runner).",
    )
    dataset_size: Literal["full", "small", "tiny"] = Field(
        default="small",
        description="full: ~8500/1500 examples (GPU workers); small: CPU default; tiny: tests.",
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        default="auto",
        description="Where training runs; auto picks cuda when a GPU is visible.",
    )

    pool_size: int = Field(default=8, ge=1, le=10_000, description="Datasets in the shared pool new runs draw from.")
    baseline_epochs: int = Field(default=30, ge=1, le=30, description="Epoch budget of the default-schedule baseline.")
    secret_key: str = Field(
        default="change-me-in-production",
        min_length=8,
        description="Signs session cookies; set a long random value in production.",
    )

    @property
    def embedded(self) -> bool:
        """True when training runs in-process (no Redis configured)."""
        return not self.redis_url


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit overrides winning (for tests and the CLI)."""
    return Settings(**overrides)  # type: ignore[arg-type]
